"""Encrypt columns that held plaintext, in place, from a data migration (and back).

Works on raw rows, so it does not depend on the model classes of any later version: it reads
each row's plaintext, issues the subject's data key if it has none yet, writes the envelope and
the blind-index token. It runs inside the migration's transaction: all rows or none.
"""

import uuid
from dataclasses import dataclass

from django.db import migrations

from anke.encryption import blind_index, datakeys, envelope

BATCH = 1000


@dataclass(frozen=True)
class Column:
    name: str
    index_group: str | None = None  # its BlindIndexField is ``<name>_bidx``
    nullable: bool = False  # empty is NULL in plaintext (dates)


@dataclass(frozen=True)
class Table:
    app_label: str
    model_name: str
    subject_column: str  # "id" for the subject itself, "customer_id" for its records
    columns: tuple[Column, ...]


def _rows(connection, table: str, columns: list[str]):
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(map(quote, columns))} FROM {quote(table)}")  # noqa: S608 - names from the model, quoted
        while batch := cursor.fetchmany(BATCH):
            yield from batch


def _subject_keys(apps, subjects: set[str]) -> dict[str, tuple[int, bytes]]:
    """Active keys of ``subjects``, issuing keys for subjects that never had one.

    An erased subject (a destroyed key, or in the ledger) gets no new key: its values, empty
    since the way back, are sealed under a throwaway key, so they read as erased.
    """
    DataKey = apps.get_model("encryption", "DataKey")
    Erasure = apps.get_model("encryption", "Erasure")
    keys, erased = {}, {}
    for row in DataKey.objects.filter(subject_id__in=subjects):
        if row.status == "active":
            keys[str(row.subject_id)] = (row.version, datakeys.unwrap(row))
        else:
            erased[str(row.subject_id)] = max(row.version, erased.get(str(row.subject_id), 0))
    for subject in Erasure.objects.filter(subject_id__in=subjects).values_list("subject_id",
                                                                               flat=True):
        erased.setdefault(str(subject), 1)
    for subject, version in erased.items():
        keys.setdefault(subject, (version, envelope.new_key()))
    fresh = []
    for subject in subjects - set(keys):
        dek = envelope.new_key()
        kek_version, wrapped = datakeys.wrap(dek, subject, 1)
        fresh.append(DataKey(subject_id=subject, version=1, kek_version=kek_version,
                             wrapped=wrapped))
        keys[subject] = (1, dek)
    DataKey.objects.bulk_create(fresh, batch_size=BATCH)
    return keys


def encrypt_tables(apps, schema_editor, tables: list[Table]) -> None:
    connection = schema_editor.connection
    for table in tables:
        model = apps.get_model(table.app_label, table.model_name)
        db_table = model._meta.db_table
        names = [c.name for c in table.columns]
        rows = list(_rows(connection, db_table, ["id", table.subject_column, *names]))
        keys = _subject_keys(apps, {str(uuid.UUID(str(r[1]))) for r in rows})
        assignments = [f"{connection.ops.quote_name(n)} = %s" for n in names]
        assignments += [f"{connection.ops.quote_name(c.name + '_bidx')} = %s"
                        for c in table.columns if c.index_group]
        update = (f"UPDATE {connection.ops.quote_name(db_table)} SET {', '.join(assignments)} "  # noqa: S608 - names from the model, quoted
                  f"WHERE {connection.ops.quote_name('id')} = %s")
        params = []
        for row_id, subject, *values in rows:
            row_uuid, subject = uuid.UUID(str(row_id)), str(uuid.UUID(str(subject)))
            version, key = keys[subject]
            sealed = [envelope.to_text(envelope.seal(
                key, version, _plain(value).encode(),
                envelope.field_aad(db_table, column.name, row_uuid, subject)))
                for column, value in zip(table.columns, values, strict=True)]
            tokens = [blind_index.token_for_write(c.index_group, _plain(v))
                      for c, v in zip(table.columns, values, strict=True) if c.index_group]
            params.append([*sealed, *tokens, row_id])
        with connection.cursor() as cursor:
            for start in range(0, len(params), BATCH):
                cursor.executemany(update, params[start:start + BATCH])


def decrypt_tables(apps, schema_editor, tables: list[Table]) -> None:
    """The way back: plaintext again (values of erased subjects come back empty)."""
    connection = schema_editor.connection
    DataKey = apps.get_model("encryption", "DataKey")
    for table in tables:
        model = apps.get_model(table.app_label, table.model_name)
        db_table = model._meta.db_table
        names = [c.name for c in table.columns]
        quote = connection.ops.quote_name
        update = (f"UPDATE {quote(db_table)} SET {', '.join(f'{quote(n)} = %s' for n in names)} "  # noqa: S608 - names from the model, quoted
                  f"WHERE {quote('id')} = %s")
        key_cache: dict[tuple[str, int], bytes | None] = {}
        params = []
        for row_id, subject, *values in _rows(connection, db_table,
                                              ["id", table.subject_column, *names]):
            row_uuid, subject = uuid.UUID(str(row_id)), str(uuid.UUID(str(subject)))
            plain = []
            for column, value in zip(table.columns, values, strict=True):
                blob = envelope.from_text(value) if value else b""
                version = envelope.key_version_of(blob) if blob else 0
                if (subject, version) not in key_cache:
                    row = DataKey.objects.filter(subject_id=subject, version=version).first()
                    key_cache[(subject, version)] = (
                        datakeys.unwrap(row) if row and row.status == "active" else None)
                key = key_cache[(subject, version)]
                plain.append(envelope.open_sealed(
                    key, blob, envelope.field_aad(db_table, column.name, row_uuid, subject),
                ).decode() if key else "")
            params.append([None if p == "" and c.nullable else p
                           for p, c in zip(plain, table.columns, strict=True)] + [row_id])
        with connection.cursor() as cursor:
            cursor.executemany(update, params)


def _plain(value) -> str:
    if value is None:
        return ""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)



def encrypt_in_place(tables: list[Table]):
    """The data-migration operation that encrypts ``tables`` (and decrypts them going back).

    Keep it in a migration of its own, after the one that changes the columns: PostgreSQL
    refuses to alter a table in the transaction that updated its rows.
    """
    return migrations.RunPython(lambda apps, editor: encrypt_tables(apps, editor, tables),
                                lambda apps, editor: decrypt_tables(apps, editor, tables))
