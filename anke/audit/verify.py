"""``anke audit verify``: recompute the whole trail and compare it with what was signed.

Every sealed event's leaf hash is recomputed from its columns and compared with the hash stored
at sealing (an edited row is named exactly), leaf indexes must run without gaps (a deleted row),
the tree must reach the signed root at every checkpoint (a row edited together with its stored
hash), no checkpoint may claim more events than exist (a truncated tail), every signature must
verify under a trusted key (a forged checkpoint), and the checkpoint file outside the database
must agree with the database (checkpoints deleted along with the tail).
"""

import base64
import datetime
import json
import multiprocessing
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection, connections
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from anke.audit.models import AuditEvent, Checkpoint, Leaf, PrunePoint, SealState, UnsealedEvent
from anke.audit.offline import Frontier, prune_message, signature_valid
from anke.audit.sealing import checkpoint_document, document_rows, event_leaf, utc_text
from anke.audit.signing import trusted_public_keys

# China's Cybersecurity Law: network logs are kept at least six months; no prune is younger.
MINIMUM_RETENTION = datetime.timedelta(days=183)
# Below this many events, starting processes costs more than hashing in parallel saves.
PARALLEL_FROM = 100_000
PARALLEL_CHUNK = 20_000


@dataclass(order=True)
class Problem:
    seq: int
    message: str


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    sealed: int = 0
    pending: int = 0
    unindexed: int = 0  # sealed, not yet in the customer index ("who accessed")
    checkpoints: int = 0
    pruned_below: int = 0

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def first_bad(self) -> int | None:
        return min(self.problems).seq if self.problems else None


def verify_trail(public_keys: list[str] = (), checkpoint_file: str | None = None) -> Report:
    report = Report()
    keys = trusted_public_keys(list(public_keys))
    checkpoints = list(Checkpoint.objects.order_by("size"))
    report.checkpoints = len(checkpoints)
    previous = 0
    for checkpoint in checkpoints:
        if not signature_valid(checkpoint_document(checkpoint), keys):
            report.problems.append(Problem(previous, (
                f"checkpoint at size {checkpoint.size}: the signature does not verify under a "
                f"trusted key (key id {checkpoint.key_id})")))
        previous = checkpoint.size
    frontier = _start(report, checkpoints, keys)
    _walk_events(report, frontier, checkpoints)
    _count_unsealed(report)
    state = SealState.objects.filter(pk=1).values_list("size", "indexed").first()
    report.unindexed = max(state[0] - state[1], 0) if state else 0
    _compare_file(report, checkpoints, keys,
                  Path(checkpoint_file or settings.AUDIT_CHECKPOINT_FILE))
    report.problems.sort()
    return report


def _start(report: Report, checkpoints: list[Checkpoint], keys: dict[str, bytes]) -> Frontier:
    """The empty tree, or the frontier retention left: signed by a trusted key, folding to the
    signed root of its checkpoint, and made at least six months (the legal minimum) after it."""
    prune = PrunePoint.objects.order_by("-size").first()
    if prune is None:
        return Frontier()
    report.pruned_below = prune.size
    frontier = Frontier(prune.size, [bytes.fromhex(h) for h in prune.frontier])
    signed = next((c for c in checkpoints if c.size == prune.size), None)
    statement = {"origin": prune.origin, "size": prune.size, "at": prune.at,
                 "key_id": prune.key_id, "root": base64.b64encode(frontier.root()).decode(),
                 "signature": base64.b64encode(bytes(prune.signature)).decode()}
    if (signed is None or bytes(signed.root) != frontier.root()
            or not signature_valid(statement, keys, prune_message)
            or not _apart(signed.at, prune.at, MINIMUM_RETENTION)):
        report.problems.append(Problem(0, (
            f"the retention prune point at size {prune.size} is not one Anke signed after "
            f"the retention period: events below it may have been deleted")))
    stray = AuditEvent.objects.filter(leaf__seq__lt=prune.size).count()
    if stray:
        report.problems.append(Problem(0, f"{stray} events below the prune point {prune.size}"))
    return frontier


def _count_unsealed(report: Report) -> None:
    """Events waiting for the sealer, and events that would wait forever: neither sealed nor
    queued (their queue entry deleted, or inserted with the trigger off) are hidden from the
    seal and reported."""
    unsealed = AuditEvent.objects.filter(leaf__isnull=True)
    queued = UnsealedEvent.objects.filter(event_id=OuterRef("id"))
    report.pending = unsealed.filter(Exists(queued)).count()
    hidden = list(unsealed.filter(~Exists(queued)).order_by("id").values_list("id", flat=True)[:6])
    if hidden:
        named = ", ".join(map(str, hidden[:5])) + (", …" if len(hidden) > 5 else "")
        report.problems.append(Problem(report.pruned_below + report.sealed, (
            f"events neither sealed nor queued for sealing (ids {named}): they escape the seal")))


def _apart(earlier: str, later: str, at_least: datetime.timedelta) -> bool:
    try:
        gap = datetime.datetime.fromisoformat(later) - datetime.datetime.fromisoformat(earlier)
    except (TypeError, ValueError):
        return False
    return gap >= at_least


