"""Domain actions for deals, activities, tasks and orders: the only code that changes them."""

import secrets

from django.utils import timezone

from anke.access.guarded import create_child, create_children, delete_object, update_object
from anke.audit.catalogue import Event
from anke.core.context import Actor
from anke.customers.models import Customer
from anke.encryption.datakeys import lock_subjects
from anke.sales.models import Activity, Deal, Order, Task

DEAL_FIELDS = ("title", "stage", "amount", "currency", "expected_close")
ACTIVITY_FIELDS = ("kind", "occurred_at", "summary", "deal")
TASK_FIELDS = ("title", "due_at", "done")
ORDER_FIELDS = ("number", "items", "currency", "status", "ordered_on", "deal")


def _closed_at(deal: Deal):
    if deal.stage.is_open:
        return None
    return deal.closed_at or timezone.now()


def create_deal(actor: Actor, customer_id, *, data: dict) -> Deal:
    """Open a deal on a customer; the actor owns it."""

    def stamp_close(deal):
        if (closed_at := _closed_at(deal)) is not None:
            Deal.objects.filter(pk=deal.pk).update(closed_at=closed_at)
            deal.closed_at = closed_at

    return create_child(actor, Customer.objects, customer_id, Deal, data=data,
                        allowed=DEAL_FIELDS, event=Event.DEAL_CREATE, owner=actor.user,
                        after_save=stamp_close)


def update_deal(actor: Actor, pk, *, changes: dict, version: int) -> Deal:
    """Edit a deal or move it to another stage; closing stages stamp the close time."""

    def stamp_close(deal, changed):
        if "stage" in changed:
            deal.closed_at = _closed_at(deal)
            changed.append("closed_at")

    return update_object(actor, Deal.objects, pk, changes=changes, version=version,
                         event=Event.DEAL_UPDATE, allowed=DEAL_FIELDS, before_save=stamp_close)


def delete_deal(actor: Actor, pk, *, version: int | None = None) -> None:
    delete_object(actor, Deal.objects, pk, event=Event.DEAL_DELETE, version=version)


def log_activity(actor: Actor, customer_id, *, data: dict) -> Activity:
    """Record a call, visit, meeting, e-mail or note on the customer's timeline."""
    data = {"occurred_at": timezone.now(), **data}
    return create_child(actor, Customer.objects, customer_id, Activity, data=data,
                        allowed=ACTIVITY_FIELDS, event=Event.ACTIVITY_CREATE,
                        performed_by=actor.user, after_save=_touch_last_contacted)


def _touch_last_contacted(activity: Activity) -> None:
    """Keep the customer's last-contact time (used by "at risk" lists) in step."""
    latest = (Activity.objects.filter(customer_id=activity.customer_id)
              .order_by("-occurred_at").values_list("occurred_at", flat=True).first())
    Customer.objects.filter(pk=activity.customer_id).update(last_contacted_at=latest)


def update_activity(actor: Actor, pk, *, changes: dict, version: int) -> Activity:
    return update_object(actor, Activity.objects, pk, changes=changes, version=version,
                         event=Event.ACTIVITY_UPDATE, allowed=ACTIVITY_FIELDS,
                         after_save=_touch_last_contacted)


def delete_activity(actor: Actor, pk, *, version: int | None = None) -> None:
    delete_object(actor, Activity.objects, pk, event=Event.ACTIVITY_DELETE, version=version,
                  after_delete=_touch_last_contacted)


def create_task(actor: Actor, customer_id, *, data: dict) -> Task:
    """A follow-up for the actor on a customer, due at a given time."""
    return create_child(actor, Customer.objects, customer_id, Task, data=data,
                        allowed=TASK_FIELDS, event=Event.TASK_CREATE, assignee=actor.user)


def update_task(actor: Actor, pk, *, changes: dict, version: int) -> Task:
    return update_object(actor, Task.objects, pk, changes=changes, version=version,
                         event=Event.TASK_UPDATE, allowed=TASK_FIELDS)


def delete_task(actor: Actor, pk, *, version: int | None = None) -> None:
    delete_object(actor, Task.objects, pk, event=Event.TASK_DELETE, version=version)


def new_order_number() -> str:
    # 48 random bits: a million orders a day collide with odds of about 1 in 500.
    return f"SO{timezone.localdate():%Y%m%d}-{secrets.token_hex(6).upper()}"


def create_order(actor: Actor, customer_id, *, data: dict) -> Order:
    """Record a transaction; the total is computed from the line items."""
    data = {"number": new_order_number(), "ordered_on": timezone.localdate(), **data}
    if not data["number"]:
        data["number"] = new_order_number()
    return create_child(actor, Customer.objects, customer_id, Order, data=data,
                        allowed=ORDER_FIELDS, event=Event.ORDER_CREATE)


def update_order(actor: Actor, pk, *, changes: dict, version: int) -> Order:
    def amount_follows_items(order, changed):
        if "items" in changed:
            changed.append("amount")

    return update_object(actor, Order.objects, pk, changes=changes, version=version,
                         event=Event.ORDER_UPDATE, allowed=ORDER_FIELDS,
                         before_save=amount_follows_items)


def delete_order(actor: Actor, pk, *, version: int | None = None) -> None:
    delete_object(actor, Order.objects, pk, event=Event.ORDER_DELETE, version=version)


# --- bulk creation (demo loader, importers): one transaction, one audit event per record -------


def create_deals(actor: Actor, rows: list[dict]) -> list[Deal]:
    def stamp_close(deal):
        deal.closed_at = _closed_at(deal)

    return create_children(actor, Customer.objects, Deal, rows, allowed=DEAL_FIELDS,
                           event=Event.DEAL_CREATE, owner_field="owner", prepare=stamp_close)


def log_activities(actor: Actor, rows: list[dict]) -> list[Activity]:
    return create_children(actor, Customer.objects, Activity, rows, allowed=ACTIVITY_FIELDS,
                           event=Event.ACTIVITY_CREATE, owner_field="performed_by",
                           after_save=_stamp_last_contact)


def _stamp_last_contact(activities: list[Activity]) -> None:
    """Customers' last contact moves forward, in the transaction that logged the activities."""
    latest = {}
    for activity in activities:
        if activity.customer_id not in latest or activity.occurred_at > latest[
                activity.customer_id]:
            latest[activity.customer_id] = activity.occurred_at
    lock_subjects(latest)  # key rows before customer rows, the order rotations take
    stale = Customer.objects.filter(pk__in=latest).only("pk", "last_contacted_at")
    changed = []
    for customer in stale:
        if customer.last_contacted_at is None or customer.last_contacted_at < latest[customer.pk]:
            customer.last_contacted_at = latest[customer.pk]
            changed.append(customer)
    Customer.objects.bulk_update(changed, ["last_contacted_at"], batch_size=500)


def create_tasks(actor: Actor, rows: list[dict]) -> list[Task]:
    return create_children(actor, Customer.objects, Task, rows, allowed=TASK_FIELDS,
                           event=Event.TASK_CREATE, owner_field="assignee")


def create_orders(actor: Actor, rows: list[dict]) -> list[Order]:
    rows = [{"number": new_order_number(), "ordered_on": timezone.localdate(), **row}
            for row in rows]
    return create_children(actor, Customer.objects, Order, rows, allowed=ORDER_FIELDS,
                           event=Event.ORDER_CREATE)
