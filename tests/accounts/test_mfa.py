"""Second factors through the real sign-in pages: enrolment, sign-in with a code, recovery codes,
secrets sealed at rest, and the rule that keeps a password-only session away from data."""

import re
import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.db import connection
from django.test import Client
from django.urls import reverse

from anke.access.actions import update_role
from anke.accounts.mfa import open_secret
from anke.audit.models import AuditEvent
from tests.accounts.signing_in import (
    authenticators,
    confirm_with_recovery_code,
    enrol_totp,
    fresh_window,
    post_password,
    sign_in,
    totp_code,
)
from tests.personas import OPERATOR


def test_a_password_alone_reaches_nothing_but_enrolment(cast):
    client = Client()
    assert post_password(client, "sales_a").status_code == 302
    enrol = reverse("mfa_activate_totp")
    for page in (reverse("home"), reverse("customers:list"), reverse("tokens"),
                 reverse("accounts:list"), reverse("audit:list")):
        answer = client.get(page)
        assert answer.status_code == 302 and answer.url.startswith(enrol + "?next="), page
    api = client.get("/api/v1/customers/")
    assert api.status_code == 403
    assert api.json()["error"]["code"] == "mfa_required"
    refused = AuditEvent.objects.get(action="auth.mfa_required")
    assert refused.actor == cast.sales_a and refused.outcome == "denied"
    assert client.get(enrol).status_code == 200


