"""The authorization matrix: role × ownership × action × field → expected outcome, over every
customer-data model and endpoint, web and API (STYLE.md "Tests", SECURITY.md §5).

The expectations are data written from the issue text and DESIGN.md §5 "Access", never computed
by the production policy code:

- sales rep: own customers, clear, no export; sales manager: the department, clear;
- service agent: every customer, customer and contact fields masked, the activity and ticket text
  clear; reads everything, logs activities, works tasks and tickets, deletes nothing;
- manager: every customer, clear; administrator and auditor: no customer data;
- an inactive user: nothing at all;
- a temporary grant: what it lists, with its field access;
- a custom role (contractor): its region, the fields its policy names, everything else hidden.

Each persona's test builds one small world through the real actions (four customers, one record
of each kind on each), then walks every action on every record and collects every mismatch, so
a failure names all the cells that are wrong at once. A meta-test fails when a model or route
holding customer data has no row here.
"""

import datetime
import re
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.cache import cache
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from anke.access.actions import create_role
from anke.access.grants import grant_access
from anke.access.querysets import ScopedQuerySet
from anke.accounts.actions import create_user
from anke.audit.models import AuditEvent
from anke.customers.actions import create_contact, create_customer
from anke.customers.models import ContactPerson, Customer
from anke.sales.actions import create_deal, create_order, create_task, log_activity
from anke.sales.models import Activity, Deal, Order, PipelineStage, Task
from anke.service.actions import open_ticket
from anke.service.models import Ticket
from tests.api.conftest import signed_in
from tests.helpers import read_back
from tests.personas import OPERATOR, PASSWORD, actor

# --- what each role may do, from the issue text -----------------------------------------------

RESOURCES = ("customer", "contact", "activity", "deal", "task", "order", "ticket")
CHILDREN = RESOURCES[1:]
EVERYTHING = frozenset(RESOURCES)
CRUD = frozenset({"create", "edit", "delete"})


@dataclass(frozen=True)
class Expectation:
    """What a role reaches (``scope``), which resources it reads, what it may change, and how
    it sees classified fields (``clear``, ``masked`` or ``hidden``; per ``model.field``
    overrides)."""

    scope: str  # own | department | region | all | none
    reads: frozenset = frozenset()
    writes: dict = field(default_factory=dict)  # resource → {"create", "edit", "delete"}
    fields: str = "hidden"
    field_overrides: dict = field(default_factory=dict)

    def level(self, key: str) -> str:
        return self.field_overrides.get(key, self.fields)


SALES_WORK = {resource: CRUD for resource in RESOURCES}
ROLES = {
    "sales_rep": Expectation("own", EVERYTHING, SALES_WORK, "clear"),
    "sales_manager": Expectation("department", EVERYTHING, SALES_WORK, "clear"),
    "service_agent": Expectation(
        "all", EVERYTHING,
        {"activity": {"create", "edit"}, "task": {"create", "edit"},
         "ticket": {"create", "edit"}},
        "masked", {"activity.summary": "clear", "ticket.description": "clear"}),
    "manager": Expectation("all", EVERYTHING, SALES_WORK, "clear"),
    "administrator": Expectation("none"),
    "auditor": Expectation("none"),
    # A role an administrator made: its own region, customers, contacts and tickets read-only,
    # the customer's name in clear, the phone masked, every other classified field hidden.
    "contractor": Expectation("region", frozenset({"customer", "contact", "ticket"}), {},
                              "hidden", {"customer.name": "clear", "customer.phone": "masked"}),
}
# The temporary grant sales_b holds on customer "g": read everything of it, masked.
GRANT = Expectation("listed", EVERYTHING, {}, "masked")

PERSONAS = ("sales_a", "sales_b", "sales_manager", "service", "manager", "auditor", "admin",
            "contractor", "departed")
ROLE_OF = {"sales_a": "sales_rep", "sales_b": "sales_rep", "sales_manager": "sales_manager",
           "service": "service_agent", "manager": "manager", "auditor": "auditor",
           "admin": "administrator", "contractor": "contractor", "departed": None}

# --- where each customer sits relative to each persona (the ownership dimension) ---------------

