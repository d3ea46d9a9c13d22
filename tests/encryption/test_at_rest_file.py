"""The SQLite file itself, byte by byte, holds no contact data in clear (SECURITY.md §5).

A scan through SQL (tests/conftest.py does one after every test) sees only live rows; this one
reads the database file and its WAL as an attacker who copied them would, freed pages included,
right after an upgrade that encrypted the foundation's plaintext in place, and again after a
demo load, an edit of every phone, a data-key rotation and a shred.
"""

import re

import pytest
from django.conf import settings

from tests.encryption.test_rotation_crash import Anke

pytestmark = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
    reason="reads a SQLite database file")

# The identifiers of every customer and contact person, decrypted through the audited road.
IDENTIFIERS = """
from anke.core.context import Actor
from anke.core.fields import Mask
from anke.encryption.datakeys import open_for_reading
from anke.encryption.fields import encrypted_fields, encrypted_models
values = set()
for model in encrypted_models():
    rows = list(model.objects.all())
    open_for_reading(Actor.system(), rows)
    for field in encrypted_fields(model):
        if field.mask in (Mask.PHONE, Mask.EMAIL, Mask.ID_NUMBER, Mask.ADDRESS):
            values |= {str(getattr(row, field.attname)) for row in rows}
facts["values"] = sorted(v for v in values if len(v) >= 6)
"""

# Every demo customer's phone changed once through the domain action, so old envelopes are freed.
EDIT_PHONES = """
from anke.core.context import Actor
from anke.customers.actions import update_customer
from anke.customers.models import Customer
for number, customer in enumerate(Customer.objects.exclude(owner__username="legacy")):
    update_customer(Actor.system(customer.owner), customer.pk, version=customer.version,
                    changes={"phone": f"1391234{number:04d}"})
facts["edited"] = True
"""


# Customers stored by the foundation, in clear, before the encryption migrations ran.
FOUNDATION_CUSTOMERS = """
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
old = MigrationExecutor(connection).loader.project_state([("customers", "0002_sane_years")]).apps
owner = old.get_model("accounts", "User").objects.create(username="legacy")
for number in range(30):
    old.get_model("customers", "Customer").objects.create(
        name=f"老客户{number}", owner_id=owner.pk, phone=f"+861371234{number:04d}",
        email=f"legacy{number}@example.com", street=f"旧址路{number}号院")
facts["created"] = True
"""


def test_the_database_file_holds_no_contact_data_in_clear(tmp_path):
    anke = Anke(f"sqlite:///{tmp_path / 'anke.sqlite3'}", tmp_path / "var")
    anke.ok("migrate", "customers", "0002_sane_years")
    anke.facts(FOUNDATION_CUSTOMERS)
    anke.ok("migrate")  # encrypts the foundation's values in place
    upgraded = b"".join(path.read_bytes() for path in tmp_path.glob("anke.sqlite3*"))
    assert b"+8613712340007" not in upgraded and "旧址路7号院".encode() not in upgraded
    anke.ok("demo", "--customers", "40")
    before = anke.facts(IDENTIFIERS)["values"]
    anke.facts(EDIT_PHONES)
    anke.ok("keys", "rotate-data")
    after = anke.facts(IDENTIFIERS)["values"]
    customer = re.search(r"[0-9a-f-]{36}", anke.ok("shell", "-c", (
        "from anke.customers.models import Customer; print(Customer.objects.first().pk)")))
    anke.ok("customer", "shred", customer.group(0), "--reason", "test")

    stored = b"".join(path.read_bytes() for path in tmp_path.glob("anke.sqlite3*"))
    values = set(before) | set(after)
    values |= {v[3:] for v in values if v.startswith("+86")}  # national forms of numbers
    assert len(values) > 100 and {"+8613712340007", "旧址路7号院"} <= values
    assert [v for v in values if v.encode() in stored] == []
