from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from anke.audit.models import AuditEvent
from anke.service.actions import open_ticket, open_tickets
from anke.service.models import Ticket
from tests.conftest import tripwire_off
from tests.helpers import html, read_back
from tests.personas import actor, customer_of


def ticket_of(user, customer=None, **data):
    customer = customer or customer_of(user)
    return open_ticket(actor(user), customer.pk, data={"subject": "发票开错了", **data})


def test_list_shows_visible_tickets_and_audits_the_page(client_a, cast):
    mine = ticket_of(cast.sales_a, customer_of(cast.sales_a, name="甲客户"), subject="退货")
    ticket_of(cast.sales_b, subject="别人的投诉")
    response = client_a.get(reverse("service:list"))
    assert response.status_code == 200
    body = html(response)
    assert "退货" in body and "甲客户" in body and "别人的投诉" not in body
    assert date_format(timezone.localtime(mine.sla_due_at), "SHORT_DATETIME_FORMAT") in body
    event = AuditEvent.objects.filter(action="ticket.list").latest("id")
    assert event.object_ids == [str(mine.pk)]


def test_overdue_tickets_are_highlighted(client_a, cast):
    late = ticket_of(cast.sales_a, subject="超时了", priority="urgent")
    ticket_of(cast.sales_a, subject="还来得及")
    with tripwire_off():  # staged: time passing, not an action
        Ticket.objects.filter(pk=late.pk).update(sla_due_at=timezone.now() - timedelta(hours=1))
    response = client_a.get(reverse("service:list"))
    overdue = [t.subject for t, is_overdue in response.context["rows"] if is_overdue]
    assert overdue == ["超时了"]
    assert 'class="text-danger fw-semibold" data-testid="overdue"' in html(response)


def test_resolved_tickets_are_never_overdue(client_a, cast):
    done = ticket_of(cast.sales_a, status="resolved")
    with tripwire_off():  # staged: time passing, not an action
        Ticket.objects.filter(pk=done.pk).update(sla_due_at=timezone.now() - timedelta(days=1))
    response = client_a.get(reverse("service:list"))
    assert [is_overdue for _t, is_overdue in response.context["rows"]] == [False]


def test_filters(client_a, cast):
    customer = customer_of(cast.sales_a)
    ticket_of(cast.sales_a, customer, subject="紧急投诉", priority="urgent", kind="complaint")
    ticket_of(cast.sales_a, customer, subject="普通咨询", assignee=cast.service)
    body = html(client_a.post(reverse("service:list"), {"priority": "urgent"}))
    assert "紧急投诉" in body and "普通咨询" not in body
    body = html(client_a.post(reverse("service:list"), {"kind": "enquiry"}))
    assert "紧急投诉" not in body and "普通咨询" in body
    body = html(client_a.post(reverse("service:list"), {"assignee": cast.service.pk}))
    assert "紧急投诉" not in body and "普通咨询" in body
    body = html(client_a.post(reverse("service:list"), {"assignee": "none"}))
    assert "紧急投诉" in body and "普通咨询" not in body
    body = html(client_a.post(reverse("service:list"), {"status": "closed"}))
    assert "紧急投诉" not in body and "普通咨询" not in body


def test_service_agents_start_from_their_own_queue(client, cast):
    customer = customer_of(cast.sales_a)
    ticket_of(cast.sales_a, customer, subject="分给客服的", assignee=cast.service)
    ticket_of(cast.sales_a, customer, subject="没人管的")
    client.force_login(cast.service)
    body = html(client.get(reverse("service:list")))
    assert "分给客服的" in body and "没人管的" not in body
    body = html(client.post(reverse("service:list"), {"assignee": ""}))
    assert "分给客服的" in body and "没人管的" in body


def test_keyset_pagination_walks_every_ticket_once(client_a, cast, monkeypatch):
    monkeypatch.setattr("anke.service.views.PAGE_SIZE", 2)
    customer = customer_of(cast.sales_a)
    for i in range(5):
        ticket_of(cast.sales_a, customer, subject=f"工单{i}")
    seen, cursor = [], ""
    for _page in range(3):
        response = client_a.post(reverse("service:list"), {"cursor": cursor})
        seen += [t.subject for t, _o in response.context["rows"]]
        cursor = response.context["next_cursor"] or ""
    assert sorted(seen) == [f"工单{i}" for i in range(5)]
    assert cursor == ""


def test_list_costs_a_fixed_number_of_queries(client, cast, django_assert_max_num_queries):
    customers = [customer_of(cast.sales_a, name=f"客户{i}") for i in range(6)]
    open_tickets(actor(cast.sales_a), [
        {"customer": customers[i % 6], "subject": f"工单{i}",
         "assignee": cast.service if i % 2 else None} for i in range(30)])
    client.force_login(cast.manager)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("service:list"))
    assert response.status_code == 200 and len(response.context["rows"]) == 30


