from django import template

from anke.core.fields import format_phone

register = template.Library()


@register.filter
def phone(value: str) -> str:
    """Show a stored E.164 number the way people read it (``138 1234 5678``)."""
    return format_phone(value)
