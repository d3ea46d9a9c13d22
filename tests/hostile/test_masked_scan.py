"""A masked role never sees a clear value anywhere (SECURITY.md §5).

The service agent sees customer and contact fields masked. It crawls every answer it can reach —
API lists, reads and searches, web lists, pages, forms, dashboards, error pages — and none may
carry a clear value the test created, in any spelling (E.164, national digits, ``138 1234 5678``).

Also here: filters, ordering and unknown parameters never widen a scope, and mass assignment of
owner, version, department, region or blind indexes through the API is refused.
"""

import datetime
import uuid
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from anke.audit.models import AuditEvent
from anke.customers.actions import create_contact
from anke.customers.models import ContactPerson, Customer
from anke.sales.actions import create_deal, create_order, create_task, log_activity
from anke.sales.models import Activity, Deal, Order, PipelineStage, Task
from anke.service.actions import open_ticket
from anke.service.models import Ticket
from tests.api.conftest import signed_in
from tests.personas import actor, customer_of

PERSON = {
    "name": "张三丰", "phone": "13812345678", "email": "zhangsan@example.com",
    "id_number": "11010519491231002X", "street": "朝阳路88号",
    "birthday": datetime.date(1990, 3, 7), "preferences": "喜欢喝龙井茶",
    "notes": "女儿在上小学", "province": "北京市", "city": "北京市", "district": "朝阳区",
}
COMPANY = {
    "kind": "company", "name": "欧阳娜娜", "company": "安科科技", "phone": "13987654321",
    "email": "ouyang@example.org", "credit_code": "91350100M000100Y43",
    "street": "科技园路7号", "notes": "董事长的私人电话另记",
}
CONTACT = {"name": "李小龙", "phone": "15011112222", "email": "lixiaolong@example.net",
           "notes": "周末勿扰的联系人"}

# Every clear value, in every spelling a page or an answer could use.
SECRETS = [
    "张三丰", "+8613812345678", "13812345678", "138 1234 5678", "138-1234-5678",
    "zhangsan@example.com", "11010519491231002X", "朝阳路88号", "1990-03-07", "1990年3月7日",
    "March 7, 1990", "Mar. 7, 1990", "喜欢喝龙井茶", "女儿在上小学",
    "欧阳娜娜", "+8613987654321", "13987654321", "139 8765 4321", "ouyang@example.org",
    "91350100M000100Y43", "科技园路7号", "董事长的私人电话另记",
    "李小龙", "+8615011112222", "15011112222", "150 1111 2222", "lixiaolong@example.net",
    "周末勿扰的联系人",
]


@pytest.fixture
def records(cast):
    """sales_a's individual and company customers with a contact, and one record of every kind
    on each (their own texts carry no personal data: the agent sees those in clear)."""
    person = customer_of(cast.sales_a, **PERSON)
    company = customer_of(cast.sales_a, **COMPANY)
    owner = actor(cast.sales_a)
    made = {"customer": [person, company]}
    for customer in (person, company):
        made.setdefault("contact", []).append(create_contact(owner, customer.pk, data=CONTACT))
        made.setdefault("activity", []).append(
            log_activity(owner, customer.pk, data={"summary": "电话回访"}))
        made.setdefault("deal", []).append(create_deal(owner, customer.pk, data={
            "title": "年度采购", "stage": PipelineStage.objects.get(code="qualify"),
            "amount": Decimal("100")}))
        made.setdefault("task", []).append(create_task(owner, customer.pk, data={
            "title": "寄样品", "due_at": timezone.now() - datetime.timedelta(days=1)}))
        made.setdefault("order", []).append(create_order(owner, customer.pk, data={
            "items": [{"name": "服务器", "quantity": 1, "unit_price": "10.00"}]}))
        made.setdefault("ticket", []).append(open_ticket(owner, customer.pk, data={
            "subject": "发票问题", "description": "需要重开发票", "assignee": cast.service}))
    return made


API = {"customer": "customers", "contact": "contacts", "activity": "activities",
       "deal": "deals", "task": "tasks", "order": "orders", "ticket": "tickets"}


def _leaks(body: str) -> list[str]:
    return [secret for secret in SECRETS if secret in body]


