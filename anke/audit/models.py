"""The audit trail: who did what to which records, from where, and whether it was allowed.

Events are appended by ``record()`` in the transaction of what they record; a database trigger
queues each for sealing in that same transaction. The sealer later gives each one a gap-free
sequence number in sealing order and its leaf hash (a ``Leaf`` row), and signs checkpoints over
the Merkle tree of all sealed events (docs/audit.md). Event rows never change: on PostgreSQL
triggers refuse it, and everywhere ``anke audit verify`` detects it. Sealing only inserts into
two narrow tables rather than rewriting wide, many-indexed event rows, which is what lets it
keep up with a busy PostgreSQL.
"""

from django.conf import settings
from django.db import connections, models
from django.db.models import BooleanField, Q, Subquery
from django.db.models.expressions import RawSQL
from django.utils.translation import gettext_lazy as _

from anke.audit.catalogue import Outcome

# SQLite has no JSON containment operator: look into the array with json_each. Constant text, one
# per column, so no SQL is ever assembled from input (the value is a bound parameter).
_SQLITE_ARRAY_HAS = {
    "object_ids": 'EXISTS (SELECT 1 FROM json_each("audit_auditevent"."object_ids") AS j '
                  "WHERE j.value = %s)",
    "customer_ids": 'EXISTS (SELECT 1 FROM json_each("audit_auditevent"."customer_ids") AS j '
                    "WHERE j.value = %s)",
}


class AuditEventQuerySet(models.QuerySet):
    def naming(self, column: str, value: str):
        """Events whose JSON list ``column`` holds ``value`` exactly (not as a substring)."""
        if connections[self.db].vendor == "postgresql":
            return self.filter(**{f"{column}__contains": [value]})
        return self.filter(RawSQL(_SQLITE_ARRAY_HAS[column], [value],  # noqa: S611 - constant
                                  output_field=BooleanField()))

    def naming_customer(self, customer_id):
        """Events naming a customer: those indexed found through the index (the sealer writes it
        after sealing), the few not indexed yet by looking at each; kept only if their own
        ``customer_ids`` say so, since the index table is not covered by the seal."""
        indexed = EventCustomer.objects.filter(customer_id=customer_id).values("event_id")
        indexed_below = SealState.objects.filter(pk=1).values("indexed")
        not_indexed = Leaf.objects.filter(seq__gte=Subquery(indexed_below)).values("event_id")
        unsealed = UnsealedEvent.objects.values("event_id")
        return (self.filter(Q(id__in=indexed) | Q(id__in=not_indexed) | Q(id__in=unsealed))
                .naming("customer_ids", str(customer_id)))


class AuditEvent(models.Model):
    """One recorded action. Names objects by id and fields by name, never by value."""

    at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    # DO_NOTHING: deleting a user must not rewrite the events that name them.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.DO_NOTHING, related_name="+",
        db_constraint=False, verbose_name=_("actor"),
    )
    # Kept beside the foreign key so the event still names the actor if the user row goes.
    actor_username = models.CharField(_("username"), max_length=150, blank=True)
    roles = models.CharField(_("roles"), max_length=255, blank=True)
    auth_method = models.CharField(_("authentication"), max_length=20, blank=True)
    session_ref = models.CharField(_("session"), max_length=16, blank=True)
    token_id = models.BigIntegerField(_("API token"), null=True, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    request_id = models.CharField(_("request id"), max_length=32, blank=True, db_index=True)
    # Validated against the catalogue by record(); no choices, so a new entry needs no migration.
    action = models.CharField(_("action"), max_length=50, db_index=True)
    object_type = models.CharField(_("object type"), max_length=50, blank=True)
    object_ids = models.JSONField(_("object ids"), default=list)
    # The customers whose data the event touched (for "who accessed this customer").
    customer_ids = models.JSONField(_("customers"), default=list)
    fields = models.JSONField(_("fields"), default=list)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices,
                               default=Outcome.ALLOWED)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    # Values that must be kept (a change's before and after) sealed under the customer's data
    # key: the hash covers the ciphertext, so crypto-shredding leaves the trail verifiable.
    detail = models.TextField(_("detail"), blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [models.Index(fields=["actor", "at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_username} {self.action} {self.outcome}"

    @property
    def seq(self) -> int | None:
        """The sequence number the sealer gave the event; None while it waits to be sealed.
        Pages showing it read the leaf with ``select_related("leaf")``."""
        try:
            return self.leaf.seq
        except Leaf.DoesNotExist:
            return None


class Leaf(models.Model):
    """A sealed event's place in the tree: its sequence number and leaf hash. Written once by
    the sealer; the hash is recomputed by ``anke audit verify`` and must match."""

    seq = models.BigIntegerField(_("sequence number"), primary_key=True)
    # DO_NOTHING and no constraint: an event deleted behind Anke's back must leave its leaf
    # behind as evidence, and the trail is never deleted through the ORM's cascade.
    event = models.OneToOneField(AuditEvent, on_delete=models.DO_NOTHING, db_constraint=False,
                                 related_name="leaf")
    hash = models.BinaryField()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(seq__gte=0),
                                              name="audit_leaf_seq_not_negative")]

    def __str__(self) -> str:
        return f"{self.seq} → {self.event_id}"


class UnsealedEvent(models.Model):
    """The queue of events waiting to be sealed, filled by a trigger on the event table in the
    inserting transaction (so no writer can forget it) and emptied by the sealer."""

    event_id = models.BigIntegerField(primary_key=True)

    def __str__(self) -> str:
        return str(self.event_id)


class EventCustomer(models.Model):
    """Index from a customer to the sealed events naming it, written by the sealer; the event's
    own ``customer_ids`` (sealed) are the truth, and the viewer shows only events whose sealed
    list names the customer."""

    event_id = models.BigIntegerField()
    customer_id = models.UUIDField()

    class Meta:
        indexes = [models.Index(fields=["customer_id", "event_id"])]

    def __str__(self) -> str:
        return f"{self.customer_id} ← {self.event_id}"


class SignedStatement(models.Model):
    """A statement about the tree at a size, signed by the sealer's Ed25519 key."""

    size = models.BigIntegerField(unique=True)
    at = models.CharField(max_length=40)  # exactly as signed (ISO 8601, UTC)
    origin = models.CharField(max_length=100)
    key_id = models.CharField(max_length=16)
    signature = models.BinaryField()

    class Meta:
        abstract = True
        ordering = ["size"]


class Checkpoint(SignedStatement):
    """The tree's size and root hash at a time."""

    root = models.BinaryField()

    def __str__(self) -> str:
        return f"checkpoint {self.size}"


class SealState(models.Model):
    """The sealer's position (one row): the tree's size and frontier, and how far forwarding
    to the SIEM and the customer index got. Locked by each sealing transaction, so two sealers
    never fork."""

    size = models.BigIntegerField(default=0)
    frontier = models.JSONField(default=list)  # hex hashes of the perfect subtrees
    forwarded = models.BigIntegerField(default=0)
    indexed = models.BigIntegerField(default=0)  # events below it are in EventCustomer

    def __str__(self) -> str:
        return f"sealed {self.size}"


class PrunePoint(SignedStatement):
    """Where retention cut the trail: events below ``size`` are gone; ``frontier`` (which must
    fold to the signed root of the checkpoint at ``size``) lets later checkpoints verify. Signed,
    so nobody can declare history pruned that was merely deleted."""

    frontier = models.JSONField()

    def __str__(self) -> str:
        return f"pruned below {self.size}"
