"""Web views for service tickets: thin edges over the service actions and scoped reads."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from anke.access.guarded import audit_read, parent_for_new
from anke.access.pages import crumbs_to, record_delete_view, record_edit_view
from anke.access.policy import has_permission, roles_of
from anke.audit.catalogue import Event
from anke.core.context import Actor
from anke.core.pagination import keyset_page
from anke.core.views import (
    form_page,
    without_version,
)
from anke.customers.models import Customer
from anke.service import actions
from anke.service.forms import TicketEditForm, TicketFilterForm, TicketForm
from anke.service.models import Ticket

PAGE_SIZE = 50
LIST_FIELDS = ["subject", "customer", "kind", "priority", "status", "assignee", "sla_due_at"]
# Agents who handle tickets start from their own queue; everyone else from all they can see.
QUEUE_ROLES = {"service_agent"}


def _default_filters(user) -> dict | None:
    if any(role.code in QUEUE_ROLES for role in roles_of(user)):
        return {"assignee": TicketFilterForm.ME}
    return None


@login_required
@require_http_methods(["GET", "POST"])
def ticket_list(request):
    """Tickets the user may see, filtered, newest first, overdue ones marked."""
    user = request.user
    data = request.POST if request.method == "POST" else request.GET or _default_filters(user)
    form = TicketFilterForm(data, user=user)
    tickets = Ticket.objects.visible_to(user, "view").select_related("customer", "assignee")
    cursor = None
    if form.is_bound and form.is_valid():
        tickets = form.apply(tickets)
        cursor = form.cleaned_data.get("cursor")
    rows, next_cursor = keyset_page(tickets, cursor, PAGE_SIZE)
    audit_read(Actor.from_request(request), Event.TICKET_LIST, Ticket, rows, fields=LIST_FIELDS)
    now = timezone.now()
    return render(request, "service/list.html", {
        "form": form, "next_cursor": next_cursor, "paged": bool(cursor),
        "rows": [(t, t.is_open and t.sla_due_at is not None and t.sla_due_at < now)
                 for t in rows],
        "can_edit": has_permission(user, "ticket.edit"),
        "can_delete": has_permission(user, "ticket.delete"),
    })


@login_required
@require_http_methods(["GET", "POST"])
def ticket_create(request, customer_pk):
    customer = parent_for_new(Actor.from_request(request), Customer.objects, customer_pk,
                              "ticket.create", Event.TICKET_CREATE, Ticket)

    def save(actor, data):
        actions.open_ticket(actor, customer.pk, data=without_version(data))
        return customer.get_absolute_url()

    return form_page(
        request, form_class=TicketForm, title=_("Open ticket"),
        cancel_url=customer.get_absolute_url(), breadcrumbs=crumbs_to(customer), save=save,
        success_message=_("Ticket opened."),
    )


ticket_edit = record_edit_view(Ticket, form_class=TicketEditForm, update=actions.update_ticket,
                               event=Event.TICKET_UPDATE, title=gettext_lazy("Edit ticket"),
                               delete_route="service:delete")
ticket_delete = record_delete_view(Ticket, delete=actions.delete_ticket,
                                   event=Event.TICKET_DELETE, success_route="service:list")
