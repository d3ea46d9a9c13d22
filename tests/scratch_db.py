"""A database only one test uses (no Django test database), for tests that run Anke as real
processes: a SQLite file, or a fresh database on the suite's PostgreSQL server."""

import secrets
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from psycopg import sql


@pytest.fixture
def database_url(tmp_path):
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        yield f"sqlite:///{tmp_path / 'anke.sqlite3'}"
        return
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip(f"no scratch database for {db['ENGINE']}")
    name = f"anke_scratch_{secrets.token_hex(4)}"
    server = {"host": db.get("HOST") or "localhost", "port": db.get("PORT") or 5432,
              "user": db.get("USER") or None, "password": db.get("PASSWORD") or None}
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        login = quote(server["user"] or "", safe="")
        if server["password"]:
            login += ":" + quote(server["password"], safe="")
        yield f"postgres://{login}@{server['host']}:{server['port']}/{name}"
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as connection:
            # FORCE: a SIGKILLed client's backend may not have noticed yet that it is gone.
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                               .format(sql.Identifier(name)))