def test_open_ticket(client_a, cast):
    customer = customer_of(cast.sales_a)
    url = reverse("service:create", args=[customer.pk])
    page = client_a.get(url)
    assert page.status_code == 200 and "Unassigned" in html(page)
    assert cast.departed.username not in html(page)  # inactive users are not offered
    response = client_a.post(url, {"kind": "complaint", "subject": "屏幕坏了",
                                   "description": "第二天就坏了", "priority": "high",
                                   "assignee": cast.service.pk})
    assert response.status_code == 302 and response.url == customer.get_absolute_url()
    ticket = read_back(Ticket, Ticket.objects.get().pk)
    assert (ticket.subject, ticket.description, ticket.priority, ticket.assignee) == (
        "屏幕坏了", "第二天就坏了", "high", cast.service)
    assert ticket.sla_due_at == ticket.created_at + timedelta(hours=24)
    assert AuditEvent.objects.filter(action="ticket.create", object_ids=[str(ticket.pk)]).exists()


def test_open_ticket_for_another_owners_customer_is_not_found(client_a, cast):
    customer = customer_of(cast.sales_b)
    url = reverse("service:create", args=[customer.pk])
    assert client_a.get(url).status_code == 404
    assert client_a.post(url, {"kind": "complaint", "subject": "x",
                               "priority": "low"}).status_code == 404
    assert not Ticket.objects.exists()


def test_edit_ticket(client, cast):
    ticket = ticket_of(cast.sales_a)
    client.force_login(cast.service)
    url = reverse("service:edit", args=[ticket.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"status": "resolved", "priority": "urgent",
                                 "assignee": cast.service.pk, "satisfaction": "5",
                                 "version": 1})
    assert response.status_code == 302 and response.url == ticket.customer.get_absolute_url()
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority, ticket.assignee, ticket.satisfaction) == (
        "resolved", "urgent", cast.service, 5)
    assert ticket.resolved_at is not None and ticket.version == 2
    assert ticket.sla_due_at == ticket.created_at + timedelta(hours=4)
    event = AuditEvent.objects.filter(action="ticket.update").latest("id")
    assert "satisfaction" in event.fields and "5" not in event.fields


@pytest.mark.parametrize(("field", "value"), [("satisfaction", "9"), ("satisfaction", "0"),
                                              ("status", "bogus"), ("assignee", "999999")])
def test_bad_ticket_edit_is_refused_next_to_the_field(client_a, cast, field, value):
    ticket = ticket_of(cast.sales_a)
    data = {"status": "open", "priority": "normal", "assignee": "", "satisfaction": "",
            "version": 1, field: value}
    response = client_a.post(reverse("service:edit", args=[ticket.pk]), data)
    assert response.status_code == 400
    assert f'data-field-error="{field}"' in html(response)
    stored = Ticket.objects.get(pk=ticket.pk)
    assert (stored.version, stored.satisfaction, stored.status) == (1, None, "open")


def test_inactive_assignee_is_refused(client_a, cast):
    customer = customer_of(cast.sales_a)
    response = client_a.post(reverse("service:create", args=[customer.pk]), {
        "kind": "enquiry", "subject": "x", "priority": "low", "assignee": cast.departed.pk})
    assert response.status_code == 400 and 'data-field-error="assignee"' in html(response)
    assert not Ticket.objects.exists()


def test_stale_ticket_edit_is_refused(client_a, cast):
    ticket = ticket_of(cast.sales_a)
    url = reverse("service:edit", args=[ticket.pk])
    data = {"status": "in_progress", "priority": "normal", "version": 1}
    assert client_a.post(url, data).status_code == 302
    response = client_a.post(url, {**data, "status": "closed"})
    assert response.status_code == 400 and "Someone else changed" in html(response)
    assert Ticket.objects.get().status == "in_progress"


@pytest.mark.parametrize("view", ["edit", "delete"])
def test_another_owners_ticket_is_not_found(client_a, cast, view):
    ticket = ticket_of(cast.sales_b)
    url = reverse(f"service:{view}", args=[ticket.pk])
    assert client_a.get(url).status_code == 404
    assert client_a.post(url, {"status": "closed", "priority": "low",
                               "version": 1}).status_code == 404
    stored = Ticket.objects.get(pk=ticket.pk)
    assert (stored.status, stored.version) == ("open", 1)


def test_delete_ticket(client_a, cast):
    ticket = ticket_of(cast.sales_a)
    url = reverse("service:delete", args=[ticket.pk])
    assert client_a.get(url).status_code == 200
    response = client_a.post(url, {"version": 1})
    assert response.url == reverse("service:list")
    assert not Ticket.objects.exists()
    assert AuditEvent.objects.filter(action="ticket.delete").exists()


def test_service_agent_may_not_delete_tickets(client, cast):
    ticket = ticket_of(cast.sales_a)
    client.force_login(cast.service)
    url = reverse("service:delete", args=[ticket.pk])
    assert url not in html(client.get(reverse("service:list")))
    assert client.post(url,
                       {"version": 1}).status_code == 403
    assert Ticket.objects.exists()
