"""New events arrive unsealed: a sequence number is the sealer's to give, never the writer's.

Everywhere a sequence number is at least 0; on PostgreSQL an INSERT that brings its own leaf
index or hash is refused, so a writer can neither forge a "sealed" event nor take a number the
sealer is about to give (which would stop it).
"""

from django.db import migrations, models

CREATE = """
CREATE OR REPLACE FUNCTION anke_audit_arrives_unsealed() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'anke: audit events arrive unsealed' USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_event_arrives_unsealed BEFORE INSERT ON audit_auditevent
    FOR EACH ROW WHEN (NEW.leaf_index IS NOT NULL OR NEW.leaf_hash IS NOT NULL)
    EXECUTE FUNCTION anke_audit_arrives_unsealed();
"""

DROP = """
DROP TRIGGER IF EXISTS audit_event_arrives_unsealed ON audit_auditevent;
DROP FUNCTION IF EXISTS anke_audit_arrives_unsealed();
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)
    return run


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_postgresql_append_only")]

    operations = [
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.CheckConstraint(condition=models.Q(("leaf_index__gte", 0)),
                                              name="audit_event_sequence_not_negative"),
        ),
        migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP)),
    ]