CUSTOMERS = ("a", "m", "b", "g")
OWNER = {"a": "sales_a", "m": "sales_manager", "b": "sales_b", "g": "sales_a"}
# sales_a and sales_manager work in 华东组 (east), sales_b in its sibling 华北组 (north); the
# service agent, manager, auditor and administrator sit at 总部 (hq), above both.
DEPARTMENT = {"sales_a": "east", "sales_manager": "east", "sales_b": "north", "service": "hq",
              "manager": "hq", "auditor": "hq", "admin": "hq", "contractor": None,
              "departed": "east"}
SUBTREE = {"east": {"east"}, "north": {"north"}, "hq": {"hq", "sales", "east", "north"},
           None: set()}
REGION = {"sales_a": "east", "sales_manager": "east", "sales_b": "north", "contractor": "east"}
GRANTED = {("sales_b", "g")}


def relation(persona: str, key: str) -> str:
    """The ownership column of the matrix, for messages."""
    if (persona, key) in GRANTED:
        return "grant"
    if OWNER[key] == persona:
        return "own"
    if DEPARTMENT[OWNER[key]] == DEPARTMENT[persona]:
        return "same department"
    return "other department"


def sources(persona: str, key: str) -> list[Expectation]:
    """The expectations (role, grant) that reach customer ``key`` for ``persona``."""
    role = ROLE_OF[persona]
    if role is None:
        return []  # inactive: nothing at all
    expectation = ROLES[role]
    owner = OWNER[key]
    reached = {
        "own": owner == persona,
        "department": DEPARTMENT[owner] in SUBTREE[DEPARTMENT[persona]],
        "region": REGION.get(persona) is not None and REGION.get(owner) == REGION[persona],
        "all": True,
        "none": False,
    }[expectation.scope]
    found = [expectation] if reached else []
    if (persona, key) in GRANTED:
        found.append(GRANT)
    return found


def reads(persona: str, key: str, resource: str) -> bool:
    return any(resource in source.reads for source in sources(persona, key))


def may(persona: str, key: str, resource: str, action: str) -> bool:
    return any(action in source.writes.get(resource, ()) for source in sources(persona, key))


LEVELS = ("hidden", "masked", "clear")


def field_level(persona: str, key: str, resource: str, name: str) -> str:
    """The strongest level among the sources that read ``resource`` on that customer."""
    levels = [source.level(f"{resource}.{name}") for source in sources(persona, key)
              if resource in source.reads]
    return max(levels, key=LEVELS.index, default="hidden")


def creates_customers(persona: str) -> bool:
    role = ROLE_OF[persona]
    return role is not None and "create" in ROLES[role].writes.get("customer", ())


def expected_status(persona: str, key: str, resource: str, action: str, ok: int) -> int:
    """``ok`` when permitted; 403 when the record is visible but the action is not; 404 when
    the record is not visible (missing and not-yours are the same answer)."""
    if ROLE_OF[persona] is None:
        return INACTIVE_API
    if action == "create":  # a new record under customer ``key``: its customer must be visible
        if not reads(persona, key, "customer"):
            return 404
    elif not reads(persona, key, resource):
        return 404
    if action == "view":
        return ok
    return ok if may(persona, key, resource, action) else 403


# An inactive user's session no longer authenticates: the API asks for credentials.
INACTIVE_API = 401

# --- the world: four customers and one record of each kind on each ----------------------------

# The clear values (as the API answers them) and their masked forms, written out by hand.
CUSTOMER_DATA = {
    "a": {"name": ("张三丰", "张*丰"), "phone": ("+8613811110001", "138****0001"),
          "email": ("alice@example.com", "a***@example.com"),
          "id_number": ("110101199003070011", "1101**********0011")},
    "m": {"name": ("李四光", "李*光"), "phone": ("+8613811110002", "138****0002"),
          "email": ("mark@example.com", "m***@example.com"),
          "id_number": ("11010119900307002X", "1101**********002X")},
    "b": {"name": ("王五星", "王*星"), "phone": ("+8613811110003", "138****0003"),
          "email": ("bob@example.com", "b***@example.com"),
          "id_number": ("110101199003070038", "1101**********0038")},
    "g": {"name": ("赵六合", "赵*合"), "phone": ("+8613811110004", "138****0004"),
          "email": ("gina@example.com", "g***@example.com"),
          "id_number": ("110101199003070046", "1101**********0046")},
}
for _i, _key in enumerate(CUSTOMERS, start=1):
    CUSTOMER_DATA[_key].update({
        "street": (f"朝阳路{_i}号", "***"), "birthday": (f"1990-03-0{_i}", "****-**-**"),
        "notes": (f"客户备注第{_i}条", "***"), "preferences": (f"喜欢第{_i}种茶", "***")})
