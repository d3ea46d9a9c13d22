"""Temporary grants and break-glass: what they open, for how long, and who may give them."""

import json
import logging
import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from anke.access.catalogue import Scope
from anke.access.grants import (
    BREAK_GLASS_PERMISSIONS,
    break_glass,
    customer_ids_by_grant,
    field_access_ceiling,
    grant_access,
    grantable_permissions,
    grantable_scopes,
    grants_given_by,
    grants_held_by,
    grants_visible_to,
    revoke_grant,
)
from anke.access.models import Grant, Role
from anke.access.policy import forget_roles, has_permission
from anke.audit.models import AuditEvent
from anke.core.errors import ActionDenied, NotVisible
from anke.customers.actions import view_customer
from anke.customers.models import Customer
from tests.conftest import tripwire_off
from tests.personas import actor, customer_of


def soon(days=1):
    return timezone.now() + timedelta(days=days)


def give(grantor, grantee, *, customers=(), permissions=("customer.view",), scope="",
         field_access="masked", reason="covering a holiday", expires_at=None):
    return grant_access(actor(grantor), user_id=grantee.pk, permissions=list(permissions),
                        customer_ids=[c.pk for c in customers], scope=scope,
                        field_access=field_access, reason=reason,
                        expires_at=expires_at or soon())


def visible_ids(user, action="view"):
    forget_roles(user)
    return set(Customer.objects.visible_to(user, action).values_list("pk", flat=True))


def expire(grant):
    with tripwire_off():  # time moves on: the same state a passing clock leaves
        Grant.objects.filter(pk=grant.pk).update(
            starts_at=timezone.now() - timedelta(days=2),
            expires_at=timezone.now() - timedelta(seconds=1))


# --- what a grant opens -------------------------------------------------------------------------


def test_a_listed_grant_opens_exactly_the_listed_customer(cast):
    listed = customer_of(cast.sales_a, name="甲")
    customer_of(cast.sales_a, name="乙")
    grant = give(cast.manager, cast.sales_b, customers=[listed])
    assert visible_ids(cast.sales_b) == {listed.pk}
    assert visible_ids(cast.sales_b, "edit") == set()
    assert grant.granted_by == cast.manager and grant.break_glass is False
    assert list(grant.customers.values_list("pk", flat=True)) == [listed.pk]


def test_the_grant_is_audited_with_its_terms_and_customers(cast):
    listed = customer_of(cast.sales_a)
    grant = give(cast.manager, cast.sales_b, customers=[listed], reason="客户投诉跟进")
    event = AuditEvent.objects.get(action="grant.create")
    assert event.outcome == "allowed" and event.actor == cast.manager
    assert event.object_type == "grant" and event.object_ids == [str(grant.pk)]
    assert event.customer_ids == [str(listed.pk)]
    assert event.reason == "客户投诉跟进"
    detail = json.loads(event.detail)
    assert detail["user"] == [None, cast.sales_b.pk]
    assert detail["permissions"] == [None, ["customer.view"]]
    assert detail["customers"] == [None, 1]
    assert detail["field_access"] == [None, "masked"]
    assert "张三" not in event.detail


def test_field_access_of_the_grant_decides_how_fields_read(cast):
    listed = customer_of(cast.sales_a, phone="13812345678")
    give(cast.manager, cast.sales_b, customers=[listed], field_access="masked")
    forget_roles(cast.sales_b)
    masked = view_customer(actor(cast.sales_b), listed.pk, fields=["phone"])
    assert masked.phone != "+8613812345678" and "*" in masked.phone
    give(cast.manager, cast.sales_b, customers=[listed], field_access="read")
    forget_roles(cast.sales_b)
    clear = view_customer(actor(cast.sales_b), listed.pk, fields=["phone"])
    assert clear.phone == "+8613812345678"


def test_a_scope_grant_reaches_the_grantees_own_department(cast):
    east_customer = customer_of(cast.sales_manager, name="东")
    mine = customer_of(cast.sales_a, name="自己")
    north_customer = customer_of(cast.sales_b, name="北")
    give(cast.sales_manager, cast.sales_a, scope=Scope.DEPARTMENT)
    assert visible_ids(cast.sales_a) == {east_customer.pk, mine.pk}
    assert north_customer.pk not in visible_ids(cast.sales_a)


