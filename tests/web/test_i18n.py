"""Chinese and English: chosen from the browser, switchable, and both catalogues complete."""

import ast
import gettext
import os
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

LOCALE = Path(__file__).resolve().parents[2] / "anke" / "locale"


def read_po(path: Path) -> dict:
    """``{(context, msgid): [msgstr, …]}`` of a .po file, plus a ``"#fuzzy"`` key listing
    fuzzy entries."""
    entries, fuzzy, current, field = {}, [], {}, None

    def flush():
        if "msgid" in current and current["msgid"]:
            key = (current.get("msgctxt", ""), current["msgid"])
            entries[key] = [v for k, v in sorted(current.items()) if k.startswith("msgstr")]
            if current.get("fuzzy"):
                fuzzy.append(key)

    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            flush()
            current, field = {}, None
        elif line.startswith("#,") and "fuzzy" in line:
            current["fuzzy"] = True
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            current[field] += ast.literal_eval(line)
        else:
            field, _sep, value = line.partition(" ")
            current[field] = ast.literal_eval(value)
    return {"entries": entries, "fuzzy": fuzzy}


@pytest.mark.parametrize("language", ["zh_Hans", "en"])
def test_catalogues_are_complete(language):
    catalogue = read_po(LOCALE / language / "LC_MESSAGES" / "django.po")
    untranslated = [key for key, values in catalogue["entries"].items()
                    if not all(values)]
    assert untranslated == []
    assert catalogue["fuzzy"] == []
    # The compiled catalogue Django loads says the same as the .po file.
    with open(LOCALE / language / "LC_MESSAGES" / "django.mo", "rb") as compiled:
        loaded = gettext.GNUTranslations(compiled)._catalog
    for (context, msgid), values in catalogue["entries"].items():
        key = f"{context}\x04{msgid}" if context else msgid
        stored = loaded.get(key, loaded.get((key, 0)))
        assert stored == values[0], (context, msgid)


@pytest.mark.skipif(shutil.which("xgettext") is None and not os.environ.get("CI"),
                    reason="needs GNU gettext (xgettext); CI installs it and never skips this")
def test_every_string_in_the_code_is_in_the_catalogues(tmp_path, settings, monkeypatch):
    source = Path(__file__).resolve().parents[2] / "anke"
    copy = tmp_path / "anke"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("locale", "static", "__pycache__"))
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    (tmp_path / "locale").mkdir()
    monkeypatch.chdir(copy)
    call_command("makemessages", locale=["zh_Hans"], verbosity=0, no_location=True)
    fresh = read_po(tmp_path / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po")["entries"]
    committed = read_po(LOCALE / "zh_Hans" / "LC_MESSAGES" / "django.po")["entries"]
    assert sorted(set(fresh) - set(committed)) == []


def test_language_follows_the_browser(client, db):
    chinese = client.get(reverse("account_login"), HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    assert '<html lang="zh-hans">' in chinese.content.decode()
    assert "登录" in chinese.content.decode()
    english = client.get(reverse("account_login"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert '<html lang="en">' in english.content.decode()
    assert "Log in to Anke" in english.content.decode()


def test_language_can_be_switched(client, sales_a):
    client.force_login(sales_a)
    response = client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"},
                           HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302
    page = client.get(reverse("customers:list"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="zh-hans">' in page and "客户" in page
