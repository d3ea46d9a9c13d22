"""User administration and off-boarding: the actions, the web pages and the ``anke user`` CLI."""

import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from anke.access.models import Role
from anke.access.policy import forget_roles, has_permission
from anke.accounts.actions import (
    create_api_token,
    create_user,
    deactivate_user,
    handover_counts,
    reactivate_user,
    update_user,
)
from anke.accounts.models import ApiToken, User
from anke.audit.models import AuditEvent
from anke.core.errors import ActionDenied, NotVisible, StaleVersion
from anke.customers.actions import create_customers, update_customer
from anke.customers.models import Customer
from anke.sales.actions import create_deal, create_task, update_deal, update_task
from anke.sales.models import Deal, PipelineStage, Task
from anke.service.actions import open_ticket
from anke.service.models import Ticket
from tests.accounts.signing_in import enrol_totp, sign_in
from tests.conftest import tripwire_off
from tests.helpers import html
from tests.personas import OPERATOR, PASSWORD, actor, customer_of

_since = {"id": 0}


@pytest.fixture(autouse=True)
def _events_after_the_cast(cast):
    """Events of the test itself, not of building the cast (the departed rep's off-boarding)."""
    _since["id"] = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def events(action, **filters):
    return list(AuditEvent.objects.filter(action=action, id__gt=_since["id"], **filters)
                .order_by("id"))


def detail(event) -> dict:
    return json.loads(event.detail) if event.detail else {}


def role_codes(user) -> list[str]:
    return sorted(user.roles.values_list("code", flat=True))


def reloaded(user):
    return User.objects.get(pk=user.pk)


def stage(code):
    return PipelineStage.objects.get(code=code)


def deal_of(user, customer, code="qualify", title="单"):
    return create_deal(actor(user), customer.pk, data={
        "title": title, "stage": stage(code), "amount": Decimal("100")})


def task_of(user, customer, title="回访"):
    return create_task(actor(user), customer.pk, data={
        "title": title, "due_at": timezone.now() + timedelta(days=1)})


def ticket_of(user, customer, status="open"):
    return open_ticket(actor(user), customer.pk, data={
        "subject": "投诉", "assignee": user, "status": status})


# --- update_user --------------------------------------------------------------------------------


def test_an_administrator_changes_a_users_details_and_roles_audited_before_and_after(cast):
    # when
    user = update_user(actor(cast.admin), cast.sales_b.pk, changes={
        "display_name": "销售乙", "department": cast.east.pk, "manager": cast.sales_manager.pk,
        "roles": ["sales_manager", "sales_rep"]})
    # then
    stored = reloaded(cast.sales_b)
    assert (stored.display_name, stored.department, stored.manager) == (
        "销售乙", cast.east, cast.sales_manager)
    assert role_codes(stored) == ["sales_manager", "sales_rep"]
    assert has_permission(user, "customer.reassign")  # the cached roles were dropped
    [event] = events("user.update")
    assert event.actor == cast.admin and event.outcome == "allowed"
    assert event.object_type == "user" and event.object_ids == [str(cast.sales_b.pk)]
    assert event.fields == ["department", "display_name", "manager", "roles"]
    assert detail(event) == {
        "department": [cast.north.pk, cast.east.pk],
        "display_name": ["", "销售乙"],
        "manager": [None, cast.sales_manager.pk],
        "roles": [["sales_rep"], ["sales_manager", "sales_rep"]],
    }


