"""The ``anke`` console script: Django's management commands under one name.

``anke run``, ``anke demo --customers N``, ``anke createuser``, ``anke token create|list|revoke``
and every other management command. Exit codes are Django's: 0 on success, 1 on a CommandError.
Messages follow the shell's locale (``LANG=en_US.UTF-8`` English, ``zh_CN`` Chinese).
"""

import os
import sys


def shell_language(environ=os.environ) -> str | None:
    """The Anke language matching the shell's locale, or None to keep the default."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        if value and value not in ("C", "POSIX") and not value.startswith("C."):
            return "zh-hans" if value.lower().startswith("zh") else "en"
    return None


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anke.settings")
    import django
    from django.core.management import ManagementUtility
    from django.utils import translation

    django.setup()
    if language := shell_language():
        translation.activate(language)
    ManagementUtility(["anke", *sys.argv[1:]]).execute()


if __name__ == "__main__":
    main()
