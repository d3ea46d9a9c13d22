from django.db import connection

from anke.core.context import Actor
from anke.encryption.datakeys import open_for_reading


def html(response) -> str:
    return response.content.decode()


def read_back(model, pk):
    """The stored row with its encrypted fields readable (as the audited read path opens it)."""
    obj = model.objects.get(pk=pk)
    open_for_reading(Actor.system(), [obj])
    return obj


def opened(objects) -> list:
    """Rows of a queryset with their encrypted fields readable."""
    objects = list(objects)
    open_for_reading(Actor.system(), objects)
    return objects


def raw_values(model, pk, *columns) -> tuple:
    """Columns of one row as stored, past the model fields (ciphertext, index tokens)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(map(quote, columns))} FROM "  # noqa: S608
                       f"{quote(model._meta.db_table)} WHERE id = %s",
                       [model._meta.pk.get_db_prep_value(pk, connection)])
        return cursor.fetchone()


def set_raw_value(model, pk, column: str, value) -> None:
    """Write a column as an attacker with database access would, past every model check."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {quote(model._meta.db_table)} SET {quote(column)} = %s "  # noqa: S608
                       f"WHERE id = %s", [value, model._meta.pk.get_db_prep_value(pk, connection)])
