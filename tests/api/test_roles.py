"""``/api/v1/roles/``: reading with user.view or role.manage, changing with role.manage, strict
input, the state tag as ETag / If-Match, and the audit trail of every change."""

import json

import pytest
import yaml

from anke.access.actions import create_role, state_tag, update_role
from anke.access.models import Role
from anke.accounts.actions import create_user
from anke.audit.models import AuditEvent
from tests.api.conftest import signed_in, with_token
from tests.personas import OPERATOR, actor

URL = "/api/v1/roles/"


def detail(role) -> str:
    return f"{URL}{role.pk}/"


def shipped(code: str) -> Role:
    return Role.objects.get(code=code)


@pytest.fixture
def as_admin(cast):
    return signed_in(cast.admin)


def if_match(role) -> dict:
    return {"HTTP_IF_MATCH": f'"{state_tag(role)}"'}


NEW = {"code": "quality", "name": "质检", "permissions": ["customer.view", "ticket.view"],
       "scopes": {"customer": "region", "ticket": "region"},
       "field_policies": {"customer.phone": "masked"}}


# --- reading ----------------------------------------------------------------------------------


def test_the_list_shows_every_role_with_its_users(cast):
    response = signed_in(cast.sales_a).get(URL)  # sales reps hold user.view
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    rows = {row["code"]: row for row in body["results"]}
    assert list(rows) == ["sales_rep", "sales_manager", "service_agent", "manager",
                          "administrator", "auditor", "privacy_officer"]
    service = rows["service_agent"]
    assert set(service) == {"id", "code", "name", "label", "permissions", "scopes",
                            "field_policies", "mfa_required", "passkey_required",
                            "ip_allowlist", "users", "version"}
    assert service["mfa_required"] is True
    assert service["label"] == "Service agent"
    assert service["users"] == 1 and rows["sales_rep"]["users"] == 3
    assert service["scopes"]["customer"] == "all"
    assert service["field_policies"]["customer.phone"] == "masked"
    assert service["version"] == state_tag(shipped("service_agent"))


def test_one_role_answers_its_state_tag_as_etag(cast):
    role = shipped("auditor")
    response = signed_in(cast.admin).get(detail(role))
    assert response.status_code == 200
    assert response.json()["permissions"] == ["audit.view", "user.view"]
    assert response["ETag"] == f'"{state_tag(role)}"'


def test_reading_needs_user_view_or_role_manage(cast):
    nobody = create_user(OPERATOR, username="nobody", password=None, roles=[])
    client = signed_in(nobody)
    for url in (URL, detail(shipped("sales_rep"))):
        response = client.get(url)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize("path", ["999999/", "x/", "99999999999999999999999/"])
