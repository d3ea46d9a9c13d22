"""Step-up (issue 6): revealing, role, grant and user changes need a person who confirmed who
they are within the last few minutes. A session signed in long ago (or stolen) is asked to
confirm with the second factor, and nothing happens before; after confirming, the very request
goes on. A token is never a person."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from anke.access.actions import state_tag
from anke.access.models import Grant, Role
from anke.audit.models import AuditEvent
from tests.access.test_masking import CLEAR
from tests.accounts.signing_in import KNOWN_SECRET, enrol_totp, sign_in, unused_code
from tests.api.conftest import with_token
from tests.helpers import html
from tests.personas import customer_of

REASON = "客户来电核实身份，需要完整号码回拨"


def signed_in_long_ago(user, minutes: int = 10) -> Client:
    """A real sign-in with the second factor, its proof aged by ``minutes``."""
    enrol_totp(user)
    client = Client()
    sign_in(client, user, code=unused_code(user.pk, KNOWN_SECRET))
    session = client.session
    for entry in session["account_authentication_methods"]:
        entry["at"] -= minutes * 60
    session.save()
    return client


def test_an_old_sign_in_confirms_before_revealing_and_then_the_reveal_goes_on(cast):
    customer = customer_of(cast.sales_a, **CLEAR)
    client = signed_in_long_ago(cast.service)
    asked = client.post(customer.get_absolute_url(), {"field_names": ["phone"], "reason": REASON})
    assert asked.status_code == 302 and asked.url.startswith(reverse("mfa_reauthenticate"))
    assert not AuditEvent.objects.filter(action="customer.reveal", outcome="allowed").exists()
    refused = AuditEvent.objects.get(action="customer.reveal", outcome="denied")
    assert refused.reason == "step_up_required"

    confirmed = client.post(asked.url, {"code": unused_code(cast.service.pk, KNOWN_SECRET)})
    assert confirmed.status_code == 200  # the suspended reveal, carried out
    assert "138 1234 5678" in html(confirmed)
    assert AuditEvent.objects.filter(action="customer.reveal", outcome="allowed").count() == 1


def test_a_wrong_code_confirms_nothing(cast):
    customer = customer_of(cast.sales_a, **CLEAR)
    client = signed_in_long_ago(cast.service)
    asked = client.post(customer.get_absolute_url(), {"field_names": ["phone"], "reason": REASON})
    wrong = client.post(asked.url, {"code": "000000"})
    assert wrong.status_code == 200 and "138 1234 5678" not in html(wrong)
    assert not AuditEvent.objects.filter(action="customer.reveal", outcome="allowed").exists()


def test_the_api_answers_an_old_session_with_reauthentication_required(cast):
    client = signed_in_long_ago(cast.admin)
    role = Role.objects.get(code="service_agent")
    answer = client.patch(f"/api/v1/roles/{role.pk}/", {"permissions": ["customer.view"]},
                          content_type="application/json",
                          headers={"If-Match": f'"{state_tag(role)}"'})
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "reauthentication_required"
    role.refresh_from_db()
    assert "customer.reveal" in role.permissions
    assert AuditEvent.objects.get(action="role.update").reason == "step_up_required"


@pytest.mark.parametrize("path", ["/api/v1/grants/break-glass/", "/api/v1/grants/"])
def test_a_token_takes_no_access(cast, path):
    client, token = with_token(cast.manager)
    customers = [str(customer_of(cast.sales_a).pk)]
    reason = "紧急：客户投诉需要立即处理的情况"
    body = ({"customers": customers, "reason": reason, "minutes": 30}
            if "break-glass" in path else
            {"user": cast.sales_b.pk, "permissions": ["customer.view"], "customers": customers,
             "field_access": "read", "reason": reason,
             "expires_at": (timezone.now() + timedelta(days=1)).isoformat()})
    answer = client.post(path, body, format="json")
    assert answer.status_code == 403, answer.json()
    assert not Grant.objects.exists()
    assert AuditEvent.objects.filter(outcome="denied", token_id=token.pk).exists()


def test_a_fresh_confirmation_lasts_a_few_minutes(cast, settings):
    customer = customer_of(cast.sales_a, **CLEAR)
    client = signed_in_long_ago(cast.service, minutes=4)
    answer = client.post(customer.get_absolute_url(), {"field_names": ["phone"],
                                                       "reason": REASON})
    assert answer.status_code == 200 and "138 1234 5678" in html(answer)
    settings.STEP_UP_SECONDS = 60
    again = client.post(customer.get_absolute_url(), {"field_names": ["phone"], "reason": REASON})
    assert again.status_code == 302


def test_an_old_session_confirms_before_creating_an_api_token(cast):
    client = signed_in_long_ago(cast.sales_a)
    answer = client.post(reverse("tokens"), {"name": "script", "expires_days": 30,
                                             "scope": "write"})
    assert answer.status_code == 302 and answer.url.startswith(reverse("mfa_reauthenticate"))
    assert not cast.sales_a.api_tokens.exists()
    assert AuditEvent.objects.get(action="token.create").reason == "step_up_required"
