"""Web views for service tickets: thin edges over the service actions and scoped reads."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from anke.access.guarded import access_object, audit_read, parent_for_new
from anke.access.policy import has_permission, roles_of
from anke.audit.catalogue import Event
from anke.core.context import Actor
from anke.core.pagination import keyset_page
from anke.core.views import (
    confirm_delete,
    delete_url_for,
    edit_version,
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


def _crumbs_to(customer):
    return [{"url": reverse("customers:list"), "label": _("Customers")},
            {"url": customer.get_absolute_url(), "label": customer.name}]


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
        cancel_url=customer.get_absolute_url(), breadcrumbs=_crumbs_to(customer), save=save,
        success_message=_("Ticket opened."),
    )


@login_required
@require_http_methods(["GET", "POST"])
def ticket_edit(request, pk):
    ticket = access_object(Actor.from_request(request), Ticket.objects.select_related("customer"),
                           pk, Event.TICKET_UPDATE, "edit")

    def save(actor, data):
        actions.update_ticket(actor, pk, changes=without_version(data),
                              version=edit_version(data, ticket))
        return ticket.customer.get_absolute_url()

    return form_page(
        request, form_class=TicketEditForm, instance=ticket, title=_("Edit ticket"),
        cancel_url=ticket.customer.get_absolute_url(), breadcrumbs=_crumbs_to(ticket.customer),
        save=save,
        delete_url=delete_url_for(request.user, "ticket.delete", "service:delete",
                                  ticket.pk),
    )


@login_required
@require_http_methods(["GET", "POST"])
def ticket_delete(request, pk):
    ticket = access_object(Actor.from_request(request), Ticket.objects.select_related("customer"),
                           pk, Event.TICKET_DELETE, "delete")
    return confirm_delete(
        request, obj=ticket, cancel_url=ticket.customer.get_absolute_url(),
        success_url=reverse("service:list"),
        delete=lambda actor, version: actions.delete_ticket(actor, pk, version=version),
    )
