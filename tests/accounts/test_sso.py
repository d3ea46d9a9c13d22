"""Single sign-on through a real OpenID Connect provider on loopback (django-oauth-toolkit, its
own process: tests/oidc_provider/server.py): connecting an identity to one's own account,
signing in with it, the provider's second factor trusted only where configured, and what must
fail: an unconnected identity, a wrong state, a code without its PKCE verifier."""

import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from allauth.socialaccount.models import SocialAccount
from django.test import Client
from django.urls import reverse

from anke.audit.models import AuditEvent
from tests.helpers import html
from tests.oidc_provider.server import CLIENT_ID, CLIENT_SECRET, PASSWORD, USERNAME
from tests.personas import PASSWORD as PASSWORD_OF_SALES_A

ROOT = Path(__file__).resolve().parents[2]
CALLBACK = "http://testserver/account/oidc/corp/login/callback/"
START = "/account/oidc/corp/login/"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def provider(tmp_path, settings):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    process = subprocess.Popen(  # noqa: S603 - our own test server
        [sys.executable, "-m", "tests.oidc_provider.server", str(port), str(tmp_path), CALLBACK],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline().strip()
        assert line == "ready", process.stderr.read()
        base = f"http://127.0.0.1:{port}"

        def configure(trust_mfa: bool):
            settings.SOCIALACCOUNT_PROVIDERS = {"openid_connect": {
                "OAUTH_PKCE_ENABLED": True, "APPS": [{
                    "provider_id": "corp", "name": "Corp SSO", "client_id": CLIENT_ID,
                    "secret": CLIENT_SECRET,
                    "settings": {"server_url": f"{base}/o", "trust_mfa": trust_mfa}}]}}

        configure(trust_mfa=False)
        yield SimpleNamespace(base=base, browser=requests.Session(), configure=configure)
    finally:
        process.terminate()
        process.wait(timeout=10)


def at_provider(provider, authorize_url: str) -> str:
    """Follow the provider's side as alice's browser: sign in there if need be; returns the
    callback URL it sends back to Anke (not followed: Anke is the test client)."""
    browser = provider.browser
    answer = browser.get(authorize_url, allow_redirects=False)
    if urlsplit(answer.headers.get("Location", "")).path == "/login/":
        login_url = urljoin(provider.base, answer.headers["Location"])
        browser.get(login_url)
        answer = browser.post(login_url, data={
            "username": USERNAME, "password": PASSWORD,
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            "next": parse_qs(urlsplit(login_url).query)["next"][0]},
            headers={"Referer": login_url}, allow_redirects=False)
        answer = browser.get(urljoin(provider.base, answer.headers["Location"]),
                             allow_redirects=False)
    location = answer.headers["Location"]
    assert location.startswith(CALLBACK), (answer.status_code, location)
    return location


def start(client: Client, process: str) -> str:
    answer = client.post(START, {"process": process})
    assert answer.status_code == 302, html(answer)[:500]
    return answer["Location"]


def connect_alice(client: Client, provider) -> None:
    callback = at_provider(provider, start(client, "connect"))
    answer = client.get(callback.removeprefix("http://testserver"))
    assert answer.status_code == 302


def test_connect_then_sign_in_with_the_provider(cast, client, provider):
    client.force_login(cast.sales_a)
    authorize = start(client, "connect")
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    answer = client.get(at_provider(provider, authorize).removeprefix("http://testserver"))
    assert answer.status_code == 302
    [identity] = SocialAccount.objects.filter(user=cast.sales_a)
    assert identity.provider == "corp"
    assert AuditEvent.objects.get(action="auth.sso_connect").fields == ["corp"]

    # Signing in with it later: the provider knows alice already.
    browser = Client()
    answer = browser.get(at_provider(provider, start(browser, "login"))
                         .removeprefix("http://testserver"))
    assert answer.status_code == 302
    assert browser.session["_auth_user_id"] == str(cast.sales_a.pk)
    signed_in = AuditEvent.objects.filter(action="auth.login").latest("at")
    assert signed_in.actor == cast.sales_a and signed_in.auth_method == "socialaccount"
    # The provider's second factor is not trusted here: Anke's own is still asked for.
    home = browser.get(reverse("home"))
    assert home.status_code == 302 and home.url.startswith(reverse("mfa_activate_totp"))


def test_a_trusted_provider_that_checked_a_second_factor_counts_as_one(cast, client, provider):
    client.force_login(cast.sales_a)
    connect_alice(client, provider)
    provider.configure(trust_mfa=True)
    browser = Client()
    browser.get(at_provider(provider, start(browser, "login")).removeprefix("http://testserver"))
    assert browser.get(reverse("home")).status_code == 200


def test_an_identity_connected_to_nobody_signs_in_nobody(cast, provider):
    browser = Client()
    answer = browser.get(at_provider(provider, start(browser, "login"))
                         .removeprefix("http://testserver"), follow=True)
    assert "_auth_user_id" not in browser.session
    assert "Sign Up Closed" in html(answer)
    assert not SocialAccount.objects.exists()


def test_a_callback_with_a_wrong_state_signs_in_nobody(cast, client, provider):
    client.force_login(cast.sales_a)
    connect_alice(client, provider)
    browser = Client()
    callback = at_provider(provider, start(browser, "login"))
    parts = urlsplit(callback)
    query = parse_qs(parts.query)
    forged = f"{parts.path}?code={query['code'][0]}&state=forged-state-value"
    answer = browser.get(forged)
    assert answer.status_code == 401  # allauth's "Third-Party Login Failure"
    assert "_auth_user_id" not in browser.session


def test_a_stolen_code_without_the_pkce_verifier_is_worth_nothing(cast, client, provider):
    """An attacker who intercepts the code cannot redeem it: the provider wants the verifier
    that only Anke's session holds, and Anke's own callback wants the session's state."""
    client.force_login(cast.sales_a)
    connect_alice(client, provider)
    victim = Client()
    callback = at_provider(provider, start(victim, "login"))
    code = parse_qs(urlsplit(callback).query)["code"][0]
    stolen = requests.post(f"{provider.base}/o/token/", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, timeout=10)
    assert stolen.status_code == 400 and "access_token" not in stolen.text
    elsewhere = Client()  # the attacker's own browser, replaying the whole callback
    elsewhere.get(callback.removeprefix("http://testserver"))
    assert "_auth_user_id" not in elsewhere.session


def test_disconnecting_an_identity_is_audited_and_ends_its_sign_ins(cast, client, provider):
    client.force_login(cast.sales_a)
    connect_alice(client, provider)
    identity = SocialAccount.objects.get(user=cast.sales_a)
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD_OF_SALES_A})
    answer = client.post(reverse("socialaccount_connections"), {"account": identity.pk})
    assert answer.status_code == 302
    assert not SocialAccount.objects.exists()
    assert AuditEvent.objects.get(action="auth.sso_disconnect").fields == ["corp"]
    browser = Client()
    browser.get(at_provider(provider, start(browser, "login")).removeprefix("http://testserver"))
    assert "_auth_user_id" not in browser.session


def test_single_sign_on_from_outside_the_allowlist_signs_in_nobody(cast, client, provider):
    from anke.accounts.actions import update_user
    from tests.personas import OPERATOR

    client.force_login(cast.sales_a)
    connect_alice(client, provider)
    update_user(OPERATOR, cast.sales_a.pk, changes={"ip_allowlist": ["10.20.0.0/16"]})
    browser = Client(REMOTE_ADDR="203.0.113.7")
    answer = browser.get(at_provider(provider, start(browser, "login"))
                         .removeprefix("http://testserver"))
    assert answer.status_code == 302 and answer.url == reverse("account_login")
    assert "_auth_user_id" not in browser.session
    refused = AuditEvent.objects.get(action="auth.ip_refused")
    assert refused.actor == cast.sales_a and refused.reason == "sign_in"