CHILD_DATA = {
    key: {
        "contact": {"name": (f"钱{i}七", "钱*七"), "phone": (f"+861391111000{i}",
                                                             f"139****000{i}"),
                    "email": (f"c{i}@example.com", "c***@example.com"),
                    "notes": (f"联系人备注第{i}条", "***")},
        "activity": {"summary": (f"电话纪要第{i}条", "***")},
        "ticket": {"description": (f"工单描述第{i}条", "***")},
    }
    for i, key in enumerate(CUSTOMERS, start=1)
}
CLASSIFIED = {"customer": list(CUSTOMER_DATA["a"]), "contact": ["name", "phone", "email", "notes"],
              "activity": ["summary"], "ticket": ["description"]}

MODELS = {"customer": Customer, "contact": ContactPerson, "activity": Activity, "deal": Deal,
          "task": Task, "order": Order, "ticket": Ticket}
API = {"customer": "customers", "contact": "contacts", "activity": "activities",
       "deal": "deals", "task": "tasks", "order": "orders", "ticket": "tickets"}


def _clear(values: dict) -> dict:
    data = {name: clear for name, (clear, _masked) in values.items()}
    if "birthday" in data:
        data["birthday"] = datetime.date.fromisoformat(data["birthday"])
    return data


@dataclass
class World:
    users: dict
    customers: dict  # key → Customer
    records: dict  # (key, resource) → record (the customer itself for "customer")

    def pk(self, key, resource):
        return self.records[key, resource].pk


def personas_of(cast) -> dict:
    """The cast by persona name, with a contractor holding a custom role made by the
    administrator."""
    create_role(actor(cast.admin), code="contractor", name="Contractor",
                permissions=["customer.view", "contact.view", "ticket.view"],
                scopes={"customer": "region", "contact": "region", "ticket": "region"},
                field_policies={"customer.name": "read", "customer.phone": "masked"})
    users = {name: getattr(cast, name) for name in PERSONAS if name != "contractor"}
    users["contractor"] = create_user(OPERATOR, username="contractor", password=PASSWORD,
                                      roles=["contractor"], region=cast.sales_a.region)
    return users


def build_world(cast) -> World:
    """The cast, a contractor with a custom region role, four customers (sales_a's "a" and
    "g", sales_manager's "m", sales_b's "b"), one record of each kind on each, made by the
    customer's owner through the domain actions, and a grant to sales_b on "g"."""
    users = personas_of(cast)
    qualify = PipelineStage.objects.get(code="qualify")
    customers, records = {}, {}
    for key in CUSTOMERS:
        owner = actor(users[OWNER[key]])
        customer = create_customer(owner, data=_clear(CUSTOMER_DATA[key]))
        customers[key] = customer
        children = CHILD_DATA[key]
        records[key, "customer"] = customer
        records[key, "contact"] = create_contact(owner, customer.pk,
                                                 data=_clear(children["contact"]))
        records[key, "activity"] = log_activity(owner, customer.pk,
                                                data=_clear(children["activity"]))
        records[key, "deal"] = create_deal(owner, customer.pk, data={
            "title": f"商机{key}", "stage": qualify, "amount": Decimal("100")})
        records[key, "task"] = create_task(owner, customer.pk, data={
            "title": f"回访{key}", "due_at": timezone.now() + datetime.timedelta(days=1)})
        records[key, "order"] = create_order(owner, customer.pk, data={
            "items": [{"name": "A", "quantity": 1, "unit_price": "10.00"}]})
        records[key, "ticket"] = open_ticket(owner, customer.pk, data={
            "subject": f"工单{key}", **_clear(children["ticket"])})
    grant_access(actor(cast.sales_manager), user_id=cast.sales_b.pk,
                 permissions=[f"{resource}.view" for resource in RESOURCES],
                 customer_ids=[customers["g"].pk], field_access="masked",
                 reason="sales_a is on leave", expires_at=timezone.now()
                 + datetime.timedelta(days=1))
    return World(users, customers, records)


