"""Every customer record endpoint (contacts, deals, activities, tasks, orders, tickets) through
the same matrix: happy paths, scope, mass assignment, versions, query counts."""

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from anke.audit.models import AuditEvent
from anke.customers.actions import create_contact
from anke.customers.models import ContactPerson
from anke.sales.actions import create_deal, create_order, create_task, log_activity
from anke.sales.models import Activity, Deal, Order, PipelineStage, Task
from anke.service.actions import open_ticket
from anke.service.models import Ticket
from tests.api.conftest import signed_in
from tests.personas import actor, customer_of

# Session (2) + throttle bookkeeping in the database cache (6) + roles and grants (2) + the
# page (1) + the audit event and its customer index (2): the same whatever the page size.
LIST_QUERY_BUDGET = 14  # one of them fetches the page's data keys


def _stage(code):
    return PipelineStage.objects.get(code=code)


@dataclass
class Resource:
    name: str
    model: type
    make: object  # (user, customer) -> a record made through the domain action
    create_body: dict
    create_expect: dict
    update_body: dict
    update_expect: dict
    audit: str
    extra_read_only: list = field(default_factory=list)

    @property
    def url(self):
        return f"/api/v1/{self.name}/"

    def detail(self, obj):
        return f"{self.url}{obj.pk}/"


def _soon():
    return timezone.now() + timedelta(days=1)


RESOURCES = [
    Resource(
        "contacts", ContactPerson,
        lambda user, c: create_contact(actor(user), c.pk, data={"name": "赵六"}),
        {"name": "钱七", "phone": "139 0000 1111", "title": "采购经理", "is_primary": True},
        {"name": "钱七", "phone": "+8613900001111", "title": "采购经理", "is_primary": True},
        {"title": "总监"}, {"title": "总监"}, "contact",
    ),
    Resource(
        "deals", Deal,
        lambda user, c: create_deal(actor(user), c.pk, data={
            "title": "年度采购", "stage": _stage("qualify"), "amount": Decimal("1000")}),
        {"title": "扩容", "stage": "proposal", "amount": "2500.50", "currency": "CNY",
         "expected_close": "2030-06-30"},
        {"title": "扩容", "stage": "proposal", "amount": "2500.50", "currency": "CNY",
         "expected_close": "2030-06-30", "closed_at": None},
        {"stage": "won"}, {"stage": "won"}, "deal", ["owner", "closed_at"],
    ),
    Resource(
        "activities", Activity,
        lambda user, c: log_activity(actor(user), c.pk, data={"summary": "电话沟通"}),
        {"kind": "visit", "summary": "上门拜访", "occurred_at": "2024-05-01T10:00:00+08:00"},
        {"kind": "visit", "summary": "上门拜访", "occurred_at": "2024-05-01T10:00:00+08:00"},
        {"summary": "改期"}, {"summary": "改期"}, "activity", ["performed_by"],
    ),
    Resource(
        "tasks", Task,
        lambda user, c: create_task(actor(user), c.pk, data={"title": "回访", "due_at": _soon()}),
        {"title": "寄样品", "due_at": "2030-01-02T09:00:00+08:00"},
        {"title": "寄样品", "due_at": "2030-01-02T09:00:00+08:00", "done": False},
        {"done": True}, {"done": True}, "task", ["assignee"],
    ),
    Resource(
        "orders", Order,
        lambda user, c: create_order(actor(user), c.pk, data={
            "items": [{"name": "A", "quantity": 1, "unit_price": "10.00"}]}),
        {"items": [{"name": "服务器", "quantity": 2, "unit_price": "1000.25"},
                   {"name": "安装", "quantity": 1, "unit_price": "99"}],
         "ordered_on": "2024-05-01", "status": "paid"},
        {"amount": "2099.50", "ordered_on": "2024-05-01", "status": "paid",
         "items": [{"name": "服务器", "quantity": 2, "unit_price": "1000.25"},
                   {"name": "安装", "quantity": 1, "unit_price": "99.00"}]},
        {"items": [{"name": "B", "quantity": 3, "unit_price": "5"}]},
        {"amount": "15.00"}, "order", ["amount"],
    ),
    Resource(
        "tickets", Ticket,
        lambda user, c: open_ticket(actor(user), c.pk, data={"subject": "发票问题"}),
        {"subject": "质量投诉", "kind": "complaint", "priority": "urgent",
         "description": "外包装破损"},
        {"subject": "质量投诉", "kind": "complaint", "priority": "urgent", "status": "open",
         "resolved_at": None},
        {"status": "resolved", "satisfaction": 5}, {"status": "resolved", "satisfaction": 5},
        "ticket", ["sla_due_at", "resolved_at"],
    ),
]
IDS = [r.name for r in RESOURCES]