def test_clearing_region_and_manager_records_only_what_changed(cast):
    region_id = cast.sales_a.region_id
    update_user(actor(cast.admin), cast.sales_a.pk, changes={
        "region": None, "manager": "", "display_name": ""})
    stored = reloaded(cast.sales_a)
    assert stored.region is None and stored.manager is None
    [event] = events("user.update")
    assert detail(event) == {"manager": [cast.sales_manager.pk, None],
                             "region": [region_id, None]}
    assert event.fields == ["manager", "region"]


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"roles": ["sales_rep", "wizard"]}, "roles", "Unknown role: wizard"),
    ({"roles": "sales_rep"}, "roles", "Give a list of role codes."),
    ({"department": 999999}, "department", "Choose an existing department."),
    ({"region": "abc"}, "region", "Choose an existing region."),
    ({"manager": 999999}, "manager", "Choose a user."),
    ({"display_name": "长" * 101}, "display_name", "at most 100 characters"),
    ({"is_active": False}, "is_active", "This field cannot be set."),
    ({"is_superuser": True}, "is_superuser", "This field cannot be set."),
    ({"password": "x"}, "password", "This field cannot be set."),
])
def test_bad_changes_name_the_field_and_change_nothing(cast, changes, field, message):
    with pytest.raises(ValidationError) as error:
        update_user(actor(cast.admin), cast.sales_b.pk, changes=changes)
    assert message in " ".join(error.value.message_dict[field])
    stored = reloaded(cast.sales_b)
    assert role_codes(stored) == ["sales_rep"] and stored.is_active and not stored.is_superuser
    assert stored.department == cast.north and stored.display_name == ""
    assert not events("user.update")


def test_a_user_cannot_manage_themselves_or_close_a_circle_of_managers(cast):
    with pytest.raises(ValidationError, match="their own manager"):
        update_user(actor(cast.admin), cast.sales_a.pk, changes={"manager": cast.sales_a.pk})
    # sales_a reports to sales_manager already
    with pytest.raises(ValidationError, match="circle of managers"):
        update_user(actor(cast.admin), cast.sales_manager.pk,
                    changes={"manager": cast.sales_a.pk})
    # and one step further up
    update_user(actor(cast.admin), cast.sales_b.pk, changes={"manager": cast.sales_a.pk})
    with pytest.raises(ValidationError, match="circle of managers"):
        update_user(actor(cast.admin), cast.sales_manager.pk,
                    changes={"manager": cast.sales_b.pk})
    assert reloaded(cast.sales_manager).manager is None


def test_an_inactive_user_cannot_become_a_manager(cast):
    with pytest.raises(ValidationError, match="Choose an active user."):
        update_user(actor(cast.admin), cast.sales_b.pk, changes={"manager": cast.departed.pk})


def test_without_user_manage_the_change_is_refused_audited_and_nothing_changes(cast):
    with pytest.raises(ActionDenied):
        update_user(actor(cast.sales_a), cast.sales_a.pk, changes={"roles": ["manager"]})
    with pytest.raises(ActionDenied):
        update_user(actor(cast.sales_manager), cast.sales_a.pk, changes={"display_name": "x"})
    assert role_codes(reloaded(cast.sales_a)) == ["sales_rep"]
    assert reloaded(cast.sales_a).display_name == ""
    denied = events("user.update", outcome="denied")
    assert [(e.actor, e.object_ids, e.reason) for e in denied] == [
        (cast.sales_a, [str(cast.sales_a.pk)], "not_permitted"),
        (cast.sales_manager, [str(cast.sales_a.pk)], "not_permitted")]


def test_an_unknown_user_is_a_404_and_audited(cast):
    with pytest.raises(NotVisible):
        update_user(actor(cast.admin), 999999, changes={"display_name": "x"})
    with pytest.raises(NotVisible):
        update_user(actor(cast.admin), "²", changes={"display_name": "x"})
    assert [e.reason for e in events("user.update", outcome="denied")] == [
        "not_visible", "not_visible"]


def test_an_administrator_cannot_give_themselves_a_role(cast):
    with pytest.raises(ActionDenied, match="cannot give yourself a role"):
        update_user(actor(cast.admin), cast.admin.pk,
                    changes={"roles": ["administrator", "manager"]})
    assert role_codes(reloaded(cast.admin)) == ["administrator"]
    [event] = events("user.update", outcome="denied")
    assert event.reason == "self_escalation"