@pytest.fixture
def world(cast):
    return build_world(cast)


def expected_value(persona: str, key: str, resource: str, name: str):
    values = (CUSTOMER_DATA[key] if resource == "customer" else CHILD_DATA[key][resource])
    clear, masked = values[name]
    return {"clear": clear, "masked": masked, "hidden": None}[
        field_level(persona, key, resource, name)]


def version_of(record) -> int:
    return type(record).objects.filter(pk=record.pk).values_list("version", flat=True).get()


class Mismatches(list):
    def check(self, got, want, *where):
        if got != want:
            self.append(f"{' · '.join(map(str, where))}: expected {want!r}, got {got!r}")

    def assert_none(self):
        assert not self, f"{len(self)} matrix cells differ:\n  " + "\n  ".join(self)


# --- API: list, retrieve and the fields of each answer ----------------------------------------


@pytest.mark.parametrize("persona", PERSONAS)
def test_api_reads(world, persona):
    """List (is the record included?), retrieve (200 or 404), each classified field in clear,
    masked or null, and the exact search and the reveal."""
    client = signed_in(world.users[persona])
    wrong = Mismatches()
    for resource in RESOURCES:
        response = client.get(f"/api/v1/{API[resource]}/", {"page_size": 200})
        if ROLE_OF[persona] is None:
            wrong.check(response.status_code, INACTIVE_API, persona, resource, "list")
            continue
        ids = {row["id"] for row in response.json()["results"]}
        for key in CUSTOMERS:
            wrong.check(str(world.pk(key, resource)) in ids, reads(persona, key, resource),
                        persona, resource, relation(persona, key), "listed")
        for row in response.json()["results"]:
            key = next((k for k in CUSTOMERS if str(world.pk(k, resource)) == row["id"]), None)
            for name in CLASSIFIED.get(resource, ()) if key else ():
                wrong.check(row[name], expected_value(persona, key, resource, name),
                            persona, resource, relation(persona, key), "list", name)
    for key in CUSTOMERS:
        for resource in RESOURCES:
            response = client.get(f"/api/v1/{API[resource]}/{world.pk(key, resource)}/")
            want = expected_status(persona, key, resource, "view", 200)
            wrong.check(response.status_code, want, persona, resource, relation(persona, key),
                        "retrieve")
            if response.status_code != 200:
                continue
            body = response.json()
            for name in CLASSIFIED.get(resource, ()):
                level = field_level(persona, key, resource, name)
                wrong.check(body[name], expected_value(persona, key, resource, name),
                            persona, resource, relation(persona, key), name)
                wrong.check(body["restricted_fields"].get(name),
                            None if level == "clear" else level,
                            persona, resource, relation(persona, key), name, "restricted")
    _search_and_reveal(world, persona, client, wrong)
    wrong.assert_none()


def test_inactive_api_answer_is_a_request_for_credentials(world):
    response = signed_in(world.users["departed"]).get("/api/v1/customers/")
    assert response.status_code == INACTIVE_API
    assert response.json()["error"]["code"] == "not_authenticated"


def _search_and_reveal(world, persona, client, wrong) -> None:
    """An exact search finds a customer only inside the persona's scope (and never by a field it
    may not see); a reveal needs the right and a customer in scope."""
    for key in CUSTOMERS:
        phone = CUSTOMER_DATA[key]["phone"][0]
        response = client.post("/api/v1/customers/search/", {"phone": phone}, format="json")
        if ROLE_OF[persona] is None:
            wrong.check(response.status_code, INACTIVE_API, persona, key, "search")
        else:
            found = {row["id"] for row in response.json()["results"]}
            wrong.check(str(world.customers[key].pk) in found,
                        field_level(persona, key, "customer", "phone") != "hidden",
                        persona, relation(persona, key), "search by phone")
        response = client.post(f"/api/v1/customers/{world.customers[key].pk}/reveal/",
                               {"field_names": ["phone"], "reason": "the customer called back"},
                               format="json")
        # Only the service agent holds customer.reveal; the right is checked before the record.
        reveals = persona == "service"
        want = (INACTIVE_API if ROLE_OF[persona] is None
                else (200 if reads(persona, key, "customer") else 404) if reveals else 403)
        wrong.check(response.status_code, want, persona, relation(persona, key), "reveal")
        if response.status_code == 200:
            wrong.check(response.json(), {"phone": CUSTOMER_DATA[key]["phone"][0]},
                        persona, relation(persona, key), "revealed")


