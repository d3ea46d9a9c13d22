"""The sealer: gap-free leaf indexes in sealing order, the Merkle tree, signed checkpoints.

One sealing transaction locks the single ``SealState`` row, takes the oldest events of the queue
of unsealed ones, gives them the next sequence numbers, stores their leaf hashes (``Leaf`` rows),
takes them off the queue and signs a checkpoint of the new tree.
Two sealers queue on that lock, so the history never forks; an event whose transaction commits
late is simply sealed in a later batch. Afterwards checkpoints are appended to a file outside the
database (and syslog), sealed events are indexed by the customers they name, and forwarded to a
SIEM if configured.
"""

import base64
import contextlib
import datetime
import fcntl
import json
import logging.handlers
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import Exists, OuterRef, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from anke.audit.models import AuditEvent, Checkpoint, EventCustomer, Leaf, SealState, UnsealedEvent
from anke.audit.offline import (
    Frontier,
    canonical_json,
    checkpoint_message,
    leaf_hash,
    signature_valid,
)
from anke.audit.signing import SigningKey, active_signing_key, trusted_public_keys

# The columns a leaf hash covers, in the order ``values_list`` returns them.
DOCUMENT_COLUMNS = (
    "id", "at", "actor_id", "actor_username", "roles", "auth_method", "session_ref", "token_id",
    "ip", "user_agent", "request_id", "action", "object_type", "object_ids", "customer_ids",
    "fields", "outcome", "reason", "detail",
)
BATCH = 5000


class SealStateCorrupt(Exception):
    """The stored tree state does not match the last signed checkpoint: refuse to extend it."""


def utc_text(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat(timespec="microseconds")


JSON_COLUMNS = ("object_ids", "customer_ids", "fields")
BINARY_TYPES = frozenset((bytes, memoryview))  # what the drivers return for a blob


def _comparable(value):
    """Bytes where text belongs (SQLite types nothing) as an object Django never stores there."""
    return {"blob": bytes(value).hex()} if isinstance(value, (bytes, memoryview)) else value


def document(seq: int, values: tuple) -> dict:
    """An event row (``DOCUMENT_COLUMNS`` as the database gives them, see ``document_rows``) as
    the JSON its leaf hash covers. A value that does not parse stays as stored, so a row
    tampered into nonsense is reported as changed rather than stopping the verifier."""
    doc = dict(zip(DOCUMENT_COLUMNS, values, strict=True))
    if not BINARY_TYPES.isdisjoint(map(type, values)):  # rare: checked once, not per value
        doc = {column: _comparable(value) for column, value in doc.items()}
    doc["seq"] = seq
    at = doc["at"]
    if isinstance(at, str):  # SQLite's text (document_rows keeps its driver from parsing it)
        with contextlib.suppress(ValueError):
            at = datetime.datetime.fromisoformat(at)
    if isinstance(at, datetime.datetime):
        # SQLite stores UTC without saying so (unless a value carries its offset).
        doc["at"] = utc_text(at if at.tzinfo else at.replace(tzinfo=datetime.UTC))
    for column in JSON_COLUMNS:
        if isinstance(doc[column], str):  # both backends hand JSON over as text
            with contextlib.suppress(ValueError, RecursionError):
                doc[column] = json.loads(doc[column])
    if doc["ip"] is not None and not isinstance(doc["ip"], dict):
        doc["ip"] = str(doc["ip"])
    return doc


def document_rows(queryset, *leading: str, chunk_size: int = 5000) -> Iterator[tuple]:
    """``values_list(*leading, *DOCUMENT_COLUMNS)`` rows as the database driver returns them,
    streamed. The ORM's per-value converters cost a third of sealing and verifying; ``document``
    does the three conversions a document needs. SQLite's time is read as the text stored: its
    driver's parser would raise on a value tampered into an impossible date."""
    database = connections[queryset.db]
    columns = list(DOCUMENT_COLUMNS)
    if database.vendor == "sqlite":
        queryset = queryset.annotate(at_as_stored=Cast("at", TextField()))
        columns[columns.index("at")] = "at_as_stored"
    sql, params = queryset.values_list(*leading, *columns).query.sql_with_params()
    # As QuerySet.iterator(): no server-side cursor behind a transaction pooler (pgbouncer).
    streamed = not database.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
    with database.chunked_cursor() if streamed else database.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk_size):
            yield from rows


