"""Logins, failed logins and logouts land in the audit trail."""

import time

from allauth.account.internal.flows.login import get_authentication_records
from allauth.account.signals import authentication_step_completed
from allauth.mfa import signals as mfa_signals
from allauth.socialaccount.signals import social_account_added, social_account_removed
from allauth.usersessions.adapter import get_adapter as get_usersessions_adapter
from allauth.usersessions.models import UserSession
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from anke.accounts import history
from anke.accounts.mfa import record_enrolment, reseal_secrets
from anke.accounts.middleware import SEEN_AT, SIGNED_IN_AT
from anke.audit.catalogue import Event, Outcome
from anke.audit.recorder import record
from anke.core.context import Actor
from anke.encryption.rotation import master_rotated


def _actor(request, user) -> Actor:
    """``user`` at this request, named by how this session signed them in ("password+mfa",
    "socialaccount", "mfa" for a passkey alone…): the request's user may still be anonymous."""
    base = Actor.from_request(request) if request is not None else Actor.system()
    methods = dict.fromkeys(r.get("method") for r in (
        get_authentication_records(request, user) if request is not None else ()))
    return Actor(user=user, ip=base.ip, user_agent=base.user_agent,
                 request_id=base.request_id,
                 auth_method="+".join(filter(None, methods))[:20] or "password",
                 session_ref=base.session_ref)


@receiver(user_logged_in)
def audit_login(sender, request, user, **kwargs):
    # The session's clocks start now (a repeated sign-in keeps the session's data).
    request.session[SIGNED_IN_AT] = request.session[SEEN_AT] = time.time()
    actor = _actor(request, user)
    previous = history.last_sign_in(user)
    new_address = previous is not None and not history.signed_in_from(user, actor.ip)
    record(actor, Event.LOGIN, object_type="user", object_ids=[user.pk])
    if new_address:
        record(actor, Event.NEW_SIGN_IN_ADDRESS, object_type="user", object_ids=[user.pk])
    history.tell_about(request, previous, new_address, actor.ip)


@receiver(user_logged_out)
def audit_logout(sender, request, user, **kwargs):
    if user is not None:
        record(_actor(request, user), Event.LOGOUT, object_type="user", object_ids=[user.pk])


@receiver(user_login_failed)
def audit_login_failure(sender, credentials, request=None, **kwargs):
    # Name the account only when it exists, and never keep what was typed as the username:
    # a mistyped password in the username box must not land in the trail.
    username = credentials.get("username", "")
    user = get_user_model().objects.filter(username=username).first() if username else None
    record(_actor(request, None), Event.LOGIN_FAILED, object_type="user",
           object_ids=[user.pk] if user else [], outcome=Outcome.DENIED)


# --- second factors, re-authentication, sessions -----------------------------------------------

def _end_other_sessions(request, user) -> None:
    """A changed second factor ends every other session of the user (audited by the adapter):
    whoever was signed in with the old one is out."""
    get_usersessions_adapter().end_sessions(
        UserSession.objects.filter(user_id=user.pk).exclude(
            session_key=request.session.session_key))


@receiver(mfa_signals.authenticator_added)
def audit_mfa_added(sender, request, user, authenticator, **kwargs):
    if authenticator.type != authenticator.Type.RECOVERY_CODES:
        record_enrolment(request, authenticator)
    _end_other_sessions(request, user)
    record(_actor(request, user), Event.MFA_ADD, object_type="authenticator",
           object_ids=[authenticator.pk], fields=[authenticator.type])


@receiver(mfa_signals.authenticator_removed)
def audit_mfa_removed(sender, request, user, authenticator, **kwargs):
    _end_other_sessions(request, user)
    record(_actor(request, user), Event.MFA_REMOVE, object_type="authenticator",
           object_ids=[authenticator.pk], fields=[authenticator.type])


@receiver(mfa_signals.authenticator_reset)
def audit_recovery_codes_reset(sender, request, user, authenticator, **kwargs):
    record(_actor(request, user), Event.RECOVERY_CODES_RESET, object_type="authenticator",
           object_ids=[authenticator.pk])


@receiver(mfa_signals.authentication_failed)
def audit_mfa_failure(sender, request, user, authenticator, reauthentication, **kwargs):
    record(_actor(request, user), Event.MFA_FAILED, object_type="user", object_ids=[user.pk],
           outcome=Outcome.DENIED, reason="reauthentication" if reauthentication else "login")


@receiver(authentication_step_completed)
def new_key_after_reauthentication(sender, request, reauthenticated=False, **kwargs):
    # allauth keeps the session key when someone re-authenticates (SECURITY.md §4.4): a key
    # planted before the step-up must not inherit it.
    if reauthenticated:
        old = request.session.session_key
        request.session.cycle_key()
        # The session list knows sessions by key: follow the new one, or this session would
        # vanish from the list and outlive "sign out other sessions" and deactivation.
        UserSession.objects.filter(session_key=old).update(
            session_key=request.session.session_key)


@receiver(social_account_added)
def audit_sso_connected(sender, request, sociallogin, **kwargs):
    account = sociallogin.account
    record(Actor.from_request(request), Event.SSO_CONNECT, object_type="user",
           object_ids=[account.user_id], fields=[account.provider])


@receiver(social_account_removed)
def audit_sso_disconnected(sender, request, socialaccount, **kwargs):
    record(Actor.from_request(request), Event.SSO_DISCONNECT, object_type="user",
           object_ids=[socialaccount.user_id], fields=[socialaccount.provider])


@receiver(master_rotated)
def reseal_second_factor_secrets(sender, target, **kwargs):
    reseal_secrets(target)