# --- API: create, update, delete ---------------------------------------------------------------

CREATE_BODIES = {
    "contact": {"name": "新联系人"},
    "activity": {"summary": "新纪要"},
    "deal": {"title": "新商机", "stage": "qualify", "amount": "1.00"},
    "task": {"title": "新任务", "due_at": "2030-01-02T09:00:00+08:00"},
    "order": {"items": [{"name": "B", "quantity": 1, "unit_price": "1.00"}]},
    "ticket": {"subject": "新工单"},
}
# Each change touches a field that is not classified, so only the record scope decides.
UPDATE_BODIES = {
    "customer": {"company": "安科"}, "contact": {"title": "采购"}, "activity": {"kind": "visit"},
    "deal": {"title": "改名"}, "task": {"title": "改期"}, "order": {"status": "paid"},
    "ticket": {"subject": "改题"},
}


@pytest.mark.parametrize("persona", PERSONAS)
def test_api_writes(world, persona):
    client = signed_in(world.users[persona])
    wrong = Mismatches()
    inactive = ROLE_OF[persona] is None
    if inactive:
        cache.clear()  # the anonymous rate (60/min) would answer 429 before the walk ends
    response = client.post("/api/v1/customers/", {"name": "新客户"}, format="json")
    wrong.check(response.status_code, INACTIVE_API if inactive else (
        201 if creates_customers(persona) else 403), persona, "customer", "create")
    for key in CUSTOMERS:
        for resource in CHILDREN:
            response = client.post(f"/api/v1/{API[resource]}/", {
                "customer": str(world.customers[key].pk), **CREATE_BODIES[resource]},
                format="json")
            wrong.check(response.status_code,
                        expected_status(persona, key, resource, "create", 201),
                        persona, resource, relation(persona, key), "create")
    for key in CUSTOMERS:
        for resource in RESOURCES:
            record = world.records[key, resource]
            response = client.patch(f"/api/v1/{API[resource]}/{record.pk}/",
                                    UPDATE_BODIES[resource], format="json",
                                    HTTP_IF_MATCH=f'"{version_of(record)}"')
            wrong.check(response.status_code,
                        expected_status(persona, key, resource, "edit", 200),
                        persona, resource, relation(persona, key), "update")
    for key in CUSTOMERS:
        for resource in (*CHILDREN, "customer"):  # the customer last: it takes its records along
            record = world.records[key, resource]
            response = client.delete(f"/api/v1/{API[resource]}/{record.pk}/")
            want = expected_status(persona, key, resource, "delete", 204)
            wrong.check(response.status_code, want, persona, resource, relation(persona, key),
                        "delete")
            wrong.check(type(record).objects.filter(pk=record.pk).exists(), want != 204,
                        persona, resource, relation(persona, key), "still there")
    wrong.assert_none()


def test_service_agent_edits_the_text_it_writes(world):
    """The field dimension of writes: the activity and ticket text the agent sees in clear it
    may change."""
    client = signed_in(world.users["service"])
    for resource, body in (("activity", {"summary": "客服回访"}),
                           ("ticket", {"description": "已回电"})):
        record = world.records["a", resource]
        response = client.patch(f"/api/v1/{API[resource]}/{record.pk}/", body, format="json",
                                HTTP_IF_MATCH=f'"{version_of(record)}"')
        assert response.status_code == 200, (resource, response.content)
        assert response.json()[next(iter(body))] == next(iter(body.values()))


