from datetime import date

import pytest
from django.conf import settings as django_settings
from django.db import connection

from anke.encryption.fields import EncryptedMixin
from tests.personas import build_cast


@pytest.fixture(scope="session", autouse=True)
def _test_key_file(tmp_path_factory):
    """Test databases are encrypted under a key file of their own, never the developer's.
    (Autouse session fixtures run before the test database is created.)"""
    django_settings.MASTER_KEY_FILE = str(tmp_path_factory.mktemp("keys") / "master.json")
    django_settings.MASTER_KEY_FILE_CREATE = True


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Argon2id is the production hasher (tests/accounts checks it); building the cast for every
    # test with it would cost most of the suite's time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _english_by_default(settings):
    # Assertions read English source strings; tests/web/test_i18n.py covers Chinese.
    settings.LANGUAGE_CODE = "en"


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    # The hashed manifest exists only after collectstatic, which `anke run` does; tests serve the
    # files from the apps' static folders instead.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


@pytest.fixture
def cast(db):
    return build_cast()


@pytest.fixture
def sales_a(cast):
    return cast.sales_a


@pytest.fixture
def sales_b(cast):
    return cast.sales_b


@pytest.fixture
def client_a(client, sales_a):
    """A browser session of sales rep A."""
    client.force_login(sales_a)
    return client


# --- no personal data in clear at rest (SECURITY.md §5) -----------------------------------------
# Every value a test encrypts is remembered; when the test body returns, every column of every
# table (sessions, cache and audit trail included) is searched for it before the test's
# transaction is rolled back.

_encrypted_values: set[str] = set()
_original_encode = EncryptedMixin.encode


def _remembering_encode(self, value):
    text = "" if value is None else str(value)
    if len(text) >= 6 and not isinstance(value, date):
        _encrypted_values.add(text)
        if text.startswith("+86"):
            _encrypted_values.add(text[3:])  # the national form of a Chinese number
    return _original_encode(self, value)


EncryptedMixin.encode = _remembering_encode


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    _encrypted_values.clear()
    yield
    if _encrypted_values:
        found = _plaintext_at_rest(_encrypted_values)
        assert not found, f"personal data stored in clear: {found[:5]}"


def _plaintext_at_rest(values: set[str]) -> list[tuple[str, str]]:
    found = []
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {quote(table)}")  # noqa: S608 - introspected names
            for row in cursor.fetchall():
                text = "\x1f".join(map(str, row))
                found += [(table, value) for value in values if value in text]
    return found
