"""Signing in with a second factor in Chromium: enrolling an authenticator app on first sign-in,
then signing in with its code; and a wrong code refused."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.accounts.signing_in import fresh_window, totp_code, unused_code
from tests.personas import PASSWORD

pytestmark = pytest.mark.browser


def password_step(page, user):
    page.goto(reverse("account_login"))
    page.locator("input[name=login]").fill(user.username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()


def test_first_sign_in_enrols_an_authenticator_app_then_asks_for_its_code(page, cast):
    password_step(page, cast.sales_a)
    # Led to enrolment, and kept there: the dashboard is out of reach until it is done.
    expect(page).to_have_url(re.compile(re.escape(reverse("mfa_activate_totp"))))
    page.goto(reverse("customers:list"))
    expect(page).to_have_url(re.compile(re.escape(reverse("mfa_activate_totp"))))
    expect(page.locator("img[src^='data:image/svg+xml']")).to_be_visible()
    # Each visit shows a new key until one is confirmed: take the one on screen now.
    secret = page.locator("#authenticator_secret").input_value()

    page.locator("input[name=code]").fill("000000")
    page.locator("main form button[type=submit]").click()
    expect(page.locator(".invalid-feedback")).to_have_text("Incorrect code.")
    fresh_window()
    page.locator("input[name=code]").fill(totp_code(secret))
    page.locator("main form button[type=submit]").click()
    # Recovery codes are shown once enrolment is done; then the way is open.
    expect(page.locator("main")).to_contain_text("Recovery Codes")
    page.goto(reverse("customers:list"))
    expect(page.get_by_test_id("whoami")).to_have_text(str(cast.sales_a))

    page.locator("nav form[action='/logout/'] button").click()
    password_step(page, cast.sales_a)
    expect(page).to_have_url(re.compile(re.escape(reverse("mfa_authenticate"))))
    page.locator("input[name=code]").fill(unused_code(cast.sales_a.pk, secret))
    page.locator("main form button[type=submit]").first.click()
    expect(page).to_have_url(re.compile(re.escape(reverse("home")) + "$"))


def test_the_sessions_page_shows_this_browser(page, cast):
    from tests.browser.test_journeys import log_in

    log_in(page, cast.manager)
    page.get_by_test_id("whoami").click()
    page.get_by_role("link", name="Sessions").click()
    row = page.get_by_test_id("sessions").locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("This session")
