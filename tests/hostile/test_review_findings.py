"""Attacks found in the security review of the foundation; each must now fail cleanly."""

import base64

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from anke.audit.models import AuditEvent
from anke.sales.models import Activity
from anke.service.actions import open_ticket
from anke.service.models import Ticket
from tests.personas import actor, customer_of


def test_opening_an_edit_or_delete_page_is_an_audited_read(client_a, cast):
    customer = customer_of(cast.sales_a, notes="只给负责人看")
    for name in ("customers:edit", "customers:delete"):
        before = AuditEvent.objects.filter(action="customer.view").count()
        response = client_a.get(reverse(name, args=[customer.pk]))
        assert response.status_code == 200
        assert AuditEvent.objects.filter(action="customer.view").count() == before + 1
    edit_event = AuditEvent.objects.filter(action="customer.view").order_by("id")[0]
    assert "phone" in edit_event.fields and "notes" in edit_event.fields


@pytest.mark.parametrize("raw", ["2024-01-01T00:00:00|not-a-uuid",
                                 "0001-01-01T00:00:00|00000000-0000-0000-0000-000000000000"])
@pytest.mark.parametrize("route", ["customers:list", "sales:orders", "service:list"])
def test_forged_cursors_start_from_the_first_page(client_a, cast, raw, route):
    customer_of(cast.sales_a)
    cursor = base64.urlsafe_b64encode(raw.encode()).decode()
    assert client_a.post(reverse(route), {"cursor": cursor}).status_code == 200


def test_a_date_near_year_one_is_a_field_error_not_a_crash(client_a, cast):
    customer = customer_of(cast.sales_a)
    response = client_a.post(reverse("sales:activity_create", args=[customer.pk]), {
        "kind": "call", "occurred_at": "0001-01-01T00:00", "summary": "x"})
    assert response.status_code == 400
    assert 'data-field-error="occurred_at"' in response.content.decode()
    api = APIClient()
    api.force_authenticate(cast.sales_a)
    response = api.post("/api/v1/activities/", {"customer": str(customer.pk), "kind": "call",
                        "occurred_at": "0001-01-01T00:00:00", "summary": "x"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid"
    response = api.get("/api/v1/tasks/", {"due_before": "0001-01-01T00:00:00"})
    assert response.status_code == 400
    assert not Activity.objects.exists()


def test_a_ticket_cannot_be_handed_to_someone_outside_its_scope(cast):
    customer = customer_of(cast.sales_a)
    for outsider in (cast.sales_b, cast.admin, cast.auditor):
        with pytest.raises(ValidationError) as error:
            open_ticket(actor(cast.sales_a), customer.pk,
                        data={"subject": "转交", "assignee": outsider})
        assert "assignee" in error.value.message_dict
    assert not Ticket.objects.exists()
    ticket = open_ticket(actor(cast.sales_a), customer.pk,
                         data={"subject": "转交", "assignee": cast.service})
    assert ticket.assignee == cast.service


def test_a_name_in_a_get_query_string_is_ignored(client_a, cast):
    customer_of(cast.sales_a, name="欧阳锋")
    customer_of(cast.sales_a, name="黄药师")
    response = client_a.get(reverse("customers:list"), {"q": "欧阳"})
    assert len(response.context["customers"]) == 2
    assert not AuditEvent.objects.filter(action="customer.search").exists()


def test_guessing_tokens_is_cut_off_and_does_not_flood_the_trail(db):
    api = APIClient(REMOTE_ADDR="10.9.9.9")
    statuses = [api.get("/api/v1/customers/", HTTP_AUTHORIZATION=f"Bearer anke_guess{i}")
                .status_code for i in range(30)]
    assert statuses[:20] == [401] * 20
    assert set(statuses[20:]) == {429}
    assert AuditEvent.objects.filter(action="token.rejected").count() == 20


def test_the_contact_form_is_refused_before_it_is_shown(client, cast):
    customer = customer_of(cast.sales_a)
    client.force_login(cast.service)
    response = client.get(reverse("customers:contact_create", args=[customer.pk]))
    assert response.status_code == 403
