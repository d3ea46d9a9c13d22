"""A person's own sign-in history, read from the audit trail, and the notice at each sign-in:
when and where they last signed in, and a warning when this address is new for them (someone
else using their password shows up there, and on the history page)."""

from django.contrib import messages
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from anke.audit.catalogue import Event
from anke.audit.models import AuditEvent

# What a person did to their own account, and what was tried against it.
OWN_EVENTS = (Event.LOGIN, Event.LOGOUT, Event.NEW_SIGN_IN_ADDRESS, Event.SESSION_EXPIRED,
              Event.SESSION_END, Event.PASSWORD_CHANGE, Event.MFA_ADD, Event.MFA_REMOVE,
              Event.RECOVERY_CODES_RESET, Event.MFA_FAILED, Event.IP_REFUSED)
AGAINST_EVENTS = (Event.LOGIN_FAILED,)
SHOWN = 50


def last_sign_in(user) -> AuditEvent | None:
    return (AuditEvent.objects.filter(actor=user, action=Event.LOGIN)
            .only("at", "ip").order_by("-at").first())


def signed_in_from(user, ip: str | None) -> bool:
    return AuditEvent.objects.filter(actor=user, action=Event.LOGIN, ip=ip).exists()


def tell_about(request, previous: AuditEvent | None, new_address: bool, ip: str | None) -> None:
    if previous is None:
        return
    when = formats.date_format(timezone.localtime(previous.at), "DATETIME_FORMAT")
    messages.info(request, _("Your last sign-in: %(when)s from %(ip)s.") % {
        "when": when, "ip": previous.ip or "—"}, fail_silently=True)
    if new_address:
        messages.warning(request, _(
            "This is the first sign-in from %(ip)s. If it was not you, change your password "
            "and sign out your other sessions.") % {"ip": ip or "—"}, fail_silently=True)


def sign_in_history(user) -> list[AuditEvent]:
    """The newest events of the user's own account, newest first."""
    own = AuditEvent.objects.filter(actor=user, action__in=OWN_EVENTS).order_by("-at")[:SHOWN]
    against = (AuditEvent.objects.filter(action__in=AGAINST_EVENTS, object_type="user")
               .naming("object_ids", str(user.pk)).order_by("-at")[:SHOWN])
    events = sorted([*own, *against], key=lambda event: event.at, reverse=True)[:SHOWN]
    for event in events:
        event.label = Event(event.action).label
    return events
