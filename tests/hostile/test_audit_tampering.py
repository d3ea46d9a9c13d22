"""Attacks on the audit trail by someone with full database access (SECURITY.md §5): each is
detected by ``anke audit verify`` and named precisely, on SQLite and on PostgreSQL."""

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from anke.audit.catalogue import Event
from anke.audit.models import AuditEvent, Checkpoint, Leaf, SealState
from anke.audit.offline import Frontier, checkpoint_message, key_id, signature_valid
from anke.audit.recorder import record
from anke.audit.retention import PruneRefused, prune
from anke.audit.sealing import (
    DOCUMENT_COLUMNS,
    SealStateCorrupt,
    checkpoint_document,
    event_leaf,
    publish_checkpoints,
    seal_pending,
)
from anke.audit.signing import active_signing_key, trusted_public_keys
from anke.audit.verify import verify_trail
from anke.core.context import Actor
from tests.audit.conftest import tamper

pytestmark = pytest.mark.django_db
TABLE = "audit_auditevent"
# The events at some sequence numbers (" = 5", " >= 10"): numbers live in the leaf table.
AT_SEQ = "id IN (SELECT event_id FROM audit_leaf WHERE seq{})"


@pytest.fixture
def trail():
    """Twelve sealed events under three checkpoints (sizes 4, 8, 12)."""
    for batch in range(3):
        for i in range(4):
            record(Actor.system(), Event.KEY_VERIFY, object_type="test",
                   object_ids=[batch * 4 + i], reason="routine")
        seal_pending()
    assert verify_trail().intact
    return dict(Leaf.objects.values_list("seq", "event_id"))


def problems(report):
    return [(p.seq, p.message) for p in report.problems]


def test_an_edited_row_is_named_exactly(trail):
    tamper(f"UPDATE {TABLE} SET reason = 'nothing to see' WHERE {AT_SEQ.format(' = 5')}")  # noqa: S608
    report = verify_trail()
    assert report.first_bad == 5
    assert problems(report) == [(5, f"event 5 (id {trail[5]}) was changed after sealing")]


def test_an_edit_with_its_hash_recomputed_is_caught_by_the_signed_root(trail):
    values = list(AuditEvent.objects.values_list(*DOCUMENT_COLUMNS).get(leaf__seq=6))
    values[DOCUMENT_COLUMNS.index("reason")] = "nothing to see"
    tamper(f"UPDATE {TABLE} SET reason = 'nothing to see' WHERE id = %s",  # noqa: S608
           [trail[6]])
    tamper("UPDATE audit_leaf SET hash = %s WHERE seq = 6", [event_leaf(6, tuple(values))])
    report = verify_trail()
    assert report.first_bad == 4
    assert problems(report) == [(4, "events 4–7 do not hash to the root signed at size 8 "
                                    "(later checkpoints build on it and are not checked)")]


def test_a_deleted_row_is_reported_as_missing(trail):
    tamper(f"DELETE FROM {TABLE} WHERE {AT_SEQ.format(' = 3')}")  # noqa: S608
    report = verify_trail()
    assert report.first_bad == 3
    assert problems(report)[0] == (3, "events 3–3 are missing (deleted after sealing)")


def test_two_swapped_rows_are_both_named(trail):
    # The attacker swaps the two events' places in the sequence, stored hashes and all: each
    # event's hash covers its sequence number, so both are named; the stored hashes moved too,
    # so the first checkpoint over them no longer matches either.
    tamper("UPDATE audit_leaf SET seq = 999999 WHERE seq = 1")
    tamper("UPDATE audit_leaf SET seq = 1 WHERE seq = 9")
    tamper("UPDATE audit_leaf SET seq = 9 WHERE seq = 999999")
    report = verify_trail()
    assert report.first_bad == 0
    assert problems(report) == [
        (0, "events 0–3 do not hash to the root signed at size 4 "
            "(later checkpoints build on it and are not checked)"),
        (1, f"event 1 (id {trail[9]}) was changed after sealing"),
        (9, f"event 9 (id {trail[1]}) was changed after sealing"),
    ]


def test_a_truncated_tail_is_reported_where_it_starts(trail):
    tamper(f"DELETE FROM {TABLE} WHERE {AT_SEQ.format(' >= 10')}")  # noqa: S608
    report = verify_trail()
    assert report.first_bad == 10
    assert problems(report) == [
        (10, "the trail is truncated: a checkpoint covers 12 events, only 10 are present")]


def test_a_tail_truncated_with_its_checkpoints_is_caught_by_the_file_outside(trail, settings):
    tamper(f"DELETE FROM {TABLE} WHERE {AT_SEQ.format(' >= 8')}")  # noqa: S608
    tamper("DELETE FROM audit_leaf WHERE seq >= 8")
    tamper("DELETE FROM audit_checkpoint WHERE size > 8")
    tamper("UPDATE audit_sealstate SET size = 8")
    report = verify_trail()
    file = settings.AUDIT_CHECKPOINT_FILE
    assert problems(report) == [
        (8, f"the checkpoint of size 12 in {file} is missing from the database")]


