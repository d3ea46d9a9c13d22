import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection


def _start(env_overrides):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANKE_", "DATABASE_URL"))}
    env.update(env_overrides)
    return subprocess.run([sys.executable, "manage.py", "check"], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = _start({"ANKE_PRODUCTION": "1", "ANKE_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "ANKE_SECRET_KEY must be set" in result.stderr


def test_embedded_default_creates_a_private_secret_key_once(tmp_path):
    assert _start({"ANKE_VAR_DIR": str(tmp_path)}).returncode == 0
    key_file = tmp_path / "secret_key"
    first = key_file.read_text()
    assert key_file.stat().st_mode & 0o777 == 0o600 and len(first) > 40
    assert _start({"ANKE_VAR_DIR": str(tmp_path)}).returncode == 0
    assert key_file.read_text() == first


def test_sqlite_takes_the_write_lock_at_begin_and_enforces_foreign_keys(db):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite settings only")
    assert settings.DATABASES["default"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA foreign_keys")
        assert cursor.fetchone()[0] == 1
