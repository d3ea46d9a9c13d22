from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from anke.audit.models import AuditEvent
from anke.sales.actions import (
    create_deal,
    create_deals,
    create_order,
    create_task,
    log_activity,
)
from anke.sales.models import Activity, Deal, Order, PipelineStage, Task
from tests.helpers import html, read_back
from tests.personas import actor, customer_of


def stage(code):
    return PipelineStage.objects.get(code=code)


def deal_of(user, customer=None, **data):
    customer = customer or customer_of(user)
    return create_deal(actor(user), customer.pk, data={
        "title": "大单", "stage": stage("qualify"), "amount": Decimal("1000"), **data})


def order_of(user, customer=None, items=None):
    customer = customer or customer_of(user)
    items = items or [{"name": "茶叶", "quantity": 2, "unit_price": "50.00"}]
    return create_order(actor(user), customer.pk, data={"items": items})


def task_of(user, customer=None, **data):
    customer = customer or customer_of(user)
    return create_task(actor(user), customer.pk, data={
        "title": "回访", "due_at": timezone.now() + timedelta(days=1), **data})


def activity_of(user, customer=None, **data):
    customer = customer or customer_of(user)
    return log_activity(actor(user), customer.pk, data={"summary": "电话沟通", **data})


# --- pipeline board -----------------------------------------------------------------------------


def test_board_shows_own_deals_by_stage_with_totals_and_audits(client_a, cast):
    mine = deal_of(cast.sales_a, customer_of(cast.sales_a, name="甲客户"), title="甲单",
                   amount=Decimal("1200.50"))
    deal_of(cast.sales_a, title="乙单", stage=stage("proposal"), currency="USD")
    deal_of(cast.sales_b, title="别人的单")
    response = client_a.get(reverse("sales:board"))
    assert response.status_code == 200
    body = html(response)
    assert "甲单" in body and "乙单" in body and "别人的单" not in body
    assert "甲客户" in body and mine.customer.get_absolute_url() in body
    assert "1,200.50 CNY" in body and "Needs analysis" in body
    columns = {c["stage"].code: c for c in response.context["columns"]}
    assert columns["qualify"]["count"] == 1
    assert columns["proposal"]["totals"] == [(Decimal("1000.00"), "USD")]
    event = AuditEvent.objects.filter(action="deal.list").latest("id")
    assert set(event.object_ids) == {str(d.pk) for d in Deal.objects.filter(owner=cast.sales_a)}
    assert "js-autosubmit" in body and "<noscript>" in body


def test_board_mine_only_filter(client, cast):
    customer = customer_of(cast.sales_a)
    deal_of(cast.sales_a, customer, title="代表的单")
    deal_of(cast.manager, customer, title="经理的单")
    client.force_login(cast.manager)
    assert "代表的单" in html(client.get(reverse("sales:board")))
    body = html(client.get(reverse("sales:board"), {"mine": "1"}))
    assert "经理的单" in body and "代表的单" not in body


def test_closed_columns_show_the_latest_twenty(client_a, cast):
    customer = customer_of(cast.sales_a)
    create_deals(actor(cast.sales_a), [
        {"customer": customer, "title": f"赢{i}", "stage": stage("won")} for i in range(23)])
    response = client_a.get(reverse("sales:board"))
    won = next(c for c in response.context["columns"] if c["stage"].code == "won")
    assert won["count"] == 23 and len(won["deals"]) == 20 and won["more"]
    assert "Showing the latest 20 of 23." in html(response)


def test_board_costs_a_fixed_number_of_queries(client_a, cast, django_assert_max_num_queries):
    customer = customer_of(cast.sales_a)
    stages = list(PipelineStage.objects.all())
    create_deals(actor(cast.sales_a), [
        {"customer": customer_of(cast.sales_a, name=f"客户{i}") if i % 5 == 0 else customer,
         "title": f"单{i}", "stage": stages[i % len(stages)]} for i in range(30)])
    # Session, user, roles, grants, stages, column totals, one query per column, editable ids,
    # audit.
    with django_assert_max_num_queries(15):
        response = client_a.get(reverse("sales:board"))
    assert response.status_code == 200
    assert sum(len(c["deals"]) for c in response.context["columns"]) == 30


def test_moving_a_deal_changes_its_stage_and_closes_it(client_a, cast):
    deal = deal_of(cast.sales_a)
    response = client_a.post(reverse("sales:deal_move", args=[deal.pk]),
                             {"stage": stage("won").pk, "version": deal.version})
    assert response.status_code == 302 and response.url == reverse("sales:board")
    deal.refresh_from_db()
    assert deal.stage.code == "won" and deal.closed_at is not None and deal.version == 2
    assert AuditEvent.objects.filter(action="deal.update", object_ids=[str(deal.pk)]).exists()
    assert "Deal moved to Won." in html(client_a.get(response.url))