def _walk_events(report: Report, frontier: Frontier, checkpoints: list[Checkpoint]) -> None:
    """Two trees side by side: of the recomputed leaf hashes (the events as they are now) and of
    the hashes stored at sealing. Where the stored tree reaches a signed root, the stored hashes
    are authentic and every event whose recomputed hash differs is named exactly; where even the
    stored tree misses the root, the stored hashes were rewritten too and the checkpoint's range
    is reported."""
    stored_tree = Frontier(frontier.size, frontier.hashes)
    ahead = [c for c in checkpoints if c.size > frontier.size]
    covered = frontier.size  # the first sequence number the next checkpoint newly covers
    expected, tree_whole = frontier.size, True
    for seq, event_id, stored, leaf in _leaves(frontier.size):
        if seq != expected:
            report.problems.append(Problem(expected, (
                f"events {expected}–{seq - 1} are missing (deleted after sealing)")))
            tree_whole = False  # later roots cannot be recomputed; say so once, above
        stored = leaf if stored is None else stored
        if stored != leaf:
            report.problems.append(Problem(seq, (
                f"event {seq} (id {event_id}) was changed after sealing")))
        expected = seq + 1
        report.sealed += 1
        if not tree_whole:
            continue
        frontier.append(leaf)
        stored_tree.append(stored)
        while ahead and ahead[0].size == frontier.size:
            checkpoint = ahead.pop(0)
            if bytes(checkpoint.root) != stored_tree.root():
                # Every later root builds on this range, so they cannot be checked either.
                later = " (later checkpoints build on it and are not checked)" if ahead else ""
                report.problems.append(Problem(covered, (
                    f"events {covered}–{checkpoint.size - 1} do not hash to the root signed at "
                    f"size {checkpoint.size}{later}")))
                ahead = []
            covered = checkpoint.size
    last = checkpoints[-1].size if checkpoints else 0
    if last > expected:
        report.problems.append(Problem(expected, (
            f"the trail is truncated: a checkpoint covers {last} events, "
            f"only {expected} are present")))
    elif expected > last:  # sealing numbers and signs in one transaction: these were forged
        report.problems.append(Problem(last, (
            f"events {last}–{expected - 1} carry sequence numbers no signed checkpoint covers")))


def _hash_range(bounds: tuple[int, int | None]) -> list[tuple[int, int, bytes | None, bytes]]:
    """(sequence number, id, stored hash, recomputed hash) of the sealed events in a range."""
    start, end = bounds
    rows = AuditEvent.objects.filter(leaf__seq__gte=start)
    if end is not None:
        rows = rows.filter(leaf__seq__lt=end)
    rows = document_rows(rows.order_by("leaf__seq"), "leaf__seq", "leaf__hash")
    return [(seq, values[0], _stored_hash(stored), _recomputed(seq, tuple(values)))
            for seq, stored, *values in rows]


def _stored_hash(stored) -> bytes | None:
    if stored is None:
        return None
    return bytes(stored) if isinstance(stored, (bytes, memoryview)) else b"not a hash"


def _recomputed(seq: int, values: tuple) -> bytes:
    """The event's leaf hash; a row whose content no hash can be computed of was changed
    (reported, not a stop). Any other error is a fault of the verifier and stops it."""
    try:
        return event_leaf(seq, values)
    except (TypeError, ValueError, RecursionError):
        return b"unhashable"


def _leaves(start: int) -> Iterator[tuple[int, int, bytes | None, bytes]]:
    """Every sealed event from ``start`` on, in order, with its hashes. Recomputing the hashes
    is the cost of verifying, so a large trail is split among one process per core (each with
    its own connection); a trail inside an open transaction is read here, where it is visible."""
    end = Leaf.objects.aggregate(last=Max("seq"))["last"]
    workers = os.cpu_count() or 1
    in_memory = connection.vendor == "sqlite" and connection.is_in_memory_db()
    # A fork copies locks held by other threads (a server's, a browser driver's) into a child
    # that can then wait on them forever: only a single-threaded process forks.
    threaded = threading.active_count() > 1
    if (end is None or end - start < PARALLEL_FROM or workers < 2 or in_memory
            or connection.in_atomic_block or threaded):
        yield from _hash_range((start, None))
        return
    ranges = [(lo, lo + PARALLEL_CHUNK) for lo in range(start, end + 1, PARALLEL_CHUNK)]
    ranges[-1] = (ranges[-1][0], None)  # and whatever was sealed since the count
    connections.close_all()  # children must not share the parent's connection
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        for chunk in pool.map(_hash_range, ranges):
            yield from chunk


def _compare_file(report: Report, checkpoints: list[Checkpoint], keys: dict[str, bytes],
                  path: Path) -> None:
    """The copy outside the database: every line signed, the same roots, nothing it has that the
    database lost, nothing the database has that it lacks (but the last minute's, which the
    sealer may not have appended yet)."""
    if not path.exists():
        if checkpoints:
            report.problems.append(Problem(0, f"the checkpoint file {path} is missing"))
        return
    in_database = {c.size: c for c in checkpoints}
    last = checkpoints[-1].size if checkpoints else 0
    in_file = set()
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                copy = json.loads(line)
                size = int(copy["size"])
            except (ValueError, KeyError, TypeError):
                copy, size = None, None
            if copy is None or not signature_valid(copy, keys):
                report.problems.append(Problem(0, (
                    f"{path}:{number} is not a checkpoint signed by a trusted key")))
                continue
            in_file.add(size)
            mine = in_database.get(size)
            if mine is None:
                # Checkpoints past the database's last one were deleted with the tail.
                report.problems.append(Problem(min(size, last), (
                    f"the checkpoint of size {size} in {path} is missing from the database")))
            elif checkpoint_document(mine)["root"] != copy["root"]:
                report.problems.append(Problem(0, (
                    f"the checkpoint of size {size} differs from its copy in {path}")))
    recent = utc_text(timezone.now() - datetime.timedelta(minutes=1))
    for checkpoint in checkpoints:
        if checkpoint.size not in in_file and checkpoint.at < recent:
            report.problems.append(Problem(checkpoint.size, (
                f"the checkpoint of size {checkpoint.size} is missing from {path}")))
