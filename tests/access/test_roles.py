"""Role administration: the actions (validation, audit detail, compare-and-set, lock-out guard)
and the web pages that list, show, create, change and delete roles."""

import json
import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse

from anke.access.actions import (
    create_role,
    delete_role,
    role_state,
    state_tag,
    update_role,
)
from anke.access.catalogue import CUSTOMER_DATA_RESOURCES, SHIPPED_ROLES, FieldAccess
from anke.access.forms import RoleForm
from anke.access.models import Role, classified_field_keys
from anke.access.policy import forget_roles, has_permission
from anke.access.views import role_summary
from anke.accounts.actions import create_user
from anke.audit.models import AuditEvent
from anke.core.errors import ActionDenied, NotVisible, StaleVersion
from tests.conftest import tripwire_off
from tests.personas import OPERATOR, actor


def shipped(code: str) -> Role:
    return Role.objects.get(code=code)


def new_role(user, code="quality", **extra) -> Role:
    data = {"name": "质检", "permissions": ["customer.view", "ticket.view"],
            "scopes": {"customer": "region", "ticket": "region"},
            "field_policies": {"customer.phone": "masked"}, **extra}
    return create_role(actor(user), code=code, **data)


def detail(event) -> dict:
    return json.loads(event.detail)


# --- create ---------------------------------------------------------------------------------------


def test_create_saves_the_role_and_records_its_state(cast):
    role = new_role(cast.admin, permissions=["ticket.view", "customer.view", "ticket.view"])
    role.refresh_from_db()
    assert role.permissions == ["customer.view", "ticket.view"]  # sorted, once each
    assert role.scope_for("customer") == "region" and role.scope_for("deal") == "none"
    assert role.access_to("customer.phone") == "masked"
    assert role.access_to("customer.email") == "hidden"  # left out: hidden
    event = AuditEvent.objects.get(action="role.create")
    assert event.actor == cast.admin and event.outcome == "allowed"
    assert event.object_type == "role" and event.object_ids == [str(role.pk)]
    assert detail(event) == {
        "code": [None, "quality"],
        "name": [None, "质检"],
        "permissions": [None, ["customer.view", "ticket.view"]],
        "scopes": [None, {"customer": "region", "ticket": "region"}],
        "field_policies": [None, {"customer.phone": "masked"}],
        "mfa_required": [None, True],
        "passkey_required": [None, False],
        "ip_allowlist": [None, []],
    }


@pytest.mark.parametrize(("extra", "field", "message"), [
    ({"permissions": ["customer.view", "customer.fly"]}, "permissions",
     "Unknown permission: customer.fly"),
    ({"permissions": "customer.view"}, "permissions", "Give the permissions as a list of codes."),
    ({"permissions": [{"a": 1}]}, "permissions", "Unknown permission: {'a': 1}"),
    ({"scopes": {"invoice": "all"}}, "scopes", "Unknown resource: invoice"),
    ({"scopes": {"customer": "galaxy"}}, "scopes", "Unknown record scope: galaxy"),
    ({"scopes": ["customer"]}, "scopes", "Give a mapping of names to values."),
    ({"field_policies": {"customer.salary": "read"}}, "field_policies",
     "Unknown classified field: customer.salary"),
    ({"field_policies": {"customer.phone": "peek"}}, "field_policies",
     "Unknown access level: peek"),
    ({"field_policies": {"customer.phone": None}}, "field_policies",
     "Unknown access level: None"),
    ({"name": "  "}, "name", "This field cannot be blank."),
    ({"name": 5}, "name", "Give the name as text."),
])
def test_create_refuses_what_the_catalogue_does_not_know(cast, extra, field, message):
    with pytest.raises(ValidationError) as error:
        new_role(cast.admin, **extra)
    assert error.value.message_dict[field] == [message]
    assert not Role.objects.filter(code="quality").exists()
    assert not AuditEvent.objects.filter(action="role.create").exists()


