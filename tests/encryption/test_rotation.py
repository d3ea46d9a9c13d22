"""Key rotation in process: rewrapping, re-keying, resuming after an interruption, searching and
writing while a rotation is half done. (tests/encryption/test_rotation_crash.py kills the real
command with SIGKILL.)"""

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from anke.accounts.mfa import open_secret
from anke.audit.models import AuditEvent
from anke.core.context import Actor
from anke.core.errors import ActionDenied
from anke.customers.actions import create_contact, update_customer
from anke.customers.models import ContactPerson, Customer
from anke.encryption import rotation
from anke.encryption.blind_index import VERSION_SHIFT, token
from anke.encryption.envelope import from_text, key_version_of
from anke.encryption.keyring import INDEX, MASTER, RETIRED, keyring
from anke.encryption.models import DataKey, KeyRotation
from anke.encryption.rotation import rotate_data, rotate_master, status
from anke.encryption.verify import verify_all
from anke.sales.actions import log_activities
from tests.accounts.signing_in import enrol_totp, sign_in
from tests.api.conftest import signed_in
from tests.conftest import tripwire_off
from tests.helpers import opened, raw_values, set_raw_value
from tests.personas import actor, customer_of

OPERATOR = Actor.system()


class Interrupted(Exception):
    pass


def interrupt_after(batches: int):
    seen = []

    def progress(done, total):
        seen.append(done)
        if len(seen) >= batches:
            raise Interrupted()
    return progress


@pytest.fixture
def customers(sales_a, private_key_file):
    made = [customer_of(sales_a, name=f"客户{i}", phone=f"1381234{i:04d}") for i in range(12)]
    create_contact(actor(sales_a), made[0].pk, data={"name": "联系人", "phone": "13700001234"})
    return made


def all_readable() -> bool:
    return all(not failures for _label, _checked, failures in verify_all(OPERATOR))


def phones() -> set[str]:
    return {c.phone for c in opened(Customer.objects.all())}


def test_rotate_master_rewraps_every_data_key_and_retires_the_old_version(customers):
    before = phones()
    result = rotate_master(OPERATOR, batch=5)
    assert (result.target_version, result.done) == (2, 12)
    assert set(DataKey.objects.values_list("kek_version", flat=True)) == {2}
    assert keyring().versions(MASTER)[1].status == RETIRED
    assert phones() == before and all_readable()
    reasons = list(AuditEvent.objects.filter(action="key.rotate_master")
                   .values_list("reason", flat=True))
    assert reasons == ["started", "finished: 12 data keys rewrapped"]


def test_rotate_master_resumes_where_it_stopped(customers):
    with pytest.raises(Interrupted):
        rotate_master(OPERATOR, batch=5, progress=interrupt_after(1))
    assert all_readable()  # half rewrapped, all readable
    assert sorted(set(DataKey.objects.values_list("kek_version", flat=True))) == [1, 2]
    result = rotate_master(OPERATOR, batch=5)
    assert result.resumed and result.done == 12
    assert set(DataKey.objects.values_list("kek_version", flat=True)) == {2}
    assert keyring().active(MASTER).version == 2  # no third version from the resumed run


def test_rotate_data_gives_new_keys_and_new_index_tokens(customers):
    old_keys = dict(DataKey.objects.values_list("subject_id", "wrapped"))
    before = phones()
    result = rotate_data(OPERATOR, batch=5)
    assert (result.target_version, result.done) == (2, 12)
    assert set(DataKey.objects.values_list("version", flat=True)) == {2}
    assert not set(DataKey.objects.values_list("wrapped", flat=True)) & set(old_keys.values())
    tokens = [*Customer.objects.values_list("phone_bidx", flat=True),
              *ContactPerson.objects.values_list("phone_bidx", flat=True)]
    assert {token >> VERSION_SHIFT for token in tokens} == {2}
    assert keyring().versions(INDEX)[1].status == RETIRED
    assert phones() == before and all_readable()
    assert not KeyRotation.objects.filter(finished_at=None).exists()


def test_search_and_writes_work_while_rotate_data_is_half_done(customers, sales_a):
    with pytest.raises(Interrupted):
        rotate_data(OPERATOR, batch=5, progress=interrupt_after(1))
    assert sorted({t >> VERSION_SHIFT for t in
                   Customer.objects.values_list("phone_bidx", flat=True)}) == [1, 2]
    api = signed_in(sales_a)
    for customer in (customers[0], customers[-1]):  # one re-keyed, one not yet
        found = api.post("/api/v1/customers/search/", {"phone": opened([customer])[0].phone},
                         format="json").json()["results"]
        assert [row["id"] for row in found] == [str(customer.pk)]
    # Writes in the middle: an edit of a customer not yet re-keyed, and a new customer.
    update_customer(actor(sales_a), customers[-1].pk, changes={"phone": "13900009999"},
                    version=1)
    late = customer_of(sales_a, name="新客户", phone="13600001111")
    result = rotate_data(OPERATOR, batch=5)
    assert result.resumed and all_readable()
    assert {c.pk: c.phone for c in opened(Customer.objects.filter(
        pk__in=[customers[-1].pk, late.pk]))} == {customers[-1].pk: "+8613900009999",
                                                  late.pk: "+8613600001111"}
    assert {t >> VERSION_SHIFT for t in Customer.objects.values_list("phone_bidx", flat=True)
            } == {2}