def _api_answers(client, records):
    """(label, response) for every API answer the agent can get."""
    person = records["customer"][0]
    for resource, name in API.items():
        yield f"GET {name}", client.get(f"/api/v1/{name}/", {"page_size": 200})
        for record in records[resource]:
            yield f"GET {name}/id", client.get(f"/api/v1/{name}/{record.pk}/")
        if resource != "customer":
            yield f"GET {name}?customer", client.get(f"/api/v1/{name}/",
                                                      {"customer": str(person.pk)})
    for body in ({"q": "张三丰"}, {"q": "张"}, {"q": "安科"}, {"phone": "138 1234 5678"},
                 {"phone": "13987654321"}, {"phone": "15011112222"},
                 {"email": "ZhangSan@Example.com"}, {"id_number": "11010519491231002x"},
                 {"credit_code": "91350100M000100Y43"}):
        yield f"POST search {body}", client.post("/api/v1/customers/search/", body,
                                                 format="json")
    # Error answers: a missing record, a malformed id, a refused write, a bad search.
    yield "GET missing", client.get(f"/api/v1/customers/{uuid.uuid4()}/")
    yield "GET malformed", client.get("/api/v1/customers/13812345678/")
    yield "PATCH refused", client.patch(f"/api/v1/customers/{person.pk}/",
                                        {"phone": "13812345678"}, format="json",
                                        HTTP_IF_MATCH='"1"')
    yield "PATCH masked contact", client.patch(
        f"/api/v1/contacts/{records['contact'][0].pk}/", {"name": "李小龙"}, format="json",
        HTTP_IF_MATCH='"1"')
    yield "POST bad search", client.post("/api/v1/customers/search/",
                                         {"phone": "138123456789999"}, format="json")
    yield "POST ticket 400", client.post("/api/v1/tickets/", {
        "customer": str(person.pk), "subject": "", "priority": "highest"}, format="json")


def test_the_api_shows_a_service_agent_nothing_in_clear(cast, records):
    client = signed_in(cast.service)
    seen = 0
    for label, response in _api_answers(client, records):
        assert response.status_code < 500, label
        body = response.content.decode()
        assert _leaks(body) == [], label
        assert _leaks(str(dict(response.headers))) == [], label
        seen += "138****5678" in body
    # The crawl reached the data: the masked phone was in the lists, the read and the searches.
    assert seen >= 4
    person = client.get(f"/api/v1/customers/{records['customer'][0].pk}/").json()
    assert (person["name"], person["phone"], person["email"], person["id_number"]) == (
        "张*丰", "138****5678", "z***@example.com", "1101**********002X")


def _web_pages(client, records):
    person, company = records["customer"]
    for route, query in (("home", ""), ("customers:list", ""), ("sales:board", ""),
                         ("sales:tasks", "show=all&include_done=on"), ("sales:tasks", ""),
                         ("sales:orders", ""), ("service:list", ""),
                         ("service:list", "assignee="), ("audit:list", ""),
                         ("access:grants", ""), ("access:my_reviews", "")):
        yield f"GET {route}?{query}", client.get(f"{reverse(route)}?{query}")
    for query in ("张三丰", "张", "13812345678", "138 1234 5678", "zhangsan@example.com",
                  "11010519491231002X", "91350100M000100Y43", "15011112222"):
        yield f"POST customers:list {query}", client.post(reverse("customers:list"),
                                                          {"q": query})
    for customer in (person, company):
        yield "detail", client.get(reverse("customers:detail", args=[customer.pk]))
        # (The create pages the agent may open are in the test below.)
        for route in ("sales:deal_create", "sales:order_create", "customers:contact_create",
                      "customers:edit", "customers:delete", "audit:customer"):
            yield route, client.get(reverse(route, args=[customer.pk]))
    for resource, route in (("activity", "sales:activity_edit"), ("task", "sales:task_edit"),
                            ("ticket", "service:edit"), ("contact", "customers:contact_edit"),
                            ("deal", "sales:deal_edit"), ("order", "sales:order_edit"),
                            ("ticket", "service:delete")):
        for record in records[resource]:
            yield route, client.get(reverse(route, args=[record.pk]))
    # Forms posted with errors (400) show the page again.
    yield "POST ticket edit 400", client.post(
        reverse("service:edit", args=[records["ticket"][0].pk]), {"status": "nonsense"})
    # The reveal form with a reason too short: refused, nothing revealed.
    yield "POST reveal 400", client.post(reverse("customers:detail", args=[person.pk]),
                                         {"field_names": ["phone"], "reason": "x"})
    # Error pages.
    yield "404", client.get(reverse("customers:detail", args=[uuid.uuid4()]))
    yield "404 path", client.get("/customers/not-a-customer/")
    yield "400 cursor", client.post(reverse("customers:list"), {"cursor": "13812345678"})


