import base64

import pytest
from django.db import connection

from anke.audit.signing import signing_keys
from tests.scratch_db import database_url  # noqa: F401 - a fixture for tests here


@pytest.fixture(scope="session")
def _suite_signing_key(tmp_path_factory):
    return tmp_path_factory.mktemp("audit-keys") / "audit-signing.json"


@pytest.fixture(autouse=True)
def audit_files(settings, tmp_path, _suite_signing_key):
    """The signing key (one for the suite) and a checkpoint file per test, never the developer's
    ``var/``."""
    settings.AUDIT_SIGNING_KEY_FILE = str(_suite_signing_key)
    settings.AUDIT_CHECKPOINT_FILE = str(tmp_path / "audit" / "checkpoints.jsonl")
    return tmp_path


@pytest.fixture
def public_key(db):
    return base64.b64encode(signing_keys(create=True)[-1].public_bytes).decode()


def tamper(sql: str, params=()) -> None:
    """Change the database as an attacker with full access would: on PostgreSQL with the
    append-only triggers switched off for this session (a superuser can)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(sql, params)
        finally:
            if connection.vendor == "postgresql":
                cursor.execute("SET session_replication_role = DEFAULT")
