"""Domain actions for service tickets: the only code that changes them."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from anke.access.guarded import create_child, create_children, delete_object, update_object
from anke.audit.catalogue import Event
from anke.core.context import Actor
from anke.customers.models import Customer
from anke.service.models import Ticket

TICKET_FIELDS = ("kind", "subject", "description", "priority", "status", "assignee",
                 "satisfaction")


def _check_assignee(data: dict) -> None:
    assignee = data.get("assignee")
    if assignee is None:
        return
    User = get_user_model()
    assignee_id = assignee.pk if isinstance(assignee, User) else assignee
    user = User.objects.filter(pk=assignee_id, is_active=True).first()
    if user is None:
        raise ValidationError({"assignee": _("Choose an active user.")})
    data["assignee"] = user


def open_ticket(actor: Actor, customer_id, *, data: dict) -> Ticket:
    """Open a ticket; its SLA due time follows from the priority."""
    data = dict(data)
    _check_assignee(data)
    return create_child(actor, Customer.objects, customer_id, Ticket, data=data,
                        allowed=TICKET_FIELDS, event=Event.TICKET_CREATE,
                        after_save=_start_sla)


def _start_sla(ticket: Ticket) -> None:
    """SLA due time from the priority; a ticket recorded as already resolved is stamped so."""
    ticket.sla_due_at = ticket.created_at + Ticket.SLA[ticket.priority]
    ticket.resolved_at = None if ticket.is_open else ticket.created_at
    Ticket.objects.filter(pk=ticket.pk).update(sla_due_at=ticket.sla_due_at,
                                               resolved_at=ticket.resolved_at)


def update_ticket(actor: Actor, pk, *, changes: dict, version: int) -> Ticket:
    """Edit, assign, resolve or rate a ticket. Priority changes move the SLA due time."""
    changes = dict(changes)
    _check_assignee(changes)

    def follow_status(ticket, changed):
        if "priority" in changed:
            ticket.sla_due_at = ticket.created_at + Ticket.SLA[ticket.priority]
            changed.append("sla_due_at")
        if "status" in changed:
            ticket.resolved_at = None if ticket.is_open else timezone.now()
            changed.append("resolved_at")

    return update_object(actor, Ticket.objects, pk, changes=changes, version=version,
                         event=Event.TICKET_UPDATE, allowed=TICKET_FIELDS,
                         before_save=follow_status)


def delete_ticket(actor: Actor, pk, *, version: int | None = None) -> None:
    delete_object(actor, Ticket.objects, pk, event=Event.TICKET_DELETE, version=version)


def open_tickets(actor: Actor, rows: list[dict]) -> list[Ticket]:
    """Open many tickets in one transaction (demo loader, importers)."""

    def start_sla(ticket):
        now = timezone.now()
        if sla := Ticket.SLA.get(ticket.priority):
            ticket.sla_due_at = now + sla
        ticket.resolved_at = None if ticket.is_open else now

    return create_children(actor, Customer.objects, Ticket, rows, allowed=TICKET_FIELDS,
                           event=Event.TICKET_CREATE, prepare=start_sla)
