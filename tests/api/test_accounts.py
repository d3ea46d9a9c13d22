from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from anke.accounts.actions import create_api_token, revoke_api_token
from anke.accounts.models import ApiToken
from anke.audit.models import AuditEvent
from anke.core.context import Actor
from anke.customers.models import Customer
from tests.accounts.signing_in import post_password
from tests.api.conftest import signed_in, with_token
from tests.conftest import tripwire_off
from tests.helpers import html
from tests.personas import OPERATOR, customer_of

# --- users --------------------------------------------------------------------------------------


def test_users_are_listed_without_contact_data(cast):
    cast.sales_a.email = "a@example.com"
    cast.sales_a.display_name = "销售甲"
    with tripwire_off():  # staged: no action edits a user yet
        cast.sales_a.save(update_fields=["email", "display_name"])
    response = signed_in(cast.sales_b).get("/api/v1/users/")
    assert response.status_code == 200
    rows = {row["username"]: row for row in response.json()["results"]}
    assert rows["sales_a"] == {"id": cast.sales_a.pk, "username": "sales_a",
                               "display_name": "销售甲", "department": "华东组",
                               "region": "华东"}
    assert rows["manager"]["region"] is None
    assert list(rows) == sorted(rows)
    assert "a@example.com" not in response.content.decode()


def test_one_user(cast):
    response = signed_in(cast.sales_b).get(f"/api/v1/users/{cast.sales_a.pk}/")
    assert response.json()["username"] == "sales_a"
    assert signed_in(cast.sales_b).get("/api/v1/users/999999/").status_code == 404


def test_the_user_directory_is_read_only(cast):
    client = signed_in(cast.admin)
    assert client.post("/api/v1/users/", {"username": "x"}, format="json").status_code == 405
    assert client.delete(f"/api/v1/users/{cast.sales_a.pk}/").status_code == 405


def test_users_without_user_view_are_refused(cast):
    role = cast.sales_a.roles.first()
    role.permissions = [p for p in role.permissions if p != "user.view"]
    with tripwire_off():  # staged: roles are shipped by migrations, no action edits them
        role.save(update_fields=["permissions"])
    response = signed_in(cast.sales_a).get("/api/v1/users/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


# --- tokens -------------------------------------------------------------------------------------


def test_a_token_is_created_once_listed_without_its_secret_and_revoked(sales_a):
    client = signed_in(sales_a)
    response = client.post("/api/v1/tokens/", {"name": "报表脚本", "expires_days": 30},
                           format="json")
    assert response.status_code == 201, response.json()
    assert response["Cache-Control"] == "no-store"
    created = response.json()
    secret = created["secret"]
    assert secret.startswith("anke_") and created["hint"] == secret[:12]
    token = ApiToken.objects.get(pk=created["id"])
    assert token.user == sales_a and token.digest == ApiToken.digest_of(secret)
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)

    listed = client.get("/api/v1/tokens/").json()["results"]
    assert [row["name"] for row in listed] == ["报表脚本"]
    assert secret not in client.get("/api/v1/tokens/").content.decode()
    assert "secret" not in client.get(f"/api/v1/tokens/{token.pk}/").json()

    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert bearer.get("/api/v1/customers/").status_code == 200

    assert client.delete(f"/api/v1/tokens/{token.pk}/").status_code == 204
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert bearer.get("/api/v1/customers/").status_code == 401
    assert AuditEvent.objects.filter(action="token.revoke", object_ids=[str(token.pk)]).exists()


@pytest.mark.parametrize("body", [
    {}, {"name": ""}, {"name": "x" * 101}, {"name": "x", "expires_days": 0},
    {"name": "x", "expires_days": 367}, {"name": "x", "user": 1}, {"name": "x", "secret": "s"},
])
def test_bad_token_requests_are_400(sales_a, body):
    response = signed_in(sales_a).post("/api/v1/tokens/", body, format="json")
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_a_token_cannot_mint_another_token(sales_a):
    client, _token = with_token(sales_a)
    response = client.post("/api/v1/tokens/", {"name": "more"}, format="json")
    assert response.status_code == 403
    assert ApiToken.objects.count() == 1


def test_only_own_tokens_are_listed_and_revocable(sales_a, sales_b):
    theirs, _secret = create_api_token(Actor.system(), sales_b, name="b")
    client = signed_in(sales_a)
    assert client.get("/api/v1/tokens/").json()["results"] == []
    assert client.get(f"/api/v1/tokens/{theirs.pk}/").status_code == 404
    assert client.delete(f"/api/v1/tokens/{theirs.pk}/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    assert AuditEvent.objects.filter(action="token.revoke", outcome="denied",
                                     actor=sales_a).count() == 1


