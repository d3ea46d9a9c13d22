"""Encrypt, in place, the values the foundation stored in clear (SECURITY.md §2)."""

from django.db import migrations

from anke.encryption.migrating import Column, Table, encrypt_in_place


class Migration(migrations.Migration):

    dependencies = [
        ("customers", "0003_encrypt_personal_data"),
        ("encryption", "0001_initial"),
    ]

    operations = [
        encrypt_in_place([
            Table("customers", "Customer", "id", (
                Column("phone", "phone"), Column("email", "email"), Column("street"),
                Column("id_number", "id_number"), Column("credit_code", "credit_code"),
                Column("birthday", nullable=True), Column("preferences"), Column("notes"),
            )),
            Table("customers", "ContactPerson", "customer_id", (
                Column("phone", "phone"), Column("email", "email"), Column("notes"),
            )),
        ]),
    ]