def test_a_grant_ends_by_itself_at_expiry(cast):
    listed = customer_of(cast.sales_a)
    grant = give(cast.manager, cast.sales_b, customers=[listed])
    assert visible_ids(cast.sales_b) == {listed.pk}
    expire(grant)
    assert visible_ids(cast.sales_b) == set()
    assert not Grant.objects.active().exists()


def test_a_grant_that_starts_later_opens_nothing_yet(cast):
    listed = customer_of(cast.sales_a)
    grant_access(actor(cast.manager), user_id=cast.sales_b.pk, permissions=["customer.view"],
                 customer_ids=[listed.pk], field_access="masked", reason="next week",
                 starts_at=soon(2), expires_at=soon(3))
    assert visible_ids(cast.sales_b) == set()


def test_non_customer_permissions_need_no_customers(cast):
    grant = grant_access(actor(cast.admin), user_id=cast.auditor.pk, permissions=["user.view"],
                         field_access="hidden", reason="directory", expires_at=soon())
    assert grant.scope == "" and not grant.customers.exists()


# --- what a grantor may hand on -----------------------------------------------------------------


def test_what_each_shipped_role_may_hand_on(cast):
    assert "customer.export" in grantable_permissions(cast.manager)
    assert "customer.export" not in grantable_permissions(cast.sales_manager)
    assert "grant.approve" not in grantable_permissions(cast.manager)
    assert grantable_permissions(cast.admin) == ["user.view"]
    assert grantable_permissions(cast.sales_a) == [
        p for p in grantable_permissions(cast.sales_manager)
        if p not in ("customer.reassign",)]
    assert grantable_scopes(cast.manager, ["customer.view"]) == [
        Scope.OWN, Scope.DEPARTMENT, Scope.REGION, Scope.ALL]
    assert grantable_scopes(cast.sales_manager, ["customer.view", "deal.view"]) == [
        Scope.OWN, Scope.DEPARTMENT]
    assert grantable_scopes(cast.sales_manager, ["user.view"]) == []
    assert field_access_ceiling(cast.sales_manager, ["customer.view"]) == "edit"
    assert field_access_ceiling(cast.admin, ["customer.view"]) == "hidden"
    assert field_access_ceiling(cast.service, ["ticket.view"]) == "edit"  # its own tickets
    assert field_access_ceiling(cast.service, ["ticket.view", "customer.view"]) == "masked"
    assert field_access_ceiling(cast.service, ["deal.view"]) == "edit"  # no classified fields


def refused(exc, call, *, reason, event="grant.create"):
    before = Grant.objects.count()
    with pytest.raises(exc):
        call()
    assert Grant.objects.count() == before
    denied = AuditEvent.objects.filter(action=event, outcome="denied").latest("id")
    assert denied.reason == reason
    return denied


def test_a_permission_the_grantor_lacks_is_refused(cast):
    listed = customer_of(cast.sales_manager)
    refused(ActionDenied, lambda: give(cast.sales_manager, cast.sales_a, customers=[listed],
                                       permissions=["customer.view", "customer.export"]),
            reason="permission_not_held")


def test_rights_over_rights_are_never_granted(cast):
    refused(ActionDenied, lambda: give(cast.admin, cast.auditor, permissions=["user.manage"]),
            reason="permission_not_held")


def test_a_customer_the_grantor_cannot_see_is_404_and_named_in_the_refusal(cast):
    hidden = customer_of(cast.sales_b)
    denied = refused(NotVisible, lambda: give(cast.sales_manager, cast.sales_a,
                                              customers=[hidden]),
                     reason="not_visible")
    assert denied.customer_ids == [str(hidden.pk)]


def test_a_customer_that_does_not_exist_is_404(cast):
    ghost = Customer(pk=uuid.uuid4())
    refused(NotVisible, lambda: give(cast.manager, cast.sales_b, customers=[ghost]),
            reason="not_visible")


def test_field_access_stronger_than_the_grantors_is_refused(cast):
    listed = customer_of(cast.sales_a)
    refused(ActionDenied, lambda: give(cast.admin, cast.sales_b, customers=[listed],
                                       field_access="read"),
            reason="permission_not_held")  # the admin holds no customer permission at all
    with tripwire_off():  # a custom role staged directly: phone in clear, may approve grants
        role = Role.objects.create(code="lead", name="Lead",
                                   permissions=["customer.view", "grant.approve"],
                                   scopes={"customer": "all"},
                                   field_policies={"customer.phone": "read"})
        cast.service.roles.add(role)
    forget_roles(cast.service)
    refused(ActionDenied, lambda: give(cast.service, cast.sales_b, customers=[listed],
                                       field_access="read"),
            reason="field_access_not_held")
    assert give(cast.service, cast.sales_b, customers=[listed], field_access="masked")


