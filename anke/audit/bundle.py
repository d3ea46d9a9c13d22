"""``anke audit export``: a bundle an auditor verifies offline with ``verify.py`` inside it.

A bundle holds the sealed events of a period (a contiguous run of sequence numbers, so a
range proof ties them to the newest signed root) or of one customer (each event with its own
inclusion proof, so no other customer's events are disclosed), the checkpoints, the public keys,
and, given a checkpoint the auditor saved earlier, a consistency proof that today's history
extends it. Formats: docs/audit.md.
"""

import base64
import datetime
import json
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.db.models import Exists, Max, Min, OuterRef

from anke.audit import offline
from anke.audit.models import AuditEvent, Checkpoint, Leaf, PrunePoint
from anke.audit.offline import Frontier, ProofUnavailable, Tree, canonical_json
from anke.audit.sealing import checkpoint_document, documents
from anke.audit.signing import trusted_public_keys

README = """Anke audit bundle
=================

events.jsonl       the exported events, one canonical JSON document per line ("seq" is the
                   sequence number, i.e. the leaf index in the Merkle tree)
checkpoints.jsonl  Ed25519-signed checkpoints (tree size, root hash, time)
proof.json         ties the events to the newest checkpoint (range or inclusion proofs) and,
                   if asked for, proves the history extends a checkpoint you saved earlier
public_keys.json   the signing public keys Anke used (compare with the key you were given)
verify.py          the verifier: Python 3.11+ and the `cryptography` package, nothing else

    python3 verify.py . --public-key <the key you were given> [--old-checkpoint saved.json]

Exit status 0: every event, proof and signature verifies. 1: something does not (printed).
"""


class BundleError(Exception):
    """The bundle cannot be made (nothing sealed, a period with no events, a broken trail)."""


@dataclass
class BundleSummary:
    events: int
    checkpoint_size: int
    first: int | None
    last: int | None


def kept_tree(size: int) -> Tree:
    """All leaf hashes still kept below ``size``, plus the frontier retention left."""
    prune = PrunePoint.objects.order_by("-size").first()
    start = prune.size if prune else 0
    known = Frontier(prune.size, [bytes.fromhex(h) for h in prune.frontier]).nodes() \
        if prune else {}
    # Only leaves whose event is still there: a leaf outlives an event deleted by hand.
    leaves = [bytes(h) for h in Leaf.objects.filter(
        Exists(AuditEvent.objects.filter(id=OuterRef("event_id"))), seq__gte=start, seq__lt=size)
        .order_by("seq").values_list("hash", flat=True).iterator(chunk_size=10000)]
    if len(leaves) != size - start:
        raise BundleError("sealed events are missing: run `anke audit verify`")
    return Tree(leaves, start, known)


def _range(start: int, size: int, since, until) -> tuple[int, int]:
    sealed = AuditEvent.objects.filter(leaf__seq__gte=start, leaf__seq__lt=size)
    if since:
        sealed = sealed.filter(at__gte=since)
    if until:
        sealed = sealed.filter(at__lt=until)
    bounds = sealed.aggregate(a=Min("leaf__seq"), b=Max("leaf__seq"))
    if bounds["a"] is None:
        raise BundleError("no sealed events in that period")
    return bounds["a"], bounds["b"] + 1


def _write_events(path: Path, docs: Iterable[dict]) -> tuple[int, int | None, int | None]:
    """Stream the documents to ``path`` (a million events need not fit in memory); returns
    how many were written and the first and last sequence numbers."""
    count, first, last = 0, None, None
    with path.open("w", encoding="utf-8") as events:
        for doc in docs:
            events.write(canonical_json(doc).decode() + "\n")
            count, last = count + 1, doc["seq"]
            first = last if first is None else first
    return count, first, last


def export_bundle(out: Path, *, since: datetime.datetime | None = None,
                  until: datetime.datetime | None = None, customer=None,
                  prove_from: dict | None = None) -> BundleSummary:
    head = Checkpoint.objects.order_by("-size").first()
    if head is None:
        raise BundleError("nothing has been sealed yet: run `anke audit seal`")
    size = head.size
    tree = kept_tree(size)
    proof: dict = {"checkpoint_size": size}
    if customer is None:
        a, b = _range(tree.first, size, since, until)
        docs = documents(AuditEvent.objects.filter(leaf__seq__gte=a, leaf__seq__lt=b)
                         .order_by("leaf__seq"))
        proof["range"] = [a, b]
        proof["nodes"] = [[lo, hi, h.hex()] for lo, hi, h in tree.range_nodes(size, a, b)]
    else:
        inclusion = proof["inclusion"] = {}

        def with_proofs(found: Iterator[dict]) -> Iterator[dict]:
            for doc in found:
                inclusion[str(doc["seq"])] = [
                    h.hex() for h in tree.inclusion_path(doc["seq"], size)]
                yield doc

        docs = with_proofs(documents(AuditEvent.objects.filter(leaf__seq__lt=size)
                                     .naming_customer(customer).order_by("leaf__seq")))
    if prove_from is not None:
        old_size = int(prove_from["size"])
        try:
            path = tree.consistency_path(old_size, size)
        except ProofUnavailable:
            raise BundleError(f"events before size {old_size} were pruned by retention; "
                              f"no consistency proof from there") from None
        proof["consistency"] = {"from_size": old_size, "path": [h.hex() for h in path]}
    out.mkdir(parents=True, exist_ok=True)
    count, first, last = _write_events(out / "events.jsonl", docs)
    since_size = min(size - 1, first if first is not None else size)
    checkpoints = Checkpoint.objects.filter(size__gt=since_size, size__lte=size)
    _write(out, [checkpoint_document(c) for c in checkpoints], proof)
    return BundleSummary(count, size, first, last)


def _write(out: Path, checkpoints: list[dict], proof: dict) -> None:
    (out / "checkpoints.jsonl").write_text(
        "".join(canonical_json(c).decode() + "\n" for c in checkpoints), encoding="utf-8")
    (out / "proof.json").write_text(json.dumps(proof, indent=1), encoding="utf-8")
    keys = {k: base64.b64encode(v).decode() for k, v in trusted_public_keys().items()}
    (out / "public_keys.json").write_text(json.dumps(keys, indent=1), encoding="utf-8")
    shutil.copyfile(offline.__file__, out / "verify.py")
    (out / "README.txt").write_text(README, encoding="utf-8")