def test_the_last_administrator_keeps_user_and_role_management(cast):
    # when the only administrator drops their own role
    with pytest.raises(ValidationError) as error:
        update_user(actor(cast.admin), cast.admin.pk, changes={"roles": []})
    # then
    assert "last active user who may manage users" in error.value.message_dict["roles"][0]
    assert role_codes(reloaded(cast.admin)) == ["administrator"]
    assert not events("user.update", outcome="allowed")
    # with a second administrator, the first may step down
    update_user(OPERATOR, cast.manager.pk, changes={"roles": ["manager", "administrator"]})
    update_user(actor(cast.admin), cast.admin.pk, changes={"roles": []})
    assert role_codes(reloaded(cast.admin)) == []


def test_an_inactive_holder_does_not_count_as_another_administrator(cast):
    update_user(OPERATOR, cast.departed.pk, changes={"roles": ["administrator"]})
    with pytest.raises(ValidationError, match="last active user"):
        update_user(OPERATOR, cast.admin.pk, changes={"roles": []})


# --- deactivate_user ----------------------------------------------------------------------------


@pytest.fixture
def book(cast):
    """What sales_b leaves behind: two customers with open and closed deals, tasks and tickets,
    plus a customer of sales_a that must not move."""
    b = cast.sales_b
    first, second = customer_of(b, name="一号"), customer_of(b, name="二号")
    others = customer_of(cast.sales_a, name="甲的客户")
    return {
        "customers": [first, second], "others": others,
        "open_deal": deal_of(b, first), "won_deal": deal_of(b, first, "won"),
        "lost_deal": deal_of(b, second, "lost"), "a_deal": deal_of(cast.sales_a, others),
        "open_task": task_of(b, second),
        "done_task": update_task(actor(b), task_of(b, first).pk, changes={"done": True},
                                 version=1),
        "open_ticket": ticket_of(b, first),
        "waiting_ticket": ticket_of(b, second, "waiting"),
        "resolved_ticket": ticket_of(b, second, "resolved"),
        "closed_ticket": ticket_of(b, first, "closed"),
    }


def test_deactivation_hands_over_the_open_work_and_keeps_the_closed(cast, book, client):
    b, a = cast.sales_b, cast.sales_a
    _token, _secret = create_api_token(OPERATOR, b, name="script")
    sign_in(client, b, enrol_totp(b))
    assert handover_counts(b) == {"customers": 2, "deals": 1, "tasks": 1, "tickets": 2}
    # when
    result = deactivate_user(actor(cast.admin), b.pk, successor_id=a.pk)
    # then
    assert result == {"successor": a.pk, "customers": 2, "deals": 1, "tasks": 1, "tickets": 2,
                      "tokens_revoked": 1, "sessions_ended": 1}
    assert not reloaded(b).is_active
    assert not ApiToken.objects.filter(user=b, revoked_at__isnull=True).exists()
    assert not Session.objects.filter(expire_date__gt=timezone.now()).exists() or all(
        s.get_decoded().get("_auth_user_id") != str(b.pk) for s in Session.objects.all())
    moved = {c.pk for c in book["customers"]}
    for customer in Customer.objects.filter(pk__in=moved):
        assert (customer.owner, customer.department, customer.region, customer.version) == (
            a, a.department, a.region, 2)
    assert Deal.objects.get(pk=book["open_deal"].pk).owner == a
    for closed in ("won_deal", "lost_deal"):
        assert Deal.objects.get(pk=book[closed].pk).owner == b
    assert Task.objects.get(pk=book["open_task"].pk).assignee == a
    assert Task.objects.get(pk=book["done_task"].pk).assignee == b
    for kind, owner in (("open_ticket", a), ("waiting_ticket", a), ("resolved_ticket", b),
                        ("closed_ticket", b)):
        assert Ticket.objects.get(pk=book[kind].pk).assignee == owner, kind
    assert Customer.objects.get(pk=book["others"].pk).version == 1
    # the successor now sees them
    forget_roles(a)
    assert moved <= set(Customer.objects.visible_to(a, "view").values_list("pk", flat=True))
    # audited in one transaction: the user event and one reassignment naming the customers
    [event] = events("user.deactivate")
    assert event.actor == cast.admin and event.object_ids == [str(b.pk)]
    assert detail(event) == {"is_active": [True, False], "successor": [None, a.pk],
                             "customers": [None, 2], "deals": [None, 1], "tasks": [None, 1],
                             "tickets": [None, 2], "tokens_revoked": [None, 1],
                             "sessions_ended": [None, 1]}
    [reassign] = events("customer.reassign")
    assert sorted(reassign.object_ids) == sorted(str(pk) for pk in moved)
    assert sorted(reassign.customer_ids) == sorted(str(pk) for pk in moved)
    assert reassign.reason == "user.deactivate" and reassign.request_id == event.request_id
    assert detail(reassign) == {"owner": [b.pk, a.pk]}


