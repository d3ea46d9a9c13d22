import datetime

from django import template
from django.conf import settings
from django.template.defaultfilters import date as date_filter

from anke.access.masking import Masked
from anke.core.fields import format_phone
from anke.core.forms import style_widgets

register = template.Library()


@register.filter
def phone(value) -> str:
    """Show a stored E.164 number the way people read it (``138 1234 5678``); a value that
    could not be decrypted shows why; a masked one stays as masked."""
    return format_phone(value) if isinstance(value, str) and not isinstance(value, Masked) \
        else str(value)


@register.filter
def readable_date(value, fmt: str = "SHORT_DATE_FORMAT") -> str:
    """A date as ``|date`` shows it; a value that could not be decrypted shows why (``|date``
    would turn it into an empty cell)."""
    return date_filter(value, fmt) if isinstance(value, datetime.date) else str(value)


@register.filter
def bootstrap(form):
    """A form from elsewhere (allauth's) in Bootstrap's look, as Anke's own forms have."""
    style_widgets(form, mark_errors=True)
    return form


@register.simple_tag
def session_limits() -> dict:
    """How long a session lasts idle (minutes) and at most (hours), for the sessions page."""
    return {"idle": settings.SESSION_IDLE_SECONDS // 60,
            "hours": settings.SESSION_MAX_SECONDS // 3600}
