"""Writers, deletions, shredding and rotations racing on PostgreSQL (found by review).

Each test holds one side at a chosen point (a patched step waits on an event) while the other
runs in a second thread with its own connection, then checks the outcome: no deadlock, no value
under a destroyed key, no lost edit, no row that search can no longer find. SQLite takes the
write lock at BEGIN (IMMEDIATE), so these interleavings cannot happen there.
"""

import threading
import time

import pytest
from django.db import connection

from anke.access import guarded
from anke.audit.models import AuditEvent
from anke.core.context import Actor
from anke.customers import actions
from anke.customers.actions import (
    create_contact,
    create_customers,
    delete_customer,
    shred_customer,
    update_customer,
)
from anke.customers.models import Customer
from anke.encryption import rotation
from anke.encryption.keyring import INDEX, keyring
from anke.encryption.models import DataKey
from anke.encryption.verify import verify_all
from tests.api.conftest import signed_in
from tests.helpers import read_back
from tests.personas import actor, customer_of

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="SQLite serialises writers; these races need PostgreSQL"),
]
OPERATOR = Actor.system()


def in_thread(target, out: dict, name: str) -> threading.Thread:
    def body():
        try:
            out[name] = target()
        except Exception as error:  # noqa: BLE001 - the test inspects what happened
            out[name] = error
        finally:
            connection.close()
    thread = threading.Thread(target=body)
    thread.start()
    return thread


def held(monkeypatch, owner, name: str):
    """Patch ``owner.name`` to stop at its start until released; returns (reached, release)."""
    reached, release, real = threading.Event(), threading.Event(), getattr(owner, name)

    def waiting(*args, **kwargs):
        reached.set()
        release.wait(10)
        return real(*args, **kwargs)
    monkeypatch.setattr(owner, name, waiting)
    return reached, release


def finish(release, *threads):
    time.sleep(1)  # let the other side reach its lock
    release.set()
    for thread in threads:
        thread.join(30)


def test_a_shred_waiting_on_rotate_data_destroys_the_new_key(cast, private_key_file,
                                                             monkeypatch):
    customer = customer_of(cast.sales_a, phone="13800000001")
    reached, release = held(monkeypatch, rotation, "_rekey_subjects")
    out = {}
    rotating = in_thread(lambda: rotation.rotate_data(OPERATOR), out, "rotate")
    reached.wait(10)
    shredding = in_thread(lambda: shred_customer(OPERATOR, customer.pk, reason="request"), out,
                          "shred")
    finish(release, rotating, shredding)
    assert out["shred"] is True
    assert list(DataKey.objects.filter(subject_id=customer.pk).values_list(
        "version", "status")) == [(2, "destroyed")]
    body = signed_in(cast.sales_a).get(f"/api/v1/customers/{customer.pk}/").json()
    assert body["phone"] is None and body["unreadable_fields"]["phone"] == "erased"


def test_a_delete_and_rotate_data_queue_instead_of_deadlocking(cast, private_key_file,
                                                               monkeypatch):
    customer = customer_of(cast.sales_a, phone="13800000001")
    reached, release = held(monkeypatch, actions, "destroy_subject_keys")
    out = {}
    deleting = in_thread(lambda: delete_customer(actor(cast.sales_a), customer.pk), out,
                         "delete")
    reached.wait(10)
    rotating = in_thread(lambda: rotation.rotate_data(OPERATOR), out, "rotate")
    finish(release, deleting, rotating)
    assert out["delete"] is None and not isinstance(out["rotate"], Exception)
    assert not Customer.objects.filter(pk=customer.pk).exists()


