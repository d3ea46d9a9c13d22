"""Web views for the pipeline board, deals, activities, tasks and orders: thin edges over the
sales actions and scoped reads."""

from collections import defaultdict
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, F, Sum
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from anke.access.guarded import access_object, audit_read, parent_for_new
from anke.access.pages import crumbs_to, record_delete_view, record_edit_view
from anke.access.policy import has_permission
from anke.audit.catalogue import Event
from anke.core.context import Actor
from anke.core.errors import StaleVersion
from anke.core.pagination import keyset_page
from anke.core.views import (
    edit_version,
    form_page,
    without_version,
)
from anke.customers.models import Customer
from anke.sales import actions
from anke.sales.forms import (
    ActivityForm,
    BoardFilterForm,
    DealForm,
    DealMoveForm,
    OrderFilterForm,
    OrderForm,
    TaskFilterForm,
    TaskForm,
    VersionOnlyForm,
    order_item_formset,
)
from anke.sales.models import Activity, Deal, Order, PipelineStage, Task

# Won and lost columns grow forever: the board shows their latest deals only.
CLOSED_COLUMN_LIMIT = 20
# A guard for very large pipelines; the column header still counts every deal.
OPEN_COLUMN_LIMIT = 200
TASK_LIMIT = 100
ORDER_PAGE_SIZE = 50

BOARD_FIELDS = ["title", "customer", "stage", "amount", "currency", "owner"]
TASK_LIST_FIELDS = ["title", "customer", "due_at", "done", "assignee"]
ORDER_LIST_FIELDS = ["number", "customer", "status", "ordered_on", "amount", "currency"]


def _customer_for_new(request, customer_pk, permission: str, event: Event, model):
    """The customer a new record is added to: visible (else 404) and in the scope of
    ``permission`` (else 403), checked before the form is even shown."""
    return parent_for_new(Actor.from_request(request), Customer.objects, customer_pk,
                          permission, event, model)


# --- pipeline board -----------------------------------------------------------------------------


def _board_url(mine: bool) -> str:
    url = reverse("sales:board")
    return f"{url}?{urlencode({'mine': '1'})}" if mine else url


@login_required
@require_GET
def board(request):
    """Deals by pipeline stage: every open deal, the latest won and lost ones."""
    user = request.user
    filters = BoardFilterForm(request.GET)
    mine = filters.is_valid() and filters.cleaned_data["mine"]
    deals = Deal.objects.visible_to(user, "view")
    if mine:
        deals = deals.filter(owner=user)
    stages = list(PipelineStage.objects.all())
    counts, totals = defaultdict(int), defaultdict(list)
    for row in (deals.values("stage", "currency").annotate(count=Count("pk"), total=Sum("amount"))
                .order_by("stage", "currency")):
        counts[row["stage"]] += row["count"]
        totals[row["stage"]].append((row["total"], row["currency"]))
    columns, shown = [], []
    for stage in stages:
        cards = deals.filter(stage=stage).select_related("customer", "owner")
        if stage.is_open:
            cards = cards.order_by("-created_at", "-pk")[:OPEN_COLUMN_LIMIT]
        else:
            cards = cards.order_by(F("closed_at").desc(nulls_last=True), "-pk")[
                :CLOSED_COLUMN_LIMIT]
        cards = list(cards)
        shown += cards
        columns.append({"stage": stage, "deals": cards, "count": counts[stage.pk],
                        "totals": totals[stage.pk], "more": counts[stage.pk] > len(cards)})
    movable = set()
    if shown and has_permission(user, "deal.edit"):
        movable = set(Deal.objects.visible_to(user, "edit")
                      .filter(pk__in=[deal.pk for deal in shown]).values_list("pk", flat=True))
    audit_read(Actor.from_request(request), Event.DEAL_LIST, Deal, shown, fields=BOARD_FIELDS)
    return render(request, "sales/board.html", {
        "columns": columns, "stages": stages, "movable": movable, "filters": filters,
        "mine": mine, "can_delete": has_permission(user, "deal.delete"),
    })


@login_required
@require_POST
def deal_move(request, pk):
    """Move a deal to another stage from its card; every outcome goes back to the board."""
    actor = Actor.from_request(request)
    access_object(actor, Deal.objects, pk, Event.DEAL_UPDATE, "edit")
    back = _board_url(request.POST.get("mine") == "1")
    form = DealMoveForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a stage to move the deal to."))
        return redirect(back)
    stage = form.cleaned_data["stage"]
    try:
        actions.update_deal(actor, pk, changes={"stage": stage},
                            version=form.cleaned_data["version"])
    except StaleVersion as error:
        messages.error(request, str(error))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Deal moved to %(stage)s.") % {"stage": stage.label})
    return redirect(back)


