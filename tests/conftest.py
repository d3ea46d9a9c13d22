import pytest
from django.conf import settings as django_settings

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