# allauth announces a new authenticator once the transaction commits, and that announcement is
# what marks the session as verified: the test commits for real, as a request does.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_enrolment_seals_the_secret_and_opens_the_session(cast):
    client = Client()
    post_password(client, "sales_a")
    page = client.get(reverse("mfa_activate_totp"))
    secret = page.context["form"].secret
    assert secret in page.content.decode()  # shown once, to be typed into the app
    wrong = client.post(reverse("mfa_activate_totp"), {"code": "000000"})
    assert wrong.status_code == 200 and authenticators(cast.sales_a) == []
    fresh_window()
    done = client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret)})
    assert done.status_code == 302
    assert authenticators(cast.sales_a) == ["recovery_codes", "totp"]
    assert client.get(reverse("home")).status_code == 200  # this session showed the code

    stored = Authenticator.objects.get(user=cast.sales_a, type="totp").data["secret"]
    assert stored != secret and open_secret(stored) == secret
    seed = Authenticator.objects.get(user=cast.sales_a, type="recovery_codes").data["seed"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT data FROM mfa_authenticator")
        raw = " ".join(str(row[0]) for row in cursor.fetchall())
    assert secret not in raw and open_secret(seed) not in raw
    added = AuditEvent.objects.filter(action="auth.mfa_add", actor=cast.sales_a)
    assert sorted(e.fields[0] for e in added) == ["recovery_codes", "totp"]


def test_sign_in_asks_for_the_code_and_refuses_a_replay(cast):
    secret = enrol_totp(cast.sales_a)
    fresh_window()
    client = Client()
    first = post_password(client, "sales_a")
    assert first.url == reverse("mfa_authenticate")
    assert client.get(reverse("home")).status_code == 302  # not signed in between the steps
    wrong = client.post(reverse("mfa_authenticate"), {"code": "123456"})
    assert wrong.status_code == 200 and "Incorrect code." in wrong.content.decode()
    failed = AuditEvent.objects.get(action="auth.mfa_failed")
    assert failed.object_ids == [str(cast.sales_a.pk)] and failed.outcome == "denied"
    code = totp_code(secret)
    assert client.post(reverse("mfa_authenticate"), {"code": code}).status_code == 302
    assert client.get(reverse("home")).status_code == 200
    assert AuditEvent.objects.get(action="auth.login").auth_method == "password+mfa"

    # The same code, seconds later, from another browser that also knows the password.
    thief = Client()
    post_password(thief, "sales_a")
    replay = thief.post(reverse("mfa_authenticate"), {"code": code})
    assert replay.status_code == 200 and "Incorrect code." in replay.content.decode()
    assert thief.get(reverse("home")).status_code == 302


def test_a_recovery_code_signs_in_once(cast):
    enrol_totp(cast.sales_a)
    codes = RecoveryCodes.activate(cast.sales_a).generate_codes()
    client = Client()
    post_password(client, "sales_a")
    assert client.post(reverse("mfa_authenticate"), {"code": codes[0]}).status_code == 302
    assert client.get(reverse("home")).status_code == 200
    again = Client()
    post_password(again, "sales_a")
    reuse = again.post(reverse("mfa_authenticate"), {"code": codes[0]})
    assert reuse.status_code == 200 and "Incorrect code." in reuse.content.decode()
    assert again.post(reverse("mfa_authenticate"), {"code": codes[1]}).status_code == 302


def test_a_user_whose_role_requires_mfa_cannot_remove_the_last_factor(cast):
    secret = enrol_totp(cast.sales_a)
    client = Client()
    sign_in(client, cast.sales_a, secret)
    confirm_with_recovery_code(client, cast.sales_a)
    page = client.get(reverse("mfa_deactivate_totp"))
    answer = client.post(reverse("mfa_deactivate_totp"))
    assert page.status_code == 200 and answer.status_code == 200
    assert "You cannot deactivate two-factor authentication." in answer.content.decode()
    assert authenticators(cast.sales_a) == ["recovery_codes", "totp"]


def test_a_role_without_the_rule_lets_a_password_in(cast):
    update_role(OPERATOR, cast.sales_a.roles.get().pk, changes={"mfa_required": False})
    client = Client()
    post_password(client, "sales_a")
    assert client.get(reverse("home")).status_code == 200


def test_the_enrolment_page_shows_a_scannable_code(cast):
    client = Client()
    post_password(client, "sales_a")
    page = client.get(reverse("mfa_activate_totp"))
    assert re.search(r'<img [^>]*src="data:image/svg\+xml;base64,', page.content.decode())
    secret = page.context["form"].secret
    assert page.context["totp_url"] == f"otpauth://totp/sales_a?secret={secret}&issuer=Anke"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # announced after commit
def test_new_recovery_codes_replace_the_old_ones(cast):
    enrol_totp(cast.sales_a)
    old = RecoveryCodes.activate(cast.sales_a).generate_codes()
    client = Client()
    sign_in(client, cast.sales_a, code=old[0])
    client.post(reverse("mfa_reauthenticate"), {"code": old[2]})
    assert client.post(reverse("mfa_generate_recovery_codes")).status_code == 302
    new = RecoveryCodes(Authenticator.objects.get(user=cast.sales_a, type="recovery_codes"))
    fresh = new.generate_codes()
    assert set(fresh).isdisjoint(old)
    reset = AuditEvent.objects.get(action="auth.recovery_codes_reset")
    assert reset.actor == cast.sales_a
    again = Client()
    post_password(again, "sales_a")
    assert again.post(reverse("mfa_authenticate"), {"code": old[1]}).status_code == 200
    assert again.post(reverse("mfa_authenticate"), {"code": fresh[0]}).status_code == 302


def test_a_role_can_require_a_passkey_and_an_app_code_is_then_not_enough(cast):
    update_role(OPERATOR, cast.admin.roles.get().pk, changes={"passkey_required": True})
    client = Client()
    sign_in(client, cast.admin, enrol_totp(cast.admin))
    answer = client.get(reverse("accounts:list"))
    assert answer.status_code == 302
    assert answer.url.startswith(reverse("mfa_add_webauthn") + "?next=")
    api = client.get("/api/v1/users/")
    assert api.status_code == 403 and api.json()["error"]["code"] == "passkey_required"
    Authenticator.objects.create(user=cast.admin, type="webauthn", data={"name": "key"})
    again = client.get(reverse("accounts:list"))
    assert again.url.startswith(reverse("mfa_reauthenticate_webauthn") + "?next=")
    # A session that showed the passkey gets through.
    session = client.session
    session["account_authentication_methods"].append(
        {"method": "mfa", "type": "webauthn", "at": time.time()})
    session.save()
    assert client.get(reverse("accounts:list")).status_code == 200

