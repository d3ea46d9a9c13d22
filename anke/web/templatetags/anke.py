from django import template

from anke.core.fields import format_phone

register = template.Library()


@register.filter
def phone(value) -> str:
    """Show a stored E.164 number the way people read it (``138 1234 5678``); a value that
    could not be decrypted shows why."""
    return format_phone(value) if isinstance(value, str) else str(value)