def documents(queryset, chunk_size: int = 5000) -> Iterator[dict]:
    """The documents of the queryset's events, in its order, read ``chunk_size`` rows at a time."""
    return (document(row[0], row[1:])
            for row in document_rows(queryset, "leaf__seq", chunk_size=chunk_size))


JSON_ESCAPED = bytes(range(32)) + b'"\\'  # what json.dumps escapes when ensure_ascii is off


def _is_verbatim(text: str) -> bool:
    """Whether ``json.dumps(ensure_ascii=False)`` writes the text between quotes as it is (no
    quote, backslash or control character; other unprintable characters are left to it)."""
    if text.isascii():  # ids, names of fields and actions: checked byte-wise in C
        raw = text.encode("ascii")
        return len(raw.translate(None, JSON_ESCAPED)) == len(raw)
    return text.isprintable() and '"' not in text and "\\" not in text


def _json(value) -> str:
    """``json.dumps`` of one value as ``canonical_json`` writes it. Plain text, integers, null and
    lists of plain text (ids, field names: most of an event) are written here at a fraction of
    its cost; anything else is left to it."""
    kind = type(value)
    if kind is str and _is_verbatim(value):
        return '"' + value + '"'
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    if kind is list:
        with contextlib.suppress(TypeError):  # an item that is not text
            if _is_verbatim(",".join(value)):
                return '["' + '","'.join(value) + '"]' if value else "[]"
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fast_canonical_json(doc: dict) -> bytes:
    """The same bytes as ``canonical_json(doc)`` for a document of plain keys, in half the time:
    sealing and verifying hash every event, and the JSON was most of the cost."""
    return ("{" + ",".join(['"' + key + '":' + _json(doc[key]) for key in sorted(doc)])
            + "}").encode("utf-8")


def event_leaf(seq: int, values: tuple) -> bytes:
    doc = document(seq, values)
    try:
        return leaf_hash(fast_canonical_json(doc))
    except (UnicodeEncodeError, RecursionError):
        # JSON written by hand that parses but cannot be written back (a lone surrogate, nesting
        # at the limit) is hashed as the text stored, so one such row never stops the sealer.
        doc.update({column: _comparable(value)
                    for column, value in zip(DOCUMENT_COLUMNS, values, strict=True)
                    if column in JSON_COLUMNS})
        return leaf_hash(canonical_json(doc))


def checkpoint_document(checkpoint: Checkpoint) -> dict:
    """A checkpoint as files, syslog, bundles and auditors see it."""
    return {"origin": checkpoint.origin, "size": checkpoint.size,
            "root": base64.b64encode(bytes(checkpoint.root)).decode(), "at": checkpoint.at,
            "key_id": checkpoint.key_id,
            "signature": base64.b64encode(bytes(checkpoint.signature)).decode()}


@dataclass
class SealResult:
    sealed: int
    size: int


def _locked_state() -> SealState:
    try:
        return SealState.objects.select_for_update().get(pk=1)
    except SealState.DoesNotExist:
        try:
            with transaction.atomic():
                SealState.objects.create(pk=1)
        except IntegrityError:
            pass  # another sealer created it first
        return SealState.objects.select_for_update().get(pk=1)


def _checked_frontier(state: SealState) -> Frontier:
    frontier = Frontier(state.size, [bytes.fromhex(h) for h in state.frontier])
    last = Checkpoint.objects.order_by("-size").first()
    last_size, last_root = (last.size, bytes(last.root)) if last else (0, frontier.root())
    if last_size != state.size or last_root != frontier.root() or (
            last and not signature_valid(checkpoint_document(last), trusted_public_keys())):
        raise SealStateCorrupt(
            f"the sealer's state (size {state.size}) does not match the last signed "
            f"checkpoint (size {last_size}); run `anke audit verify`")
    return frontier