# --- deals --------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def deal_create(request, customer_pk):
    customer = _customer_for_new(request, customer_pk, "deal.create", Event.DEAL_CREATE, Deal)

    def save(actor, data):
        actions.create_deal(actor, customer.pk, data=without_version(data))
        return customer.get_absolute_url()

    first_open = next((s for s in PipelineStage.objects.all() if s.is_open), None)
    return form_page(
        request, form_class=DealForm, title=_("New deal"), cancel_url=customer.get_absolute_url(),
        breadcrumbs=crumbs_to(customer), initial={"stage": first_open}, save=save,
        success_message=_("Deal created."),
    )






# --- activities ---------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def activity_create(request, customer_pk):
    customer = _customer_for_new(request, customer_pk, "activity.create", Event.ACTIVITY_CREATE,
                                 Activity)

    def save(actor, data):
        actions.log_activity(actor, customer.pk, data=without_version(data))
        return customer.get_absolute_url()

    return form_page(
        request, form_class=ActivityForm, title=_("Log activity"),
        cancel_url=customer.get_absolute_url(), breadcrumbs=crumbs_to(customer),
        instance=Activity(customer=customer),
        initial={"occurred_at": timezone.localtime().replace(second=0, microsecond=0)},
        form_kwargs={"user": request.user, "customer": customer}, save=save,
        success_message=_("Activity logged."),
    )






# --- tasks --------------------------------------------------------------------------------------


@login_required
@require_GET
def task_list(request):
    """The user's open tasks; on request every task they can see (a manager's team view)."""
    user = request.user
    filters = TaskFilterForm(request.GET or None)
    show_all = include_done = False
    if filters.is_bound and filters.is_valid():
        show_all = filters.cleaned_data["show"] == TaskFilterForm.SHOW_ALL
        include_done = filters.cleaned_data["include_done"]
    tasks = Task.objects.visible_to(user, "view").select_related("customer", "assignee")
    if not show_all:
        tasks = tasks.filter(assignee=user)
    if not include_done:
        tasks = tasks.filter(done=False)
    rows = list(tasks.order_by("done", "due_at", "pk")[:TASK_LIMIT + 1])
    more, rows = len(rows) > TASK_LIMIT, rows[:TASK_LIMIT]
    audit_read(Actor.from_request(request), Event.TASK_LIST, Task, rows, fields=TASK_LIST_FIELDS)
    now = timezone.now()
    return render(request, "sales/tasks.html", {
        "filters": filters, "show_all": show_all, "more": more, "limit": TASK_LIMIT,
        "rows": [(task, not task.done and task.due_at < now) for task in rows],
        "can_edit": has_permission(user, "task.edit"),
        "can_delete": has_permission(user, "task.delete"),
    })


@login_required
@require_POST
def task_done(request, pk):
    """Tick a task off from the task list."""
    actor = Actor.from_request(request)
    task = access_object(actor, Task.objects.select_related("customer"), pk, Event.TASK_UPDATE,
                         "edit")
    form = VersionOnlyForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Reload the page and try again."))
        return redirect("sales:tasks")
    try:
        actions.update_task(actor, pk, changes={"done": True},
                            version=form.cleaned_data["version"])
    except StaleVersion as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Task done."))
    if request.POST.get("next") == "customer":
        return redirect(task.customer)
    return redirect("sales:tasks")


@login_required
@require_http_methods(["GET", "POST"])
def task_create(request, customer_pk):
    customer = _customer_for_new(request, customer_pk, "task.create", Event.TASK_CREATE, Task)

    def save(actor, data):
        actions.create_task(actor, customer.pk, data=without_version(data))
        return customer.get_absolute_url()

    tomorrow = timezone.localtime() + timedelta(days=1)
    return form_page(
        request, form_class=TaskForm, title=_("New task"), cancel_url=customer.get_absolute_url(),
        breadcrumbs=crumbs_to(customer), save=save, success_message=_("Task created."),
        initial={"due_at": tomorrow.replace(minute=0, second=0, microsecond=0)},
    )






