"""Encrypt, in place, the activity summaries the foundation stored in clear."""

from django.db import migrations

from anke.encryption.migrating import Column, Table, encrypt_in_place


class Migration(migrations.Migration):

    dependencies = [
        ("sales", "0006_encrypt_activity_summary"),
        ("customers", "0004_encrypt_existing_values"),
    ]

    operations = [
        encrypt_in_place([
            Table("sales", "Activity", "customer_id", (Column("summary"),)),
        ]),
    ]
