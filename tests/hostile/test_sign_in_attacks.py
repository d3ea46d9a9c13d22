"""Attacks on signing in (SECURITY.md §5): password guessing against one account from many
addresses and against many accounts from one, fixed session keys, stolen idle sessions, a TOTP
code replayed in another process."""

import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.test import Client
from django.urls import reverse

from anke.accounts import throttle
from anke.accounts.middleware import SEEN_AT, SIGNED_IN_AT
from anke.audit.models import AuditEvent
from tests.accounts.signing_in import (
    KNOWN_SECRET,
    confirm_with_recovery_code,
    enrol_totp,
    fresh_window,
    post_password,
    sign_in,
    totp_code,
)
from tests.helpers import html
from tests.personas import PASSWORD
from tests.scratch_db import database_url  # noqa: F401 - a fixture for the replay test

TOO_MANY = "Too many failed login attempts. Try again later."
WRONG = "The username and/or password you specified are not correct."


@pytest.fixture
def clock(monkeypatch):
    """The throttle's clock, moved by hand."""
    now = SimpleNamespace(value=time.time())
    monkeypatch.setattr(throttle, "time", SimpleNamespace(time=lambda: now.value))
    return now


def attempt(username: str, password: str, ip: str):
    client = Client(REMOTE_ADDR=ip)
    return client, post_password(client, username, password)


def test_guessing_one_password_from_many_addresses_pauses_the_account(cast, clock):
    for n in range(throttle.FREE_FAILURES["account"]):
        _client, answer = attempt("sales_a", f"guess number {n}", f"203.0.113.{n}")
        assert WRONG in answer.content.decode()
    # The right password from yet another address, now, is refused unchecked.
    client, answer = attempt("sales_a", PASSWORD, "198.51.100.7")
    assert answer.status_code == 200 and TOO_MANY in answer.content.decode()
    assert "_auth_user_id" not in client.session
    paused = AuditEvent.objects.get(action="auth.login_throttled")
    assert paused.outcome == "denied" and paused.reason == "account_cool_off"
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == 5

    clock.value += throttle.FIRST_PAUSE + 1  # the pause ends by itself: no permanent lockout
    _client, answer = attempt("sales_a", "one more guess", "203.0.113.99")
    assert WRONG in answer.content.decode()
    clock.value += throttle.FIRST_PAUSE + 1  # the next pause is twice as long
    assert TOO_MANY in attempt("sales_a", PASSWORD, "198.51.100.7")[1].content.decode()
    clock.value += throttle.FIRST_PAUSE
    assert attempt("sales_a", PASSWORD, "198.51.100.7")[1].status_code == 302


def test_an_unknown_name_is_paused_exactly_like_a_known_one(cast, clock):
    answers = {}
    for username in ("sales_a", "no_such_person"):
        for n in range(throttle.FREE_FAILURES["account"] + 1):
            _client, answer = attempt(username, f"guess number {n}", f"192.0.2.{n}")
        answers[username] = answer
    assert {a.status_code for a in answers.values()} == {200}
    assert all(TOO_MANY in a.content.decode() for a in answers.values())
    first = [attempt(name, "wrong password!", "192.0.2.200")[1] for name in ("sales_b", "nobody")]
    assert [WRONG in a.content.decode() for a in first] == [True, True]


def test_one_address_guessing_many_accounts_is_paused_for_all_of_them(cast, clock):
    for n in range(throttle.FREE_FAILURES["ip"]):
        attempt(f"user{n}", "a common password", "203.0.113.66")
    client, answer = attempt("sales_a", PASSWORD, "203.0.113.66")
    assert TOO_MANY in answer.content.decode() and "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="auth.login_throttled", reason="ip_cool_off").exists()
    # The person at another address is not locked out by the attacker.
    assert attempt("sales_a", PASSWORD, "198.51.100.8")[1].status_code == 302


def test_signing_in_issues_a_new_session_key(cast):
    client = Client()
    client.get(reverse("account_login"))  # an anonymous session the attacker could have planted
    client.cookies["sessionid"] = "plantedsessionkey0000000000000000"
    planted = client.cookies["sessionid"].value
    enrol_totp(cast.sales_a)
    fresh_window()
    post_password(client, "sales_a")
    between = client.cookies["sessionid"].value
    client.post(reverse("mfa_authenticate"), {"code": totp_code(KNOWN_SECRET)})
    signed_in = client.cookies["sessionid"].value
    assert len({planted, between, signed_in}) == 3
    assert client.get(reverse("home")).status_code == 200


def test_re_authenticating_issues_a_new_session_key(cast):
    secret = enrol_totp(cast.sales_a)
    client = Client()
    sign_in(client, cast.sales_a, secret)
    before = client.cookies["sessionid"].value
    confirm_with_recovery_code(client, cast.sales_a)
    after = client.cookies["sessionid"].value
    assert after != before
    assert client.get(reverse("home")).status_code == 200
    stale = Client()
    stale.cookies["sessionid"] = before
    assert stale.get(reverse("home")).status_code == 302  # the old key opens nothing


@pytest.mark.parametrize(("clock_key", "age", "why"), [
    (SEEN_AT, 31 * 60, "idle"), (SIGNED_IN_AT, 12 * 3600 + 60, "absolute")])
def test_an_idle_or_old_session_ends(cast, clock_key, age, why):
    secret = enrol_totp(cast.sales_a)
    client = Client()
    sign_in(client, cast.sales_a, secret)
    assert client.get(reverse("home")).status_code == 200
    session = client.session
    session[clock_key] -= age
    session.save()
    answer = client.get(reverse("customers:list"))
    assert answer.status_code == 302 and answer.url.startswith(reverse("account_login"))
    assert client.get(reverse("home")).status_code == 302
    assert client.get("/api/v1/customers/").status_code in (401, 403)
    expired = AuditEvent.objects.get(action="auth.session_expired")
    assert expired.actor == cast.sales_a and expired.reason == why


