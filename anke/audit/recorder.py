"""``record()``: the one way an audit event is written.

Called inside the transaction of the change it records, so both commit or neither does; called
before data is returned for reads, so a failed write fails the request (it raises).
"""

import json
import uuid
from collections.abc import Iterable

from anke.access.policy import roles_of
from anke.audit.catalogue import Event, Outcome
from anke.audit.models import AuditEvent
from anke.core.context import Actor


def _canonical_uuid(value) -> str:
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


def _event(actor: Actor, event: Event, object_type: str, object_ids: Iterable, fields: Iterable,
           outcome: Outcome, reason: str, customers: Iterable, detail: str) -> AuditEvent:
    user = actor.user if getattr(actor.user, "pk", None) else None
    return AuditEvent(
        actor=user,
        actor_username=user.get_username() if user else "",
        roles=",".join(role.code for role in roles_of(user)) if user else "",
        auth_method=actor.auth_method,
        session_ref=actor.session_ref,
        token_id=actor.token_id,
        ip=actor.ip,
        user_agent=actor.user_agent,
        request_id=actor.request_id,
        action=Event(event).value,
        object_type=object_type,
        object_ids=[str(i) for i in object_ids],
        customer_ids=sorted({_canonical_uuid(c) for c in customers}),
        fields=sorted(fields),
        outcome=Outcome(outcome).value,
        reason=reason[:500],
        detail=detail,
    )


def clear_change(before: dict, after: dict) -> str:
    """The detail of a change to configuration (a role, a user's roles, a grant): the fields
    that changed with their old and new values, as JSON. Only for values that are not personal
    data of customers; a customer's values go sealed (``guarded.sealed_change``)."""
    change = {name: [before.get(name), after.get(name)] for name in sorted(set(before) | set(after))
              if before.get(name) != after.get(name)}
    return json.dumps(change, sort_keys=True, ensure_ascii=False, default=str) if change else ""


def record(actor: Actor, event: Event, *, object_type: str = "", object_ids: Iterable = (),
           fields: Iterable[str] = (), outcome: Outcome = Outcome.ALLOWED, reason: str = "",
           customers: Iterable = (), detail: str = "") -> AuditEvent:
    """Append one event. ``customers`` names whose data it touched; ``detail`` is a value
    already sealed under that customer's data key, or a ``clear_change`` of configuration
    (never clear personal data)."""
    audit_event = _event(actor, event, object_type, object_ids, fields, outcome, reason,
                         customers, detail)
    # The customer index is written by the sealer, off the request path (sealing.py).
    audit_event.save(force_insert=True)
    return audit_event


def record_each(actor: Actor, event: Event, *, object_type: str, object_ids: Iterable,
                fields: Iterable[str] = (), customers: Iterable | None = None) -> None:
    """One event per object, written in one statement (bulk creation, demo load, import).
    ``customers``, if given, runs beside ``object_ids``: the customer of each object."""
    fields = list(fields)
    object_ids = list(object_ids)
    customers = list(customers) if customers is not None else [None] * len(object_ids)
    AuditEvent.objects.bulk_create(
        [_event(actor, event, object_type, [oid], fields, Outcome.ALLOWED, "",
                [customer] if customer else [], "")
         for oid, customer in zip(object_ids, customers, strict=True)],
        batch_size=500,
    )
