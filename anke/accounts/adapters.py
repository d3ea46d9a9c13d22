"""Anke's answers to allauth's questions: who may sign up (nobody), how failed sign-ins cool
off, how a password change is saved and audited, how MFA secrets are kept, and when a second
factor may be removed."""

import time
from dataclasses import replace

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.flows.login import record_authentication
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.usersessions.adapter import DefaultUserSessionsAdapter
from django.conf import settings
from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from anke.accounts import throttle
from anke.accounts.mfa import MFA, has_second_factor, mfa_required, open_secret, seal_secret
from anke.accounts.middleware import SIGNED_IN_AT
from anke.accounts.networks import allowed_from
from anke.audit.catalogue import Event, Outcome
from anke.audit.recorder import record
from anke.core.context import Actor


def _network_allows(request, user) -> bool:
    """Whether ``user`` may sign in from this address; a refusal is audited."""
    if allowed_from(user, request.client_ip):
        return True
    record(replace(Actor.from_request(request), user=user), Event.IP_REFUSED, object_type="user",
           object_ids=[user.pk], outcome=Outcome.DENIED, reason="sign_in")
    return False


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        return False  # administrators create accounts (/users/, `anke createuser`)

    def pre_authenticate(self, request, **credentials):
        # Replaces allauth's fixed-window limit with accounts.throttle's growing pauses. A
        # refused attempt checks no password, so it cannot confirm a guess either.
        if throttle.pause_left(credentials.get("username", ""), request.client_ip):
            raise self.validation_error("too_many_login_attempts")

    def authenticate(self, request, **credentials):
        user = super().authenticate(request, **credentials)
        if user is not None and not user.is_active:
            # allauth would say "account inactive", confirming the password: a deactivated
            # account answers as a wrong password does (Django already audited the failure).
            self.authentication_failed(request, **credentials)
            return None
        if user is not None and not _network_allows(request, user):
            # Outside the allowlist the right password answers as a wrong one: whoever is out
            # there learns nothing. The trail says why.
            self.authentication_failed(request, **credentials)
            return None
        if user is not None:
            throttle.succeeded(credentials.get("username", ""), request.client_ip)
        return user

    def pre_login(self, request, user, **kwargs):
        # Passkeys and single sign-on do not pass through authenticate(): the allowlist is
        # checked here for every way in.
        if not _network_allows(request, user):
            self.add_message(request, messages.ERROR, message=_(
                "Your account may not be used from this network."))
            return HttpResponseRedirect(reverse("account_login"))
        return super().pre_login(request, user, **kwargs)

    def authentication_failed(self, request, **credentials):
        # The failure itself is audited by accounts.signals (Django's user_login_failed).
        username = credentials.get("username", "")
        for kind in throttle.failed(username, request.client_ip):
            record(Actor.from_request(request), Event.LOGIN_THROTTLED, object_type="user",
                   outcome=Outcome.DENIED, reason=f"{kind}_cool_off")

    def set_password(self, user, password):
        from anke.accounts.actions import change_password

        change_password(Actor.from_request(self.request), user, password)

    def is_reauthentication_required(self, *, app: str, **kwargs) -> bool:
        # The first second factor is set up straight after the password was typed (that is
        # where enrolment leads): asking for it again would only train people to type it.
        # Adding another factor later, or removing one, asks again.
        request = self.request
        if app == "allauth.mfa" and not request.user.authenticator_set.exists():
            signed_in = request.session.get(SIGNED_IN_AT, 0)
            if time.time() - signed_in < settings.ACCOUNT_REAUTHENTICATION_TIMEOUT:
                return False
        return super().is_reauthentication_required(app=app, **kwargs)

    def get_reauthentication_methods(self, user):
        # Someone with a second factor confirms with it: a password alone (perhaps the stolen
        # one) must not unlock adding a factor, new recovery codes or step-up.
        methods = super().get_reauthentication_methods(user)
        if user.is_authenticated and has_second_factor(user):
            methods = [m for m in methods if m["id"] != "reauthenticate"]
        return methods

    def get_client_ip(self, request):
        return request.client_ip or "0.0.0.0"  # noqa: S104 - a placeholder, never bound


class MfaAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return seal_secret(text)

    def decrypt(self, encrypted_text: str) -> str:
        return open_secret(encrypted_text)

    def get_totp_label(self, user) -> str:
        return user.username

    def can_delete_authenticator(self, authenticator) -> bool:
        """A user whose roles require MFA keeps at least one real second factor."""
        user = authenticator.user
        if not mfa_required(user):
            return True
        return (Authenticator.objects.filter(user_id=user.pk)
                .exclude(pk=authenticator.pk)
                .exclude(type=Authenticator.Type.RECOVERY_CODES).exists())


class UserSessionsAdapter(DefaultUserSessionsAdapter):
    def end_sessions(self, sessions) -> None:
        sessions = list(sessions)
        super().end_sessions(sessions)
        if sessions:
            record(Actor.from_request(self.request), Event.SESSION_END, object_type="user",
                   object_ids=[sessions[0].user_id], reason=f"sessions_ended:{len(sessions)}")


# What an identity provider may say in the ID token's ``amr`` (RFC 8176) when it checked more
# than a password.
SECOND_FACTOR_AMR = {"mfa", "otp", "hwk", "swk", "sms", "fpt", "face", "iris", "retina", "vbm"}


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Single sign-on for existing accounts only: an identity is connected by the signed-in
    person it belongs to, and never creates an account or matches one by e-mail."""

    def is_open_for_signup(self, request, sociallogin) -> bool:
        return False

    def is_auto_signup_allowed(self, request, sociallogin) -> bool:
        return False

    def pre_social_login(self, request, sociallogin) -> None:
        # The identity provider's second factor counts only where the operator said to trust
        # it, and only when this very ID token says one was used; otherwise Anke's own applies.
        # It counts from when the provider checked it (auth_time), not from now, so an old
        # provider session cannot refresh step-up; and only for signing in, not connecting.
        claims = (sociallogin.account.extra_data or {}).get("id_token") or {}
        amr = claims.get("amr") if isinstance(claims, dict) else None
        trusted = sociallogin.provider.app.settings.get("trust_mfa") is True
        if (sociallogin.is_existing and trusted and sociallogin.state.get("process") == "login"
                and isinstance(amr, list) and SECOND_FACTOR_AMR & set(map(str, amr))):
            auth_time = claims.get("auth_time")
            at = min(time.time(), auth_time) if isinstance(auth_time, int | float) else time.time()
            record_authentication(request, sociallogin.user, MFA, type="idp", at=at,
                                  provider=sociallogin.account.provider)
