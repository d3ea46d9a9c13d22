"""Dashboard figures, every one computed from scoped querysets (counts never leak records)."""

from datetime import timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from anke.customers.models import Customer
from anke.sales.models import Deal, Order, PipelineStage, Task
from anke.service.models import Ticket

AT_RISK_DAYS = 30
REVENUE_STATUSES = (Order.Status.CONFIRMED, Order.Status.PAID, Order.Status.SHIPPED)


def pipeline_by_stage(user):
    """Open and closed deals per stage: count and total amount (all currencies summed as CNY
    until multi-currency reporting exists)."""
    totals = {
        row["stage"]: row
        for row in Deal.objects.visible_to(user, "view").values("stage")
        .annotate(count=Count("pk"), amount=Sum("amount"))
    }
    return [
        {"stage": stage, "count": totals.get(stage.pk, {}).get("count", 0),
         "amount": totals.get(stage.pk, {}).get("amount") or 0}
        for stage in PipelineStage.objects.all()
    ]


def revenue_by_month(user, months: int = 12):
    since = (timezone.localdate().replace(day=1) - timedelta(days=31 * (months - 1))).replace(day=1)
    rows = (Order.objects.visible_to(user, "view")
            .filter(ordered_on__gte=since, status__in=REVENUE_STATUSES)
            .annotate(month=TruncMonth("ordered_on")).values("month")
            .annotate(total=Sum("amount")).order_by("month"))
    return [(row["month"], row["total"] or 0) for row in rows]


def win_rate(user) -> float | None:
    closed = Deal.objects.visible_to(user, "view").filter(closed_at__isnull=False)
    counts = closed.aggregate(won=Count("pk", filter=Q(stage__is_won=True)), all=Count("pk"))
    return counts["won"] / counts["all"] if counts["all"] else None


def customers_at_risk(user, limit: int = 10):
    """Customers not contacted for ``AT_RISK_DAYS`` days (or never), oldest contact first."""
    cutoff = timezone.now() - timedelta(days=AT_RISK_DAYS)
    return list(
        Customer.objects.visible_to(user, "view")
        .filter(stage__in=(Customer.Stage.CUSTOMER, Customer.Stage.VIP),
                last_contacted_at__lt=cutoff)
        .order_by("last_contacted_at")
        .only("pk", "name", "company", "last_contacted_at", "stage")[:limit]
    )


def my_open_tasks(user, limit: int = 10):
    return list(Task.objects.visible_to(user, "view").filter(assignee=user, done=False)
                .select_related("customer").order_by("due_at")[:limit])


def open_tickets_by_priority(user):
    rows = (Ticket.objects.visible_to(user, "view")
            .exclude(status__in=(Ticket.Status.RESOLVED, Ticket.Status.CLOSED))
            .values("priority").annotate(count=Count("pk")))
    counts = {row["priority"]: row["count"] for row in rows}
    return [(label, counts.get(value, 0)) for value, label in Ticket.Priority.choices]
