"""The roles of docs/audit.md, created from the docs' own SQL: the web process may only append
to the trail, the sealer may only number it, and neither can rewrite it."""

import re
import secrets
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from anke.audit.catalogue import Event
from anke.audit.models import AuditEvent, Leaf, UnsealedEvent
from anke.audit.recorder import record
from anke.core.context import Actor

DOCS = Path(__file__).resolve().parents[2] / "docs" / "audit.md"


@pytest.fixture
def roles(transactional_db, django_db_serialized_rollback):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL roles")
    suffix = secrets.token_hex(3)
    sql = re.search(r"```sql\n(.*?)```", DOCS.read_text(), re.S).group(1)
    sql = (sql.replace("anke_web", f"anke_web_{suffix}")
           .replace("anke_sealer", f"anke_sealer_{suffix}").replace("'…'", "'test'")
           .replace("DATABASE anke", f"DATABASE {connection.settings_dict['NAME']}"))
    with connection.cursor() as cursor:
        cursor.execute(sql)
    settings = connection.settings_dict
    server = {"host": settings["HOST"] or "localhost", "port": settings["PORT"] or 5432,
              "dbname": settings["NAME"], "password": "test", "autocommit": True}
    try:
        with psycopg.connect(user=f"anke_web_{suffix}", **server) as web, \
                psycopg.connect(user=f"anke_sealer_{suffix}", **server) as sealer:
            yield web, sealer
    finally:
        with connection.cursor() as cursor:
            for role in (f"anke_web_{suffix}", f"anke_sealer_{suffix}"):
                cursor.execute(f"DROP OWNED BY {role}; DROP ROLE {role}")


def test_the_documented_roles_append_and_seal_but_cannot_rewrite(roles):
    web, sealer = roles
    event = record(Actor.system(), Event.KEY_VERIFY, object_type="test",
                   customers=["9f1c7a52-2b61-4a53-9a43-5b0b2f1c2d3e"])
    columns = ", ".join(f.column for f in AuditEvent._meta.concrete_fields if f.column != "id")
    copy = web.execute(f"INSERT INTO audit_auditevent ({columns}) "  # noqa: S608 - model columns
                       f"SELECT {columns} FROM audit_auditevent WHERE id = %s RETURNING id",
                       [event.pk]).fetchone()[0]
    assert set(UnsealedEvent.objects.values_list("event_id", flat=True)) == {event.pk, copy}
    refused_to_web = [
        ("INSERT INTO audit_leaf (seq, event_id, hash) VALUES (0, %s, %s)", [event.pk, b"0"]),
        ("INSERT INTO audit_unsealedevent (event_id) VALUES (%s)", [event.pk + 10]),
        ("DELETE FROM audit_unsealedevent", []),
        ("UPDATE audit_auditevent SET reason = 'x'", []),
        ("DELETE FROM audit_auditevent", []),
        ("TRUNCATE audit_auditevent", []),
        ("UPDATE audit_eventcustomer SET customer_id = gen_random_uuid()", []),
        ("DELETE FROM audit_eventcustomer", []),
        ("INSERT INTO audit_eventcustomer (customer_id, event_id) VALUES (gen_random_uuid(), 1)",
         []),
        ("INSERT INTO audit_checkpoint (size, root, at, origin, key_id, signature) "
         "VALUES (1, '', '', '', '', '')", []),
        ("UPDATE audit_sealstate SET size = 0", []),
        ("DELETE FROM audit_prunepoint", []),
    ]
    for statement, params in refused_to_web:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            web.execute(statement, params)
    sealer.execute("INSERT INTO audit_leaf (seq, event_id, hash) VALUES (0, %s, %s)",
                   [event.pk, b"\0" * 32])
    sealer.execute("DELETE FROM audit_unsealedevent WHERE event_id = %s", [event.pk])
    assert Leaf.objects.get(event_id=event.pk).seq == 0
    assert list(UnsealedEvent.objects.values_list("event_id", flat=True)) == [copy]
    sealer.execute("INSERT INTO audit_eventcustomer (customer_id, event_id) VALUES (%s, %s)",
                   [event.customer_ids[0], event.pk])
    for statement in ("UPDATE audit_auditevent SET reason = 'x'",
                      "DELETE FROM audit_auditevent",
                      "UPDATE audit_leaf SET hash = ''",
                      "DELETE FROM audit_leaf",
                      "INSERT INTO audit_unsealedevent (event_id) VALUES (1)",
                      "DELETE FROM audit_checkpoint"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            sealer.execute(statement)