def test_an_edit_started_before_the_handover_is_stale(cast, book):
    customer, deal = book["customers"][0], book["open_deal"]
    deactivate_user(actor(cast.admin), cast.sales_b.pk, successor_id=cast.manager.pk)
    with pytest.raises(StaleVersion):
        update_customer(actor(cast.manager), customer.pk, changes={"company": "x"}, version=1)
    with pytest.raises(StaleVersion):
        update_deal(actor(cast.manager), deal.pk, changes={"title": "x"}, version=1)


@pytest.mark.parametrize(("successor", "message"), [
    ("sales_b", "Choose someone other than the user who leaves."),
    ("departed", "Choose an active user who may own customers"),
    ("auditor", "Choose an active user who may own customers"),
    ("admin", "Choose an active user who may own customers"),
    (999999, "Choose a user."),
    ("", "Choose who takes over"),
])
def test_an_unfit_successor_is_refused_and_nothing_changes(cast, book, successor, message):
    token, _secret = create_api_token(OPERATOR, cast.sales_b, name="script")
    successor_id = getattr(getattr(cast, str(successor), None), "pk", successor)
    with pytest.raises(ValidationError) as error:
        deactivate_user(actor(cast.admin), cast.sales_b.pk, successor_id=successor_id)
    assert message in error.value.message_dict["successor"][0]
    assert reloaded(cast.sales_b).is_active
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
    assert Customer.objects.filter(owner=cast.sales_b).count() == 2
    assert handover_counts(cast.sales_b) == {"customers": 2, "deals": 1, "tasks": 1,
                                             "tickets": 2}
    assert not events("user.deactivate") and not events("customer.reassign")


def test_a_successor_who_cannot_reach_the_work_is_refused_inside_the_transaction(cast):
    # The service agent works a ticket on a customer of the manager: sales_a (own customers
    # only) could never open it.
    customer = customer_of(cast.manager)
    ticket = open_ticket(actor(cast.manager), customer.pk, data={
        "subject": "咨询", "assignee": cast.service})
    with pytest.raises(ValidationError, match="cannot work on 1 of the open tickets"):
        deactivate_user(actor(cast.admin), cast.service.pk, successor_id=cast.sales_a.pk)
    assert reloaded(cast.service).is_active
    assert Ticket.objects.get(pk=ticket.pk).assignee == cast.service
    assert not events("user.deactivate")
    deactivate_user(actor(cast.admin), cast.service.pk, successor_id=cast.manager.pk)
    assert Ticket.objects.get(pk=ticket.pk).assignee == cast.manager


