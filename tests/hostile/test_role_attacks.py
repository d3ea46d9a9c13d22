"""Attacks on role administration that must fail: changing roles without ``role.manage`` (web,
API, token), smuggling permissions, resources, fields or levels the catalogue does not know,
locking everyone out, script in a role name. And proof that a role change really changes what
its users see: the refusal is exact, audited as denied, and nothing changed."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from anke.access.actions import role_state, state_tag
from anke.access.models import Role
from anke.audit.models import AuditEvent
from tests.api.conftest import signed_in, with_token
from tests.personas import PASSWORD, customer_of

API = "/api/v1/roles/"


def shipped(code: str) -> Role:
    return Role.objects.get(code=code)


def all_roles() -> dict:
    return {role.code: role_state(role) for role in Role.objects.all()}


def if_match(role) -> dict:
    return {"HTTP_IF_MATCH": f'"{state_tag(role)}"'}


ESCALATION = {"permissions": ["role.manage", "user.manage", "customer.export"],
              "scopes": {"customer": "all"}, "field_policies": {"customer.id_number": "edit"}}


# --- no role.manage: every road is closed -----------------------------------------------------


def _api_attempts(role):
    return [
        ("post", API, {"code": "mine", "name": "mine", **ESCALATION}, {}, "role.create"),
        ("patch", f"{API}{role.pk}/", ESCALATION, if_match(role), "role.update"),
        ("put", f"{API}{role.pk}/", {"name": "x", **ESCALATION}, if_match(role), "role.update"),
        ("delete", f"{API}{role.pk}/", None, {}, "role.delete"),
    ]


@pytest.mark.parametrize("who", ["sales_a", "sales_manager", "manager", "service", "auditor"])
def test_the_api_refuses_role_changes_without_role_manage(cast, who):
    user = getattr(cast, who)
    role = user.roles.first()  # their own role: the tempting one
    before = all_roles()
    client = signed_in(user)
    for method, url, body, headers, event in _api_attempts(role):
        response = getattr(client, method)(url, body, format="json", **headers)
        assert response.status_code == 403, (method, response.content)
        assert response.json() == {"error": {
            "code": "permission_denied", "message": "You do not have permission to do this."}}
        denied = AuditEvent.objects.filter(action=event, actor=user).latest("id")
        assert denied.outcome == "denied" and denied.reason == "not_permitted"
    assert all_roles() == before
    assert not AuditEvent.objects.filter(action__startswith="role.", outcome="allowed").exists()


def test_the_refusal_comes_before_the_input_is_read(cast):
    """Even a malformed body is refused as forbidden, not validated for someone who may not
    change roles (no hint at what a valid body would be)."""
    role = shipped("sales_rep")
    client = signed_in(cast.sales_a)
    assert client.post(API, {"junk": 1}, format="json").status_code == 403
    assert client.patch(f"{API}{role.pk}/", {"junk": 1}, format="json").status_code == 403
    assert AuditEvent.objects.filter(outcome="denied", action__startswith="role.").count() == 2


def test_a_token_of_a_non_manager_is_refused_too(cast):
    client, _token = with_token(cast.manager)
    response = client.post(API, {"code": "mine", "name": "mine", **ESCALATION}, format="json")
    assert response.status_code == 403
    assert AuditEvent.objects.get(action="role.create").auth_method == "token"
    assert not Role.objects.filter(code="mine").exists()


@pytest.mark.parametrize("who", ["sales_a", "sales_manager", "manager"])
def test_the_web_pages_refuse_role_changes_without_role_manage(client, cast, who):
    user = getattr(cast, who)
    role = user.roles.first()
    client.force_login(user)
    before = all_roles()
    attempts = [
        ("get", reverse("roles:create"), {}, "role.create"),
        ("post", reverse("roles:create"), {"code": "mine", "name": "mine",
                                           "permissions_role": ["role.manage"]}, "role.create"),
        ("get", reverse("roles:edit", args=[role.pk]), {}, "role.update"),
        ("post", reverse("roles:edit", args=[role.pk]),
         {"permissions_role": ["role.manage"], "scope_customer": "all"}, "role.update"),
        ("get", reverse("roles:delete", args=[role.pk]), {}, "role.delete"),
        ("post", reverse("roles:delete", args=[role.pk]), {}, "role.delete"),
    ]
    for method, url, data, event in attempts:
        response = getattr(client, method)(url, data)
        assert response.status_code == 403, url
        assert AuditEvent.objects.filter(action=event, actor=user,
                                         outcome="denied").latest("id").reason == "not_permitted"
    assert all_roles() == before
    assert not Role.objects.filter(code="mine").exists()


def test_the_web_forms_need_the_csrf_token(cast):
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.admin)
    response = client.post(reverse("roles:create"), {"code": "x", "name": "x"})
    assert response.status_code == 403
    assert not Role.objects.filter(code="x").exists()


def test_the_api_needs_the_csrf_token_with_a_session(cast):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(cast.admin)
    response = client.post(API, {"code": "x", "name": "x", "permissions": []}, format="json")
    assert response.status_code == 403
    assert not Role.objects.filter(code="x").exists()


# --- what the catalogue does not know -----------------------------------------------------------


SMUGGLED = [
    ({"permissions": ["customer.view", "superuser.all"]}, "permissions",
     "Unknown permission: superuser.all"),
    ({"permissions": ["role.manage "]}, "permissions", "Unknown permission: role.manage "),
    ({"scopes": {"audit": "all"}}, "scopes", "Unknown resource: audit"),
    ({"scopes": {"customer": "everything"}}, "scopes", "Unknown record scope: everything"),
    ({"field_policies": {"customer.owner": "edit"}}, "field_policies",
     "Unknown classified field: customer.owner"),
    ({"field_policies": {"customer.phone": "clear"}}, "field_policies",
     "Unknown access level: clear"),
    ({"field_policies": {"customer.phone": ["read"]}}, "field_policies",
     "Unknown access level: ['read']"),
    ({"scopes": "all"}, "scopes", "Give a mapping of names to values."),
]


@pytest.mark.parametrize(("body", "field", "message"), SMUGGLED)
def test_the_api_refuses_what_the_catalogue_does_not_know(cast, body, field, message):
    role = shipped("service_agent")
    before = all_roles()
    client = signed_in(cast.admin)
    for response in (
        client.patch(f"{API}{role.pk}/", body, format="json", **if_match(role)),
        client.post(API, {"code": "new", "name": "new", "permissions": [], **body},
                    format="json"),
    ):
        assert response.status_code == 400
        assert response.json()["error"]["fields"] == {field: [message]}
    assert all_roles() == before
    assert not AuditEvent.objects.filter(action__startswith="role.").exists()


@pytest.mark.parametrize(("name", "value"), [
    ("permissions_customer", "superuser.all"),
    ("permissions_role", "customer.view"),  # a real code, but not in this group
    ("scope_customer", "everything"),
    ("access_customer__phone", "clear"),
])
def test_the_web_form_refuses_what_the_catalogue_does_not_know(client, cast, name, value):
    role = shipped("service_agent")
    client.force_login(cast.admin)
    before = all_roles()
    response = client.post(reverse("roles:edit", args=[role.pk]),
                           {name: value, "version": state_tag(role)})
    assert response.status_code == 400
    assert f'data-field-error="{name}"' in response.content.decode()
    assert all_roles() == before
    assert not AuditEvent.objects.filter(action__startswith="role.").exists()


# --- a role change is what its users get ------------------------------------------------------


def test_giving_service_agents_the_clear_phone_shows_it_to_them(cast):
    customer = customer_of(cast.sales_a, phone="13812345678")
    agent = signed_in(cast.service)
    url = f"/api/v1/customers/{customer.pk}/"
    assert agent.get(url).json()["phone"] == "138****5678"
    role = shipped("service_agent")
    response = signed_in(cast.admin).patch(
        f"{API}{role.pk}/", {"field_policies": {"customer.phone": "read"}}, format="json",
        **if_match(role))
    assert response.status_code == 200
    assert agent.get(url).json()["phone"] == "+8613812345678"
    event = AuditEvent.objects.get(action="role.update")
    assert json.loads(event.detail) == {"field_policies": [
        role_state(role)["field_policies"],
        {**role_state(role)["field_policies"], "customer.phone": "read"}]}


def test_taking_customer_view_from_sales_reps_empties_their_list(cast, client):
    customer_of(cast.sales_a, name="甲客户")
    assert len(signed_in(cast.sales_a).get("/api/v1/customers/").json()["results"]) == 1
    role = shipped("sales_rep")
    response = signed_in(cast.admin).patch(
        f"{API}{role.pk}/",
        {"permissions": [p for p in role.permissions if p != "customer.view"]},
        format="json", **if_match(role))
    assert response.status_code == 200
    assert signed_in(cast.sales_a).get("/api/v1/customers/").json()["results"] == []
    client.force_login(cast.sales_a)
    assert "甲客户" not in client.get(reverse("customers:list")).content.decode()
    event = AuditEvent.objects.get(action="role.update")
    before, after = json.loads(event.detail)["permissions"]
    assert set(before) - set(after) == {"customer.view"}


# --- lock-out ----------------------------------------------------------------------------------


def test_nobody_can_take_role_management_from_its_last_holder(cast):
    role = shipped("administrator")
    before = all_roles()
    client = signed_in(cast.admin)
    response = client.patch(
        f"{API}{role.pk}/", {"permissions": ["user.view", "user.manage"]}, format="json",
        **if_match(role))
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"permissions": [
        "No other active user would keep the permission to manage roles. Give it to someone "
        "else first."]}
    assert all_roles() == before
    assert client.get(API).status_code == 200  # still in charge


# --- every change is on the record ----------------------------------------------------------


def test_every_change_leaves_an_event_with_before_and_after(cast):
    client = signed_in(cast.admin)
    created = client.post(API, {"code": "quality", "name": "质检", "permissions": ["ticket.view"]},
                          format="json").json()
    role = Role.objects.get(code="quality")
    client.patch(f"{API}{role.pk}/", {"scopes": {"ticket": "all"}}, format="json",
                 **if_match(role))
    client.delete(f"{API}{role.pk}/")
    events = list(AuditEvent.objects.filter(action__startswith="role.").order_by("id"))
    assert [e.action for e in events] == ["role.create", "role.update", "role.delete"]
    assert all(e.object_ids == [str(created["id"])] and e.actor == cast.admin for e in events)
    assert [json.loads(e.detail)["scopes"] for e in events] == [
        [None, {}], [{}, {"ticket": "all"}], [{"ticket": "all"}, None]]


# --- script in a role name -----------------------------------------------------------------------


def test_a_role_name_is_text_not_markup(client, cast):
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    signed_in(cast.admin).post(API, {"code": "xss", "name": payload, "permissions": []},
                               format="json")
    role = Role.objects.get(code="xss")
    client.force_login(cast.admin)
    for url in (reverse("roles:list"), reverse("roles:detail", args=[role.pk]),
                reverse("roles:edit", args=[role.pk]), reverse("roles:delete", args=[role.pk])):
        body = client.get(url).content.decode()
        assert payload not in body and "<img src=x" not in body, url
        assert "&lt;script&gt;" in body, url


# --- the second-factor rule -------------------------------------------------------------------


def test_an_administrator_cannot_drop_the_second_factor_from_a_role_they_hold(cast):
    admin_role = shipped("administrator")
    before = all_roles()
    response = signed_in(cast.admin).patch(f"{API}{admin_role.pk}/", {"mfa_required": False},
                                           format="json", **if_match(admin_role))
    assert response.status_code == 403
    assert all_roles() == before
    refused = AuditEvent.objects.get(action="role.update", outcome="denied")
    assert refused.reason == "self_escalation"


def test_dropping_the_rule_from_another_role_lets_its_holders_in_with_a_password(cast):
    service = shipped("service_agent")
    response = signed_in(cast.admin).patch(f"{API}{service.pk}/", {"mfa_required": False},
                                           format="json", **if_match(service))
    assert response.status_code == 200 and response.json()["mfa_required"] is False
    event = AuditEvent.objects.get(action="role.update", outcome="allowed")
    assert event.fields == ["mfa_required"]
    browser = Client()
    browser.post(reverse("account_login"), {"login": "service", "password": PASSWORD})
    assert browser.get(reverse("customers:list")).status_code == 200


def test_the_rule_must_be_true_or_false(cast):
    service = shipped("service_agent")
    response = signed_in(cast.admin).patch(f"{API}{service.pk}/", {"mfa_required": "perhaps"},
                                           format="json", **if_match(service))
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"mfa_required"}
    assert shipped("service_agent").mfa_required is True