def test_granting_to_oneself_is_refused(cast):
    listed = customer_of(cast.sales_a)
    refused(ActionDenied, lambda: give(cast.manager, cast.manager, customers=[listed]),
            reason="self_grant")


def test_a_scope_wider_than_the_grantors_is_refused(cast):
    refused(ActionDenied, lambda: give(cast.sales_manager, cast.sales_b,
                                       scope=Scope.DEPARTMENT),
            reason="scope_not_held")  # sales_b's department is outside the manager's
    refused(ActionDenied, lambda: give(cast.sales_manager, cast.sales_a, scope=Scope.ALL),
            reason="scope_not_held")
    customer_of(cast.sales_b)  # "own" for sales_b would reach this one, outside the manager's
    refused(ActionDenied, lambda: give(cast.sales_manager, cast.sales_b, scope=Scope.OWN),
            reason="scope_not_held")


def test_without_grant_approve_nothing_is_granted(cast):
    listed = customer_of(cast.sales_a)
    refused(ActionDenied, lambda: give(cast.sales_a, cast.sales_b, customers=[listed]),
            reason="not_permitted")


@pytest.mark.parametrize(("change", "field"), [
    ({"expires_at": timezone.now() + timedelta(days=31)}, "expires_at"),
    ({"expires_at": timezone.now() - timedelta(minutes=1)}, "expires_at"),
    ({"reason": "   "}, "reason"),
    ({"permissions": []}, "permissions"),
    ({"permissions": ["customer.fly"]}, "permissions"),
    ({"field_access": "godmode"}, "field_access"),
    ({"scope": "galaxy"}, "scope"),
    ({"customer_ids": []}, "customer_ids"),
    ({"customer_ids": ["not-a-uuid"]}, "customer_ids"),
    ({"scope": "all"}, "scope"),  # with customers too
    ({"user_id": 10**12}, "user_id"),
    ({"user_id": "x"}, "user_id"),
])
def test_bad_input_names_the_field_and_creates_nothing(cast, change, field):
    listed = customer_of(cast.sales_a)
    arguments = {"user_id": cast.sales_b.pk, "permissions": ["customer.view"],
                 "customer_ids": [listed.pk], "scope": "", "field_access": "masked",
                 "reason": "because", "expires_at": soon(), **change}
    with pytest.raises(ValidationError) as error:
        grant_access(actor(cast.manager), **arguments)
    assert field in error.value.message_dict
    assert not Grant.objects.exists()


def test_permissions_not_about_customers_take_no_customers(cast):
    listed = customer_of(cast.sales_a)
    with pytest.raises(ValidationError) as error:
        grant_access(actor(cast.manager), user_id=cast.sales_b.pk, permissions=["user.view"],
                     customer_ids=[listed.pk], field_access="hidden", reason="x",
                     expires_at=soon())
    assert "permissions" in error.value.message_dict
    assert not Grant.objects.exists()


def test_a_grant_lists_at_most_500_customers(cast):
    with pytest.raises(ValidationError) as error:
        grant_access(actor(cast.manager), user_id=cast.sales_b.pk,
                     permissions=["customer.view"],
                     customer_ids=[uuid.uuid4() for _ in range(501)], field_access="masked",
                     reason="x", expires_at=soon())
    assert error.value.message_dict["customer_ids"] == ["List at most 500 customers."]


def test_a_naive_expiry_is_taken_in_the_local_time_zone(cast):
    listed = customer_of(cast.sales_a)
    naive = timezone.localtime().replace(tzinfo=None) + timedelta(days=1)
    grant = give(cast.manager, cast.sales_b, customers=[listed], expires_at=naive)
    assert timezone.localtime(grant.expires_at).replace(tzinfo=None) == naive


def test_the_maximum_follows_the_setting(cast, settings):
    settings.ANKE_GRANT_MAX_DAYS = 2
    listed = customer_of(cast.sales_a)
    with pytest.raises(ValidationError) as error:
        give(cast.manager, cast.sales_b, customers=[listed], expires_at=soon(3))
    assert error.value.message_dict["expires_at"] == ["A grant lasts at most 2 days."]
    assert give(cast.manager, cast.sales_b, customers=[listed], expires_at=soon(1))