def test_nobody_deactivates_themselves_or_a_deactivated_user(cast):
    update_user(OPERATOR, cast.manager.pk, changes={"roles": ["manager", "administrator"]})
    with pytest.raises(ValidationError, match="cannot deactivate yourself"):
        deactivate_user(actor(cast.admin), cast.admin.pk, successor_id=cast.sales_a.pk)
    with pytest.raises(ValidationError, match="deactivated already"):
        deactivate_user(actor(cast.admin), cast.departed.pk, successor_id=cast.sales_a.pk)
    assert reloaded(cast.admin).is_active


def test_a_user_with_nothing_to_hand_over_needs_no_successor(cast):
    result = deactivate_user(actor(cast.admin), cast.auditor.pk, successor_id=None)
    assert result["customers"] == 0 and result["successor"] is None
    assert not reloaded(cast.auditor).is_active
    assert not events("customer.reassign")


def test_the_last_administrator_cannot_be_deactivated(cast):
    with pytest.raises(ValidationError, match="last active user who may manage users"):
        deactivate_user(OPERATOR, cast.admin.pk, successor_id=None)
    assert reloaded(cast.admin).is_active


def test_deactivation_needs_user_manage(cast, book):
    with pytest.raises(ActionDenied):
        deactivate_user(actor(cast.sales_manager), cast.sales_b.pk, successor_id=cast.sales_a.pk)
    assert reloaded(cast.sales_b).is_active
    [event] = events("user.deactivate")
    assert event.outcome == "denied" and event.object_ids == [str(cast.sales_b.pk)]


def test_deactivating_a_user_with_200_customers_takes_a_fixed_number_of_queries(cast):
    rows = [{"name": f"客户{i}"} for i in range(200)]
    create_customers(actor(cast.sales_b), rows)
    small = create_user(OPERATOR, username="small", password=None, roles=["sales_rep"],
                        department=cast.north)
    create_customers(actor(small), rows[:2])
    admin = actor(cast.admin)
    has_permission(cast.admin, "user.manage")  # the actor's roles are read once per request
    with CaptureQueriesContext(connection) as few:
        deactivate_user(admin, small.pk, successor_id=cast.sales_a.pk)
    with CaptureQueriesContext(connection) as many:
        deactivate_user(admin, cast.sales_b.pk, successor_id=cast.sales_a.pk)
    assert Customer.objects.filter(owner=cast.sales_a).count() == 202
    assert len(many) == len(few) <= 30, [q["sql"][:120] for q in many.captured_queries]
    print(f"deactivation with 200 customers: {len(many)} queries")


# --- reactivate_user ----------------------------------------------------------------------------


def test_reactivation_lets_the_user_back_in_without_their_old_tokens(cast, client):
    token, _secret = create_api_token(OPERATOR, cast.sales_b, name="script")
    deactivate_user(actor(cast.admin), cast.sales_b.pk, successor_id=cast.sales_a.pk)
    user = reactivate_user(actor(cast.admin), cast.sales_b.pk)
    assert user.is_active and reloaded(cast.sales_b).is_active
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    [event] = events("user.reactivate")
    assert detail(event) == {"is_active": [False, True]}
    assert client.login(username="sales_b", password=PASSWORD)
    with pytest.raises(ValidationError, match="active already"):
        reactivate_user(actor(cast.admin), cast.sales_b.pk)
    with pytest.raises(ActionDenied):
        reactivate_user(actor(cast.sales_a), cast.departed.pk)
    assert not reloaded(cast.departed).is_active


def test_the_cast_departed_user_left_through_the_real_action(cast):
    [event] = AuditEvent.objects.filter(action="user.deactivate")
    assert event.auth_method == "cli" and detail(event)["successor"] == [None, cast.sales_a.pk]
    assert not cast.departed.is_active


# --- web ----------------------------------------------------------------------------------------


@pytest.fixture
def as_admin(client, cast):
    client.force_login(cast.admin)
    return client


