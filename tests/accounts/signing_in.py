"""Signing in through the real pages, second factor included, for tests of the sign-in itself."""

import time

from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value
from django.urls import reverse

from tests.personas import PASSWORD

PERIOD = 30
KNOWN_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105 - a test authenticator's


def totp_code(secret: str, at: float | None = None) -> str:
    return format_hotp_value(hotp_value(secret, int(at if at is not None else time.time())
                                        // PERIOD))


def fresh_window(min_left: float = 8.0) -> None:
    """Wait, if need be, until the current 30-second window has ``min_left`` seconds to run, so
    a code computed now is still good when the server checks it."""
    left = PERIOD - time.time() % PERIOD
    if left < min_left:
        time.sleep(left + 0.05)


_last_window: dict = {}


def unused_code(key, secret: str) -> str:
    """A code for ``secret`` that ``key`` (a user) has not used yet: a second sign-in within the
    same 30 seconds waits for the next window, as a person would (a code is good once)."""
    fresh_window(min_left=5)
    window = int(time.time()) // PERIOD
    if _last_window.get(key) == window:
        time.sleep(PERIOD - time.time() % PERIOD + 0.05)
        window += 1
    _last_window[key] = window
    return totp_code(secret)


def enrol_totp(user, secret: str = KNOWN_SECRET) -> str:
    """Give ``user`` an authenticator app with a known secret, as the enrolment page would."""
    TOTP.activate(user, secret)
    return secret


def post_password(client, username: str, password: str = PASSWORD, **extra):
    return client.post(reverse("account_login"), {"login": username, "password": password},
                       **extra)


def sign_in(client, user, secret: str = KNOWN_SECRET, *, code: str | None = None) -> None:
    """Password, then the authenticator's code (or the ``code`` given, a recovery code): a
    complete sign-in."""
    if code is None:
        fresh_window()
    post_password(client, user.username)
    answer = client.post(reverse("mfa_authenticate"), {"code": code or totp_code(secret)})
    assert answer.status_code == 302, answer.content.decode()[:500]


def confirm_with_recovery_code(client, user):
    """Re-authenticate (step-up) with one of the user's unused recovery codes, made if need be:
    the app's code was just used to sign in, and is good once."""
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes

    found = Authenticator.objects.filter(user=user, type="recovery_codes").first()
    codes = RecoveryCodes(found) if found else RecoveryCodes.activate(user)
    answer = client.post(reverse("mfa_reauthenticate"), {"code": codes.get_unused_codes()[-1]})
    assert answer.status_code == 302, answer.content.decode()[:300]
    return answer


def authenticators(user) -> list[str]:
    return sorted(Authenticator.objects.filter(user=user).values_list("type", flat=True))