def test_an_active_session_stays(cast):
    secret = enrol_totp(cast.sales_a)
    client = Client()
    sign_in(client, cast.sales_a, secret)
    session = client.session
    session[SEEN_AT] -= 29 * 60
    session.save()
    assert client.get(reverse("home")).status_code == 200
    assert time.time() - client.session[SEEN_AT] < 5  # the request counted as activity


# --- a TOTP code used in one process is refused in another --------------------------------------

MANAGE = Path(__file__).resolve().parents[2] / "manage.py"
SECRET = KNOWN_SECRET
USE_CODE = """
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.contrib.auth import get_user_model
user, _ = get_user_model().objects.get_or_create(username="replayed")
found = Authenticator.objects.filter(user=user, type="totp").first()
totp = TOTP(found) if found else TOTP.activate(user, {secret!r})
print(totp.validate_code({code!r}))
"""


def test_a_totp_code_is_good_once_across_processes(database_url, tmp_path):  # noqa: F811
    env = {**os.environ, "DATABASE_URL": database_url, "ANKE_VAR_DIR": str(tmp_path / "var"),
           "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("ANKE_MASTER_KEY_FILE", None)

    def run(*args):
        done = subprocess.run([sys.executable, str(MANAGE), *args], env=env,  # noqa: S603
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    run("migrate", "-v0")
    fresh_window(min_left=20)
    code = totp_code(SECRET)
    script = USE_CODE.format(secret=SECRET, code=code)
    assert run("shell", "--no-imports", "-c", script) == "True"
    assert run("shell", "--no-imports", "-c", script) == "False"  # another process, same code
    assert totp_code(SECRET) == code, "the window ended during the test: it proves nothing"


def test_guessing_the_second_factor_is_cut_off(cast):
    """Someone with the password guesses codes: five wrong ones and even the right code is
    refused for a while (10^6 codes at 5 per 5 minutes is years)."""
    secret = enrol_totp(cast.sales_a)
    thief = Client(REMOTE_ADDR="203.0.113.80")
    post_password(thief, "sales_a")
    for guess in ("111111", "222222", "333333", "444444", "555555"):
        answer = thief.post(reverse("mfa_authenticate"), {"code": guess})
        assert "Incorrect code." in html(answer)
    fresh_window()
    answer = thief.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    assert answer.status_code == 200 and TOO_MANY in html(answer)
    assert thief.get(reverse("home")).status_code == 302
    assert AuditEvent.objects.filter(action="auth.mfa_failed").count() == 5


def test_an_attacker_cannot_keep_the_owner_out_of_a_known_address(cast, clock):
    attempt("sales_a", PASSWORD, "10.0.0.5")  # the owner's usual address
    for n in range(throttle.FREE_FAILURES["account"] + 3):
        attempt("sales_a", f"guess number {n}", f"203.0.113.{n}")
    assert TOO_MANY in html(attempt("sales_a", PASSWORD, "198.51.100.9")[1])  # elsewhere: paused
    assert attempt("sales_a", PASSWORD, "10.0.0.5")[1].status_code == 302  # at home: in


def test_one_ipv6_network_counts_as_one_address(cast, clock):
    for n in range(throttle.FREE_FAILURES["ip"]):
        attempt(f"user{n}", "a common password", f"2001:db8:1:2::{n + 1:x}")
    answer = attempt("sales_a", PASSWORD, "2001:db8:1:2:ffff::7")[1]
    assert TOO_MANY in html(answer)
    assert attempt("sales_a", PASSWORD, "2001:db8:1:3::1")[1].status_code == 302


def test_the_password_alone_does_not_confirm_someone_with_a_second_factor(cast):
    """A thief with the password and an unlocked session must not add their own passkey,
    read new recovery codes or pass step-up by typing the password again."""
    secret = enrol_totp(cast.sales_a)
    client = Client()
    sign_in(client, cast.sales_a, secret)
    answer = client.post(reverse("account_reauthenticate") + "?next=/account/2fa/webauthn/add/",
                         {"password": PASSWORD})
    assert answer.status_code == 302
    assert answer.url == reverse("mfa_reauthenticate") + "?next=/account/2fa/webauthn/add/"
    records = client.session["account_authentication_methods"]
    assert not any(r.get("reauthenticated") for r in records)
    add = client.get(reverse("mfa_add_webauthn"))
    assert add.status_code == 302 and add.url.startswith(reverse("mfa_reauthenticate"))


def test_after_confirming_the_session_stays_on_the_list_and_can_be_ended(cast):
    secret = enrol_totp(cast.sales_a)
    laptop, phone = Client(HTTP_USER_AGENT="Laptop/1.0"), Client(HTTP_USER_AGENT="Phone/2.0")
    sign_in(laptop, cast.sales_a, secret)
    confirm_with_recovery_code(laptop, cast.sales_a)  # a new session key
    assert "This session" in html(laptop.get(reverse("usersessions_list")))
    recovery = RecoveryCodes(cast.sales_a.authenticator_set.get(type="recovery_codes"))
    sign_in(phone, cast.sales_a, code=recovery.get_unused_codes()[0])
    phone.post(reverse("usersessions_list"))  # "sign out all other sessions"
    assert laptop.get(reverse("home")).status_code == 302
    assert phone.get(reverse("home")).status_code == 200