def _append_leaves(sealed: list[tuple[int, int, bytes]], *, done: list[int]) -> None:
    """Store the (sequence number, event id, leaf hash) of many events and take them and the
    entries ``done`` off the queue, in two statements. Only those leave the queue: an event
    that committed late with a lower id is still there for the next batch."""
    leaves = connection.ops.quote_name(Leaf._meta.db_table)
    queue = connection.ops.quote_name(UnsealedEvent._meta.db_table)
    unqueued = sorted({*done, *(event_id for _seq, event_id, _leaf in sealed)})
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Arrays instead of thousands of placeholders to parse.
            if sealed:
                cursor.execute(f"INSERT INTO {leaves} (seq, event_id, hash) "  # noqa: S608
                               f"SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bytea[])",
                               [list(column) for column in zip(*sealed, strict=True)])
            cursor.execute(f"DELETE FROM {queue} WHERE event_id = ANY(%s)",  # noqa: S608
                           [unqueued])
            return
        if sealed:
            cursor.execute(f"INSERT INTO {leaves} (seq, event_id, hash) VALUES "  # noqa: S608
                           + ",".join(["(%s,%s,%s)"] * len(sealed)),
                           [value for row in sealed for value in row])
        for start in range(0, len(unqueued), 10000):  # SQLite's limit on parameters
            chunk = unqueued[start:start + 10000]
            cursor.execute(f"DELETE FROM {queue} WHERE event_id IN "  # noqa: S608
                           f"({','.join(['%s'] * len(chunk))})", chunk)


def _sign(key: SigningKey, size: int, root: bytes) -> Checkpoint:
    at = utc_text(timezone.now())
    origin = settings.AUDIT_ORIGIN
    return Checkpoint.objects.create(
        size=size, root=root, at=at, origin=origin, key_id=key.key_id,
        signature=key.sign(checkpoint_message(origin, size, root, at)))


def _seal_batch(key: SigningKey, batch: int) -> int | None:
    """Seal the events of the next ``batch`` queue entries; None when the queue is empty."""
    with transaction.atomic():
        state = _locked_state()
        queued = list(UnsealedEvent.objects.order_by("event_id")
                      .values_list("event_id", flat=True)[:batch])
        if not queued:
            return None  # an idle pass checks nothing and signs nothing
        # Bounded by id on both tables, so the plan walks the queue's range, never the trail.
        # An event that committed late inside the range is sealed too; an entry whose event is
        # sealed already or gone (written by hand) is stale and only leaves the queue.
        low, high = queued[0], queued[-1]
        rows = list(document_rows(
            AuditEvent.objects.filter(
                id__gte=low, id__lte=high,
                id__in=UnsealedEvent.objects.filter(event_id__gte=low, event_id__lte=high)
                .values("event_id"))
            .filter(~Exists(Leaf.objects.filter(event_id=OuterRef("id")))).order_by("id")))
        sealed = []
        if rows:
            frontier = _checked_frontier(state)
            for values in rows:
                seq = frontier.size
                leaf = event_leaf(seq, values)
                frontier.append(leaf)
                sealed.append((seq, values[0], leaf))
        _append_leaves(sealed, done=queued)
        if sealed:
            state.size, state.frontier = frontier.size, [h.hex() for h in frontier.hashes]
            state.save(update_fields=["size", "frontier"])
            _sign(key, frontier.size, frontier.root())
    return len(sealed)


def seal_new(*, batch: int = BATCH) -> int:
    """Number, hash and sign every event committed so far, one checkpoint per batch."""
    key = active_signing_key()
    sealed = 0
    while (count := _seal_batch(key, batch)) is not None:
        sealed += count
    return sealed


def seal_pending(*, batch: int = BATCH) -> SealResult:
    """Seal every event committed so far, publish the checkpoints, index and forward (whatever
    became of indexing: the SIEM must not wait on the viewer's index)."""
    sealed = seal_new(batch=batch)
    publish_checkpoints()
    try:
        index_sealed(batch=batch)
    finally:
        forward_sealed()
    size = SealState.objects.filter(pk=1).values_list("size", flat=True).first() or 0
    return SealResult(sealed, size)


# --- copies outside the database ----------------------------------------------------------------

def _syslog() -> logging.Logger | None:
    address = settings.AUDIT_SYSLOG
    if not address:
        return None
    logger = logging.getLogger("anke.audit.syslog")
    if not logger.handlers:
        host, _sep, port = address.rpartition(":")
        target = address if address.startswith("/") else (host, int(port or 514))
        logger.addHandler(logging.handlers.SysLogHandler(address=target))
        logger.propagate = False
        logger.setLevel(logging.INFO)
    return logger


