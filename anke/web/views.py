"""Pages that span apps: the dashboard, a customer's full record, personal API tokens."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from anke.access.catalogue import FieldAccess
from anke.access.guarded import access_object, audit_read, show
from anke.access.masking import access_levels
from anke.access.policy import has_permission
from anke.accounts.actions import create_api_token, revoke_api_token
from anke.accounts.models import ApiToken
from anke.analytics import queries
from anke.audit.catalogue import Event
from anke.core.context import Actor
from anke.core.errors import RateLimited
from anke.customers.actions import reveal_customer
from anke.customers.models import ContactPerson, Customer
from anke.sales.models import Activity, Deal, Order, Task
from anke.service.models import Ticket
from anke.web.forms import RevealForm, TokenForm

TIMELINE_LIMIT = 50


def _chart(type_, labels, datasets) -> dict:
    """A Chart.js spec, handed to the page with ``json_script`` (data, never inline script)."""
    return {"type": type_, "labels": [str(x) for x in labels], "datasets": datasets}


@login_required
def home(request):
    user = request.user
    pipeline = queries.pipeline_by_stage(user)
    revenue = queries.revenue_by_month(user)
    at_risk = queries.customers_at_risk(user)
    tasks = queries.my_open_tasks(user)
    audit_read(Actor.from_request(request), Event.DASHBOARD_VIEW, Customer, at_risk,
               fields=["pipeline", "revenue", "win_rate", "at_risk", "tasks", "tickets"])
    return render(request, "web/home.html", {
        "pipeline": pipeline,
        "pipeline_chart": _chart("bar", [row["stage"].label for row in pipeline], [
            {"label": _("Deals"), "data": [row["count"] for row in pipeline]}]),
        "revenue_chart": _chart("line", [f"{month:%Y-%m}" for month, _t in revenue], [
            {"label": _("Revenue"), "data": [float(total) for _m, total in revenue]}]),
        "win_rate": queries.win_rate(user),
        "at_risk": at_risk,
        "at_risk_days": queries.AT_RISK_DAYS,
        "tasks": tasks,
        "tickets": queries.open_tickets_by_priority(user),
    })


def _timeline(user, customer):
    """Activities, deals, orders and tickets of one customer, newest first, each scoped."""
    def newest(model, *related):
        return list(model.objects.visible_to(user, "view").filter(customer=customer)
                    .select_related(*related)[:TIMELINE_LIMIT])

    items = [
        *({"kind": "activity", "at": a.occurred_at, "obj": a}
          for a in newest(Activity, "performed_by")),
        *({"kind": "deal", "at": d.created_at, "obj": d} for d in newest(Deal, "stage", "owner")),
        *({"kind": "order", "at": o.created_at, "obj": o} for o in newest(Order)),
        *({"kind": "ticket", "at": t.created_at, "obj": t} for t in newest(Ticket, "assignee")),
    ]
    return sorted(items, key=lambda item: item["at"], reverse=True)[:TIMELINE_LIMIT]


@login_required
@require_http_methods(["GET", "POST"])
def customer_detail(request, pk):
    """One customer with contacts, open tasks and the timeline; one audit event names it all.

    A POST asks to reveal masked fields with a reason: they show in clear in that answer only.
    """
    actor = Actor.from_request(request)
    customer = access_object(actor, Customer.objects.select_related(
        "owner", "department", "region"), pk, Event.CUSTOMER_VIEW)
    user = request.user
    contacts = list(ContactPerson.objects.visible_to(user, "view").filter(customer=customer))
    tasks = list(Task.objects.visible_to(user, "view").filter(customer=customer, done=False)
                 .select_related("assignee")[:20])
    timeline = _timeline(user, customer)
    shown = [f.name for f in Customer._meta.concrete_fields if f.editable and not f.primary_key]
    audit_read(actor, Event.CUSTOMER_VIEW, Customer, [customer],
               fields=[*shown, "tags", "contacts", "tasks", "timeline"])
    # Shown under the event above, which names "contacts" and "timeline". They are all this
    # customer's: say so, so their field policy needs no query to find who owns them.
    shown_records = [*contacts, *(item["obj"] for item in timeline)]
    for record in shown_records:
        record._state.fields_cache["customer"] = customer
    show(actor, shown_records)
    may = {perm.replace(".", "_"): has_permission(user, perm) for perm in (
        "customer.edit", "customer.delete", "customer.reveal", "contact.create", "contact.edit",
        "contact.delete", "activity.create", "activity.edit", "deal.create", "deal.edit",
        "order.create", "order.edit", "task.create", "task.edit", "ticket.create", "ticket.edit")}
    reveal_form, revealed = _reveal(request, actor, customer, may["customer_reveal"])
    response = render(request, "customers/detail.html", {
        "customer": customer, "contacts": contacts, "timeline": timeline, "tasks": tasks,
        "tags": list(customer.tags.all()), "may": may, "reveal_form": reveal_form,
        "revealed": revealed,
    }, status=400 if reveal_form and reveal_form.errors else 200)
    if request.method == "POST":
        response["Cache-Control"] = "no-store"  # clear values must not stay in any cache
    return response


def _reveal(request, actor, customer, may_reveal: bool):
    """The reveal form (None when nothing can be revealed) and the names of the fields shown in
    clear on this answer, which were put on the (displayed, never saved) customer."""
    levels = access_levels(customer)
    choices = [(f.name, f.verbose_name) for f in Customer._meta.concrete_fields
               if levels.get(f.name) == FieldAccess.MASKED]
    if request.method != "POST":
        return (RevealForm(choices=choices) if may_reveal and choices else None), []
    form = RevealForm(request.POST, choices=choices)
    if not form.is_valid():
        return form, []
    try:
        values = reveal_customer(actor, customer.pk, fields=form.cleaned_data["field_names"],
                                 reason=form.cleaned_data["reason"])
    except ValidationError as error:
        form.add_action_errors(error)
        return form, []
    except RateLimited as error:
        form.add_error(None, str(error))
        return form, []
    for name, value in values.items():
        customer.__dict__[Customer._meta.get_field(name).attname] = value
    return RevealForm(choices=[c for c in choices if c[0] not in values]), sorted(values)


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request):
    """The user's own API tokens; a new token's secret is shown once, on this response only."""
    form = TokenForm(request.POST or None)
    actor = Actor.from_request(request)
    secret = None
    if request.method == "POST" and form.is_valid():
        try:
            _token, secret = create_api_token(
                actor, request.user, name=form.cleaned_data["name"],
                expires_days=form.cleaned_data["expires_days"],
                scope=form.cleaned_data["scope"])
        except ValidationError as error:
            form.add_action_errors(error)
        else:
            form = TokenForm()
    response = render(request, "web/tokens.html", {
        "form": form, "secret": secret, "second_factor": actor.second_factor,
        "tokens": ApiToken.objects.filter(user=request.user),
    }, status=400 if form.errors else 200)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request, pk):
    revoke_api_token(Actor.from_request(request), pk)
    messages.success(request, _("Token revoked."))
    return redirect("tokens")
