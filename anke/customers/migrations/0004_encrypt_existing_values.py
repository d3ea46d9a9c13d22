"""Encrypt the values the foundation stored in clear (SECURITY.md §2), in place.

Its own migration, apart from the column changes of 0003: PostgreSQL refuses to alter a table
in the transaction that updated its rows (pending foreign-key trigger events).
"""

from django.db import migrations

from anke.encryption.migrating import Column, Table, decrypt_tables, encrypt_tables

# The high-classified fields of the foundation, encrypted in place (SECURITY.md §2).
TABLES = [
    Table("customers", "Customer", "id", (
        Column("phone", "phone"), Column("email", "email"), Column("street"),
        Column("id_number", "id_number"), Column("credit_code", "credit_code"),
        Column("birthday", nullable=True),
    )),
    Table("customers", "ContactPerson", "customer_id", (
        Column("phone", "phone"), Column("email", "email"),
    )),
]


def encrypt(apps, schema_editor):
    encrypt_tables(apps, schema_editor, TABLES)


def decrypt(apps, schema_editor):
    decrypt_tables(apps, schema_editor, TABLES)


class Migration(migrations.Migration):

    dependencies = [
        ("customers", "0003_encrypt_personal_data"),
    ]

    operations = [
        migrations.RunPython(encrypt, decrypt),
    ]