def test_a_forged_checkpoint_signature_is_reported(trail):
    forger = Ed25519PrivateKey.generate()
    checkpoint = Checkpoint.objects.get(size=8)
    forged = forger.sign(checkpoint_message(checkpoint.origin, 8, bytes(checkpoint.root),
                                            checkpoint.at))
    tamper("UPDATE audit_checkpoint SET signature = %s WHERE size = 8", [forged])
    report = verify_trail()
    assert report.first_bad == 4
    assert problems(report) == [(4, (
        f"checkpoint at size 8: the signature does not verify under a trusted key "
        f"(key id {checkpoint.key_id})"))]


def test_a_rewritten_history_signed_by_a_key_the_attacker_added_is_not_trusted(trail):
    # Full rewrite: new reason everywhere, hashes and roots recomputed, signed with the
    # attacker's own key. Only a key from outside the database (file or --public-key) counts.
    tamper(f"UPDATE {TABLE} SET reason = 'rewritten'")  # noqa: S608
    for seq in range(12):
        values = AuditEvent.objects.values_list(*DOCUMENT_COLUMNS).get(leaf__seq=seq)
        tamper("UPDATE audit_leaf SET hash = %s WHERE seq = %s", [event_leaf(seq, values), seq])
    forger = Ed25519PrivateKey.generate()
    public = forger.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    frontier = Frontier()
    for leaf in Leaf.objects.order_by("seq").values_list("hash", flat=True):
        frontier.append(bytes(leaf))
        if frontier.size % 4 == 0:
            checkpoint = Checkpoint.objects.get(size=frontier.size)
            tamper("UPDATE audit_checkpoint SET root = %s, key_id = %s, signature = %s "
                   "WHERE size = %s", [frontier.root(), key_id(public), forger.sign(
                       checkpoint_message(checkpoint.origin, frontier.size, frontier.root(),
                                          checkpoint.at)), frontier.size])
    report = verify_trail()
    assert report.first_bad == 0
    messages = [m for _seq, m in problems(report)]
    assert sum("signature does not verify" in m for m in messages) == 3
    assert sum("differs from its copy" in m for m in messages) == 3


def test_appending_to_a_sealed_row_through_the_application_is_refused_on_postgresql(trail):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no roles or triggers; verify detects instead")
    for statement in (f"UPDATE {TABLE} SET reason = 'x' WHERE {AT_SEQ.format(' = 1')}",  # noqa: S608
                      f"DELETE FROM {TABLE} WHERE {AT_SEQ.format(' = 1')}",  # noqa: S608
                      "UPDATE audit_leaf SET hash = '' WHERE seq = 1",
                      "UPDATE audit_leaf SET seq = 99 WHERE seq = 1",
                      "DELETE FROM audit_leaf WHERE seq = 1",
                      "UPDATE audit_checkpoint SET size = 99 WHERE size = 4",
                      "DELETE FROM audit_checkpoint WHERE size = 4"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), \
                connection.cursor() as cursor:
            cursor.execute(statement)
    assert verify_trail().intact


def test_an_event_never_changes_even_before_it_is_sealed_on_postgresql(db):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL trigger")
    event = record(Actor.system(), Event.KEY_VERIFY, object_type="test")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), \
            connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET reason = 'x' WHERE id = %s", [event.pk])  # noqa: S608
    assert seal_pending().sealed == 1
    assert Leaf.objects.get(event_id=event.pk).seq == 0


def test_the_checkpoint_file_keeps_what_was_signed(trail, settings):
    copies = [json.loads(line) for line in
              Path(settings.AUDIT_CHECKPOINT_FILE).read_text().splitlines()]
    assert [copy["size"] for copy in copies] == [4, 8, 12]
    signed = [checkpoint_document(c) for c in Checkpoint.objects.order_by("size")]
    assert copies == signed
    assert all(signature_valid(copy, trusted_public_keys()) for copy in copies)


def test_a_forged_prune_point_does_not_excuse_a_deleted_history(trail):
    # The attacker declares everything "pruned" with the sealer's own frontier, then deletes it.
    state = SealState.objects.get()
    tamper("INSERT INTO audit_prunepoint (size, frontier, at, origin, key_id, signature) "
           "VALUES (%s, %s, %s, 'anke', 'x', %s)",
           [state.size, json.dumps(state.frontier), "2999-01-01T00:00:00.000000+00:00", b"x"])
    tamper(f"DELETE FROM {TABLE}")  # noqa: S608
    report = verify_trail()
    assert not report.intact
    assert problems(report)[0] == (0, (
        "the retention prune point at size 12 is not one Anke signed after the retention "
        "period: events below it may have been deleted"))