@pytest.mark.parametrize("token_id", ["abc", "\u00b2", "\u0661", "9" * 30])
def test_odd_token_ids_are_a_json_404(sales_a, token_id):
    response = signed_in(sales_a).delete(f"/api/v1/tokens/{token_id}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- token authentication -----------------------------------------------------------------------


def test_a_token_acts_as_its_user_and_is_named_in_the_audit_trail(sales_a):
    customer = customer_of(sales_a)
    client, token = with_token(sales_a)
    response = client.get(f"/api/v1/customers/{customer.pk}/")
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="customer.view")
    assert event.actor == sales_a and event.auth_method == "token"
    assert event.token_id == token.pk
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_token_writes_need_no_csrf_token(sales_a):
    client, _token = with_token(sales_a)
    client.enforce_csrf_checks = True
    response = client.post("/api/v1/customers/", {"name": "王五"}, format="json")
    assert response.status_code == 201


def _expire(token):
    with tripwire_off():  # staged: time passing, not an action
        ApiToken.objects.filter(pk=token.pk).update(
            expires_at=timezone.now() - timedelta(seconds=1))


def _revoke(token):
    revoke_api_token(Actor.system(), token.pk)


def _deactivate(token):
    token.user.is_active = False
    with tripwire_off():  # staged: no action deactivates a user yet
        token.user.save(update_fields=["is_active"])


@pytest.mark.parametrize("spoil", [_expire, _revoke, _deactivate], ids=["expired", "revoked",
                                                                         "deactivated"])
def test_unusable_tokens_are_401(sales_a, spoil):
    client, token = with_token(sales_a)
    assert client.get("/api/v1/customers/").status_code == 200
    spoil(token)
    response = client.get("/api/v1/customers/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert response["WWW-Authenticate"] == "Bearer"
    assert AuditEvent.objects.filter(action="token.rejected", outcome="denied").exists()


@pytest.mark.parametrize("header", [
    "Bearer", "Bearer anke_wrong", "Bearer a b", "Bearer \u00e9\u00e9",
])
def test_bad_authorization_headers_are_401(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/customers/")
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message"}


def test_unauthenticated_requests_are_401_with_the_error_body(db):
    response = APIClient().get("/api/v1/customers/")
    assert response.status_code == 401
    assert response.json() == {"error": {
        "code": "not_authenticated",
        "message": "Authentication credentials were not provided."}}
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_deactivated_users_session_is_401(cast):
    client = signed_in(cast.sales_a)
    cast.sales_a.is_active = False
    with tripwire_off():  # staged: no action deactivates a user yet
        cast.sales_a.save(update_fields=["is_active"])
    assert client.get("/api/v1/customers/").status_code == 401


def test_session_writes_need_the_csrf_token(sales_a):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(sales_a)
    response = client.post("/api/v1/customers/", {"name": "王五"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


# --- scopes, where a token was used, and who may create one -------------------------------------


def test_a_read_only_token_reads_and_cannot_write(sales_a):
    client, token = with_token(sales_a, scope="read")
    assert client.get("/api/v1/customers/").status_code == 200
    before = Customer.objects.count()
    response = client.post("/api/v1/customers/", {"kind": "individual", "name": "新客户"},
                           format="json")
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "This token may only read."
    assert Customer.objects.count() == before
    refused = AuditEvent.objects.get(action="token.rejected", reason="read_only_token")
    assert refused.actor == sales_a and refused.outcome == "denied"
    assert refused.token_id == token.pk


def test_the_owner_sees_when_and_from_where_a_token_was_used(sales_a):
    client, token = with_token(sales_a)
    client.get("/api/v1/customers/", REMOTE_ADDR="198.51.100.23")
    listed = signed_in(sales_a).get(f"/api/v1/tokens/{token.pk}/").json()
    assert listed["last_used_ip"] == "198.51.100.23" and listed["last_used_at"]
    assert listed["scope"] == "write"
    client.get("/api/v1/customers/", REMOTE_ADDR="203.0.113.5")  # within the minute, elsewhere
    token.refresh_from_db()
    assert token.last_used_ip == "203.0.113.5"


def test_a_session_without_a_second_factor_cannot_create_a_token(cast):
    from anke.access.actions import update_role

    update_role(OPERATOR, cast.sales_a.roles.get().pk, changes={"mfa_required": False})
    browser = Client()
    post_password(browser, "sales_a")  # a password alone: enough to sign in for this role
    page = browser.get(reverse("tokens"))
    assert page.status_code == 200 and 'data-testid="token-needs-2fa"' in html(page)
    answer = browser.post(reverse("tokens"), {"name": "script", "expires_days": 30,
                                              "scope": "read"})
    assert answer.status_code == 403
    api = APIClient()
    api.cookies = browser.cookies
    refused = api.post("/api/v1/tokens/", {"name": "script"}, format="json")
    assert refused.status_code == 403
    assert not ApiToken.objects.filter(user=cast.sales_a).exists()
    assert AuditEvent.objects.filter(action="token.create", outcome="denied",
                                     reason="second_factor_required").count() == 2