# --- orders -------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def order_list(request):
    """Orders the user may see, newest first; the cursor travels in a POST body like the
    customer list's."""
    form = OrderFilterForm(request.POST if request.method == "POST" else request.GET or None)
    orders = Order.objects.visible_to(request.user, "view").select_related("customer")
    cursor = None
    if form.is_bound and form.is_valid():
        orders = form.apply(orders)
        cursor = form.cleaned_data.get("cursor")
    rows, next_cursor = keyset_page(orders, cursor, ORDER_PAGE_SIZE)
    audit_read(Actor.from_request(request), Event.ORDER_LIST, Order, rows,
               fields=ORDER_LIST_FIELDS)
    return render(request, "sales/orders.html", {
        "form": form, "orders": rows, "next_cursor": next_cursor, "paged": bool(cursor),
        "can_edit": has_permission(request.user, "order.edit"),
        "can_delete": has_permission(request.user, "order.delete"),
    })


def _action_item_errors(form, error: ValidationError) -> list[str]:
    """Show an action's errors next to the order's fields; those about the items are returned
    to be shown above the item rows."""
    if not hasattr(error, "error_dict"):
        form.add_action_errors(error)
        return []
    rest = {name: errors for name, errors in error.error_dict.items() if name != "items"}
    if rest:
        form.add_action_errors(ValidationError(rest))
    return ValidationError(error.error_dict.get("items", [])).messages


def _order_page(request, *, customer, save, title: str, instance=None, success_message=""):
    """The order form and its item rows; ``save(actor, data)`` calls the action."""
    user = request.user
    items = instance.items if instance is not None else ()
    item_errors = []
    if request.method == "POST":
        form = OrderForm(request.POST, user=user, customer=customer, instance=instance)
        formset = order_item_formset(request.POST, items=items)
        forms_valid = form.is_valid()
        if formset.is_valid() and forms_valid:
            data = {**form.cleaned_data, "items": formset.items()}
            try:
                save(Actor.from_request(request), data)
            except StaleVersion as error:
                form.add_error(None, str(error))
            except ValidationError as error:
                item_errors = _action_item_errors(form, error)
            else:
                messages.success(request, success_message or _("Saved."))
                return redirect(customer.get_absolute_url())
    else:
        form = OrderForm(user=user, customer=customer, instance=instance)
        formset = order_item_formset(items=items)
    return render(request, "sales/order_form.html", {
        "form": form, "formset": formset, "item_errors": item_errors, "title": title,
        "cancel_url": customer.get_absolute_url(), "breadcrumbs": crumbs_to(customer),
    }, status=400 if request.method == "POST" else 200)


@login_required
@require_http_methods(["GET", "POST"])
def order_create(request, customer_pk):
    customer = _customer_for_new(request, customer_pk, "order.create", Event.ORDER_CREATE,
                                 Order)
    return _order_page(
        request, customer=customer, title=_("New order"), success_message=_("Order created."),
        save=lambda actor, data: actions.create_order(actor, customer.pk,
                                                      data=without_version(data)),
    )


@login_required
@require_http_methods(["GET", "POST"])
def order_edit(request, pk):
    actor = Actor.from_request(request)
    order = access_object(actor, Order.objects.select_related("customer"), pk,
                          Event.ORDER_UPDATE, "edit")
    audit_read(actor, Event.ORDER_VIEW, Order, [order], fields=actions.ORDER_FIELDS)
    return _order_page(
        request, customer=order.customer, instance=order, title=_("Edit order"),
        save=lambda actor, data: actions.update_order(
            actor, pk, changes=without_version(data), version=edit_version(data, order)),
    )


deal_edit = record_edit_view(Deal, form_class=DealForm, update=actions.update_deal,
                             event=Event.DEAL_UPDATE, title=gettext_lazy("Edit deal"),
                             delete_route="sales:deal_delete")
deal_delete = record_delete_view(Deal, delete=actions.delete_deal, event=Event.DEAL_DELETE)
activity_edit = record_edit_view(
    Activity, form_class=ActivityForm, update=actions.update_activity,
    event=Event.ACTIVITY_UPDATE, title=gettext_lazy("Edit activity"),
    delete_route="sales:activity_delete",
    form_kwargs=lambda request, activity: {"user": request.user, "customer": activity.customer})
activity_delete = record_delete_view(Activity, delete=actions.delete_activity,
                                     event=Event.ACTIVITY_DELETE)
task_edit = record_edit_view(Task, form_class=TaskForm, update=actions.update_task,
                             event=Event.TASK_UPDATE, title=gettext_lazy("Edit task"),
                             delete_route="sales:task_delete")
task_delete = record_delete_view(Task, delete=actions.delete_task, event=Event.TASK_DELETE)
order_delete = record_delete_view(Order, delete=actions.delete_order, event=Event.ORDER_DELETE,
                                  success_route="sales:orders")
