"""Session lifetime and the second-factor rule, checked on every request.

``SessionTimeoutMiddleware`` ends a session after ``SESSION_IDLE_SECONDS`` without a request or
``SESSION_MAX_SECONDS`` after sign-in, or at once when used from outside the user's IP
allowlist. ``MfaEnforcementMiddleware`` keeps a user whose roles
require MFA, in a session that has not shown a second factor, on the pages that set one up or
ask for it: everything else redirects there (web) or answers 403 (API).
"""

import time

from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from anke.accounts.mfa import (
    PASSKEY,
    has_second_factor,
    mfa_required,
    passkey_required,
    session_mfa_verified,
    session_passkey_verified,
)
from anke.accounts.networks import allowed_from
from anke.audit.catalogue import Event, Outcome
from anke.audit.recorder import record
from anke.core.context import Actor

SIGNED_IN_AT = "anke_signed_in_at"
SEEN_AT = "anke_seen_at"
SEEN_PRECISION = 60  # write the last-seen time at most once a minute


def _is_api(request) -> bool:
    return request.path_info.startswith("/api/")


class SessionTimeoutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            session, now = request.session, time.time()
            signed_in = session.setdefault(SIGNED_IN_AT, now)  # set at sign-in (accounts.signals)
            seen = session.get(SEEN_AT, signed_in)
            if (now - seen > settings.SESSION_IDLE_SECONDS
                    or now - signed_in > settings.SESSION_MAX_SECONDS):
                return self._end(request, Event.SESSION_EXPIRED, "idle"
                                 if now - seen > settings.SESSION_IDLE_SECONDS else "absolute")
            if not allowed_from(request.user, request.client_ip):
                return self._end(request, Event.IP_REFUSED, "session")
            if now - seen >= SEEN_PRECISION or SEEN_AT not in session:
                session[SEEN_AT] = now
                UserSession.objects.filter(session_key=session.session_key).update(
                    last_seen_at=timezone.now(), ip=request.client_ip or "0.0.0.0")  # noqa: S104
        return self.get_response(request)

    def _end(self, request, event: Event, why: str):
        """Sign out: an expired session, or one now used from outside the user's networks."""
        record(Actor.from_request(request), event, object_type="user",
               object_ids=[request.user.pk], reason=why,
               outcome=Outcome.DENIED if event == Event.IP_REFUSED else Outcome.ALLOWED)
        logout(request)
        message = (_("Your session has expired. Please sign in again.")
                   if event == Event.SESSION_EXPIRED else
                   _("Your account may not be used from this network."))
        if _is_api(request):
            return JsonResponse({"error": {"code": "not_authenticated", "message": message}},
                                status=401)
        messages.info(request, message)
        return redirect(f"{reverse('account_login')}?{urlencode({'next': request.path})}")


# Reachable before the second factor: setting one up, giving one, signing out, the language.
MFA_EXEMPT_URL_NAMES = frozenset({
    "mfa_index", "mfa_activate_totp", "mfa_authenticate", "mfa_reauthenticate",
    "mfa_view_recovery_codes", "mfa_generate_recovery_codes", "mfa_download_recovery_codes",
    "mfa_add_webauthn", "mfa_list_webauthn", "mfa_reauthenticate_webauthn", "mfa_login_webauthn",
    "account_logout", "account_reauthenticate", "set_language",
})


class MfaEnforcementMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated:
            return None
        name = request.resolver_match.url_name
        if name == "account_reauthenticate" and has_second_factor(user):
            # Confirming with the password is for people without a second factor.
            query = request.META.get("QUERY_STRING", "")
            return redirect(reverse("mfa_reauthenticate") + (f"?{query}" if query else ""))
        if name in MFA_EXEMPT_URL_NAMES:
            return None
        if passkey_required(user):
            return None if session_passkey_verified(request) else self._refuse(
                request, user, "passkey_required", _(
                    "A passkey is required: sign in with your passkey or security key, or add "
                    "one, in the web interface."),
                "mfa_reauthenticate_webauthn" if user.authenticator_set.filter(
                    type=PASSKEY).exists() else "mfa_add_webauthn")
        if not mfa_required(user) or session_mfa_verified(request):
            return None
        # Someone who has a factor proves it again; someone without one sets one up.
        return self._refuse(request, user, "mfa_required", _(
            "Two-factor authentication is required: sign in with your second factor, or set one "
            "up, in the web interface."),
            "mfa_reauthenticate" if user.authenticator_set.exists() else "mfa_activate_totp")

    @staticmethod
    def _refuse(request, user, code: str, message: str, target: str):
        """The API answers 403 (audited); a page leads to where the factor is given or added."""
        if _is_api(request):
            record(Actor.from_request(request), Event.MFA_REQUIRED, object_type="user",
                   object_ids=[user.pk], outcome=Outcome.DENIED, reason=request.path[:200])
            return JsonResponse({"error": {"code": code, "message": message}}, status=403)
        return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")