@pytest.mark.parametrize(("code", "message"), [
    ("sales_rep", "Role with this Code already exists."),
    ("质检 组", "Enter a valid “slug” consisting of letters, numbers, underscores or hyphens."),
    ("", "This field cannot be blank."),
])
def test_create_refuses_a_taken_or_malformed_code(cast, code, message):
    with pytest.raises(ValidationError) as error:
        new_role(cast.admin, code=code)
    assert error.value.message_dict["code"] == [message]
    assert Role.objects.count() == 7


def test_the_shell_operator_may_manage_roles(cast):
    role = create_role(OPERATOR, code="ops", name="运维", permissions=["backup.run"])
    update_role(OPERATOR, role.pk, changes={"permissions": ["backup.run", "key.rotate"]})
    delete_role(OPERATOR, role.pk)
    assert list(AuditEvent.objects.filter(object_type="role").order_by("id").values_list(
        "action", "auth_method")) == [("role.create", "cli"), ("role.update", "cli"),
                                      ("role.delete", "cli")]


# --- update ---------------------------------------------------------------------------------------


def test_update_records_before_and_after_of_what_changed(cast):
    role = new_role(cast.admin)
    update_role(actor(cast.admin), role.pk, changes={
        "permissions": ["customer.view"], "scopes": {"customer": "all"},
        "field_policies": {"customer.phone": "masked"}, "name": "质检"})
    role.refresh_from_db()
    assert role.permissions == ["customer.view"] and role.scopes == {"customer": "all"}
    event = AuditEvent.objects.get(action="role.update")
    assert event.fields == ["permissions", "scopes"]
    assert detail(event) == {
        "permissions": [["customer.view", "ticket.view"], ["customer.view"]],
        "scopes": [{"customer": "region", "ticket": "region"}, {"customer": "all"}],
    }


def test_a_change_that_changes_nothing_is_recorded_with_no_fields(cast):
    role = new_role(cast.admin)
    update_role(actor(cast.admin), role.pk, changes={"permissions": role.permissions})
    event = AuditEvent.objects.get(action="role.update")
    assert event.fields == [] and event.detail == ""


def test_update_with_the_current_state_tag_applies(cast):
    role = new_role(cast.admin)
    tag = state_tag(role)
    update_role(actor(cast.admin), role.pk, changes={"name": "质检组"}, version=tag)
    role.refresh_from_db()
    assert role.name == "质检组" and state_tag(role) != tag


def test_update_from_a_stale_state_is_refused_and_changes_nothing(cast):
    role = new_role(cast.admin)
    seen = state_tag(role)
    update_role(actor(cast.admin), role.pk, changes={"name": "别人改的"})
    with pytest.raises(StaleVersion) as error:
        update_role(actor(cast.admin), role.pk, changes={"permissions": []}, version=seen)
    role.refresh_from_db()
    assert error.value.current_version == state_tag(role)
    assert role.permissions == ["customer.view", "ticket.view"]
    assert AuditEvent.objects.filter(action="role.update").count() == 1


def test_state_tag_follows_everything_a_role_grants(cast):
    role = new_role(cast.admin)
    tags = {state_tag(role)}
    for name, value in (("name", "x"), ("permissions", ["ticket.view"]),
                        ("scopes", {"ticket": "all"}), ("field_policies", {})):
        setattr(role, name, value)
        tags.add(state_tag(role))
    assert len(tags) == 5
    assert all(0 <= tag < 10**9 for tag in tags)


def test_a_shipped_role_is_editable_but_keeps_its_name(cast):
    role = shipped("auditor")
    update_role(actor(cast.admin), role.pk, changes={"permissions": ["audit.view"]})
    role.refresh_from_db()
    assert role.permissions == ["audit.view"]
    with pytest.raises(ValidationError) as error:
        update_role(actor(cast.admin), role.pk, changes={"name": "审计"})
    assert error.value.message_dict == {"name": ["A shipped role keeps its translated name."]}
    assert shipped("auditor").name == "Auditor"


def test_the_code_never_changes(cast):
    role = new_role(cast.admin)
    with pytest.raises(ValidationError) as error:
        update_role(actor(cast.admin), role.pk, changes={"code": "other"})
    assert error.value.message_dict == {"code": ["This field cannot be set."]}
    assert Role.objects.get(pk=role.pk).code == "quality"