def test_moving_keeps_the_mine_filter(client_a, cast):
    deal = deal_of(cast.sales_a)
    response = client_a.post(reverse("sales:deal_move", args=[deal.pk]),
                             {"stage": stage("proposal").pk, "version": 1, "mine": "1"})
    assert response.url == reverse("sales:board") + "?mine=1"


def test_stale_move_is_refused_with_a_message(client_a, cast):
    deal = deal_of(cast.sales_a)
    client_a.post(reverse("sales:deal_move", args=[deal.pk]),
                  {"stage": stage("proposal").pk, "version": 1})
    response = client_a.post(reverse("sales:deal_move", args=[deal.pk]),
                             {"stage": stage("lost").pk, "version": 1}, follow=True)
    assert response.status_code == 200
    assert "Someone else changed this record" in html(response)
    assert Deal.objects.get(pk=deal.pk).stage.code == "proposal"


def test_bad_move_form_changes_nothing(client_a, cast):
    deal = deal_of(cast.sales_a)
    response = client_a.post(reverse("sales:deal_move", args=[deal.pk]),
                             {"stage": "999999", "version": "x"}, follow=True)
    assert "Choose a stage" in html(response)
    assert Deal.objects.get(pk=deal.pk).version == 1


def test_move_refuses_get(client_a, cast):
    deal = deal_of(cast.sales_a)
    assert client_a.get(reverse("sales:deal_move", args=[deal.pk])).status_code == 405


def test_service_agent_sees_deals_but_cannot_create_or_move_them(client, cast):
    customer = customer_of(cast.sales_a)
    deal = deal_of(cast.sales_a, customer, title="代表的单")
    client.force_login(cast.service)
    body = html(client.get(reverse("sales:board")))
    assert "代表的单" in body and reverse("sales:deal_move", args=[deal.pk]) not in body
    assert client.get(reverse("sales:deal_create", args=[customer.pk])).status_code == 403
    response = client.post(reverse("sales:deal_create", args=[customer.pk]),
                           {"title": "x", "stage": stage("qualify").pk, "amount": "1",
                            "currency": "CNY"})
    assert response.status_code == 403
    assert client.post(reverse("sales:deal_move", args=[deal.pk]),
                       {"stage": stage("won").pk, "version": 1}).status_code == 403
    assert Deal.objects.count() == 1 and Deal.objects.get().stage.code == "qualify"


# --- deals --------------------------------------------------------------------------------------


def test_create_deal(client_a, cast):
    customer = customer_of(cast.sales_a)
    url = reverse("sales:deal_create", args=[customer.pk])
    page = client_a.get(url)
    assert page.status_code == 200 and "Needs analysis" in html(page)
    response = client_a.post(url, {"title": "新单", "stage": stage("proposal").pk,
                                   "amount": "88000", "currency": "CNY",
                                   "expected_close": "2031-06-30"})
    assert response.status_code == 302 and response.url == customer.get_absolute_url()
    deal = Deal.objects.get(title="新单")
    assert (deal.customer, deal.owner, deal.amount) == (customer, cast.sales_a, Decimal("88000"))
    assert str(deal.expected_close) == "2031-06-30"
    assert AuditEvent.objects.filter(action="deal.create", object_ids=[str(deal.pk)]).exists()


def test_negative_amount_is_refused_next_to_the_field(client_a, cast):
    customer = customer_of(cast.sales_a)
    response = client_a.post(reverse("sales:deal_create", args=[customer.pk]), {
        "title": "新单", "stage": stage("qualify").pk, "amount": "-1", "currency": "CNY"})
    assert response.status_code == 400
    assert 'data-field-error="amount"' in html(response)
    assert not Deal.objects.exists()


def test_edit_deal(client_a, cast):
    deal = deal_of(cast.sales_a)
    url = reverse("sales:deal_edit", args=[deal.pk])
    assert 'value="大单"' in html(client_a.get(url))
    response = client_a.post(url, {"title": "改名", "stage": stage("negotiation").pk,
                                   "amount": "5", "currency": "EUR", "version": 1})
    assert response.url == deal.customer.get_absolute_url()
    deal.refresh_from_db()
    assert (deal.title, deal.stage.code, deal.currency, deal.version) == (
        "改名", "negotiation", "EUR", 2)
    assert AuditEvent.objects.filter(action="deal.update", object_ids=[str(deal.pk)]).exists()