def test_an_inactive_user_gets_nothing(cast):
    listed = customer_of(cast.sales_a)
    with pytest.raises(ValidationError) as error:
        give(cast.manager, cast.departed, customers=[listed])
    assert "user_id" in error.value.message_dict


# --- revoking -----------------------------------------------------------------------------------


def test_the_grantee_may_end_their_own_grant_and_loses_access(cast):
    listed = customer_of(cast.sales_a)
    grant = give(cast.manager, cast.sales_b, customers=[listed])
    assert visible_ids(cast.sales_b) == {listed.pk}
    revoke_grant(actor(cast.sales_b), grant.pk, reason="done")
    grant.refresh_from_db()
    assert grant.revoked_by == cast.sales_b and grant.revoked_at is not None
    assert visible_ids(cast.sales_b) == set()
    event = AuditEvent.objects.get(action="grant.revoke")
    assert event.object_ids == [str(grant.pk)] and event.reason == "done"


def test_an_approver_may_revoke_any_grant(cast):
    listed = customer_of(cast.sales_a)
    grant = give(cast.manager, cast.sales_b, customers=[listed])
    revoke_grant(actor(cast.sales_manager), grant.pk, reason="not needed")
    assert not Grant.objects.active().exists()
    with pytest.raises(ValidationError):
        revoke_grant(actor(cast.manager), grant.pk, reason="again")


def test_others_cannot_even_see_a_grant_to_revoke(cast):
    listed = customer_of(cast.sales_a)
    grant = give(cast.manager, cast.sales_b, customers=[listed])
    for attempt in (grant.pk, "1 OR 1=1", 10**20):
        with pytest.raises(NotVisible):
            revoke_grant(actor(cast.sales_a), attempt, reason="mine now")
    assert Grant.objects.active().count() == 1
    assert AuditEvent.objects.filter(action="grant.revoke", outcome="denied").count() == 3


def test_revoking_needs_a_reason(cast):
    listed = customer_of(cast.sales_a)
    grant = give(cast.manager, cast.sales_b, customers=[listed])
    with pytest.raises(ValidationError):
        revoke_grant(actor(cast.manager), grant.pk, reason=" ")
    assert Grant.objects.active().count() == 1


def test_listing_helpers(cast):
    listed = customer_of(cast.sales_a)
    given = give(cast.manager, cast.sales_b, customers=[listed])
    other = give(cast.sales_manager, cast.sales_a, scope=Scope.DEPARTMENT)
    assert list(grants_given_by(cast.manager)) == [given]
    assert list(grants_held_by(cast.sales_b)) == [given]
    assert set(grants_visible_to(cast.sales_b)) == {given}
    assert set(grants_visible_to(cast.sales_a)) == {other}
    assert set(grants_visible_to(cast.admin)) == {given, other}
    assert customer_ids_by_grant([given.pk, other.pk]) == {given.pk: [listed.pk]}


# --- break-glass --------------------------------------------------------------------------------


def test_break_glass_opens_named_customers_in_clear_and_raises_an_alert(cast, caplog):
    far = customer_of(cast.sales_b, phone="13900001111")
    with caplog.at_level(logging.WARNING, logger="anke.alerts"):
        grant = break_glass(actor(cast.sales_manager), customer_ids=[far.pk],
                            reason="客户来电投诉，负责人今天联系不上", minutes=30)
    assert grant.break_glass and grant.user == cast.sales_manager
    assert grant.permissions == list(BREAK_GLASS_PERMISSIONS)
    assert timedelta(minutes=29) < grant.expires_at - timezone.now() <= timedelta(minutes=30)
    forget_roles(cast.sales_manager)
    shown = view_customer(actor(cast.sales_manager), far.pk, fields=["phone"])
    assert shown.phone == "+8613900001111"
    event = AuditEvent.objects.get(action="grant.break_glass")
    assert event.outcome == "allowed" and event.customer_ids == [str(far.pk)]
    assert event.reason == "客户来电投诉，负责人今天联系不上"
    [line] = [r for r in caplog.records if r.name == "anke.alerts"]
    assert line.levelno == logging.WARNING
    assert line.getMessage() == (f"break-glass: grant {grant.pk} taken by user "
                                 f"{cast.sales_manager.pk} on 1 customer(s) for 30 minute(s)")
    expire(grant)
    forget_roles(cast.sales_manager)
    with pytest.raises(NotVisible):
        view_customer(actor(cast.sales_manager), far.pk)