def test_a_checkpoint_inserted_with_an_old_date_neither_prunes_nor_extends(trail):
    # Its root is the true one (computed from the readable leaf hashes), but it is not signed.
    root = Checkpoint.objects.get(size=12).root
    tamper("DELETE FROM audit_checkpoint WHERE size = 12")
    tamper("INSERT INTO audit_checkpoint (size, root, at, origin, key_id, signature) "
           "VALUES (12, %s, '2000-01-01T00:00:00.000000+00:00', 'anke', 'x', %s)",
           [bytes(root), b"forged"])
    with pytest.raises(PruneRefused, match="bad signature"):
        prune(Actor.system(), now=timezone.now())
    assert AuditEvent.objects.count() == 12
    record(Actor.system(), Event.KEY_VERIFY, object_type="test")
    with pytest.raises(SealStateCorrupt):
        seal_pending()


def test_events_given_sequence_numbers_outside_the_sealer_are_reported(trail):
    event = record(Actor.system(), Event.KEY_VERIFY, object_type="forged")
    values = AuditEvent.objects.values_list(*DOCUMENT_COLUMNS).get(pk=event.pk)
    tamper("INSERT INTO audit_leaf (seq, event_id, hash) VALUES (12, %s, %s)",
           [event.pk, event_leaf(12, values)])
    assert problems(verify_trail()) == [
        (12, "events 12–12 carry sequence numbers no signed checkpoint covers")]


def test_verifying_with_the_auditors_key_ignores_a_replaced_key_file(trail, settings, tmp_path,
                                                                      public_key):
    # Someone replaces the signing key file and re-signs every checkpoint with the new key.
    settings.AUDIT_SIGNING_KEY_FILE = str(tmp_path / "other" / "audit-signing.json")
    other = active_signing_key()
    for checkpoint in Checkpoint.objects.all():
        signature = other.sign(checkpoint_message(checkpoint.origin, checkpoint.size,
                                                  bytes(checkpoint.root), checkpoint.at))
        tamper("UPDATE audit_checkpoint SET key_id = %s, signature = %s WHERE size = %s",
               [other.key_id, signature, checkpoint.size])
    Path(settings.AUDIT_CHECKPOINT_FILE).unlink()
    publish_checkpoints()
    assert verify_trail().intact  # the replaced file vouches for itself…
    report = verify_trail([public_key])  # …the key the auditor holds does not
    assert report.first_bad == 0
    assert sum("signature does not verify" in m for _s, m in problems(report)) == 3


def test_a_forged_line_in_the_checkpoint_file_neither_stops_publishing_nor_passes(trail,
                                                                                  settings):
    path = Path(settings.AUDIT_CHECKPOINT_FILE)
    with path.open("a") as out:
        out.write('{"size": 999999999, "root": "AAAA"}\n{"torn line\n')
    for i in range(2):
        record(Actor.system(), Event.KEY_VERIFY, object_type="test", object_ids=[i])
    seal_pending()
    sizes = [json.loads(line)["size"] for line in path.read_text().splitlines()
             if line.startswith('{"at"')]
    assert sizes == [4, 8, 12, 14]
    assert [m for _s, m in problems(verify_trail())] == [
        f"{path}:4 is not a checkpoint signed by a trusted key",
        f"{path}:5 is not a checkpoint signed by a trusted key"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_verifying_in_parallel_processes_names_the_same_event(monkeypatch):
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("worker processes cannot open an in-memory test database")
    monkeypatch.setattr("anke.audit.verify.PARALLEL_FROM", 10)
    monkeypatch.setattr("anke.audit.verify.PARALLEL_CHUNK", 7)
    for i in range(40):
        record(Actor.system(), Event.KEY_VERIFY, object_type="test", object_ids=[i])
    seal_pending()
    assert verify_trail().intact
    tamper(f"UPDATE {TABLE} SET reason = 'hidden' WHERE {AT_SEQ.format(' = 23')}")  # noqa: S608
    tamper(f"DELETE FROM {TABLE} WHERE {AT_SEQ.format(' = 31')}")  # noqa: S608
    report = verify_trail()
    assert [seq for seq, _message in problems(report)] == [23, 31]
    assert report.sealed == 39


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite stores any type in any column")
@pytest.mark.parametrize("statement", [
    "UPDATE audit_auditevent SET fields = CAST('[\"phone\"]' AS BLOB) WHERE {event_3}",
    "UPDATE audit_auditevent SET at = '2024-13-45 10:00:00' WHERE {event_3}",
    "UPDATE audit_auditevent SET object_ids = '" + "[" * 999 + "]" * 999 + "' WHERE {event_3}",
    "UPDATE audit_leaf SET hash = 'text' WHERE seq = 3",
], ids=["binary JSON", "impossible date", "deep nesting", "hash as text"])
def test_a_row_tampered_into_nonsense_is_reported_not_a_crash(trail, statement):
    tamper(statement.format(event_3=AT_SEQ.format(" = 3")))
    report = verify_trail()
    assert not report.intact
    assert (3, f"event 3 (id {trail[3]}) was changed after sealing") in problems(report)