def test_delete_deal(client_a, cast):
    deal = deal_of(cast.sales_a)
    url = reverse("sales:deal_delete", args=[deal.pk])
    assert client_a.get(url).status_code == 200
    assert client_a.post(url, {"version": 1}).url == deal.customer.get_absolute_url()
    assert not Deal.objects.exists()
    assert AuditEvent.objects.filter(action="deal.delete", object_ids=[str(deal.pk)]).exists()


# --- another owner's records --------------------------------------------------------------------


def _records_of(user):
    customer = customer_of(user)
    return {
        "deal": deal_of(user, customer),
        "activity": activity_of(user, customer),
        "task": task_of(user, customer),
        "order": order_of(user, customer),
    }


@pytest.mark.parametrize("kind", ["deal", "activity", "task", "order"])
@pytest.mark.parametrize("view", ["edit", "delete"])
def test_another_owners_record_is_not_found(client_a, cast, kind, view):
    record = _records_of(cast.sales_b)[kind]
    url = reverse(f"sales:{kind}_{view}", args=[record.pk])
    assert client_a.get(url).status_code == 404
    assert client_a.post(url, {"version": 1, "title": "抢走", "summary": "x"}).status_code == 404
    model = type(record)
    stored = model.objects.get(pk=record.pk)
    assert stored.version == 1
    assert AuditEvent.objects.filter(action=f"{kind}.{view.replace('edit', 'update')}",
                                     outcome="denied").exists()


@pytest.mark.parametrize(("name", "args"), [
    ("deal_move", {"stage": "won", "version": 1}), ("task_done", {"version": 1})])
def test_another_owners_state_change_is_not_found(client_a, cast, name, args):
    records = _records_of(cast.sales_b)
    record = records["deal" if name == "deal_move" else "task"]
    if "stage" in args:
        args = {**args, "stage": stage("won").pk}
    assert client_a.post(reverse(f"sales:{name}", args=[record.pk]), args).status_code == 404
    assert type(record).objects.get(pk=record.pk).version == 1


@pytest.mark.parametrize("kind", ["deal", "activity", "order", "task"])
def test_creating_for_another_owners_customer_is_not_found(client_a, cast, kind):
    customer = customer_of(cast.sales_b)
    assert client_a.get(reverse(f"sales:{kind}_create", args=[customer.pk])).status_code == 404


# --- activities ---------------------------------------------------------------------------------


def test_log_activity_offers_only_this_customers_deals(client_a, cast):
    customer = customer_of(cast.sales_a)
    deal = deal_of(cast.sales_a, customer, title="本客户的单")
    deal_of(cast.sales_a, title="另一客户的单")
    url = reverse("sales:activity_create", args=[customer.pk])
    body = html(client_a.get(url))
    assert "本客户的单" in body and "另一客户的单" not in body
    assert 'type="datetime-local"' in body
    response = client_a.post(url, {"kind": "visit", "occurred_at": "2030-05-01T10:30",
                                   "summary": "上门拜访", "deal": deal.pk})
    assert response.url == customer.get_absolute_url()
    activity = read_back(Activity, Activity.objects.get().pk)
    assert (activity.kind, activity.summary, activity.deal) == ("visit", "上门拜访", deal)
    assert activity.performed_by == cast.sales_a
    assert timezone.localtime(activity.occurred_at).strftime("%Y-%m-%d %H:%M") == \
        "2030-05-01 10:30"
    assert AuditEvent.objects.filter(action="activity.create").exists()


def test_activity_with_another_customers_deal_is_refused(client_a, cast):
    customer = customer_of(cast.sales_a)
    other_deal = deal_of(cast.sales_a)
    response = client_a.post(reverse("sales:activity_create", args=[customer.pk]), {
        "kind": "call", "occurred_at": "2030-05-01T10:30", "summary": "x",
        "deal": other_deal.pk})
    assert response.status_code == 400 and 'data-field-error="deal"' in html(response)
    assert not Activity.objects.exists()


def test_edit_and_delete_activity(client_a, cast):
    activity = activity_of(cast.sales_a)
    url = reverse("sales:activity_edit", args=[activity.pk])
    assert "电话沟通" in html(client_a.get(url))
    response = client_a.post(url, {"kind": "note", "occurred_at": "2030-01-02T08:00",
                                   "summary": "改过的", "version": 1})
    assert response.status_code == 302
    activity = read_back(Activity, activity.pk)
    assert (activity.kind, activity.summary, activity.version) == ("note", "改过的", 2)
    delete = reverse("sales:activity_delete", args=[activity.pk])
    assert client_a.post(delete, {"version": 2}).status_code == 302
    assert not Activity.objects.exists()
    assert AuditEvent.objects.filter(action="activity.delete").exists()


