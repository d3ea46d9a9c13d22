"""The ``anke`` console script: Django's management commands under one name.

``anke run``, ``anke demo --customers N``, ``anke createuser``, ``anke token create|list|revoke``
and every other management command. Exit codes are Django's: 0 on success, 1 on a CommandError.
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anke.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["anke", *sys.argv[1:]])


if __name__ == "__main__":
    main()