def test_the_user_list_filters_and_shows_roles_to_administrators(as_admin, cast):
    response = as_admin.get(reverse("accounts:list"))
    body = html(response)
    assert response.status_code == 200
    assert "sales_a" in body and "departed" in body and "Sales rep" in body
    assert f'href="{reverse("accounts:list")}"' in body  # the nav entry
    body = html(as_admin.get(reverse("accounts:list"), {"role": "sales_rep", "active": "yes"}))
    assert "sales_a" in body and "sales_b" in body
    assert ">departed<" not in body and ">auditor<" not in body
    body = html(as_admin.get(reverse("accounts:list"), {"active": "no"}))
    assert ">departed<" in body and ">sales_a<" not in body
    body = html(as_admin.get(reverse("accounts:list"), {"department": cast.north.pk}))
    assert ">sales_b<" in body and ">sales_a<" not in body
    response = as_admin.get(reverse("accounts:list"), {"department": "x", "role": "wizard"})
    assert response.status_code == 200 and "Select a valid choice" in html(response)


def test_the_user_list_pages(as_admin, cast):
    for i in range(55):
        create_user(OPERATOR, username=f"u{i:02d}", password=None, roles=["auditor"])
    first = html(as_admin.get(reverse("accounts:list"), {"role": "auditor"}))
    assert "Page 1 of 2" in first and ">u48<" in first and ">u49<" not in first
    assert "role=auditor&amp;page=2" in first
    second = html(as_admin.get(reverse("accounts:list"), {"role": "auditor", "page": "2"}))
    assert ">u49<" in second and ">u54<" in second and ">u00<" not in second
    odd = html(as_admin.get(reverse("accounts:list"), {"role": "auditor", "page": "x²"}))
    assert "Page 1 of 2" in odd and ">sales_a<" not in odd


def test_colleagues_see_the_directory_without_roles_or_tokens(client, cast):
    client.force_login(cast.sales_b)
    body = html(client.get(reverse("accounts:list")))
    assert ">sales_a<" in body and "Sales rep" not in body and 'name="role"' not in body
    detail_page = client.get(reverse("accounts:detail", args=[cast.sales_a.pk]))
    body = html(detail_page)
    assert detail_page.status_code == 200 and "华东组" in body
    assert 'data-testid="roles"' not in body and "API tokens</dt>" not in body
    assert reverse("accounts:edit", args=[cast.sales_a.pk]) not in body
    assert client.get(reverse("accounts:edit", args=[cast.sales_a.pk])).status_code == 403
    assert client.get(reverse("accounts:deactivate", args=[cast.sales_a.pk])).status_code == 403


def test_without_user_view_the_pages_are_refused(client, cast):
    role = Role.objects.get(code="sales_rep")
    role.permissions = [p for p in role.permissions if p != "user.view"]
    with tripwire_off():  # staged: a role without the directory
        role.save(update_fields=["permissions"])
    client.force_login(cast.sales_a)
    assert client.get(reverse("accounts:list")).status_code == 403
    assert client.get(reverse("accounts:detail", args=[cast.sales_b.pk])).status_code == 403
    assert f'href="{reverse("accounts:list")}"' not in html(client.get(reverse("home")))


def test_the_detail_page_shows_roles_tokens_and_what_the_user_owns(as_admin, cast):
    create_api_token(OPERATOR, cast.sales_b, name="one")
    create_api_token(OPERATOR, cast.sales_b, name="two")
    customer_of(cast.sales_b)
    response = as_admin.get(reverse("accounts:detail", args=[cast.sales_b.pk]))
    body = html(response)
    assert 'data-testid="active-tokens">2<' in body
    assert "Sales rep" in body and "never" in body
    assert "1 customers, 0 open deals" in body
    assert reverse("accounts:deactivate", args=[cast.sales_b.pk]) in body
    assert as_admin.get(reverse("accounts:detail", args=[999999])).status_code == 404


