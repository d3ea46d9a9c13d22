"""On PostgreSQL, sealed audit rows and checkpoints cannot be changed or deleted.

A sealed event may not change at all; an unsealed one only gains its leaf index and hash (the
sealer's one UPDATE). Deletion is refused unless the transaction set ``anke.audit_prune`` (the
retention job, run under the owner role; docs/audit.md shows a web role that may only INSERT and
SELECT, so it could not delete even then). SQLite has no roles: there ``anke audit verify``
detects what a trigger could not prevent.
"""

from django.db import migrations

# The columns a leaf hash covers (anke.audit.sealing.DOCUMENT_COLUMNS, as of this migration).
CONTENT = ("id", "at", "actor_id", "actor_username", "roles", "auth_method", "session_ref",
           "token_id", "ip", "user_agent", "request_id", "action", "object_type", "object_ids",
           "customer_ids", "fields", "outcome", "reason", "detail")
_OLD = ", ".join(f"OLD.{c}" for c in CONTENT)
_NEW = ", ".join(f"NEW.{c}" for c in CONTENT)

CREATE = f"""
CREATE OR REPLACE FUNCTION anke_audit_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND coalesce(current_setting('anke.audit_prune', true), '') = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'anke: % rows are append-only', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
-- The sealer's UPDATE (an unsealed row gains its leaf index and hash) does not fire the
-- function at all: the WHEN clause, evaluated by the executor, is what lets sealing stay fast.
CREATE TRIGGER audit_event_sealed_is_final BEFORE UPDATE ON audit_auditevent
    FOR EACH ROW WHEN (OLD.leaf_index IS NOT NULL OR ROW({_OLD}) IS DISTINCT FROM ROW({_NEW}))
    EXECUTE FUNCTION anke_audit_append_only();
CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION anke_audit_append_only();
CREATE TRIGGER audit_checkpoint_append_only BEFORE UPDATE OR DELETE ON audit_checkpoint
    FOR EACH ROW EXECUTE FUNCTION anke_audit_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS audit_event_sealed_is_final ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_event_no_delete ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_checkpoint_append_only ON audit_checkpoint;
DROP FUNCTION IF EXISTS anke_audit_append_only();
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)  # no placeholders: RAISE uses %
    return run


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_trail_sealing")]

    operations = [migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP))]
