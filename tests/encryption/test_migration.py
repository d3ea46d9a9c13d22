"""The foundation's plaintext is encrypted in place by a data migration, and back."""

import datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from anke.core.context import Actor
from anke.customers.models import ContactPerson, Customer
from tests.helpers import read_back

# Users as they were then too: later columns of theirs (NOT NULL, no database default) would
# refuse the old model's rows.
BEFORE = [("customers", "0002_sane_years"), ("accounts", "0001_initial")]
AFTER = [("customers", "0004_encrypt_existing_values")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def raw(table: str, column: str) -> list:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {connection.ops.quote_name(column)} FROM "  # noqa: S608
                       f"{connection.ops.quote_name(table)}")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_plaintext_is_encrypted_in_place_and_can_be_migrated_back():
    old = migrate(BEFORE)
    user = old.get_model("accounts", "User").objects.create(username="legacy")
    customer = old.get_model("customers", "Customer").objects.create(
        name="老客户", owner_id=user.pk, phone="+8613812345678", email="old@example.com",
        street="人民路1号", id_number="11010519491231002X", birthday=datetime.date(1949, 12, 31))
    old.get_model("customers", "ContactPerson").objects.create(
        customer_id=customer.pk, name="联系人", phone="+8613700001234")
    try:
        migrate(AFTER)
        for column in ("phone", "email", "street", "id_number", "birthday"):
            stored = raw("customers_customer", column)
            assert stored[0] and "1949" not in stored[0] and "13812345678" not in stored[0]
        assert "13700001234" not in str(raw("customers_contactperson", "phone"))
        new = read_back(Customer, customer.pk)
        assert (new.phone, new.email, new.street, new.birthday) == (
            "+8613812345678", "old@example.com", "人民路1号", datetime.date(1949, 12, 31))
        found = Customer.objects.matching(Actor.system(), "phone", "+8613812345678")
        assert [c.pk for c in found] == [customer.pk]
        assert read_back(ContactPerson, ContactPerson.objects.get().pk).phone == "+8613700001234"

        migrate(BEFORE)
        assert raw("customers_customer", "phone") == ["+8613812345678"]
        assert raw("customers_contactperson", "phone") == ["+8613700001234"]
        assert str(raw("customers_customer", "birthday")[0]) == "1949-12-31"
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