def test_unknown_roles_are_a_json_404(cast, path):
    response = signed_in(cast.admin).get(URL + path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


# --- creating ---------------------------------------------------------------------------------


def test_create(as_admin, cast):
    response = as_admin.post(URL, NEW, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    role = Role.objects.get(code="quality")
    assert body["id"] == role.pk and body["label"] == "质检" and body["users"] == 0
    assert body["scopes"] == {"customer": "region", "ticket": "region"}
    assert response["ETag"] == f'"{state_tag(role)}"'
    event = AuditEvent.objects.get(action="role.create")
    assert event.actor == cast.admin and event.auth_method == "session"
    assert json.loads(event.detail)["permissions"] == [None, ["customer.view", "ticket.view"]]


def test_create_with_only_the_required_fields(as_admin):
    response = as_admin.post(URL, {"code": "empty", "name": "空", "permissions": []},
                             format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["scopes"] == {} and response.json()["field_policies"] == {}


def test_a_token_cannot_create_a_role(cast):
    client, _token = with_token(cast.admin)
    response = client.post(URL, NEW, format="json")
    assert response.status_code == 403
    assert not Role.objects.filter(code=NEW["code"]).exists()
    refused = AuditEvent.objects.get(action="role.create")
    assert refused.auth_method == "token" and refused.reason == "step_up_required"


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"permissions": ["customer.fly"]}, "permissions", "Unknown permission: customer.fly"),
    ({"scopes": {"invoice": "all"}}, "scopes", "Unknown resource: invoice"),
    ({"scopes": {"customer": "galaxy"}}, "scopes", "Unknown record scope: galaxy"),
    ({"field_policies": {"customer.salary": "read"}}, "field_policies",
     "Unknown classified field: customer.salary"),
    ({"field_policies": {"customer.phone": "peek"}}, "field_policies",
     "Unknown access level: peek"),
    ({"code": "sales_rep"}, "code", "Role with this Code already exists."),
    ({"code": "a b"}, "code",
     'Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.'),
    ({"users": 5}, "users", "This field is read-only."),
    ({"id": 5}, "id", "This field is read-only."),
    ({"superuser": True}, "superuser", "Unknown field."),
])
def test_bad_input_is_400_naming_the_field(as_admin, body, field, message):
    response = as_admin.post(URL, {**NEW, **body}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"][field] == [message]
    assert not Role.objects.filter(code__in=["quality", "a b"]).exists()
    assert Role.objects.count() == 7


@pytest.mark.parametrize("missing", ["code", "name", "permissions"])
def test_required_fields(as_admin, missing):
    body = {k: v for k, v in NEW.items() if k != missing}
    response = as_admin.post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"][missing] == ["This field is required."]


# --- changing ---------------------------------------------------------------------------------


def test_patch_merges_field_policies_and_answers_the_new_tag(as_admin, cast):
    role = shipped("service_agent")
    response = as_admin.patch(detail(role), {"field_policies": {"customer.phone": "read"}},
                              format="json", **if_match(role))
    assert response.status_code == 200, response.json()
    role.refresh_from_db()
    assert role.access_to("customer.phone") == "read"
    assert role.access_to("customer.email") == "masked"  # merged, not replaced
    assert role.access_to("ticket.description") == "edit"
    assert response["ETag"] == f'"{state_tag(role)}"'
    assert response.json()["version"] == state_tag(role)
    event = AuditEvent.objects.get(action="role.update")
    assert event.fields == ["field_policies"]
    before, after = json.loads(event.detail)["field_policies"]
    assert (before["customer.phone"], after["customer.phone"]) == ("masked", "read")


def test_put_replaces_everything_it_grants(as_admin, cast):
    role = create_role(actor(cast.admin), **NEW)
    response = as_admin.put(detail(role), {"name": "质检二", "permissions": ["ticket.view"],
                                           "scopes": {"ticket": "all"}, "field_policies": {}},
                            format="json", **if_match(role))
    assert response.status_code == 200, response.json()
    role.refresh_from_db()
    assert (role.name, role.permissions, role.scopes, role.field_policies) == (
        "质检二", ["ticket.view"], {"ticket": "all"}, {})


def test_put_needs_every_grant(as_admin, cast):
    role = create_role(actor(cast.admin), **NEW)
    response = as_admin.put(detail(role), {"permissions": []}, format="json", **if_match(role))
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["scopes"] == ["This field is required."]


def test_a_change_needs_if_match(as_admin):
    role = shipped("auditor")
    response = as_admin.patch(detail(role), {"permissions": []}, format="json")
    assert response.status_code == 428
    assert shipped("auditor").permissions == ["audit.view", "user.view"]


def test_a_stale_if_match_is_409_with_the_current_tag(as_admin, cast):
    role = shipped("auditor")
    seen = if_match(role)
    update_role(actor(cast.admin), role.pk, changes={"permissions": ["audit.view"]})
    response = as_admin.patch(detail(role), {"permissions": []}, format="json", **seen)
    assert response.status_code == 409
    role.refresh_from_db()
    assert response.json()["error"]["current_version"] == state_tag(role)
    assert role.permissions == ["audit.view"]


@pytest.mark.parametrize(("body", "field"), [
    ({"code": "other"}, "code"), ({"id": 1}, "id"), ({"users": 0}, "users"),
    ({"label": "x"}, "label"), ({"version": 1}, "version"),
])
def test_read_only_fields_cannot_be_changed(as_admin, body, field):
    role = shipped("auditor")
    response = as_admin.patch(detail(role), body, format="json", **if_match(role))
    assert response.status_code == 400
    assert response.json()["error"]["fields"][field] == ["This field is read-only."]


def test_a_shipped_roles_name_stays(as_admin):
    role = shipped("auditor")
    response = as_admin.patch(detail(role), {"name": "审计"}, format="json", **if_match(role))
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["name"] == [
        "A shipped role keeps its translated name."]


@pytest.mark.parametrize("role_id", ["999999", "99999999999999999999999"])
def test_changing_an_unknown_role_is_404(as_admin, role_id):
    response = as_admin.patch(f"{URL}{role_id}/", {"scopes": {"customer": "all"}},
                              format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 404
    assert as_admin.delete(f"{URL}{role_id}/").status_code == 404
    events = AuditEvent.objects.filter(object_type="role").order_by("id")
    assert list(events.values_list("action", "outcome")) == [
        ("role.update", "denied"), ("role.delete", "denied")]


# --- deleting ---------------------------------------------------------------------------------


def test_delete(as_admin, cast):
    role = create_role(actor(cast.admin), **NEW)
    response = as_admin.delete(detail(role))
    assert response.status_code == 204
    assert not Role.objects.filter(pk=role.pk).exists()
    event = AuditEvent.objects.get(action="role.delete")
    assert json.loads(event.detail)["code"] == ["quality", None]


def test_a_held_role_is_not_deleted(as_admin, cast):
    response = as_admin.delete(detail(shipped("sales_rep")))
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"non_field_errors": [
        "A shipped role cannot be deleted; change what it grants instead."]}
    role = create_role(actor(cast.admin), **NEW)
    create_user(OPERATOR, username="q1", password=None, roles=["quality"])
    response = as_admin.delete(detail(role))
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"non_field_errors": [
        "1 user holds this role. Take it from them first."]}
    assert Role.objects.filter(pk=role.pk).exists()


# --- schema -----------------------------------------------------------------------------------


def test_the_schema_documents_roles(as_admin):
    schema = yaml.safe_load(as_admin.get("/api/v1/schema/").content)
    paths = schema["paths"]
    assert set(paths["/api/v1/roles/"]) == {"get", "post"}
    assert set(paths["/api/v1/roles/{id}/"]) == {"get", "put", "patch", "delete"}
    patch = paths["/api/v1/roles/{id}/"]["patch"]
    assert any(p["name"] == "If-Match" and p["required"] for p in patch["parameters"])
    assert {"409", "428"} <= set(patch["responses"])
    request = schema["components"]["schemas"]["PatchedRoleUpdateRequest"]["properties"]
    assert "code" not in request and "users" not in request
    role = schema["components"]["schemas"]["Role"]["properties"]
    assert role["scopes"]["additionalProperties"] is False
    assert set(role["scopes"]["properties"]) == {"customer", "contact", "activity", "deal",
                                                 "task", "order", "ticket"}
