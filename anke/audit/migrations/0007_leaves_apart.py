"""Sequence numbers and leaf hashes move out of the event rows into ``audit_leaf``, and the
events waiting for the sealer are queued in ``audit_unsealedevent`` by a trigger.

Sealing used to UPDATE every event row it sealed. On PostgreSQL that rewrites a wide row and adds
an entry to each of its nine indexes (a changed indexed column rules out a HOT update), which held
sealing near 12,000 events/s; inserting a narrow leaf row costs a tenth of it. Event rows now
never change, and PostgreSQL's trigger refuses every UPDATE of them.

The queue trigger fires in the inserting transaction, for every INSERT (``record()``, a bulk
insert, one by hand), so no event can arrive without being queued. On SQLite, rebuilding the
event table (which Django does for most changes of its columns) drops triggers: a later migration
that alters ``audit_auditevent`` must create ``audit_event_queued`` again, and
``tests/audit/test_sealing.py`` fails if it is missing.
"""

import importlib

from django.db import migrations, models

POSTGRESQL_OLD = [importlib.import_module(f"anke.audit.migrations.{name}") for name in
                  ("0004_postgresql_append_only", "0005_sequence_not_negative")]

DROP_OLD = """
DROP TRIGGER IF EXISTS audit_event_sealed_is_final ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_event_arrives_unsealed ON audit_auditevent;
DROP FUNCTION IF EXISTS anke_audit_arrives_unsealed();
"""
RECREATE_OLD = """
CREATE TRIGGER audit_event_sealed_is_final BEFORE UPDATE ON audit_auditevent
    FOR EACH ROW WHEN (OLD.leaf_index IS NOT NULL OR ROW({old}) IS DISTINCT FROM ROW({new}))
    EXECUTE FUNCTION anke_audit_append_only();
""".format(old=POSTGRESQL_OLD[0]._OLD, new=POSTGRESQL_OLD[0]._NEW) + POSTGRESQL_OLD[1].CREATE

# A statement trigger with a transition table: one INSERT … SELECT per statement, so a bulk
# insert of events queues them in one pass too. SECURITY DEFINER: the queue is written by this
# trigger alone, and the web role holds no privilege on it but SELECT (docs/audit.md). The table
# is schema-qualified and the temporary schema searched last, so no temporary table can stand in
# for the queue and run code with the owner's rights.
CREATE_POSTGRESQL = """
CREATE OR REPLACE FUNCTION anke_audit_queue_for_sealing() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
BEGIN
    INSERT INTO {schema}.audit_unsealedevent (event_id) SELECT id FROM inserted_events;
    RETURN NULL;
END;
$$;
CREATE TRIGGER audit_event_queued AFTER INSERT ON audit_auditevent
    REFERENCING NEW TABLE AS inserted_events
    FOR EACH STATEMENT EXECUTE FUNCTION anke_audit_queue_for_sealing();
CREATE TRIGGER audit_event_is_final BEFORE UPDATE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION anke_audit_append_only();
CREATE TRIGGER audit_leaf_is_final BEFORE UPDATE OR DELETE ON audit_leaf
    FOR EACH ROW EXECUTE FUNCTION anke_audit_append_only();
"""
DROP_POSTGRESQL = """
DROP TRIGGER IF EXISTS audit_event_queued ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_event_is_final ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_leaf_is_final ON audit_leaf;
DROP FUNCTION IF EXISTS anke_audit_queue_for_sealing();
"""
CREATE_SQLITE = """
CREATE TRIGGER audit_event_queued AFTER INSERT ON audit_auditevent
BEGIN INSERT INTO audit_unsealedevent (event_id) VALUES (NEW.id); END
"""
DROP_SQLITE = "DROP TRIGGER IF EXISTS audit_event_queued"

MOVE_OUT = [
    "INSERT INTO audit_leaf (seq, event_id, hash) "
    "SELECT leaf_index, id, leaf_hash FROM audit_auditevent WHERE leaf_index IS NOT NULL",
    "INSERT INTO audit_unsealedevent (event_id) "
    "SELECT id FROM audit_auditevent WHERE leaf_index IS NULL",
]
MOVE_BACK = [
    "UPDATE audit_auditevent SET leaf_index = l.seq, leaf_hash = l.hash "
    "FROM audit_leaf AS l WHERE l.event_id = audit_auditevent.id",
]


def _sql(postgresql: str | list[str] | None, sqlite: str | list[str] | None):
    def run(apps, schema_editor):
        statements = postgresql if schema_editor.connection.vendor == "postgresql" else sqlite
        if statements is CREATE_POSTGRESQL:
            with schema_editor.connection.cursor() as cursor:
                cursor.execute("SELECT quote_ident(current_schema())")
                statements = statements.replace("{schema}", cursor.fetchone()[0])
        for statement in [statements] if isinstance(statements, str) else statements or []:
            schema_editor.execute(statement, params=None)  # no placeholders: RAISE uses %
    return run


class Migration(migrations.Migration):

    dependencies = [("audit", "0006_sealer_indexes_customers")]

    operations = [
        migrations.CreateModel(
            name="Leaf",
            fields=[
                ("seq", models.BigIntegerField(primary_key=True, serialize=False,
                                               verbose_name="sequence number")),
                ("hash", models.BinaryField()),
                ("event", models.OneToOneField(db_constraint=False,
                                               on_delete=models.deletion.DO_NOTHING,
                                               related_name="leaf", to="audit.auditevent")),
            ],
            options={"constraints": [models.CheckConstraint(
                condition=models.Q(("seq__gte", 0)), name="audit_leaf_seq_not_negative")]},
        ),
        migrations.CreateModel(
            name="UnsealedEvent",
            fields=[("event_id", models.BigIntegerField(primary_key=True, serialize=False))],
        ),
        migrations.RunPython(_sql(DROP_OLD, None), _sql(RECREATE_OLD, None)),
        migrations.RunPython(_sql(MOVE_OUT, MOVE_OUT), _sql(MOVE_BACK, MOVE_BACK)),
        migrations.RemoveConstraint(model_name="auditevent",
                                    name="audit_event_sequence_not_negative"),
        migrations.RemoveIndex(model_name="auditevent", name="audit_event_unsealed"),
        migrations.RemoveField(model_name="auditevent", name="leaf_index"),
        migrations.RemoveField(model_name="auditevent", name="leaf_hash"),
        migrations.RunPython(_sql(CREATE_POSTGRESQL, CREATE_SQLITE),
                             _sql(DROP_POSTGRESQL, DROP_SQLITE)),
    ]
