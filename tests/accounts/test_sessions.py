"""A person's sessions: listed, ended from the sessions page, and all ended by a new password or a
changed second factor."""

import pytest
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.test import Client
from django.urls import reverse

from anke.access.actions import update_role
from anke.audit.models import AuditEvent
from tests.accounts.signing_in import confirm_with_recovery_code, enrol_totp, sign_in
from tests.helpers import html
from tests.personas import OPERATOR, PASSWORD

NEW_PASSWORD = "a much longer pass phrase 2026"  # noqa: S105


def two_browsers(user):
    """Signed in twice: with the app's code, then with a recovery code (the same app code twice
    within 30 seconds would be a replay)."""
    secret = enrol_totp(user)
    recovery = RecoveryCodes.activate(user).generate_codes()
    laptop, phone = Client(HTTP_USER_AGENT="Laptop/1.0"), Client(HTTP_USER_AGENT="Phone/2.0")
    sign_in(laptop, user, secret)
    sign_in(phone, user, code=recovery[0])
    return laptop, phone


def test_the_sessions_page_lists_and_ends_the_other_sessions(cast):
    laptop, phone = two_browsers(cast.sales_a)
    page = html(laptop.get(reverse("usersessions_list")))
    assert "Laptop/1.0" in page and "Phone/2.0" in page and "This session" in page
    answer = laptop.post(reverse("usersessions_list"))
    assert answer.status_code == 302
    assert phone.get(reverse("home")).status_code == 302
    assert laptop.get(reverse("home")).status_code == 200
    ended = AuditEvent.objects.get(action="auth.session_end")
    assert ended.actor == cast.sales_a and ended.reason == "sessions_ended:1"


def test_a_new_password_ends_every_session(cast):
    laptop, phone = two_browsers(cast.sales_a)
    confirm_with_recovery_code(laptop, cast.sales_a)
    answer = laptop.post(reverse("account_change_password"), {
        "oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert answer.status_code == 302
    assert phone.get(reverse("home")).status_code == 302
    assert laptop.get(reverse("home")).status_code == 302  # signed out here too: sign in anew
    changed = AuditEvent.objects.get(action="auth.password_change")
    assert changed.actor == cast.sales_a and changed.fields == ["password"]
    cast.sales_a.refresh_from_db()
    assert cast.sales_a.check_password(NEW_PASSWORD)


@pytest.mark.parametrize(("password", "message"), [
    ("short one", "This password is too short. It must contain at least 12 characters."),
    ("password1234", "This password is too common."),
])
def test_a_weak_new_password_is_refused_and_changes_nothing(cast, password, message):
    laptop, _phone = two_browsers(cast.sales_a)
    confirm_with_recovery_code(laptop, cast.sales_a)
    answer = laptop.post(reverse("account_change_password"), {
        "oldpassword": PASSWORD, "password1": password, "password2": password})
    assert answer.status_code == 200 and message in html(answer)
    cast.sales_a.refresh_from_db()
    assert cast.sales_a.check_password(PASSWORD)
    assert not AuditEvent.objects.filter(action="auth.password_change").exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_removing_a_second_factor_ends_the_other_sessions(cast):
    update_role(OPERATOR, cast.sales_a.roles.get().pk, changes={"mfa_required": False})
    laptop, phone = two_browsers(cast.sales_a)
    confirm_with_recovery_code(laptop, cast.sales_a)
    answer = laptop.post(reverse("mfa_deactivate_totp"))
    assert answer.status_code == 302
    assert phone.get(reverse("home")).status_code == 302
    assert laptop.get(reverse("home")).status_code == 200
    removed = AuditEvent.objects.filter(action="auth.mfa_remove", actor=cast.sales_a)
    assert sorted(event.fields[0] for event in removed) == ["recovery_codes", "totp"]


# --- sign-in history and the notice at sign-in --------------------------------------------------


def test_a_sign_in_tells_when_and_where_the_last_one_was_and_warns_of_a_new_address(cast):
    enrol_totp(cast.sales_a)
    home = Client(REMOTE_ADDR="10.0.0.5")
    sign_in(home, cast.sales_a)
    assert not AuditEvent.objects.filter(action="auth.new_address").exists()  # the first ever
    recovery = RecoveryCodes.activate(cast.sales_a).generate_codes()
    elsewhere = Client(REMOTE_ADDR="203.0.113.50")
    sign_in(elsewhere, cast.sales_a, code=recovery[0])
    page = html(elsewhere.get(reverse("home")))
    assert "Your last sign-in:" in page and "from 10.0.0.5." in page
    assert "This is the first sign-in from 203.0.113.50." in page
    notice = AuditEvent.objects.get(action="auth.new_address")
    assert notice.actor == cast.sales_a and notice.ip == "203.0.113.50"


def test_the_history_shows_own_sign_ins_and_attempts_against_the_account_only(cast):
    Client(REMOTE_ADDR="198.51.100.4").post(reverse("account_login"),
                                             {"login": "sales_a", "password": "a wrong guess!"})
    Client().post(reverse("account_login"), {"login": "sales_b", "password": "another guess"})
    enrol_totp(cast.sales_a)
    client = Client(REMOTE_ADDR="10.0.0.5")
    sign_in(client, cast.sales_a)
    page = client.get(reverse("sign_in_history"))
    rows = [(e.action, e.ip) for e in page.context["events"]]
    assert rows == [("auth.login", "10.0.0.5"), ("auth.login_failed", "198.51.100.4")]
    assert "failed to log in" in html(page)
