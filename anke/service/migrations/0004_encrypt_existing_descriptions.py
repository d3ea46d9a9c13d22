"""Encrypt, in place, the ticket descriptions the foundation stored in clear."""

from django.db import migrations

from anke.encryption.migrating import Column, Table, encrypt_in_place


class Migration(migrations.Migration):

    dependencies = [
        ("service", "0003_encrypt_ticket_description"),
        ("customers", "0004_encrypt_existing_values"),
    ]

    operations = [
        encrypt_in_place([
            Table("service", "Ticket", "customer_id", (Column("description"),)),
        ]),
    ]
