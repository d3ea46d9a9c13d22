"""Retention of the trail: whole old epochs go, later checkpoints stay verifiable.

An epoch ends at a signed checkpoint. Pruning picks the newest checkpoint signed before the
retention cutoff (so every event below it is older than the cutoff), checks its signature and
those events against its root (evidence of tampering is never pruned away), keeps the tree's
frontier at that size, which is all later roots need, signs that prune point, and deletes the
events in one transaction.
"""

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from anke.audit.catalogue import Event
from anke.audit.models import AuditEvent, Checkpoint, EventCustomer, Leaf, PrunePoint
from anke.audit.offline import Frontier, prune_message, signature_valid
from anke.audit.recorder import record
from anke.audit.sealing import checkpoint_document, document_rows, event_leaf, utc_text
from anke.audit.signing import active_signing_key, trusted_public_keys
from anke.core.context import Actor


class PruneRefused(Exception):
    """The events to prune do not match their signed root: keep them as evidence."""


@dataclass
class PruneResult:
    pruned: int
    below: int


def _frontier_at(start: PrunePoint | None, size: int) -> Frontier:
    """The frontier at ``size``, recomputed from the events themselves."""
    frontier = Frontier(start.size, [bytes.fromhex(h) for h in start.frontier]) \
        if start else Frontier()
    rows = document_rows(AuditEvent.objects.filter(leaf__seq__gte=frontier.size,
                                                   leaf__seq__lt=size).order_by("leaf__seq"),
                         "leaf__seq")
    for seq, *values in rows:
        if seq != frontier.size:
            raise PruneRefused(f"event {frontier.size} is missing")
        frontier.append(event_leaf(seq, tuple(values)))
    return frontier


def _epoch_end(cutoff: datetime.datetime, below: int) -> Checkpoint | None:
    """The newest checkpoint signed before the cutoff; its signature must verify (a checkpoint
    someone inserted with an old date must not make fresh events look old)."""
    epoch_end = (Checkpoint.objects.filter(at__lt=utc_text(cutoff), size__gt=below)
                 .order_by("-size").first())
    if epoch_end and not signature_valid(checkpoint_document(epoch_end), trusted_public_keys()):
        raise PruneRefused(f"the checkpoint at size {epoch_end.size} has a bad signature; "
                           f"run `anke audit verify`")
    return epoch_end


def prune(actor: Actor, *, now: datetime.datetime | None = None,
          dry_run: bool = False) -> PruneResult:
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(days=settings.AUDIT_RETENTION_DAYS)
    current = PrunePoint.objects.order_by("-size").first()
    below = current.size if current else 0
    epoch_end = _epoch_end(cutoff, below)
    if epoch_end is None:
        return PruneResult(0, below)
    frontier = _frontier_at(current, epoch_end.size)
    if frontier.root() != bytes(epoch_end.root):
        raise PruneRefused(f"events below {epoch_end.size} do not match their signed root; "
                           f"run `anke audit verify`")
    doomed = AuditEvent.objects.filter(leaf__seq__lt=epoch_end.size)
    if dry_run:
        return PruneResult(doomed.count(), epoch_end.size)
    key = active_signing_key()
    at, origin = utc_text(now), settings.AUDIT_ORIGIN
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # The append-only trigger lets this one transaction delete (docs/audit.md).
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL anke.audit_prune = 'on'")
        EventCustomer.objects.filter(event_id__in=doomed.values("id")).delete()
        pruned, _per_model = doomed.delete()
        Leaf.objects.filter(seq__lt=epoch_end.size).delete()
        PrunePoint.objects.create(
            size=epoch_end.size, frontier=[h.hex() for h in frontier.hashes], at=at,
            origin=origin, key_id=key.key_id,
            signature=key.sign(prune_message(origin, epoch_end.size, frontier.root(), at)))
        record(actor, Event.AUDIT_PRUNE, object_type="audit_trail",
               object_ids=[epoch_end.size],
               reason=f"retention {settings.AUDIT_RETENTION_DAYS} days")
    return PruneResult(pruned, epoch_end.size)