def test_the_web_shows_a_service_agent_nothing_in_clear(cast, records):
    client = Client()
    client.force_login(cast.service)
    statuses = {}
    for label, response in _web_pages(client, records):
        assert response.status_code < 500, label
        body = response.content.decode()
        if label.startswith("POST customers:list "):
            # The search box shows back what the agent typed itself; nothing else may.
            body = body.replace(f'value="{label.removeprefix("POST customers:list ")}"', "", 1)
        assert _leaks(body) == [], (label, response.status_code)
        assert _leaks(str(dict(response.headers))) == [], label
        statuses.setdefault(label, set()).add(response.status_code)
    # The crawl reached the pages it should (not a login redirect everywhere).
    assert statuses["detail"] == {200}
    assert statuses["sales:activity_edit"] == statuses["service:edit"] == {200}
    assert statuses["customers:edit"] == statuses["audit:customer"] == {403}
    assert statuses["404"] == {404}
    body = client.get(reverse("customers:detail", args=[records["customer"][0].pk])).content
    assert "张*丰" in body.decode() and "138****5678" in body.decode()


@pytest.mark.parametrize("route", ["sales:activity_create", "sales:task_create",
                                   "service:create"])
def test_the_pages_adding_a_record_to_a_customer_show_its_name_masked(cast, records, route):
    client = Client()
    client.force_login(cast.service)
    for customer in records["customer"]:
        url = reverse(route, args=[customer.pk])
        for response in (client.get(url), client.post(url, {"kind": "nonsense"})):
            assert response.status_code in (200, 400), route
            assert _leaks(response.content.decode()) == [], (route, response.status_code)


# --- filters and ordering never widen a scope ----------------------------------------------------


@pytest.fixture
def theirs(cast):
    """sales_a's customer with one record of each kind; sales_b has one customer of its own."""
    victim = customer_of(cast.sales_a, name="受害者", phone="13811112222")
    owner = actor(cast.sales_a)
    made = {
        "customer": victim,
        "contact": create_contact(owner, victim.pk, data={"name": "联系人"}),
        "activity": log_activity(owner, victim.pk, data={"summary": "纪要"}),
        "deal": create_deal(owner, victim.pk, data={
            "title": "商机", "stage": PipelineStage.objects.get(code="qualify")}),
        "task": create_task(owner, victim.pk, data={
            "title": "回访", "due_at": timezone.now() + datetime.timedelta(days=1)}),
        "order": create_order(owner, victim.pk, data={
            "items": [{"name": "A", "quantity": 1, "unit_price": "1.00"}]}),
        "ticket": open_ticket(owner, victim.pk, data={"subject": "投诉"}),
    }
    mine = customer_of(cast.sales_b, name="自己的", phone="13833334444")
    return made, mine


WIDENING = [
    {"owner": "{a}"}, {"owner_id": "{a}"}, {"owner__in": "{a},{b}"}, {"ordering": "owner"},
    {"ordering": "-owner__username"}, {"customer": "{victim}"}, {"customer_id": "{victim}"},
    {"customer__owner": "{a}"}, {"scope": "all"}, {"all": "1"}, {"visible_to": "all"},
    {"assignee": "{a}"}, {"performed_by": "{a}"}, {"page_size": "100000"},
    {"format": "json", "owner": "{a}"},
]


@pytest.mark.parametrize("resource", list(API))
def test_filters_ordering_and_unknown_parameters_never_widen_a_scope(cast, theirs, resource):
    made, mine = theirs
    client = signed_in(cast.sales_b)
    theirs_id = str(made[resource].pk)
    for params in WIDENING:
        params = {key: value.format(a=cast.sales_a.pk, b=cast.sales_b.pk,
                                    victim=made["customer"].pk)
                  for key, value in params.items()}
        response = client.get(f"/api/v1/{API[resource]}/", params)
        assert response.status_code in (200, 400), params
        if response.status_code == 200:
            ids = {row["id"] for row in response.json()["results"]}
            assert theirs_id not in ids, params
            if resource == "customer":
                assert ids <= {str(mine.pk)}, params


def test_a_search_with_a_widening_filter_finds_nothing_of_another_owner(cast, theirs):
    made, mine = theirs
    client = signed_in(cast.sales_b)
    for params in ("", f"?owner={cast.sales_a.pk}", "?ordering=owner", "?scope=all"):
        for body in ({"phone": "13811112222"}, {"q": "受害者"}, {"q": "受"}):
            response = client.post(f"/api/v1/customers/search/{params}", body, format="json")
            assert response.status_code in (200, 400)
            if response.status_code == 200:
                assert response.json()["results"] == [], (params, body)
    assert "受害者" not in client.post("/api/v1/customers/search/", {"q": "受害者"},
                                       format="json").content.decode()