def test_a_delete_and_an_edit_queue_instead_of_deadlocking(cast, monkeypatch):
    customer = customer_of(cast.sales_a, phone="13800000001")
    reached, release = held(monkeypatch, guarded, "_locked")
    out = {}
    editing = in_thread(lambda: update_customer(actor(cast.sales_a), customer.pk,
                                                changes={"stage": "vip"}, version=1),
                        out, "update")
    reached.wait(10)  # the editor holds the customer's key lock
    monkeypatch.undo()
    deleting = in_thread(lambda: delete_customer(actor(cast.sales_a), customer.pk), out,
                         "delete")
    finish(release, editing, deleting)
    assert not any("deadlock" in str(value).lower() for value in out.values())
    assert out["delete"] is None


def test_reindexing_does_not_undo_a_concurrent_edit(cast, private_key_file, monkeypatch):
    customer = customer_of(cast.sales_a, phone="13800000001")
    keyring().add_version(INDEX, 2)  # the row now holds a token of an older index key
    reached, release = held(monkeypatch, rotation, "ReadKeys")
    out = {}
    reindexing = in_thread(lambda: rotation._reindex_stragglers(OPERATOR, 2), out, "reindex")
    reached.wait(10)
    editing = in_thread(lambda: update_customer(actor(cast.sales_a), customer.pk,
                                                changes={"phone": "13900000009"}, version=1),
                        out, "update")
    finish(release, reindexing, editing)
    assert read_back(Customer, customer.pk).phone == "+8613900000009"


def test_an_import_spanning_rotate_data_stays_searchable(cast, private_key_file, monkeypatch):
    reached, release = held(monkeypatch, actions, "record_each")
    out = {}
    importing = in_thread(lambda: create_customers(actor(cast.sales_a), [
        {"name": "导入", "phone": "13800000005"}]), out, "import")
    reached.wait(10)
    out["rotate"] = rotation.rotate_data(OPERATOR)
    release.set()
    importing.join(30)
    found = signed_in(cast.sales_a).post("/api/v1/customers/search/", {"phone": "13800000005"},
                                         format="json").json()["results"]
    assert [row["name"] for row in found] == ["导入"]


def test_writes_waiting_on_rotate_data_use_the_new_key(cast, private_key_file, monkeypatch):
    customer = customer_of(cast.sales_a, phone="13800000001")
    reached, release = held(monkeypatch, rotation, "_rekey_subjects")
    out = {}
    rotating = in_thread(lambda: rotation.rotate_data(OPERATOR), out, "rotate")
    reached.wait(10)
    editing = in_thread(lambda: update_customer(actor(cast.sales_a), customer.pk,
                                                changes={"phone": "13900000009"}, version=1),
                        out, "update")
    adding = in_thread(lambda: create_contact(actor(cast.sales_a), customer.pk,
                                              data={"name": "李四", "phone": "13700000003"}),
                       out, "contact")
    finish(release, rotating, editing, adding)
    assert all(not failures for _label, _checked, failures in verify_all(OPERATOR))
    assert read_back(Customer, customer.pk).phone == "+8613900000009"


def test_parallel_reveals_never_pass_the_hourly_limit(cast, settings):
    """The allowance is counted in the trail with the user's row locked: eight reveals at once
    with room for three leave exactly three allowed and five refused, all recorded."""
    settings.REVEALS_PER_HOUR = 3
    customer = customer_of(cast.sales_a, phone="13812345678")
    start, out = threading.Barrier(8), {}

    def reveal():
        client = signed_in(cast.service)
        start.wait()
        return client.post(f"/api/v1/customers/{customer.pk}/reveal/", {
            "field_names": ["phone"], "reason": "客户来电核实身份，需要完整号码回拨"},
            format="json").status_code

    threads = [in_thread(reveal, out, f"reveal {i}") for i in range(8)]
    for thread in threads:
        thread.join(60)
    assert sorted(out.values()) == [200] * 3 + [429] * 5
    outcomes = AuditEvent.objects.filter(action="customer.reveal").values_list("outcome",
                                                                               flat=True)
    assert sorted(outcomes) == ["allowed"] * 3 + ["denied"] * 5
