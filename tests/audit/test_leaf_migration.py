"""Upgrading to the leaf table keeps every sequence number, leaf hash and waiting event; going
back puts them into the event rows again."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from anke.audit.catalogue import Event
from anke.audit.models import UnsealedEvent
from anke.audit.recorder import record
from anke.audit.sealing import seal_pending
from anke.audit.verify import verify_trail
from anke.core.context import Actor

BEFORE = [("audit", "0006_sealer_indexes_customers")]
AFTER = [("audit", "0007_leaves_apart")]


def migrate(targets) -> None:
    MigrationExecutor(connection).migrate(targets)


def rows(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_sealed_and_waiting_events_move_to_the_leaf_table_and_back():
    def events(n: int) -> list:
        return [record(Actor.system(), Event.KEY_VERIFY, object_type="test") for _ in range(n)]

    written = events(3)
    seal_pending()
    written += events(2)  # waiting to be sealed
    leaves = rows("SELECT seq, event_id, hash FROM audit_leaf ORDER BY seq")
    assert [event_id for _seq, event_id, _hash in leaves] == [e.pk for e in written[:3]]
    try:
        migrate(BEFORE)
        assert rows("SELECT leaf_index, id, leaf_hash FROM audit_auditevent ORDER BY id") == [
            *leaves, (None, written[3].pk, None), (None, written[4].pk, None)]
        if connection.vendor == "postgresql":  # the old trigger guards the old columns again
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                rows(f"UPDATE audit_auditevent SET reason = 'x' "  # noqa: S608
                     f"WHERE id = {written[0].pk}")

        migrate(AFTER)
        assert rows("SELECT seq, event_id, hash FROM audit_leaf ORDER BY seq") == leaves
        assert sorted(UnsealedEvent.objects.values_list("event_id", flat=True)) == [
            e.pk for e in written[3:]]
        assert seal_pending().sealed == 2
        later = record(Actor.system(), Event.KEY_VERIFY, object_type="test")
        assert list(UnsealedEvent.objects.values_list("event_id", flat=True)) == [later.pk]
        assert verify_trail().intact
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
