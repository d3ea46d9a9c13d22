"""Keyset pagination for web lists: constant cost per page, no COUNT over millions of rows."""

import base64
import binascii
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import connections
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


def keyset_page(queryset, cursor: str | None, size: int, *,
                partitions: list[dict] | None = None):
    """The page after ``cursor`` in newest-first order, and the cursor of the page after it.

    A malformed cursor starts from the first page rather than failing. ``partitions`` are
    lookups that together cover every row (each department of a subtree, one's own
    customers…): the page is then the merge of each part's own newest rows, each read in
    order from an index on (field, created_at, id), instead of sorting every row.
    """
    queryset = queryset.order_by("-created_at", "-pk")
    position = _decode(cursor, queryset.model._meta.pk) if cursor else None
    if position:
        stamp, pk = position
        queryset = queryset.filter(Q(created_at__lt=stamp) | Q(created_at=stamp, pk__lt=pk))
    if partitions:
        queryset = queryset.filter(pk__in=merged_newest(queryset, partitions, size + 1))
    rows = list(queryset[: size + 1])
    next_cursor = _encode(rows[size - 1]) if len(rows) > size else None
    return rows[:size], next_cursor


# The page is read in a second statement: a row deleted or moved out of scope in between would
# leave it short, and a short page says there is no next one. A few spare ids keep it whole.
MERGE_SPARE = 10


def merged_newest(queryset, partitions: list[dict], limit: int) -> list:
    """The ids of the ``limit`` newest rows of ``queryset`` (and ``MERGE_SPARE`` more), found per
    part and merged in one UNION statement (a row in two parts counts once). Django cannot slice
    the parts of a compound query on SQLite, so the statement is assembled from the parts'
    compiled SQL."""
    limit += MERGE_SPARE
    parts, params = [], []
    for lookups in partitions:
        part = (queryset.filter(**lookups).order_by("-created_at", "-pk")
                .values_list("pk", "created_at")[:limit])
        sql, part_params = part.query.sql_with_params()
        parts.append(f"SELECT * FROM ({sql}) AS p{len(parts)}")  # noqa: S608 - compiled
        params.extend(part_params)
    merged = (f"SELECT m.pk FROM ({' UNION '.join(parts)}) AS m "  # noqa: S608 - compiled
              f"ORDER BY m.created_at DESC, m.pk DESC LIMIT {int(limit)}")
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(merged, params)
        return [row[0] for row in cursor.fetchall()]