def test_break_glass_without_the_right_is_refused(cast):
    far = customer_of(cast.sales_a)
    refused(ActionDenied, lambda: break_glass(actor(cast.sales_b), customer_ids=[far.pk],
                                              reason="I would like to look at it", minutes=10),
            reason="not_permitted", event="grant.break_glass")


def test_break_glass_on_a_customer_that_does_not_exist_is_404(cast):
    ghost = uuid.uuid4()
    denied = refused(NotVisible, lambda: break_glass(
        actor(cast.sales_manager), customer_ids=[ghost], reason="emergency call from client",
        minutes=10), reason="not_visible", event="grant.break_glass")
    assert denied.customer_ids == [str(ghost)]


@pytest.mark.parametrize(("change", "field"), [
    ({"reason": "too short"}, "reason"),
    ({"minutes": 0}, "minutes"),
    ({"minutes": 241}, "minutes"),
    ({"minutes": "30"}, "minutes"),
    ({"minutes": True}, "minutes"),
    ({"customer_ids": []}, "customer_ids"),
    ({"customer_ids": ["nope"]}, "customer_ids"),
    ({"customer_ids": [uuid.uuid4() for _ in range(21)]}, "customer_ids"),
])
def test_break_glass_bad_input(cast, change, field):
    far = customer_of(cast.sales_b)
    arguments = {"customer_ids": [far.pk], "reason": "customer on the phone now",
                 "minutes": 30, **change}
    with pytest.raises(ValidationError) as error:
        break_glass(actor(cast.sales_manager), **arguments)
    assert field in error.value.message_dict
    assert not Grant.objects.exists()


def test_break_glass_holder_has_no_extra_permissions_elsewhere(cast):
    far = customer_of(cast.sales_b)
    break_glass(actor(cast.sales_manager), customer_ids=[far.pk],
                reason="customer on the phone now", minutes=5)
    forget_roles(cast.sales_manager)
    assert far.pk not in visible_ids(cast.sales_manager, "edit")
    assert not has_permission(cast.sales_manager, "customer.export")


# --- web pages ----------------------------------------------------------------------------------


def page(response) -> str:
    return response.content.decode()