@pytest.mark.parametrize("role_id", [999999, "x", "99999999999999999999999", "²"])
def test_an_unknown_role_is_not_found_and_audited(cast, role_id):
    with pytest.raises(NotVisible):
        update_role(actor(cast.admin), role_id, changes={"name": "x"})
    assert AuditEvent.objects.get(action="role.update").outcome == "denied"


def test_a_changed_role_changes_its_users_rights(cast):
    update_role(actor(cast.admin), shipped("sales_rep").pk, changes={
        "permissions": [*shipped("sales_rep").permissions, "customer.export"]})
    forget_roles(cast.sales_a)
    assert has_permission(cast.sales_a, "customer.export")


# --- lock-out guard ------------------------------------------------------------------------------


def _without_manage(role: Role) -> list[str]:
    return [p for p in role.permissions if p != "role.manage"]


def test_the_last_way_to_manage_roles_cannot_be_removed(cast):
    role = shipped("administrator")
    with pytest.raises(ValidationError) as error:
        update_role(actor(cast.admin), role.pk, changes={"permissions": _without_manage(role)})
    assert error.value.message_dict["permissions"] == [
        "No other active user would keep the permission to manage roles. Give it to someone "
        "else first."]
    assert "role.manage" in shipped("administrator").permissions
    assert not AuditEvent.objects.filter(action="role.update").exists()


def test_an_inactive_holder_does_not_count_as_keeping_it(cast):
    keeper = new_role(cast.admin, code="keeper", permissions=["role.manage"])
    with tripwire_off():  # staged: the deactivated rep holds it too
        cast.departed.roles.add(keeper)
    role = shipped("administrator")
    with pytest.raises(ValidationError):
        update_role(OPERATOR, role.pk, changes={"permissions": _without_manage(role)})


def test_it_can_be_removed_once_another_active_user_keeps_it(cast):
    keeper = new_role(cast.admin, code="keeper", permissions=["role.manage"])
    create_user(OPERATOR, username="keeper", password=None, roles=["keeper"])
    role = shipped("administrator")
    update_role(actor(cast.admin), role.pk, changes={"permissions": _without_manage(role)})
    assert "role.manage" not in shipped("administrator").permissions
    # and now the keeper's role is the last one
    with pytest.raises(ValidationError):
        update_role(OPERATOR, keeper.pk, changes={"permissions": []})


# --- delete ---------------------------------------------------------------------------------------


def test_delete_removes_a_role_nobody_holds_and_records_its_last_state(cast):
    role = new_role(cast.admin)
    state = role_state(role)
    delete_role(actor(cast.admin), role.pk)
    assert not Role.objects.filter(pk=role.pk).exists()
    event = AuditEvent.objects.get(action="role.delete")
    assert event.object_ids == [str(role.pk)]
    assert detail(event) == {name: [value, None] for name, value in state.items()}


def test_a_role_users_hold_cannot_be_deleted(cast):
    new_role(cast.admin)
    for name in ("q1", "q2"):
        create_user(OPERATOR, username=name, password=None, roles=["quality"])
    role = Role.objects.get(code="quality")
    with pytest.raises(ValidationError) as error:
        delete_role(actor(cast.admin), role.pk)
    assert error.value.messages == ["2 users hold this role. Take it from them first."]
    assert Role.objects.filter(pk=role.pk).exists()
    assert not AuditEvent.objects.filter(action="role.delete").exists()


def test_one_holder_is_named_in_the_singular(cast):
    new_role(cast.admin)
    create_user(OPERATOR, username="q1", password=None, roles=["quality"])
    with pytest.raises(ValidationError) as error:
        delete_role(actor(cast.admin), Role.objects.get(code="quality").pk)
    assert error.value.messages == ["1 user holds this role. Take it from them first."]


