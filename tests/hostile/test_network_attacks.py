"""IP allowlists (issue 6): sign-in, a session and a token from outside a user's or a role's
networks are refused and audited; a forged X-Forwarded-For does not get anyone in; nobody
widens their own allowlist."""

import pytest
from django.test import Client
from django.urls import reverse

from anke.access.actions import update_role
from anke.accounts.actions import update_user
from anke.audit.models import AuditEvent
from anke.core.errors import ActionDenied
from tests.accounts.signing_in import enrol_totp, post_password, sign_in
from tests.api.conftest import with_token
from tests.helpers import html
from tests.personas import OPERATOR, actor

OFFICE = "10.20.0.0/16"
WRONG = "The username and/or password you specified are not correct."


@pytest.fixture
def office_only(cast):
    """sales_a may only work from the office network."""
    update_user(OPERATOR, cast.sales_a.pk, changes={"ip_allowlist": [OFFICE]})
    cast.sales_a.refresh_from_db()
    return cast.sales_a


def test_the_right_password_from_outside_answers_as_a_wrong_one(office_only):
    outside = Client(REMOTE_ADDR="203.0.113.9")
    answer = post_password(outside, "sales_a")
    assert answer.status_code == 200 and WRONG in html(answer)
    assert "_auth_user_id" not in outside.session
    refused = AuditEvent.objects.get(action="auth.ip_refused")
    assert refused.actor == office_only and refused.ip == "203.0.113.9"
    assert refused.outcome == "denied" and refused.reason == "sign_in"
    inside = Client(REMOTE_ADDR="10.20.3.4")
    assert post_password(inside, "sales_a").status_code == 302


def test_a_forged_forwarded_header_is_not_the_client_address(office_only, settings):
    settings.TRUSTED_PROXY_HOPS = 0  # no proxy in front: the header is the client's own words
    forged = Client(REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="10.20.3.4")
    assert WRONG in html(post_password(forged, "sales_a"))
    settings.TRUSTED_PROXY_HOPS = 1  # one proxy: it appended the real client at the end
    proxied = Client(REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="10.20.3.4, 203.0.113.9")
    assert WRONG in html(post_password(proxied, "sales_a"))
    through = Client(REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="203.0.113.9, 10.20.3.4")
    assert post_password(through, "sales_a").status_code == 302


def test_a_session_carried_outside_the_network_ends(office_only):
    client = Client(REMOTE_ADDR="10.20.3.4")
    sign_in(client, office_only, enrol_totp(office_only))
    assert client.get(reverse("customers:list")).status_code == 200
    answer = client.get(reverse("customers:list"), REMOTE_ADDR="198.51.100.77")
    assert answer.status_code == 302 and answer.url.startswith(reverse("account_login"))
    assert client.get(reverse("home"), REMOTE_ADDR="10.20.3.4").status_code == 302  # signed out
    refused = AuditEvent.objects.get(action="auth.ip_refused", reason="session")
    assert refused.ip == "198.51.100.77"


def test_a_token_used_from_outside_is_refused(office_only):
    client, token = with_token(office_only)
    assert client.get("/api/v1/customers/", REMOTE_ADDR="10.20.9.9").status_code == 200
    answer = client.get("/api/v1/customers/", REMOTE_ADDR="203.0.113.9")
    assert answer.status_code == 403
    assert answer.json()["error"]["message"] == "Your account may not be used from this network."
    refused = AuditEvent.objects.get(action="auth.ip_refused", reason="token")
    assert refused.token_id == token.pk


def test_a_role_allowlist_holds_even_beside_an_unrestricted_role(cast):
    """The manager's role is held from the office only; adding an unrestricted role changes
    nothing: every non-empty list must admit the address."""
    update_role(OPERATOR, cast.manager.roles.get().pk, changes={"ip_allowlist": [OFFICE]})
    update_user(OPERATOR, cast.manager.pk, changes={"roles": ["manager", "sales_rep"]})
    assert WRONG in html(post_password(Client(REMOTE_ADDR="203.0.113.9"), "manager"))
    assert post_password(Client(REMOTE_ADDR="10.20.1.1"), "manager").status_code == 302


def test_nobody_lets_themselves_in_from_more_networks(cast):
    admin_role = cast.admin.roles.get()
    update_role(OPERATOR, admin_role.pk, changes={"ip_allowlist": [OFFICE]})
    update_user(OPERATOR, cast.admin.pk, changes={"ip_allowlist": ["10.20.1.0/24"]})
    for attempt in (
        lambda: update_role(actor(cast.admin), admin_role.pk, changes={"ip_allowlist": []}),
        lambda: update_role(actor(cast.admin), admin_role.pk,
                            changes={"ip_allowlist": [OFFICE, "0.0.0.0/0"]}),
        lambda: update_user(actor(cast.admin), cast.admin.pk,
                            changes={"ip_allowlist": ["10.20.0.0/16"]}),
    ):
        with pytest.raises(ActionDenied):
            attempt()
    admin_role.refresh_from_db()
    cast.admin.refresh_from_db()
    assert admin_role.ip_allowlist == [OFFICE] and cast.admin.ip_allowlist == ["10.20.1.0/24"]
    assert AuditEvent.objects.filter(reason="self_escalation", outcome="denied").count() == 3
    # Narrowing one's own list is fine.
    update_user(actor(cast.admin), cast.admin.pk, changes={"ip_allowlist": ["10.20.1.0/25"]})


@pytest.mark.parametrize(("value", "message"), [
    (["10.0.0.0/8", "not-a-network"], "Not a network: not-a-network"),
    ("10.0.0.0/33", "Not a network: 10.0.0.0/33"),
    ([f"10.0.{n}.0/24" for n in range(101)], "At most 100 networks."),
])
def test_a_bad_allowlist_is_a_field_error_and_changes_nothing(cast, value, message):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        update_user(OPERATOR, cast.sales_a.pk, changes={"ip_allowlist": value})
    assert refused.value.message_dict == {"ip_allowlist": [message]}
    cast.sales_a.refresh_from_db()
    assert cast.sales_a.ip_allowlist == []