def test_a_field_seen_masked_is_not_writable_even_with_the_edit_right(cast):
    """A desk role may edit customers but sees the phone masked: changing the company works,
    changing the phone is refused (403, audited), and the phone stays."""
    create_role(actor(cast.admin), code="desk", name="Desk",
                permissions=["customer.view", "customer.edit"], scopes={"customer": "all"},
                field_policies={"customer.name": "edit", "customer.phone": "masked"})
    desk = create_user(OPERATOR, username="desk", password=PASSWORD, roles=["desk"])
    customer = create_customer(actor(cast.sales_a), data={"name": "张三", "phone": "13812345678"})
    client = signed_in(desk)
    response = client.patch(f"/api/v1/customers/{customer.pk}/", {"phone": "13900000000"},
                            format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    denied = AuditEvent.objects.get(action="customer.update", outcome="denied")
    assert (denied.reason, denied.fields) == ("field_not_editable", ["phone"])
    response = client.patch(f"/api/v1/customers/{customer.pk}/", {"company": "安科"},
                            format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 200
    assert response.json()["phone"] == "138****5678"
    stored = read_back(Customer, customer.pk)
    assert (stored.phone, stored.company) == ("+8613812345678", "安科")


# --- web pages ---------------------------------------------------------------------------------

WEB_CREATE = {"contact": "customers:contact_create", "activity": "sales:activity_create",
              "deal": "sales:deal_create", "task": "sales:task_create",
              "order": "sales:order_create", "ticket": "service:create"}
WEB_EDIT = {"customer": "customers:edit", "contact": "customers:contact_edit",
            "activity": "sales:activity_edit", "deal": "sales:deal_edit",
            "task": "sales:task_edit", "order": "sales:order_edit", "ticket": "service:edit"}
WEB_DELETE = {"customer": "customers:delete", "contact": "customers:contact_delete",
              "activity": "sales:activity_delete", "deal": "sales:deal_delete",
              "task": "sales:task_delete", "order": "sales:order_delete",
              "ticket": "service:delete"}
# State changes posted from list pages: (route, resource, action).
WEB_POSTS = {"sales:deal_move": ("deal", "edit"), "sales:task_done": ("task", "edit")}
# Lists: route, query, the context entry holding the rows, the resource listed.
WEB_LISTS = {
    "customers:list": ("", "customers", "customer"),
    "sales:board": ("", "columns", "deal"),
    "sales:tasks": ("show=all&include_done=on", "rows", "task"),
    "sales:orders": ("", "orders", "order"),
    "service:list": ("assignee=", "rows", "ticket"),
}


def _listed_ids(context, entry: str) -> set:
    rows = context[entry]
    if entry == "columns":
        return {deal.pk for column in rows for deal in column["deals"]}
    return {(row[0] if isinstance(row, tuple) else row).pk for row in rows}


def web_status(persona: str, key: str, resource: str, action: str, ok: int) -> int:
    """As ``expected_status``, but an inactive user's browser is sent to the login page."""
    if ROLE_OF[persona] is None:
        return 302
    return expected_status(persona, key, resource, action, ok)


def _url(route: str, pk) -> str:
    return reverse(route, args=[pk])


@pytest.mark.parametrize("persona", PERSONAS)
def test_web_pages(world, persona):
    client = Client()
    client.force_login(world.users[persona])
    wrong = Mismatches()
    inactive = ROLE_OF[persona] is None
    response = client.post(_list_url("customers:create"), {
        "kind": "individual", "name": "新客户", "stage": "lead", "source": "other"})
    wrong.check(response.status_code, 302 if inactive or creates_customers(persona) else 403,
                persona, "customers:create")
    wrong.check(Customer.objects.filter(name="新客户").exists(), creates_customers(persona),
                persona, "customers:create", "created")
    for route, (query, entry, resource) in WEB_LISTS.items():
        response = client.get(f"{_list_url(route)}?{query}")
        if inactive:
            wrong.check(response.status_code, 302, persona, route)
            continue
        wrong.check(response.status_code, 200, persona, route)
        listed = _listed_ids(response.context, entry)
        for key in CUSTOMERS:
            wrong.check(world.pk(key, resource) in listed, reads(persona, key, resource),
                        persona, route, relation(persona, key), "listed")
    response = client.get(_list_url("home"))
    wrong.check(response.status_code, 302 if inactive else 200, persona, "home")
    for key in CUSTOMERS:
        customer = world.customers[key]
        where = (persona, relation(persona, key))
        response = client.get(_url("customers:detail", customer.pk))
        wrong.check(response.status_code, web_status(persona, key, "customer", "view", 200),
                    *where, "customers:detail")
        if response.status_code == 200:
            body = response.content.decode()
            name_clear, name_masked = CUSTOMER_DATA[key]["name"]
            shown = {"clear": name_clear, "masked": name_masked, "hidden": None}[
                field_level(persona, key, "customer", "name")]
            wrong.check(name_clear in body, shown == name_clear, *where, "clear name shown")
            if shown == name_masked:
                wrong.check(name_masked in body, True, *where, "masked name shown")
            contacts = {c.pk for c in response.context["contacts"]}
            wrong.check(world.pk(key, "contact") in contacts, reads(persona, key, "contact"),
                        *where, "contacts on the page")
            timeline = {item["obj"].pk for item in response.context["timeline"]}
            for resource in ("activity", "deal", "order", "ticket"):
                wrong.check(world.pk(key, resource) in timeline, reads(persona, key, resource),
                            *where, resource, "on the timeline")
        response = client.get(_url("audit:customer", customer.pk))
        wrong.check(response.status_code, 302 if inactive else (
            200 if persona == "auditor" else 403), *where, "audit:customer")
        for resource, route in WEB_CREATE.items():
            wrong.check(client.get(_url(route, customer.pk)).status_code,
                        web_status(persona, key, resource, "create", 200), *where, route)
        for resource, route in WEB_EDIT.items():
            wrong.check(client.get(_url(route, world.pk(key, resource))).status_code,
                        web_status(persona, key, resource, "edit", 200), *where, route)
        for resource, route in WEB_DELETE.items():
            wrong.check(client.get(_url(route, world.pk(key, resource))).status_code,
                        web_status(persona, key, resource, "delete", 200), *where, route)
        for route, (resource, action) in WEB_POSTS.items():
            record = world.records[key, resource]
            data = {"version": version_of(record)}
            if route == "sales:deal_move":
                data["stage"] = PipelineStage.objects.get(code="proposal").pk
            wrong.check(client.post(_url(route, record.pk), data).status_code,
                        web_status(persona, key, resource, action, 302), *where, route)
    for key in CUSTOMERS:
        for resource in (*CHILDREN, "customer"):
            record = world.records[key, resource]
            response = client.post(_url(WEB_DELETE[resource], record.pk),
                                   {"version": version_of(record)}
                                   if type(record).objects.filter(pk=record.pk).exists() else {})
            want = web_status(persona, key, resource, "delete", 302)
            wrong.check(response.status_code, want, persona, relation(persona, key),
                        WEB_DELETE[resource], "POST")
            deleted = not inactive and want == 302  # else the 302 leads to the login page
            wrong.check(type(record).objects.filter(pk=record.pk).exists(), not deleted,
                        persona, resource, relation(persona, key), "still there")
    wrong.assert_none()


def _list_url(route: str) -> str:
    return reverse(route)


# --- administration endpoints: roles, users, grants, reviews, tokens ------------------------

# GET of each list, per persona: every shipped role holds user.view (people must find their
# colleagues), so roles and users are readable by every active user of a shipped role (the
# contractor's custom role does not hold it); reviews are for those who
# manage users; grants and tokens lists show each user their own (approvers: all grants).
ADMIN_API = {
    "/api/v1/roles/": {"contractor": 403, "*": 200},
    "/api/v1/users/": {"contractor": 403, "*": 200},
    "/api/v1/grants/": {"*": 200},
    "/api/v1/tokens/": {"*": 200},
    "/api/v1/pipeline-stages/": {"*": 200},
    "/api/v1/reviews/": {"admin": 200, "*": 403},
    "/api/v1/review-items/": {"*": 200},
}
ADMIN_WEB = {
    "/roles/": {"contractor": 403, "*": 200},
    "/users/": {"contractor": 403, "*": 200},
    "/access/grants/": {"*": 200},
    "/access/reviews/": {"admin": 200, "*": 403},
    "/access/reviews/mine/": {"*": 200},
    "/audit/": {"auditor": 200, "*": 403},
    "/tokens/": {"*": 200},
}
# Changing roles and users: the administrator alone.
ADMIN_WRITES = {
    "/api/v1/roles/": {"code": "x", "name": "x", "permissions": []},
    "/api/v1/reviews/": {"name": "x", "due_at": "2030-01-01T00:00:00Z"},
}


def _admin_expect(table: dict, persona: str) -> int:
    return table.get(persona, table["*"])


@pytest.mark.parametrize("persona", PERSONAS)
def test_administration_endpoints(cast, persona):
    user = personas_of(cast)[persona]
    api, web = signed_in(user), Client()
    web.force_login(user)
    wrong = Mismatches()
    inactive = ROLE_OF[persona] is None
    for url, table in ADMIN_API.items():
        wrong.check(api.get(url).status_code,
                    INACTIVE_API if inactive else _admin_expect(table, persona), persona, url)
    for url, table in ADMIN_WEB.items():
        wrong.check(web.get(url).status_code, 302 if inactive else _admin_expect(table, persona),
                    persona, url)
    for url, body in ADMIN_WRITES.items():
        got = api.post(url, body, format="json").status_code
        if inactive:
            wrong.check(got, INACTIVE_API, persona, url, "POST")
        elif persona == "admin":
            wrong.check(got in (201, 400), True, persona, url, "POST")
        else:
            wrong.check(got, 403, persona, url, "POST")
    wrong.assert_none()


# --- the meta-test: nothing holding customer data escapes the matrix ---------------------------

COVERED_MODELS = set(MODELS.values())
COVERED_API = {f"api:{name}-{kind}" for name in RESOURCES for kind in ("list", "detail")} | {
    "api:customer-search", "api:customer-reveal"} | {
    f"api:{name}-list" for name in ("role", "user", "grant", "token", "pipelinestage", "review",
                                    "reviewitem")}
COVERED_WEB = ({"customers:detail", "audit:customer"} | set(WEB_CREATE.values())
               | set(WEB_EDIT.values()) | set(WEB_DELETE.values()) | set(WEB_POSTS))
# API routes that hold no customer data, or act on one record of the administration endpoints
# whose lists are in the matrix (their own tests cover the details).
API_ALLOWLIST = {
    "api:schema",  # the OpenAPI document: endpoints and field names, no records
    "api:docs",  # the same, as HTML
    "api:api-root",  # links to the lists
    None,  # the catch-all 404 for unknown API paths
    "api:role-detail",  # a role: permissions, scopes, field policies (tests/api/test_roles.py)
    "api:user-detail", "api:user-deactivate", "api:user-reactivate",  # tests/api/test_users_admin
    "api:token-detail",  # one's own token (tests/api/test_accounts.py)
    "api:pipelinestage-detail",  # reference data
    # Grants name customers by id only; tests/api/test_grants_api.py covers who may see them.
    "api:grant-detail", "api:grant-revoke", "api:grant-break-glass",
    "api:review-detail", "api:review-close", "api:reviewitem-detail", "api:reviewitem-decide",
}


def _routes(patterns, prefix="", namespace=None):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern),
                               pattern.namespace or namespace)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield prefix + str(pattern.pattern), name


def test_every_scoped_model_and_customer_route_has_a_matrix_entry():
    scoped = {model for model in apps.get_models()
              if not model._meta.abstract
              and isinstance(model._default_manager.get_queryset(), ScopedQuerySet)}
    assert scoped - COVERED_MODELS == set(), "models with visible_to but no matrix row"
    routes = list(_routes(get_resolver().url_patterns))
    api = {name for route, name in routes if route.startswith("api/v1/")}
    assert api - COVERED_API - API_ALLOWLIST == set(), "API routes with no matrix row"
    # A web route takes a customer record when its path holds a UUID (customers, their contacts,
    # deals, activities, tasks, orders and tickets have UUID keys; users, roles, grants, reviews
    # and tokens have integer keys).
    record_routes = {name for route, name in routes
                     if not route.startswith("api/") and re.search(r"<uuid:", route)}
    assert record_routes - COVERED_WEB == set(), "web routes on a customer record with no row"
    assert record_routes >= COVERED_WEB, "matrix rows for routes that no longer exist"