def last_signed_size(path: Path, keys: dict[str, bytes]) -> int:
    """The size of the file's last checkpoint that is signed by a trusted key, read from the
    end (the file only grows; a torn or forged last line must not stop publishing)."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        end = position = handle.tell()
        while True:
            position = max(0, position - 65536)
            handle.seek(position)
            lines = handle.read(end - position).split(b"\n")
            for line in reversed(lines[1:] if position else lines):
                try:
                    copy = json.loads(line)
                except ValueError:
                    continue
                if isinstance(copy, dict) and signature_valid(copy, keys):
                    return int(copy["size"])
            if position == 0:
                return 0


def _append_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write("".join(f"{line}\n" for line in lines))
        out.flush()
        os.fsync(out.fileno())


def publish_checkpoints() -> int:
    """Append the checkpoints the file does not have yet (after a crash too); returns how many."""
    path = Path(settings.AUDIT_CHECKPOINT_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        known = last_signed_size(path, trusted_public_keys()) if path.exists() else 0
        new = [canonical_json(checkpoint_document(c)).decode()
               for c in Checkpoint.objects.filter(size__gt=known).order_by("size")]
        if new:
            _append_lines(path, new)
            if logger := _syslog():
                for line in new:
                    logger.info("anke-audit-checkpoint %s", line)
    return len(new)


def _customer_list(text) -> list:
    """The customer ids of an event's stored JSON; none if it is not what ``record()`` wrote."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return []
    return value if isinstance(value, list) else []


def _is_canonical_uuid(value) -> bool:
    """As ``record()`` writes customer ids; anything else (an event inserted by hand) names no
    customer a search could ask for, and must not stop the index."""
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    except ValueError:
        return False


def index_sealed(batch: int = BATCH) -> int:
    """Index sealed events by the customers they name, for "who accessed this customer"; returns
    how many events. Done here, after sealing, rather than by ``record()``: a list read names 50
    customers, and 50 random inserts into a large index cost the request more than its event."""
    sqlite = connection.vendor == "sqlite"
    table = connection.ops.quote_name(EventCustomer._meta.db_table)
    done = 0
    while True:
        with transaction.atomic():
            state = _locked_state()
            rows = [(seq, event_id, _customer_list(text)) for seq, event_id, text in
                    Leaf.objects.filter(seq__gte=state.indexed)
                    .annotate(named=Cast("event__customer_ids", TextField()))
                    .order_by("seq").values_list("seq", "event_id", "named")[:batch]]
            if not rows:
                return done
            # Canonical UUID text: SQLite's uuid column holds the hex digits, PostgreSQL's takes
            # it as it is. Sorted, so the index is written page by page, not at random.
            pairs = sorted((c.replace("-", "") if sqlite else c, event_id)
                           for _seq, event_id, customers in rows for c in customers
                           if _is_canonical_uuid(c))
            with connection.cursor() as cursor:
                for start in range(0, len(pairs), 500):
                    chunk = pairs[start:start + 500]
                    cursor.execute(
                        f"INSERT INTO {table} (customer_id, event_id) VALUES "  # noqa: S608
                        + ",".join(["(%s, %s)"] * len(chunk)), [v for p in chunk for v in p])
            state.indexed = rows[-1][0] + 1
            state.save(update_fields=["indexed"])
            done += len(rows)


def forward_sealed(batch: int = BATCH) -> int:
    """Send sealed events to the SIEM file/syslog, at least once each, in sequence order."""
    target = settings.AUDIT_FORWARD_FILE
    logger = _syslog()
    if not target and not logger:
        return 0
    sent = 0
    while True:
        with transaction.atomic():
            state = _locked_state()
            docs = list(documents(AuditEvent.objects.filter(leaf__seq__gte=state.forwarded)
                                  .order_by("leaf__seq")[:batch]))
            if not docs:
                return sent
            lines = [canonical_json(doc).decode() for doc in docs]
            if target:
                _append_lines(Path(target), lines)
            if logger:
                for line in lines:
                    logger.info("anke-audit-event %s", line)
            state.forwarded = docs[-1]["seq"] + 1
            state.save(update_fields=["forwarded"])
            sent += len(docs)
