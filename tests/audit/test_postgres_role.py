"""The web role of docs/audit.md, created from the docs' own SQL: it may append to the trail and
seal it, and nothing else."""

import re
import secrets
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from anke.audit.catalogue import Event
from anke.audit.recorder import record
from anke.core.context import Actor

DOCS = Path(__file__).resolve().parents[2] / "docs" / "audit.md"


@pytest.fixture
def web_role(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL roles")
    name = f"anke_web_{secrets.token_hex(3)}"
    sql = re.search(r"```sql\n(.*?)```", DOCS.read_text(), re.S).group(1)
    sql = (sql.replace("anke_web", name).replace("'…'", "'test'")
           .replace("DATABASE anke", f"DATABASE {connection.settings_dict['NAME']}"))
    with connection.cursor() as cursor:
        cursor.execute(sql)
    settings = connection.settings_dict
    try:
        with psycopg.connect(host=settings["HOST"] or "localhost", port=settings["PORT"] or 5432,
                             dbname=settings["NAME"], user=name, password="test",
                             autocommit=True) as web:
            yield web
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP OWNED BY {name}; DROP ROLE {name}")


def test_the_documented_web_role_appends_and_seals_but_cannot_rewrite(web_role):
    event = record(Actor.system(), Event.KEY_VERIFY, object_type="test")
    web_role.execute("SELECT count(*) FROM audit_auditevent")
    web_role.execute("UPDATE audit_auditevent SET leaf_index = 0, leaf_hash = %s WHERE id = %s",
                     [b"\x00" * 32, event.pk])
    for statement in ("UPDATE audit_auditevent SET reason = 'x'",
                      "DELETE FROM audit_auditevent",
                      "TRUNCATE audit_auditevent",
                      "DELETE FROM audit_checkpoint"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            web_role.execute(statement)