def test_only_the_operator_or_key_rotate_may_rotate(customers, sales_a):
    with pytest.raises(ActionDenied):
        rotate_master(actor(sales_a))
    assert keyring().active(MASTER).version == 1
    assert AuditEvent.objects.filter(action="key.rotate_master", outcome="denied").exists()


def test_the_keys_command(customers, capsys):
    call_command("keys", "status")
    out = capsys.readouterr().out
    assert "v1\tactive" in out and "12 active, 0 destroyed" in out
    call_command("keys", "rotate-master", "--batch", "5")
    assert "Master key v2: 12 data keys rewrapped." in capsys.readouterr().out
    call_command("keys", "verify")
    assert "Every encrypted value opens." in capsys.readouterr().out
    with pytest.raises(CommandError, match="--batch"):
        call_command("keys", "rotate-data", "--batch", "0")
    assert status()["running"] == []


def test_rows_indexed_under_the_old_key_during_the_rotation_are_reindexed(customers, sales_a):
    with pytest.raises(Interrupted):
        rotate_data(OPERATOR, batch=5, progress=interrupt_after(1))
    # A process that had not yet re-read the key file writes a token of index key v1.
    late = customer_of(sales_a, name="迟到", phone="13600002222")
    with tripwire_off():  # staged: that process's write, done here past the action
        Customer.objects.filter(pk=late.pk).update(
            phone_bidx=token("phone", "+8613600002222", 1))
    rotate_data(OPERATOR, batch=5)
    assert Customer.objects.get(pk=late.pk).phone_bidx >> VERSION_SHIFT == 2
    found = signed_in(sales_a).post("/api/v1/customers/search/", {"phone": "13600002222"},
                                    format="json").json()["results"]
    assert [row["id"] for row in found] == [str(late.pk)]


def test_a_value_unreadable_before_the_rotation_is_reported_and_stays_so(customers, capsys):
    broken = customers[3]
    set_raw_value(Customer, broken.pk, "phone", raw_values(Customer, customers[4].pk, "phone")[0])
    stored = Customer.objects.values_list("phone_bidx", flat=True).get(pk=broken.pk), \
        raw_values(Customer, broken.pk, "phone")
    with pytest.raises(CommandError, match="1 values were unreadable before the rotation"):
        call_command("keys", "rotate-data", "--batch", "5")
    # Kept as it was, envelope and token: re-encrypting needs the value, and there is none.
    assert (Customer.objects.values_list("phone_bidx", flat=True).get(pk=broken.pk),
            raw_values(Customer, broken.pk, "phone")) == stored
    # Audited when the re-keying met it, and again by the pass over rows left with old index
    # tokens (this one keeps its token), where its old key is gone by then.
    assert list(AuditEvent.objects.filter(action="crypto.unreadable").order_by("id")
                .values_list("object_ids", "customer_ids", "fields", "reason")) == [
        ([str(broken.pk)], [str(broken.pk)], ["phone"], reason)
        for reason in ("integrity", "missing_key")]
    with pytest.raises(CommandError, match="cannot be read"):
        call_command("keys", "verify")
    out = capsys.readouterr().out
    assert f"{broken.pk}\tphone\t" in out
    assert not KeyRotation.objects.filter(finished_at=None).exists()


def test_a_row_re_keyed_after_it_was_loaded_is_read_again_not_called_missing(customers):
    page = opened(Customer.objects.filter(pk=customers[0].pk))  # loaded, not yet shown
    rotate_data(OPERATOR, batch=50)  # meanwhile its key is replaced
    assert page[0].phone == "+8613812340000"
    assert not AuditEvent.objects.filter(action="crypto.unreadable").exists()


def test_re_indexing_touches_only_rows_with_old_tokens(customers, sales_a,
                                                       django_assert_max_num_queries):
    log_activities(actor(sales_a), [{"customer": customers[1], "kind": "call",
                                     "occurred_at": timezone.now(), "summary": "回访"}])
    rotate_data(OPERATOR, batch=50)
    # Nothing is left under an old index key, so the pass is a query per indexed model.
    with django_assert_max_num_queries(2):
        rotation._reindex_stragglers(OPERATOR, 2)


def test_rotating_the_master_key_reseals_second_factor_secrets(cast, private_key_file):
    secret = enrol_totp(cast.sales_a)
    codes = RecoveryCodes.activate(cast.sales_a).generate_codes()

    def versions():
        return sorted(key_version_of(from_text(a.data.get("secret") or a.data["seed"]))
                      for a in Authenticator.objects.filter(user=cast.sales_a))

    assert versions() == [1, 1]
    rotate_master(OPERATOR)
    assert versions() == [2, 2]
    totp = Authenticator.objects.get(user=cast.sales_a, type="totp")
    assert open_secret(totp.data["secret"]) == secret
    client = Client()
    sign_in(client, cast.sales_a, code=codes[0])
    assert client.get(reverse("home")).status_code == 200