def grant_form(user, customer, **extra):
    return {"user": user.pk, "permissions": ["customer.view"], "customer_ids": str(customer.pk),
            "field_access": "masked", "reason": "holiday cover",
            "expires_at": (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
            **extra}


def test_the_menu_shows_access_to_those_who_grant_or_manage(client, cast):
    for user, shown in ((cast.sales_manager, True), (cast.admin, True), (cast.sales_a, False),
                        (cast.auditor, False)):
        client.force_login(user)
        body = page(client.get("/"))
        assert ('href="/access/grants/"' in body) is shown, user


def test_the_new_grant_form_offers_only_what_the_grantor_holds(client, cast):
    customer_of(cast.sales_manager, name="王五")
    client.force_login(cast.sales_manager)
    response = client.get("/access/grants/new/")
    assert response.status_code == 200
    form = response.context["form"]
    offered = {value for value, _label in form.fields["permissions"].choices}
    assert "customer.view" in offered and "customer.export" not in offered
    assert "grant.approve" not in offered
    assert cast.sales_manager not in form.fields["user"].queryset
    assert [v for v, _l in form.fields["scope"].choices] == ["", "own", "department"]
    assert "王五" in page(response)
    read = AuditEvent.objects.get(action="customer.list")  # the picker's names are a read
    assert read.actor == cast.sales_manager and read.fields == ["name"]


def test_granting_through_the_form(client, cast):
    customer = customer_of(cast.sales_a)
    client.force_login(cast.sales_manager)
    response = client.post("/access/grants/new/", grant_form(cast.sales_b, customer))
    assert response.status_code == 302 and response["Location"] == "/access/grants/"
    grant = Grant.objects.get()
    assert grant.user == cast.sales_b and list(grant.customers.all()) == [customer]
    client.force_login(cast.sales_b)
    held = page(client.get("/access/grants/"))
    assert f'data-grant="{grant.pk}"' in held and "holiday cover" in held


def test_picking_from_my_customers_works_too(client, cast):
    customer = customer_of(cast.sales_a)
    client.force_login(cast.sales_manager)
    response = client.post("/access/grants/new/", grant_form(
        cast.sales_b, customer, customer_ids="", my_customers=[str(customer.pk)]))
    assert response.status_code == 302
    assert list(Grant.objects.get().customers.all()) == [customer]


@pytest.mark.parametrize(("change", "field"), [
    ({"reason": ""}, "reason"),
    ({"permissions": ["customer.export"]}, "permissions"),
    ({"customer_ids": "nonsense"}, "customer_ids"),
    ({"scope": "all", "customer_ids": ""}, "scope"),
    ({"expires_at": "2000-01-01T00:00"}, "expires_at"),
])
def test_bad_form_input_shows_an_error_and_creates_nothing(client, cast, change, field):
    customer = customer_of(cast.sales_a)
    client.force_login(cast.sales_manager)
    response = client.post("/access/grants/new/", grant_form(cast.sales_b, customer, **change))
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert not Grant.objects.exists()


def test_a_refusal_by_the_action_is_shown_on_the_form_with_its_status(client, cast):
    customer = customer_of(cast.sales_a)
    client.force_login(cast.sales_manager)
    response = client.post("/access/grants/new/", grant_form(
        cast.sales_b, customer, scope="department", customer_ids=""))  # north: out of reach
    assert response.status_code == 403
    assert "wider than your own" in page(response)
    assert not Grant.objects.exists()
    assert AuditEvent.objects.get(action="grant.create").reason == "scope_not_held"


def test_a_customer_out_of_reach_is_refused_on_the_form(client, cast):
    hidden = customer_of(cast.sales_b)
    client.force_login(cast.sales_manager)
    response = client.post("/access/grants/new/", grant_form(cast.sales_a, hidden))
    assert response.status_code == 404
    assert "do not exist or are not visible" in page(response)
    assert not Grant.objects.exists()
    assert AuditEvent.objects.get(action="grant.create").outcome == "denied"


def test_the_grant_pages_need_the_right(client, cast):
    client.force_login(cast.sales_a)
    assert client.get("/access/grants/new/").status_code == 403
    assert client.get("/access/break-glass/").status_code == 403
    assert client.get("/access/grants/").status_code == 200  # their own grants, if any
    assert AuditEvent.objects.filter(outcome="denied").count() == 2


def test_break_glass_through_the_form(client, cast):
    far = customer_of(cast.sales_b)
    client.force_login(cast.sales_manager)
    form = client.get("/access/break-glass/")
    assert 'data-testid="break-glass-warning"' in page(form)
    short = client.post("/access/break-glass/", {"customer_ids": str(far.pk), "reason": "now",
                                                 "minutes": 30})
    assert short.status_code == 400 and "reason" in short.context["form"].errors
    too_long = client.post("/access/break-glass/", {
        "customer_ids": str(far.pk), "reason": "the customer is on the phone", "minutes": 999})
    assert too_long.status_code == 400 and "minutes" in too_long.context["form"].errors
    assert not Grant.objects.exists()
    response = client.post("/access/break-glass/", {
        "customer_ids": str(far.pk), "reason": "the customer is on the phone", "minutes": 30})
    assert response.status_code == 302
    assert Grant.objects.get().break_glass
    assert AuditEvent.objects.get(action="grant.break_glass").outcome == "allowed"


def test_revoking_through_the_form(client, cast):
    customer = customer_of(cast.sales_a)
    grant = give(cast.manager, cast.sales_b, customers=[customer])
    client.force_login(cast.sales_a)
    assert client.get(f"/access/grants/{grant.pk}/revoke/").status_code == 404
    client.force_login(cast.sales_b)
    assert client.get(f"/access/grants/{grant.pk}/revoke/").status_code == 200
    assert client.post(f"/access/grants/{grant.pk}/revoke/", {"reason": ""}).status_code == 400
    response = client.post(f"/access/grants/{grant.pk}/revoke/", {"reason": "finished"})
    assert response.status_code == 302
    grant.refresh_from_db()
    assert grant.revoked_by == cast.sales_b


def test_approvers_see_every_grant_in_force(client, cast):
    customer = customer_of(cast.sales_a)
    grant = give(cast.manager, cast.sales_b, customers=[customer])
    client.force_login(cast.admin)
    response = client.get("/access/grants/")
    assert [row["grant"] for row in response.context["all_active"]] == [grant]
    client.force_login(cast.sales_a)
    assert client.get("/access/grants/").context["all_active"] is None
