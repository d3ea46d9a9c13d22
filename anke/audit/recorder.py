"""``record()``: the one way an audit event is written.

Called inside the transaction of the change it records, so both commit or neither does; called
before data is returned for reads, so a failed write fails the request (it raises).
"""

from collections.abc import Iterable

from anke.access.policy import roles_of
from anke.audit.catalogue import Event, Outcome
from anke.audit.models import AuditEvent
from anke.core.context import Actor


def _event(actor: Actor, event: Event, object_type: str, object_ids: Iterable, fields: Iterable,
           outcome: Outcome, reason: str) -> AuditEvent:
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
        action=Event(event),
        object_type=object_type,
        object_ids=[str(i) for i in object_ids],
        fields=sorted(fields),
        outcome=Outcome(outcome),
        reason=reason[:500],
    )


def record(actor: Actor, event: Event, *, object_type: str = "", object_ids: Iterable = (),
           fields: Iterable[str] = (), outcome: Outcome = Outcome.ALLOWED,
           reason: str = "") -> AuditEvent:
    audit_event = _event(actor, event, object_type, object_ids, fields, outcome, reason)
    audit_event.save(force_insert=True)
    return audit_event


def record_each(actor: Actor, event: Event, *, object_type: str, object_ids: Iterable,
                fields: Iterable[str] = ()) -> None:
    """One event per object, written in one statement (bulk creation, demo load, import)."""
    fields = list(fields)
    AuditEvent.objects.bulk_create(
        [_event(actor, event, object_type, [oid], fields, Outcome.ALLOWED, "")
         for oid in object_ids],
        batch_size=500,
    )