# --- tasks --------------------------------------------------------------------------------------


def test_create_task_and_see_it_in_my_tasks(client_a, cast):
    customer = customer_of(cast.sales_a, name="任务客户")
    url = reverse("sales:task_create", args=[customer.pk])
    assert client_a.get(url).status_code == 200
    response = client_a.post(url, {"title": "送样品", "due_at": "2030-03-04T09:00"})
    assert response.url == customer.get_absolute_url()
    task = Task.objects.get()
    assert (task.title, task.assignee, task.done) == ("送样品", cast.sales_a, False)
    page = client_a.get(reverse("sales:tasks"))
    assert page.status_code == 200
    assert "送样品" in html(page) and "任务客户" in html(page)
    event = AuditEvent.objects.filter(action="task.list").latest("id")
    assert event.object_ids == [str(task.pk)]


def test_overdue_tasks_are_highlighted(client_a, cast):
    task_of(cast.sales_a, title="早该做了", due_at=timezone.now() - timedelta(hours=1))
    assert 'class="text-danger" data-testid="overdue"' in html(client_a.get(reverse("sales:tasks")))


def test_my_tasks_and_the_managers_view(client, cast):
    customer = customer_of(cast.sales_a)
    task_of(cast.sales_a, customer, title="代表的任务")
    task_of(cast.manager, customer, title="经理的任务")
    client.force_login(cast.manager)
    body = html(client.get(reverse("sales:tasks")))
    assert "经理的任务" in body and "代表的任务" not in body
    body = html(client.get(reverse("sales:tasks"), {"show": "all"}))
    assert "经理的任务" in body and "代表的任务" in body


def test_mark_task_done(client_a, cast):
    task = task_of(cast.sales_a)
    url = reverse("sales:task_done", args=[task.pk])
    assert client_a.get(url).status_code == 405
    response = client_a.post(url, {"version": 1})
    assert response.url == reverse("sales:tasks")
    task.refresh_from_db()
    assert task.done and task.version == 2
    assert AuditEvent.objects.filter(action="task.update", fields=["done"]).exists()
    stale = client_a.post(url, {"version": 1}, follow=True)
    assert "Someone else changed this record" in html(stale)


def test_edit_and_delete_task(client_a, cast):
    task = task_of(cast.sales_a)
    response = client_a.post(reverse("sales:task_edit", args=[task.pk]), {
        "title": "改期", "due_at": "2031-01-01T12:00", "done": "on", "version": 1})
    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.title, task.done) == ("改期", True)
    assert client_a.post(reverse("sales:task_delete", args=[task.pk]),
                         {"version": 2}).status_code == 302
    assert not Task.objects.exists()


# --- orders -------------------------------------------------------------------------------------


def _items(*rows, total=5):
    data = {"items-TOTAL_FORMS": str(total), "items-INITIAL_FORMS": "0",
            "items-MIN_NUM_FORMS": "0", "items-MAX_NUM_FORMS": "5"}
    for i, (name, quantity, price) in enumerate(rows):
        data |= {f"items-{i}-name": name, f"items-{i}-quantity": quantity,
                 f"items-{i}-unit_price": price}
    return data


def test_create_order_with_items(client_a, cast):
    customer = customer_of(cast.sales_a)
    deal = deal_of(cast.sales_a, customer)
    url = reverse("sales:order_create", args=[customer.pk])
    page = client_a.get(url)
    assert page.status_code == 200 and html(page).count('name="items-') >= 15
    response = client_a.post(url, {
        "number": "", "currency": "CNY", "status": "confirmed", "ordered_on": "2030-02-03",
        "deal": deal.pk, **_items(("茶叶", "2", "50.5"), ("茶具", "1", "199"))})
    assert response.status_code == 302 and response.url == customer.get_absolute_url()
    order = Order.objects.get()
    assert order.items == [{"name": "茶叶", "quantity": 2, "unit_price": "50.50"},
                           {"name": "茶具", "quantity": 1, "unit_price": "199.00"}]
    assert order.amount == Decimal("300.00") and order.number.startswith("SO")
    assert (order.deal, str(order.ordered_on)) == (deal, "2030-02-03")
    assert AuditEvent.objects.filter(action="order.create", object_ids=[str(order.pk)]).exists()