@pytest.fixture(params=RESOURCES, ids=IDS)
def resource(request):
    return request.param


def test_list_is_scoped_filterable_and_audited(resource, as_sales_a, sales_a, sales_b):
    customer, other_customer = customer_of(sales_a), customer_of(sales_a, name="李四")
    mine = resource.make(sales_a, customer)
    also_mine = resource.make(sales_a, other_customer)
    resource.make(sales_b, customer_of(sales_b))

    response = as_sales_a.get(resource.url)
    assert response.status_code == 200
    assert sorted(row["id"] for row in response.json()["results"]) == sorted(
        [str(mine.pk), str(also_mine.pk)])
    event = AuditEvent.objects.get(action=f"{resource.audit}.list")
    assert sorted(event.object_ids) == sorted([str(mine.pk), str(also_mine.pk)])

    response = as_sales_a.get(resource.url, {"customer": str(customer.pk)})
    assert [row["id"] for row in response.json()["results"]] == [str(mine.pk)]
    assert response.json()["results"][0]["customer"] == str(customer.pk)
    assert as_sales_a.get(resource.url, {"customer": "nope"}).status_code == 400


def test_retrieve_is_audited(resource, as_sales_a, sales_a):
    obj = resource.make(sales_a, customer_of(sales_a))
    response = as_sales_a.get(resource.detail(obj))
    assert response.status_code == 200
    assert response.json()["id"] == str(obj.pk)
    assert response.json()["version"] == 1
    assert response["ETag"] == '"1"'
    event = AuditEvent.objects.get(action=f"{resource.audit}.view")
    assert event.object_ids == [str(obj.pk)] and event.outcome == "allowed"