def test_web_lists_with_widening_parameters_show_only_ones_own(cast, theirs):
    made, mine = theirs
    client = Client()
    client.force_login(cast.sales_b)
    for route in ("customers:list", "sales:orders", "service:list", "sales:tasks"):
        for query in (f"owner={cast.sales_a.pk}", "show=all&include_done=on&scope=all",
                      f"customer={made['customer'].pk}", "assignee=", "ordering=owner"):
            response = client.get(f"{reverse(route)}?{query}")
            assert response.status_code in (200, 400), (route, query)
            if response.status_code == 200:
                assert "受害者" not in response.content.decode(), (route, query)


# --- mass assignment through the API is refused -------------------------------------------------

PROTECTED_FIELDS = {
    "customer": ["owner", "version", "department", "region", "phone_bidx", "email_bidx",
                 "id_number_bidx", "credit_code_bidx", "id", "created_at",
                 "last_contacted_at"],
    "contact": ["customer", "version", "phone_bidx", "email_bidx", "id"],
    "activity": ["customer", "version", "performed_by", "id"],
    "deal": ["customer", "version", "owner", "closed_at", "id"],
    "task": ["customer", "version", "assignee", "id"],
    "order": ["customer", "version", "amount", "id"],
    "ticket": ["customer", "version", "sla_due_at", "resolved_at", "id"],
}
FOREIGN_VALUES = {"owner": "{b}", "assignee": "{b}", "performed_by": "{b}",
                  "department": "{north}", "region": "{north}", "customer": "{other}",
                  "version": 99, "id": "{uuid}", "phone_bidx": "AAAAAAAAAAAA",
                  "email_bidx": "AAAAAAAAAAAA", "id_number_bidx": "AAAAAAAAAAAA",
                  "credit_code_bidx": "AAAAAAAAAAAA", "created_at": "2000-01-01T00:00:00Z",
                  "last_contacted_at": "2000-01-01T00:00:00Z",
                  "closed_at": "2000-01-01T00:00:00Z", "sla_due_at": "2000-01-01T00:00:00Z",
                  "resolved_at": "2000-01-01T00:00:00Z", "amount": "0.01"}
MINIMAL = {"customer": {"name": "新客户"}, "contact": {"name": "新联系人"},
           "activity": {"summary": "纪要"},
           "deal": {"title": "商机", "stage": "qualify"},
           "task": {"title": "任务", "due_at": "2030-01-01T09:00:00+08:00"},
           "order": {"items": [{"name": "A", "quantity": 1, "unit_price": "1.00"}]},
           "ticket": {"subject": "工单"}}
MODELS = {"customer": Customer, "contact": ContactPerson, "activity": Activity, "deal": Deal,
          "task": Task, "order": Order, "ticket": Ticket}


def _value(name, cast, other):
    value = FOREIGN_VALUES[name]
    if isinstance(value, str):
        value = value.format(b=cast.sales_b.pk, north=cast.north.pk, other=other.pk,
                             uuid=uuid.uuid4())
    return value


@pytest.mark.parametrize("resource", list(API))
def test_mass_assignment_is_refused_on_create_and_update(cast, theirs, resource):
    made, _mine = theirs
    other = customer_of(cast.sales_a, name="另一个")
    client = signed_in(cast.sales_a)
    record = made[resource]
    model = MODELS[resource]
    before_count = model.objects.count()
    before = model.objects.filter(pk=record.pk).values().get()
    for name in PROTECTED_FIELDS[resource]:
        value = _value(name, cast, other)
        body = dict(MINIMAL[resource])
        if resource != "customer":
            body["customer"] = str(made["customer"].pk)
        if name != "customer":
            body[name] = value
            response = client.post(f"/api/v1/{API[resource]}/", body, format="json")
            assert response.status_code == 400, (name, response.content)
            assert name in response.json()["error"]["fields"], name
        response = client.patch(f"/api/v1/{API[resource]}/{record.pk}/", {name: value},
                                format="json", HTTP_IF_MATCH=f'"{record.version}"')
        assert response.status_code == 400, (name, response.content)
        assert response.json()["error"]["fields"][name] in (
            ["This field is read-only."], ["Unknown field."]), name
    assert model.objects.count() == before_count
    assert model.objects.filter(pk=record.pk).values().get() == before
    assert not AuditEvent.objects.filter(action=f"{resource}.update").exists()