@pytest.mark.parametrize(("rows", "error"), [
    ((("茶叶", "0", "10"),), "items-0-quantity"),
    ((("茶叶", "1", "-3"),), "items-0-unit_price"),
    ((("", "1", "10"),), "items-0-name"),
    ((), "items"),
])
def test_bad_order_items_are_refused_next_to_the_row(client_a, cast, rows, error):
    customer = customer_of(cast.sales_a)
    response = client_a.post(reverse("sales:order_create", args=[customer.pk]), {
        "currency": "CNY", "status": "confirmed", "ordered_on": "2030-02-03", **_items(*rows)})
    assert response.status_code == 400
    assert f'data-field-error="{error}"' in html(response)
    assert not Order.objects.exists()


def test_duplicate_order_number_is_an_error_on_the_field(client_a, cast):
    existing = order_of(cast.sales_a)
    customer = customer_of(cast.sales_a)
    response = client_a.post(reverse("sales:order_create", args=[customer.pk]), {
        "number": existing.number, "currency": "CNY", "status": "confirmed",
        "ordered_on": "2030-02-03", **_items(("茶叶", "1", "1"))})
    assert response.status_code == 400 and 'data-field-error="number"' in html(response)
    assert Order.objects.count() == 1


def test_edit_order_keeps_every_item(client_a, cast):
    items = [{"name": f"件{i}", "quantity": 1, "unit_price": "1.00"} for i in range(7)]
    order = order_of(cast.sales_a, items=items)
    url = reverse("sales:order_edit", args=[order.pk])
    page = html(client_a.get(url))
    assert 'value="件6"' in page
    data = {"number": order.number, "currency": "USD", "status": "paid",
            "ordered_on": "2030-02-03", "version": 1, "items-TOTAL_FORMS": "7",
            "items-INITIAL_FORMS": "7", "items-MIN_NUM_FORMS": "0", "items-MAX_NUM_FORMS": "7"}
    for i, item in enumerate(items):
        data |= {f"items-{i}-name": item["name"], f"items-{i}-quantity": "1",
                 f"items-{i}-unit_price": "1.00"}
    data["items-0-quantity"] = "3"
    data["items-6-name"] = data["items-6-quantity"] = data["items-6-unit_price"] = ""
    assert client_a.post(url, data).status_code == 302
    order.refresh_from_db()
    assert (order.status, order.currency, order.version) == ("paid", "USD", 2)
    assert len(order.items) == 6 and order.amount == Decimal("8.00")


def test_stale_order_edit_is_refused(client_a, cast):
    order = order_of(cast.sales_a)
    data = {"number": order.number, "currency": "CNY", "status": "paid",
            "ordered_on": "2030-02-03", "version": 1, **_items(("茶叶", "1", "1"))}
    url = reverse("sales:order_edit", args=[order.pk])
    assert client_a.post(url, data).status_code == 302
    response = client_a.post(url, {**data, "status": "cancelled"})
    assert response.status_code == 400 and "Someone else changed" in html(response)
    assert Order.objects.get().status == "paid"


def test_order_list_shows_totals_and_pages_by_cursor(client_a, cast, monkeypatch):
    monkeypatch.setattr("anke.sales.views.ORDER_PAGE_SIZE", 2)
    customer = customer_of(cast.sales_a, name="订单客户")
    orders = [order_of(cast.sales_a, customer) for _ in range(3)]
    order_of(cast.sales_b)
    first = client_a.get(reverse("sales:orders"))
    assert first.status_code == 200
    assert "100.00 CNY" in html(first) and "订单客户" in html(first)
    seen = [o.pk for o in first.context["orders"]]
    second = client_a.post(reverse("sales:orders"), {"cursor": first.context["next_cursor"]})
    seen += [o.pk for o in second.context["orders"]]
    assert sorted(map(str, seen)) == sorted(str(o.pk) for o in orders)
    assert second.context["next_cursor"] is None
    event = AuditEvent.objects.filter(action="order.list").latest("id")
    assert event.object_ids == [str(second.context["orders"][0].pk)]


def test_order_list_filters_by_status(client_a, cast):
    order = order_of(cast.sales_a)
    response = client_a.post(reverse("sales:orders"), {"status": "refunded"})
    assert order.number not in html(response)
    response = client_a.post(reverse("sales:orders"), {"status": "confirmed"})
    assert order.number in html(response)


def test_delete_order(client_a, cast):
    order = order_of(cast.sales_a)
    response = client_a.post(reverse("sales:order_delete", args=[order.pk]), {"version": 1})
    assert response.url == reverse("sales:orders")
    assert not Order.objects.exists()
    assert AuditEvent.objects.filter(action="order.delete").exists()