def test_create_goes_through_the_action(resource, as_sales_a, sales_a):
    customer = customer_of(sales_a)
    response = as_sales_a.post(resource.url, {"customer": str(customer.pk),
                                              **resource.create_body}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {key: body[key] for key in resource.create_expect} == resource.create_expect
    assert body["customer"] == str(customer.pk) and body["version"] == 1
    obj = resource.model.objects.get(pk=body["id"])
    assert obj.customer == customer
    assert AuditEvent.objects.filter(action=f"{resource.audit}.create",
                                     object_ids=[str(obj.pk)]).exists()


def test_update_with_if_match(resource, as_sales_a, sales_a):
    obj = resource.make(sales_a, customer_of(sales_a))
    response = as_sales_a.patch(resource.detail(obj), resource.update_body, format="json",
                                HTTP_IF_MATCH='"1"')
    assert response.status_code == 200, response.json()
    body = response.json()
    assert {key: body[key] for key in resource.update_expect} == resource.update_expect
    assert body["version"] == 2 and response["ETag"] == '"2"'
    obj.refresh_from_db()
    assert obj.version == 2


def test_delete(resource, as_sales_a, sales_a):
    obj = resource.make(sales_a, customer_of(sales_a))
    assert as_sales_a.delete(resource.detail(obj)).status_code == 204
    assert not resource.model.objects.filter(pk=obj.pk).exists()


def test_stale_and_missing_versions(resource, as_sales_a, sales_a):
    obj = resource.make(sales_a, customer_of(sales_a))
    response = as_sales_a.patch(resource.detail(obj), resource.update_body, format="json")
    assert response.status_code == 428
    assert response.json()["error"]["code"] == "precondition_required"
    response = as_sales_a.patch(resource.detail(obj), resource.update_body, format="json",
                                HTTP_IF_MATCH='"9"')
    assert response.status_code == 409
    assert response.json()["error"]["current_version"] == 1
    obj.refresh_from_db()
    assert obj.version == 1


@pytest.mark.parametrize(("method", "with_body"), [
    ("get", False), ("put", True), ("patch", True), ("delete", False),
])
def test_another_owners_record_is_404_audited_and_unchanged(resource, as_sales_b, sales_a,
                                                            sales_b, method, with_body):
    obj = resource.make(sales_a, customer_of(sales_a))
    before = resource.model.objects.values().get(pk=obj.pk)
    body = resource.create_body if with_body else None
    response = getattr(as_sales_b, method)(resource.detail(obj), body, format="json",
                                           HTTP_IF_MATCH='"1"')
    assert response.status_code == 404, response.json()
    assert response.json()["error"]["code"] == "not_found"
    denied = AuditEvent.objects.get(actor=sales_b, outcome="denied")
    assert denied.object_ids == [str(obj.pk)]
    assert resource.model.objects.values().get(pk=obj.pk) == before


def test_creating_on_another_owners_customer_is_404_and_audited(resource, as_sales_b, sales_a,
                                                               sales_b):
    customer = customer_of(sales_a)
    response = as_sales_b.post(resource.url, {"customer": str(customer.pk),
                                              **resource.create_body}, format="json")
    assert response.status_code == 404
    assert AuditEvent.objects.filter(actor=sales_b, outcome="denied",
                                     action=f"{resource.audit}.create").exists()
    assert not resource.model.objects.exists()


@pytest.mark.parametrize("name", ["owner", "version", "id", "created_at", "updated_at"])
def test_mass_assignment_is_400_and_changes_nothing(resource, as_sales_a, sales_a, sales_b,
                                                    name):
    customer = customer_of(sales_a)
    value = {"owner": sales_b.pk, "version": 9, "id": "00000000-0000-0000-0000-000000000001",
             "created_at": "2020-01-01T00:00:00Z",
             "updated_at": "2020-01-01T00:00:00Z"}[name]
    response = as_sales_a.post(resource.url, {"customer": str(customer.pk),
                                              **resource.create_body, name: value},
                               format="json")
    assert response.status_code == 400
    assert name in response.json()["error"]["fields"]
    assert not resource.model.objects.exists()

    obj = resource.make(sales_a, customer)
    response = as_sales_a.patch(resource.detail(obj), {**resource.update_body, name: value},
                                format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 400
    assert name in response.json()["error"]["fields"]
    obj.refresh_from_db()
    assert obj.version == 1


def test_read_only_fields_of_each_record_are_refused(resource, as_sales_a, sales_a):
    customer = customer_of(sales_a)
    for name in resource.extra_read_only:
        response = as_sales_a.post(resource.url, {"customer": str(customer.pk),
                                                  **resource.create_body, name: None},
                                   format="json")
        assert response.status_code == 400
        assert name in response.json()["error"]["fields"]
    assert not resource.model.objects.exists()


def test_a_record_cannot_be_moved_to_another_customer(resource, as_sales_a, sales_a):
    obj = resource.make(sales_a, customer_of(sales_a))
    elsewhere = customer_of(sales_a, name="李四")
    response = as_sales_a.patch(resource.detail(obj), {"customer": str(elsewhere.pk)},
                                format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 400
    assert "customer" in response.json()["error"]["fields"]
    obj.refresh_from_db()
    assert obj.customer_id != elsewhere.pk


def test_list_query_count_does_not_grow_with_the_page(resource, as_sales_a, sales_a,
                                                      django_assert_max_num_queries):
    customer = customer_of(sales_a)
    for _ in range(50):
        resource.make(sales_a, customer)
    with django_assert_max_num_queries(LIST_QUERY_BUDGET):
        response = as_sales_a.get(resource.url, {"page_size": 50})
    assert len(response.json()["results"]) == 50


# --- what is particular to each record ----------------------------------------------------------


def test_deal_stage_is_a_stage_code_and_closing_stamps_the_time(as_sales_a, sales_a):
    customer = customer_of(sales_a)
    response = as_sales_a.post("/api/v1/deals/", {"customer": str(customer.pk), "title": "X",
                                                  "stage": "nope"}, format="json")
    assert response.status_code == 400 and "stage" in response.json()["error"]["fields"]
    response = as_sales_a.post("/api/v1/deals/", {"customer": str(customer.pk), "title": "X",
                                                  "stage": "won", "amount": "-1"}, format="json")
    assert response.status_code == 400 and "amount" in response.json()["error"]["fields"]
    response = as_sales_a.post("/api/v1/deals/", {"customer": str(customer.pk), "title": "X",
                                                  "stage": "won"}, format="json")
    assert response.status_code == 201
    assert response.json()["closed_at"] is not None
    assert response.json()["owner"] == sales_a.pk


def test_deals_filter_by_stage_and_owner(as_sales_a, sales_a):
    customer = customer_of(sales_a)
    won = create_deal(actor(sales_a), customer.pk, data={"title": "A", "stage": _stage("won")})
    create_deal(actor(sales_a), customer.pk, data={"title": "B", "stage": _stage("qualify")})
    rows = as_sales_a.get("/api/v1/deals/", {"stage": "won"}).json()["results"]
    assert [row["id"] for row in rows] == [str(won.pk)]
    rows = as_sales_a.get("/api/v1/deals/", {"owner": sales_a.pk}).json()["results"]
    assert len(rows) == 2


def test_an_activity_cannot_point_at_a_deal_out_of_scope(as_sales_a, sales_a, sales_b):
    customer = customer_of(sales_a)
    theirs = create_deal(actor(sales_b), customer_of(sales_b).pk,
                         data={"title": "B", "stage": _stage("qualify")})
    response = as_sales_a.post("/api/v1/activities/", {
        "customer": str(customer.pk), "summary": "X", "deal": str(theirs.pk)}, format="json")
    assert response.status_code == 400
    assert "deal" in response.json()["error"]["fields"]
    other_customer = customer_of(sales_a, name="李四")
    deal = create_deal(actor(sales_a), other_customer.pk,
                       data={"title": "A", "stage": _stage("qualify")})
    response = as_sales_a.post("/api/v1/activities/", {
        "customer": str(customer.pk), "summary": "X", "deal": str(deal.pk)}, format="json")
    assert response.status_code == 400
    assert "deal" in response.json()["error"]["fields"]
    assert not Activity.objects.exists()


@pytest.mark.parametrize("items", [
    [], "x", [{"name": "A", "quantity": 0, "unit_price": "1"}],
    [{"name": "A", "quantity": 1, "unit_price": "-1"}],
    [{"name": "A", "quantity": 1.5, "unit_price": "1"}],
    [{"name": "A", "quantity": 1, "unit_price": "NaN"}],
    [{"name": "A", "quantity": 1, "unit_price": "1", "discount": "1"}],
    [{"name": "", "quantity": 1, "unit_price": "1"}],
    [{"name": "A\x00", "quantity": 1, "unit_price": "1"}],
    [{"name": "A", "quantity": 1_000_000, "unit_price": "999999999999.99"}],
])
def test_bad_order_items_are_400(as_sales_a, sales_a, items):
    customer = customer_of(sales_a)
    response = as_sales_a.post("/api/v1/orders/", {"customer": str(customer.pk),
                                                   "items": items}, format="json")
    assert response.status_code == 400
    assert "items" in response.json()["error"]["fields"]
    assert not Order.objects.exists()


def test_ticket_sla_follows_priority_and_assignee_must_be_active(cast):
    customer = customer_of(cast.sales_a)
    client = signed_in(cast.service)
    response = client.post("/api/v1/tickets/", {
        "customer": str(customer.pk), "subject": "X", "priority": "urgent",
        "assignee": cast.departed.pk}, format="json")
    assert response.status_code == 400 and "assignee" in response.json()["error"]["fields"]
    response = client.post("/api/v1/tickets/", {
        "customer": str(customer.pk), "subject": "X", "priority": "urgent",
        "assignee": cast.service.pk}, format="json")
    assert response.status_code == 201, response.json()
    ticket = Ticket.objects.get(pk=response.json()["id"])
    assert abs(ticket.sla_due_at - ticket.created_at - timedelta(hours=4)) < timedelta(minutes=1)
    assert response.json()["assignee"] == cast.service.pk
    rows = client.get("/api/v1/tickets/", {"priority": "urgent", "assignee": cast.service.pk})
    assert [row["id"] for row in rows.json()["results"]] == [str(ticket.pk)]
    assert client.get("/api/v1/tickets/", {"status": "bogus"}).status_code == 400


def test_service_agent_reads_deals_but_cannot_open_them(cast):
    customer = customer_of(cast.sales_a)
    deal = create_deal(actor(cast.sales_a), customer.pk,
                       data={"title": "A", "stage": _stage("qualify")})
    client = signed_in(cast.service)
    assert client.get(f"/api/v1/deals/{deal.pk}/").status_code == 200
    response = client.post("/api/v1/deals/", {"customer": str(customer.pk), "title": "B",
                                              "stage": "qualify"}, format="json")
    assert response.status_code == 403
    assert Deal.objects.count() == 1


def test_pipeline_stages_are_listed_in_board_order(as_sales_a):
    response = as_sales_a.get("/api/v1/pipeline-stages/")
    assert response.status_code == 200
    codes = [row["code"] for row in response.json()]
    assert codes == ["qualify", "needs", "proposal", "negotiation", "won", "lost"]
    won = response.json()[4]
    assert won["is_won"] is True and won["probability"] == 100
    assert as_sales_a.get(f"/api/v1/pipeline-stages/{won['id']}/").json()["code"] == "won"
    assert as_sales_a.post("/api/v1/pipeline-stages/", {"code": "x"},
                           format="json").status_code == 405


def test_every_customer_record_endpoint_is_in_the_matrix():
    from anke.api_urls import router
    from anke.customers.api import CustomerRecordViewSet

    registered = {prefix for prefix, viewset, _basename in router.registry
                  if issubclass(viewset, CustomerRecordViewSet)}
    assert registered == {*IDS, "customers"}
