"""Attacks on user administration and off-boarding that must fail: a departed user coming back
with an old session or token, colleagues changing users, mass assignment of privileges, and a
handover that half happens."""

import json

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from anke.accounts import actions as account_actions
from anke.accounts.actions import create_api_token, deactivate_user
from anke.accounts.models import ApiToken, User
from anke.audit.catalogue import Event
from anke.audit.models import AuditEvent
from anke.customers.models import Customer
from anke.sales.actions import create_deal
from anke.sales.models import Deal, PipelineStage
from tests.accounts.signing_in import enrol_totp, post_password, sign_in
from tests.api.conftest import signed_in
from tests.personas import OPERATOR, PASSWORD, actor, customer_of


def events(action, **filters):
    # Without the cast's own off-boarding of the departed rep (done by the operator).
    return list(AuditEvent.objects.filter(action=action, **filters)
                .exclude(auth_method="cli").order_by("id"))


def state(user) -> tuple:
    fresh = User.objects.get(pk=user.pk)
    return (fresh.is_active, fresh.is_staff, fresh.is_superuser, fresh.username,
            fresh.password, sorted(fresh.roles.values_list("code", flat=True)),
            fresh.department_id, fresh.manager_id)


# --- a departed user's old credentials ----------------------------------------------------------


def test_a_deactivated_users_browser_session_is_sent_to_login(cast):
    browser = Client()
    sign_in(browser, cast.sales_b, enrol_totp(cast.sales_b))
    assert browser.get(reverse("home")).status_code == 200
    api = APIClient()
    api.cookies = browser.cookies  # the same session cookie on the API
    assert api.get("/api/v1/customers/").status_code == 200
    # when
    result = deactivate_user(actor(cast.admin), cast.sales_b.pk, successor_id=cast.sales_a.pk)
    # then
    assert result["sessions_ended"] == 1
    response = browser.get(reverse("customers:list"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    response = api.get("/api/v1/customers/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    session_key = browser.cookies["sessionid"].value
    assert not Session.objects.filter(session_key=session_key).exists()
    assert "_auth_user_id" not in post_password(Client(), "sales_b").wsgi_request.session


def test_a_deactivated_users_token_is_401_even_after_reactivation(cast):
    _token, secret = create_api_token(OPERATOR, cast.sales_b, name="script")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/customers/").status_code == 200
    deactivate_user(actor(cast.admin), cast.sales_b.pk, successor_id=cast.sales_a.pk)
    response = client.get("/api/v1/customers/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid, expired or revoked token."
    account_actions.reactivate_user(actor(cast.admin), cast.sales_b.pk)
    assert client.get("/api/v1/customers/").status_code == 401
    assert AuditEvent.objects.filter(action="token.rejected").count() == 2


def test_another_users_session_survives_the_off_boarding(cast):
    browser = Client()
    assert browser.login(username="sales_a", password=PASSWORD)
    deactivate_user(actor(cast.admin), cast.sales_b.pk, successor_id=cast.sales_a.pk)
    assert browser.get(reverse("customers:list")).status_code == 200


# --- colleagues who are not administrators ------------------------------------------------------


@pytest.mark.parametrize("who", ["sales_a", "sales_manager", "manager", "auditor"])
def test_a_non_administrator_cannot_patch_deactivate_or_reactivate(cast, who):
    attacker = getattr(cast, who)
    customer = customer_of(cast.sales_b)
    before = state(cast.sales_b), state(attacker), state(cast.departed)
    client = signed_in(attacker)
    # when
    responses = [
        client.patch(f"/api/v1/users/{attacker.pk}/", {"roles": ["administrator"]},
                     format="json"),
        client.patch(f"/api/v1/users/{cast.sales_b.pk}/", {"manager": attacker.pk},
                     format="json"),
        # an invalid body is still a 403: the refusal comes before validation
        client.patch(f"/api/v1/users/{cast.sales_b.pk}/", {"is_superuser": True},
                     format="json"),
        client.post(f"/api/v1/users/{cast.sales_b.pk}/deactivate/",
                    {"successor": attacker.pk}, format="json"),
        client.post(f"/api/v1/users/{cast.departed.pk}/reactivate/"),
    ]
    # then
    assert [r.status_code for r in responses] == [403] * 5
    assert {r.json()["error"]["code"] for r in responses} == {"permission_denied"}
    assert (state(cast.sales_b), state(attacker), state(cast.departed)) == before
    assert Customer.objects.get(pk=customer.pk).owner == cast.sales_b
    denied = AuditEvent.objects.filter(outcome="denied", actor=attacker).order_by("id")
    assert [(e.action, e.object_ids, e.reason) for e in denied] == [
        ("user.update", [str(attacker.pk)], "not_permitted"),
        ("user.update", [str(cast.sales_b.pk)], "not_permitted"),
        ("user.update", [str(cast.sales_b.pk)], "not_permitted"),
        ("user.deactivate", [str(cast.sales_b.pk)], "not_permitted"),
        ("user.reactivate", [str(cast.departed.pk)], "not_permitted"),
    ]
    assert not events("user.update", outcome="allowed")


def test_the_web_forms_refuse_a_sales_rep_too(cast):
    client = Client()
    client.force_login(cast.sales_a)
    before = state(cast.sales_a), state(cast.sales_b)
    assert client.post(reverse("accounts:edit", args=[cast.sales_a.pk]),
                       {"roles": ["administrator"]}).status_code == 403
    assert client.post(reverse("accounts:deactivate", args=[cast.sales_b.pk]),
                       {"successor": cast.sales_a.pk}).status_code == 403
    assert (state(cast.sales_a), state(cast.sales_b)) == before
    assert AuditEvent.objects.filter(actor=cast.sales_a, outcome="denied").count() == 2


def test_an_administrator_cannot_hand_themselves_customer_data(cast):
    before = state(cast.admin)
    response = signed_in(cast.admin).patch(f"/api/v1/users/{cast.admin.pk}/",
                                           {"roles": ["administrator", "manager"]},
                                           format="json")
    assert response.status_code == 403
    assert "cannot give yourself a role" in response.json()["error"]["message"]
    assert state(cast.admin) == before
    [event] = events("user.update", outcome="denied")
    assert event.reason == "self_escalation"


def test_deactivation_needs_the_csrf_token(cast):
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.admin)
    response = client.post(reverse("accounts:deactivate", args=[cast.sales_b.pk]),
                           {"successor": cast.sales_a.pk})
    assert response.status_code == 403
    assert User.objects.get(pk=cast.sales_b.pk).is_active


# --- mass assignment ----------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["is_staff", "is_superuser", "is_active", "password",
                                   "username", "email", "groups", "user_permissions"])
def test_privileged_fields_cannot_be_set_through_the_api(cast, field):
    value = {"is_staff": True, "is_superuser": True, "is_active": False, "password": "x" * 20,
             "username": "root", "email": "a@example.com", "groups": [1],
             "user_permissions": [1]}[field]
    before = state(cast.sales_b)
    response = signed_in(cast.admin).patch(f"/api/v1/users/{cast.sales_b.pk}/",
                                           {"display_name": "新名字", field: value},
                                           format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {field: ["This field cannot be set."]}
    assert state(cast.sales_b) == before
    assert User.objects.get(pk=cast.sales_b.pk).display_name == ""
    assert not events("user.update")


def test_privileged_fields_cannot_be_set_through_the_action_either(cast):
    with pytest.raises(account_actions.ValidationError) as error:
        account_actions.update_user(OPERATOR, cast.sales_b.pk,
                                    changes={"is_superuser": True, "is_staff": True})
    assert error.value.message_dict == {"is_staff": ["This field cannot be set."],
                                        "is_superuser": ["This field cannot be set."]}


def test_a_display_name_with_markup_is_shown_as_text(cast):
    signed_in(cast.admin).patch(f"/api/v1/users/{cast.sales_b.pk}/",
                                {"display_name": "<script>alert(1)</script>"}, format="json")
    client = Client()
    client.force_login(cast.admin)
    for url in (reverse("accounts:list"), reverse("accounts:detail", args=[cast.sales_b.pk])):
        body = client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


# --- a handover happens entirely or not at all --------------------------------------------------


def _stage(code):
    return PipelineStage.objects.get(code=code)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_failure_in_the_middle_of_the_handover_changes_nothing(cast, monkeypatch):
    customers = [customer_of(cast.sales_b, name=f"客户{i}") for i in range(3)]
    deal = create_deal(actor(cast.sales_b), customers[0].pk, data={
        "title": "单", "stage": _stage("qualify")})
    token, _secret = create_api_token(OPERATOR, cast.sales_b, name="script")
    browser = Client()
    assert browser.login(username="sales_b", password=PASSWORD)
    real_record = account_actions.record

    def failing_record(actor_, event, **kwargs):
        if event == Event.CUSTOMER_REASSIGN:  # the last write of the transaction
            raise RuntimeError("audit store unavailable")
        return real_record(actor_, event, **kwargs)

    monkeypatch.setattr(account_actions, "record", failing_record)
    # when
    with pytest.raises(RuntimeError):
        deactivate_user(actor(cast.admin), cast.sales_b.pk, successor_id=cast.sales_a.pk)
    # then: the user, tokens, sessions, customers and deals are as they were
    assert User.objects.get(pk=cast.sales_b.pk).is_active
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
    assert browser.get(reverse("customers:list")).status_code == 200
    for customer in Customer.objects.filter(pk__in=[c.pk for c in customers]):
        assert (customer.owner_id, customer.department_id, customer.version) == (
            cast.sales_b.pk, cast.sales_b.department_id, 1)
    assert Deal.objects.get(pk=deal.pk).owner == cast.sales_b
    assert not events("user.deactivate") and not events("customer.reassign")


def test_the_successor_sees_exactly_the_handed_over_customers(cast):
    mine = [customer_of(cast.sales_b, name=f"乙{i}") for i in range(2)]
    kept = customer_of(cast.sales_manager, name="经理的")
    before = set(Customer.objects.visible_to(cast.sales_a, "view").values_list("pk", flat=True))
    deactivate_user(actor(cast.admin), cast.sales_b.pk, successor_id=cast.sales_a.pk)
    account_actions.forget_roles(cast.sales_a)
    after = set(Customer.objects.visible_to(cast.sales_a, "view").values_list("pk", flat=True))
    assert after - before == {c.pk for c in mine}
    assert kept.pk not in after
    [reassign] = events("customer.reassign")
    assert sorted(reassign.object_ids) == sorted(str(c.pk) for c in mine)
    assert json.loads(reassign.detail) == {"owner": [cast.sales_b.pk, cast.sales_a.pk]}
