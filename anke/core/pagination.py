"""Keyset pagination for web lists: constant cost per page, no COUNT over millions of rows."""

import base64
import binascii
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db.models import Q

from anke.core.fields import SANE_YEARS


def _encode(obj) -> str:
    raw = f"{obj.created_at.isoformat()}|{obj.pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, pk_field):
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, pk = raw.split("|", 1)
        position = datetime.fromisoformat(stamp), pk_field.to_python(pk)
    except (ValueError, ValidationError, binascii.Error, UnicodeDecodeError):
        return None
    # A forged time near year 1 or 9999 would overflow when the database adapts it.
    return position if SANE_YEARS[0] <= position[0].year <= SANE_YEARS[1] else None


def keyset_page(queryset, cursor: str | None, size: int):
    """The page after ``cursor`` in newest-first order, and the cursor of the page after it.

    A malformed cursor starts from the first page rather than failing.
    """
    queryset = queryset.order_by("-created_at", "-pk")
    position = _decode(cursor, queryset.model._meta.pk) if cursor else None
    if position:
        stamp, pk = position
        queryset = queryset.filter(Q(created_at__lt=stamp) | Q(created_at=stamp, pk__lt=pk))
    rows = list(queryset[: size + 1])
    next_cursor = _encode(rows[size - 1]) if len(rows) > size else None
    return rows[:size], next_cursor