def test_a_shipped_role_cannot_be_deleted(cast):
    role = shipped("privacy_officer")
    role_users = list(role.users.all())
    with pytest.raises(ValidationError) as error:
        delete_role(actor(cast.admin), role.pk)
    assert error.value.messages == [
        "A shipped role cannot be deleted; change what it grants instead."]
    assert role_users == [] and Role.objects.filter(pk=role.pk).exists()


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["sales_a", "sales_manager", "manager", "auditor", "service"])
def test_without_role_manage_every_action_is_refused_and_audited(cast, who):
    user = getattr(cast, who)
    role = shipped("sales_rep")
    before = role_state(role)
    with pytest.raises(ActionDenied):
        create_role(actor(user), code="x", name="x", permissions=["role.manage"])
    with pytest.raises(ActionDenied):
        update_role(actor(user), role.pk, changes={"permissions": ["role.manage"]})
    with pytest.raises(ActionDenied):
        delete_role(actor(user), role.pk)
    assert role_state(shipped("sales_rep")) == before
    assert not Role.objects.filter(code="x").exists()
    denied = AuditEvent.objects.filter(outcome="denied", actor=user)
    assert sorted(denied.values_list("action", flat=True)) == [
        "role.create", "role.delete", "role.update"]
    assert set(denied.values_list("reason", flat=True)) == {"not_permitted"}


# --- summary -------------------------------------------------------------------------------------


def test_the_summary_groups_permissions_and_lists_every_classified_field(cast):
    summary = role_summary(shipped("service_agent"))
    by_resource = {g["resource"]: g for g in summary["resources"]}
    assert [str(p) for p in by_resource["customer"]["permissions"]] == [
        "View customers", "Reveal masked fields"]
    assert by_resource["customer"]["scope"] == "all"
    assert by_resource["audit"]["permissions"] == [] and by_resource["audit"]["scope"] is None
    fields = {row["key"]: row for row in summary["fields"]}
    assert sorted(fields) == classified_field_keys()
    assert fields["customer.phone"]["level"] == FieldAccess.MASKED
    assert fields["customer.phone"]["cells"] == [False, True, False, False]
    assert fields["ticket.description"]["level"] == FieldAccess.EDIT


# --- web pages -----------------------------------------------------------------------------------


def form_data(role: Role | None = None, **overrides) -> dict:
    """What the edit form posts for ``role`` as it is shown (a new role: nothing granted)."""
    form = RoleForm(role=role, shipped=role is not None and role.code in SHIPPED_ROLES)
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value is None:
            continue
        data[name] = value
    if role is not None:
        data["version"] = state_tag(role)
    data.update(overrides)
    return data


@pytest.fixture
def admin_client(client, cast):
    client.force_login(cast.admin)
    return client


def test_the_list_counts_the_users_of_each_role(admin_client, cast):
    response = admin_client.get(reverse("roles:list"))
    assert response.status_code == 200
    body = response.content.decode()
    counts = {row["role"].code: row["role"].user_count for row in response.context["roles"]}
    assert counts == {"sales_rep": 3, "sales_manager": 1, "service_agent": 1, "manager": 1,
                      "administrator": 1, "auditor": 1, "privacy_officer": 0}
    assert "Sales rep" in body and reverse("roles:create") in body
    assert f'href="{reverse("roles:list")}">Roles</a>' in body  # the nav entry


