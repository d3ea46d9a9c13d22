"""Logins, failed logins and logouts land in the audit trail."""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from anke.audit.catalogue import Event, Outcome
from anke.audit.recorder import record
from anke.core.context import Actor


def _actor(request, user) -> Actor:
    base = Actor.from_request(request) if request is not None else Actor.system()
    return Actor(user=user, ip=base.ip, user_agent=base.user_agent,
                 request_id=base.request_id, auth_method="password",
                 session_ref=base.session_ref)


@receiver(user_logged_in)
def audit_login(sender, request, user, **kwargs):
    record(_actor(request, user), Event.LOGIN, object_type="user", object_ids=[user.pk])


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