def test_editing_a_user_on_the_web(as_admin, cast):
    url = reverse("accounts:edit", args=[cast.sales_b.pk])
    page = html(as_admin.get(url))
    assert 'type="checkbox" name="roles" value="sales_manager"' in page
    assert "Sales manager" in page  # translated label, not the code
    response = as_admin.post(url, {
        "display_name": "销售乙", "department": cast.east.pk, "region": "",
        "manager": cast.sales_manager.pk, "roles": ["sales_rep", "sales_manager"]})
    assert response.status_code == 302
    stored = reloaded(cast.sales_b)
    assert stored.display_name == "销售乙" and stored.department == cast.east
    assert stored.region is None and role_codes(stored) == ["sales_manager", "sales_rep"]
    assert events("user.update")[0].actor == cast.admin


def test_a_bad_edit_shows_the_error_next_to_the_field_and_changes_nothing(as_admin, cast):
    url = reverse("accounts:edit", args=[cast.sales_manager.pk])
    response = as_admin.post(url, {"manager": cast.sales_a.pk, "roles": ["sales_manager"]})
    assert response.status_code == 400
    assert 'data-field-error="manager"' in html(response)
    assert "circle of managers" in html(response)
    response = as_admin.post(url, {"roles": ["wizard"]})
    assert response.status_code == 400 and 'data-field-error="roles"' in html(response)
    assert reloaded(cast.sales_manager).manager is None
    response = as_admin.post(reverse("accounts:edit", args=[cast.admin.pk]), {"roles": []})
    assert response.status_code == 400 and "last active user" in html(response)
    assert not events("user.update", outcome="allowed")


def test_a_sales_rep_posting_the_edit_form_is_refused_and_audited(client, cast):
    client.force_login(cast.sales_a)
    response = client.post(reverse("accounts:edit", args=[cast.sales_a.pk]),
                           {"roles": ["manager"]})
    assert response.status_code == 403
    assert role_codes(reloaded(cast.sales_a)) == ["sales_rep"]
    [event] = events("user.update")
    assert event.outcome == "denied" and event.actor == cast.sales_a


def test_deactivating_on_the_web_shows_what_moves_then_hands_it_over(as_admin, cast, book):
    url = reverse("accounts:deactivate", args=[cast.sales_b.pk])
    page = html(as_admin.get(url))
    assert "2 customers" in page and "1 open deal" in page and "2 open tickets" in page
    assert f'value="{cast.sales_a.pk}"' in page and f'value="{cast.manager.pk}"' in page
    for unfit in (cast.auditor, cast.departed, cast.sales_b, cast.admin):
        assert f'<option value="{unfit.pk}"' not in page
    response = as_admin.post(url, {"successor": ""})
    assert response.status_code == 400 and 'data-field-error="successor"' in html(response)
    assert reloaded(cast.sales_b).is_active
    response = as_admin.post(url, {"successor": cast.sales_a.pk}, follow=True)
    assert response.status_code == 200
    assert "2 customers, 1 open deals, 1 open tasks and 2 open tickets moved" in html(response)
    assert not reloaded(cast.sales_b).is_active
    assert Customer.objects.filter(owner=cast.sales_a).count() == 3
    body = html(as_admin.get(reverse("accounts:detail", args=[cast.sales_b.pk])))
    assert reverse("accounts:reactivate", args=[cast.sales_b.pk]) in body
    response = as_admin.post(reverse("accounts:reactivate", args=[cast.sales_b.pk]),
                             follow=True)
    assert "can sign in again" in html(response) and reloaded(cast.sales_b).is_active


def test_reactivating_an_active_user_says_so(as_admin, cast):
    response = as_admin.post(reverse("accounts:reactivate", args=[cast.sales_a.pk]),
                             follow=True)
    assert "This user is active already." in html(response)
    assert not events("user.reactivate")


def test_the_successor_choice_names_people_by_display_name_and_username(as_admin, cast):
    update_user(OPERATOR, cast.sales_a.pk, changes={"display_name": "小甲"})
    customer_of(cast.sales_b)
    page = html(as_admin.get(reverse("accounts:deactivate", args=[cast.sales_b.pk])))
    assert f'<option value="{cast.sales_a.pk}">小甲 (sales_a)</option>' in page