def test_the_role_page_shows_permissions_scopes_and_the_field_grid(admin_client):
    role = shipped("service_agent")
    response = admin_client.get(reverse("roles:detail", args=[role.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Reveal masked fields" in body and "all customers" in body
    assert '<tr data-field="customer.phone" data-level="masked">' in body
    assert "Customer · phone" in body
    assert "1 user holds this role" in body
    assert reverse("roles:edit", args=[role.pk]) in body
    assert reverse("roles:delete", args=[role.pk]) not in body  # shipped: no delete


def test_the_pages_speak_chinese(admin_client):
    role = shipped("service_agent")
    admin_client.cookies["django_language"] = "zh-hans"
    body = admin_client.get(reverse("roles:detail", args=[role.pk]),
                            HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "客户 · 电话" in body


def test_create_through_the_form(admin_client, cast):
    data = form_data(code="quality", name="质检", permissions_customer=["customer.view"],
                     scope_customer="region", access_customer__phone="masked")
    response = admin_client.post(reverse("roles:create"), data)
    role = Role.objects.get(code="quality")
    assert response.status_code == 302
    assert response["Location"] == reverse("roles:detail", args=[role.pk])
    assert role.permissions == ["customer.view"] and role.name == "质检"
    assert role.scope_for("customer") == "region" and role.scope_for("deal") == "none"
    assert role.access_to("customer.phone") == "masked"
    assert role.access_to("customer.email") == "hidden"
    assert AuditEvent.objects.get(action="role.create").actor == cast.admin


def test_edit_through_the_form(admin_client):
    role = shipped("service_agent")
    response = admin_client.get(reverse("roles:edit", args=[role.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="permissions_customer" value="customer.reveal"' in body
    assert 'name="name"' not in body  # a shipped role keeps its name
    data = form_data(role, access_customer__phone="read")
    response = admin_client.post(reverse("roles:edit", args=[role.pk]), data)
    assert response.status_code == 302
    role.refresh_from_db()
    assert role.access_to("customer.phone") == "read"
    event = AuditEvent.objects.get(action="role.update")
    assert event.fields == ["field_policies"]
    before, after = detail(event)["field_policies"]
    assert before["customer.phone"] == "masked" and after["customer.phone"] == "read"


def test_the_form_sets_the_second_factor_rule_and_the_networks(admin_client):
    role = shipped("service_agent")
    data = form_data(role, ip_allowlist="10.1.2.3/16\n 192.168.7.0/24 ,10.1.0.0/16")
    del data["mfa_required"]  # an unticked checkbox is not posted
    response = admin_client.post(reverse("roles:edit", args=[role.pk]), data)
    assert response.status_code == 302
    role.refresh_from_db()
    assert role.ip_allowlist == ["10.1.0.0/16", "192.168.7.0/24"] and not role.mfa_required
    event = AuditEvent.objects.get(action="role.update")
    assert event.fields == ["ip_allowlist", "mfa_required"]
    page = admin_client.get(reverse("roles:detail", args=[role.pk])).content.decode()
    assert "<code class=\"me-1\">192.168.7.0/24</code>" in page
    bad = admin_client.post(reverse("roles:edit", args=[role.pk]),
                            form_data(role, ip_allowlist="10.1.0.0/16\nintranet"))
    assert bad.status_code == 400
    assert 'data-field-error="ip_allowlist">Not a network: intranet' in bad.content.decode()


def test_an_edit_over_someone_elses_change_is_refused(admin_client, cast):
    role = shipped("service_agent")
    data = form_data(role, access_customer__phone="read")
    update_role(actor(cast.admin), role.pk, changes={"permissions": ["customer.view"]})
    response = admin_client.post(reverse("roles:edit", args=[role.pk]), data)
    assert response.status_code == 400
    assert "Someone else changed this record" in response.content.decode()
    assert shipped("service_agent").access_to("customer.phone") == "masked"


@pytest.mark.parametrize(("overrides", "field"), [
    ({"permissions_customer": ["customer.fly"]}, "permissions_customer"),
    ({"scope_customer": "galaxy"}, "scope_customer"),
    ({"access_customer__phone": "peek"}, "access_customer__phone"),
    ({"version": "x"}, None),
])
def test_bad_form_input_is_400_next_to_the_field_and_changes_nothing(admin_client, overrides,
                                                                      field):
    role = shipped("service_agent")
    before = role_state(role)
    response = admin_client.post(reverse("roles:edit", args=[role.pk]),
                                 form_data(role, **overrides))
    assert response.status_code == 400
    if field:
        assert f'data-field-error="{field}"' in response.content.decode()
    assert role_state(shipped("service_agent")) == before
    assert not AuditEvent.objects.filter(action="role.update").exists()


def test_the_lock_out_guard_shows_on_the_form(admin_client):
    role = shipped("administrator")
    data = form_data(role, permissions_role=[])
    response = admin_client.post(reverse("roles:edit", args=[role.pk]), data)
    assert response.status_code == 400
    assert "No other active user would keep the permission" in response.content.decode()
    assert "role.manage" in shipped("administrator").permissions


def test_a_new_role_with_a_taken_code_is_400(admin_client):
    response = admin_client.post(reverse("roles:create"),
                                 form_data(code="sales_rep", name="x"))
    assert response.status_code == 400
    assert 'data-field-error="code"' in response.content.decode()
    assert Role.objects.count() == 7


def test_delete_through_the_page(admin_client, cast):
    role = new_role(cast.admin)
    url = reverse("roles:delete", args=[role.pk])
    assert "This cannot be undone." in admin_client.get(url).content.decode()
    response = admin_client.post(url)
    assert response.status_code == 302 and response["Location"] == reverse("roles:list")
    assert not Role.objects.filter(pk=role.pk).exists()


def test_deleting_a_held_role_is_400_with_the_reason(admin_client, cast):
    role = new_role(cast.admin)
    create_user(OPERATOR, username="q1", password=None, roles=["quality"])
    url = reverse("roles:delete", args=[role.pk])
    page = admin_client.get(url).content.decode()
    assert "1 user holds this role. Take it from them first." in page
    assert 'type="submit">Delete' not in page
    response = admin_client.post(url)
    assert response.status_code == 400
    assert "1 user holds this role. Take it from them first." in response.content.decode()
    assert Role.objects.filter(pk=role.pk).exists()


def test_a_reader_sees_roles_without_the_buttons(client, cast):
    client.force_login(cast.sales_a)  # holds user.view, not role.manage
    body = client.get(reverse("roles:list")).content.decode()
    assert "Sales rep" in body and reverse("roles:create") not in body
    assert f'href="{reverse("roles:list")}"' not in body.split("<main")[0]  # no nav entry
    role = shipped("sales_rep")
    body = client.get(reverse("roles:detail", args=[role.pk])).content.decode()
    assert reverse("roles:edit", args=[role.pk]) not in body


def test_someone_with_neither_right_gets_403(client, cast):
    user = create_user(OPERATOR, username="nobody", password=None, roles=[])
    client.force_login(user)
    role = shipped("sales_rep")
    for url in (reverse("roles:list"), reverse("roles:detail", args=[role.pk])):
        assert client.get(url).status_code == 403


def test_an_unknown_role_page_is_404(admin_client):
    assert admin_client.get(reverse("roles:detail", args=[999999])).status_code == 404
    assert admin_client.get(reverse("roles:edit", args=[999999])).status_code == 404


def test_every_scope_select_lists_every_resource(admin_client):
    body = admin_client.get(reverse("roles:create")).content.decode()
    for resource in CUSTOMER_DATA_RESOURCES:
        assert f'name="scope_{resource}"' in body
    for key in classified_field_keys():
        assert f'name="access_{key.replace(".", "__")}"' in body
    assert "<script>" not in body.split("</head>")[1]


# --- races (PostgreSQL) ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="SQLite serialises writers; this race needs PostgreSQL")
def test_two_administrators_cannot_each_remove_the_others_role_manage(cast, monkeypatch):
    from anke.access import actions

    keeper = new_role(cast.admin, code="keeper", permissions=["role.manage"])
    create_user(OPERATOR, username="admin2", password=None, roles=["keeper"])
    administrator = shipped("administrator")
    reached, release = threading.Event(), threading.Event()
    real = actions._check_someone_keeps_manage

    def waiting(role):
        reached.set()
        release.wait(10)
        return real(role)
    monkeypatch.setattr(actions, "_check_someone_keeps_manage", waiting)
    out = {}

    def run(name, role):
        try:
            out[name] = update_role(OPERATOR, role.pk, changes={"permissions": []})
        except Exception as error:  # noqa: BLE001 - the test inspects what happened
            out[name] = error
        finally:
            connection.close()

    first = threading.Thread(target=run, args=("first", administrator))
    first.start()
    reached.wait(10)  # the first holds every role's lock, inside the guard
    second = threading.Thread(target=run, args=("second", keeper))
    second.start()
    time.sleep(1)  # let the second reach the lock
    release.set()
    first.join(30)
    second.join(30)
    assert isinstance(out["first"], Role)
    assert isinstance(out["second"], ValidationError)
    assert "role.manage" in Role.objects.get(code="keeper").permissions
