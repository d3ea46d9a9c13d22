"""Catalogue entries no other test emitted (tests/audit_coverage.py names them): each is
written here by the real action or view that emits it, and the event is asserted."""

from datetime import timedelta

from django.utils import timezone

from anke.analytics.queries import AT_RISK_DAYS
from anke.audit.models import AuditEvent
from anke.sales.actions import log_activity
from tests.personas import actor, customer_of


def test_the_dashboard_records_whose_data_it_showed(client_a, cast):
    # given a customer of each rep not contacted for longer than the at-risk window
    long_ago = timezone.now() - timedelta(days=AT_RISK_DAYS + 1)
    customers = {}
    for user in (cast.sales_a, cast.sales_b):
        customers[user] = customer_of(user, stage="customer")
        log_activity(actor(user), customers[user].pk,
                     data={"kind": "call", "summary": "回访", "occurred_at": long_ago})
    # when rep A opens the dashboard
    response = client_a.get("/")
    # then the read of A's at-risk customer is recorded, and nothing of B's
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="dashboard.view")
    assert event.actor == cast.sales_a
    assert event.outcome == "allowed"
    assert event.object_ids == [str(customers[cast.sales_a].pk)]
    assert event.customer_ids == [str(customers[cast.sales_a].pk)]
    assert {"at_risk", "pipeline", "tasks"} <= set(event.fields)