def test_the_web_refuses_a_reactivation_or_deactivation_by_a_sales_rep(client, cast):
    client.force_login(cast.sales_a)
    assert client.post(reverse("accounts:reactivate", args=[cast.departed.pk])).status_code == 403
    response = client.post(reverse("accounts:deactivate", args=[cast.sales_b.pk]),
                           {"successor": cast.sales_a.pk})
    assert response.status_code == 403
    assert reloaded(cast.sales_b).is_active and not reloaded(cast.departed).is_active
    assert [e.outcome for e in events("user.reactivate")] == ["denied"]
    assert [e.outcome for e in events("user.deactivate")] == ["denied"]


def test_an_administrator_is_not_offered_to_deactivate_themselves(as_admin, cast):
    body = html(as_admin.get(reverse("accounts:detail", args=[cast.admin.pk])))
    assert reverse("accounts:deactivate", args=[cast.admin.pk]) not in body
    response = as_admin.post(reverse("accounts:deactivate", args=[cast.admin.pk]), {})
    assert response.status_code == 400 and "cannot deactivate yourself" in html(response)


def test_the_user_list_costs_a_fixed_number_of_queries(as_admin, cast,
                                                      django_assert_max_num_queries):
    for i in range(30):
        create_user(OPERATOR, username=f"u{i:02d}", password=None, roles=["auditor"],
                    department=cast.east, manager=cast.sales_manager)
    with django_assert_max_num_queries(12):
        assert as_admin.get(reverse("accounts:list")).status_code == 200


# --- CLI ----------------------------------------------------------------------------------------


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("user", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_cli_deactivates_with_a_successor_and_reactivates(cast, book):
    out, _err = run("deactivate", "sales_b", "--successor", "sales_a")
    assert "Deactivated sales_b" in out and "2 customers" in out and "sales_a" in out
    assert not reloaded(cast.sales_b).is_active
    [event] = events("user.deactivate")
    assert event.auth_method == "cli" and event.actor is None
    out, _err = run("reactivate", "sales_b")
    assert "Reactivated sales_b" in out and reloaded(cast.sales_b).is_active


def test_cli_sets_roles(cast):
    out, _err = run("roles", "sales_b", "--set", "sales_rep", "--set", "sales_manager")
    assert "sales_b: sales_manager, sales_rep" in out
    assert role_codes(reloaded(cast.sales_b)) == ["sales_manager", "sales_rep"]
    out, _err = run("roles", "sales_b")
    assert "sales_manager, sales_rep" in out
    assert detail(events("user.update")[0]) == {
        "roles": [["sales_rep"], ["sales_manager", "sales_rep"]]}


@pytest.mark.parametrize(("args", "message"), [
    (["deactivate", "nobody", "--successor", "sales_a"], "No user named nobody"),
    (["deactivate", "sales_b", "--successor", "nobody"], "No user named nobody"),
    (["deactivate", "sales_b", "--successor", "auditor"], "may own customers"),
    (["deactivate", "departed", "--successor", "sales_a"], "deactivated already"),
    (["deactivate", "admin"], "last active user"),
    (["reactivate", "sales_a"], "active already"),
    (["roles", "sales_b", "--set", "wizard"], "Unknown role: wizard"),
    (["roles", "admin", "--set", "auditor"], "last active user"),
])
def test_cli_refuses_with_a_clear_message_and_changes_nothing(cast, book, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert reloaded(cast.sales_b).is_active and reloaded(cast.admin).is_active
    assert role_codes(reloaded(cast.sales_b)) == ["sales_rep"]
    assert role_codes(reloaded(cast.admin)) == ["administrator"]
    assert not events("user.deactivate") and not events("user.update")

