"""Domain actions for service tickets: the only code that changes them."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from anke.access.guarded import create_child, create_children, delete_object, update_object
from anke.access.policy import scope_q
from anke.audit.catalogue import Event
from anke.core.context import Actor
from anke.customers.models import Customer
from anke.service.models import Ticket

TICKET_FIELDS = ("kind", "subject", "description", "priority", "status", "assignee",
                 "satisfaction")


def _check_assignee(data: dict, customer_id) -> None:
    """The assignee must be active and able to work the ticket: a ticket handed to someone
    outside its customer's scope could never be opened by them."""
    assignee = data.get("assignee")
    if assignee is None:
        return
    User = get_user_model()
    assignee_id = assignee.pk if isinstance(assignee, User) else assignee
    user = User.objects.filter(pk=assignee_id, is_active=True).first()
    if user is None:
        raise ValidationError({"assignee": _("Choose an active user.")})
    reach = scope_q(user, "ticket.edit", "")
    if reach is None or not Customer.objects.filter(reach, pk=customer_id).exists():
        raise ValidationError({"assignee": _("This user cannot work on this customer's tickets.")})
    data["assignee"] = user


def open_ticket(actor: Actor, customer_id, *, data: dict) -> Ticket:
    """Open a ticket; its SLA due time follows from the priority."""
    data = dict(data)
    _check_assignee(data, customer_id)
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
    customer_id = Ticket.objects.filter(pk=pk).values_list("customer_id", flat=True).first()
    if customer_id is not None:  # a missing ticket is refused (and audited) by update_object
        _check_assignee(changes, customer_id)

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
