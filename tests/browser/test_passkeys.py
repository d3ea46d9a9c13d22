"""Passkeys in Chromium through its virtual authenticator (DevTools WebAuthn domain): register
one after signing in with the authenticator app, then sign in with the passkey alone."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from anke.audit.models import AuditEvent
from tests.accounts.signing_in import KNOWN_SECRET, unused_code
from tests.browser.test_journeys import log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def authenticator(page):
    """A platform authenticator with user verification, as a laptop's fingerprint reader."""
    devtools = page.context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    found = devtools.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True}})
    return devtools, found["authenticatorId"]


def test_register_a_passkey_then_sign_in_with_it_alone(page, live_server, cast, authenticator):
    devtools, authenticator_id = authenticator
    log_in(page, cast.manager)
    page.goto(reverse("mfa_add_webauthn"))
    # Adding a factor asks for the present one again first (the password alone is not enough).
    expect(page).to_have_url(re.compile(re.escape(reverse("mfa_reauthenticate"))))
    page.locator("input[name=code]").fill(unused_code(cast.manager.pk, KNOWN_SECRET))
    page.locator("main form button[type=submit]").first.click()
    expect(page).to_have_url(re.compile(re.escape(reverse("mfa_add_webauthn"))))
    page.locator("input[name=name]").fill("笔记本指纹")
    page.locator("input[name=passwordless]").check()
    page.locator("#mfa_webauthn_add").click()
    expect(page).not_to_have_url(re.compile(re.escape(reverse("mfa_add_webauthn")) + "$"))
    credentials = devtools.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})
    [credential] = credentials["credentials"]
    assert credential["isResidentCredential"]
    assert cast.manager.authenticator_set.filter(type="webauthn").count() == 1

    page.locator("nav form[action='/logout/'] button").click()
    page.goto(reverse("account_login"))
    page.locator("#passkey_login").click()
    expect(page.get_by_test_id("whoami")).to_have_text(str(cast.manager))
    page.goto(reverse("customers:list"))
    expect(page.locator("h1")).to_be_visible()
    assert AuditEvent.objects.filter(action="auth.login", actor=cast.manager).count() == 2
    assert AuditEvent.objects.filter(action="auth.mfa_add", fields=["webauthn"]).exists()
