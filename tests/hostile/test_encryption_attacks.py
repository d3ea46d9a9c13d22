"""Attacks on the encryption at rest (SECURITY.md §5): a ciphertext copied into another row or
field, a flipped bit, a wrong or missing master key, writing index columns through the API.
Each must fail closed: no other customer's value, no empty value passed off as real, no 500,
and an audit event for the failed check."""

import base64
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from anke.audit.models import AuditEvent
from anke.customers.models import Customer
from anke.encryption.checks import WrongKeyFile, check_key_file
from anke.encryption.keyring import KeyFileError
from anke.encryption.models import KeyCheck
from tests.api.conftest import signed_in
from tests.helpers import raw_values, read_back, set_raw_value
from tests.personas import customer_of


def flipped(text: str) -> str:
    blob = bytearray(base64.b64decode(text))
    blob[-5] ^= 0x01
    return base64.b64encode(bytes(blob)).decode()


@pytest.fixture
def victim_and_target(sales_a):
    victim = customer_of(sales_a, name="受害者", phone="13800000001", email="victim@example.com")
    target = customer_of(sales_a, name="目标", phone="13900000002")
    return victim, target


@pytest.mark.parametrize("tamper", ["copied from another customer", "bit flipped",
                                    "moved from another field"])
def test_tampered_ciphertext_fails_closed_in_the_page_and_the_api(
        victim_and_target, client_a, sales_a, tamper):
    victim, target = victim_and_target
    value = {
        "copied from another customer": raw_values(Customer, victim.pk, "phone")[0],
        "bit flipped": flipped(raw_values(Customer, target.pk, "phone")[0]),
        "moved from another field": raw_values(Customer, target.pk, "email")[0],
    }[tamper]
    set_raw_value(Customer, target.pk, "phone", value)

    page = client_a.get(reverse("customers:detail", args=[target.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "integrity check failed" in html
    assert "138 0000 0001" not in html and "13800000001" not in html
    event = AuditEvent.objects.get(action="crypto.unreadable")
    assert (event.outcome, event.reason, event.fields) == ("error", "integrity", ["phone"])
    assert event.object_ids == [str(target.pk)] and event.actor_id == sales_a.pk

    body = signed_in(sales_a).get(f"/api/v1/customers/{target.pk}/")
    assert body.status_code == 200
    assert body.json()["phone"] is None
    assert body.json()["unreadable_fields"] == {"phone": "integrity"}
    assert "13800000001" not in body.content.decode()
    # The victim is untouched.
    assert read_back(Customer, victim.pk).phone == "+8613800000001"


def test_an_unreadable_value_is_not_saved_back_as_text(victim_and_target, client_a):
    _victim, target = victim_and_target
    tampered = flipped(raw_values(Customer, target.pk, "phone")[0])
    set_raw_value(Customer, target.pk, "phone", tampered)
    page = client_a.get(reverse("customers:edit", args=[target.pk])).content.decode()
    assert 'name="phone" value=""' in page or 'name="phone" maxlength="20"' in page
    assert "integrity check failed" in page
    # Saving with the field left empty neither stores the notice nor wipes the envelope (it
    # may open again once a key is restored): the form asks for the value.
    url = reverse("customers:edit", args=[target.pk])
    form = {"kind": "individual", "name": "目标", "stage": "vip", "source": "other",
            "phone": "", "version": 1}
    response = client_a.post(url, form)
    assert response.status_code == 400 and 'data-field-error="phone"' in response.content.decode()
    assert raw_values(Customer, target.pk, "phone", "stage") == (tampered, "lead")
    # Entering it again replaces it.
    assert client_a.post(url, {**form, "phone": "13900000003"}).status_code == 302
    assert read_back(Customer, target.pk).phone == "+8613900000003"


def test_writing_index_or_key_columns_through_the_api_is_refused(sales_a):
    customer = customer_of(sales_a)
    before = raw_values(Customer, customer.pk, "phone_bidx")[0]
    client = signed_in(sales_a)
    for field in ("phone_bidx", "unreadable_fields"):
        response = client.patch(f"/api/v1/customers/{customer.pk}/", {field: 1},
                                format="json", HTTP_IF_MATCH='"1"')
        assert response.status_code == 400, field
    assert raw_values(Customer, customer.pk, "phone_bidx")[0] == before


def test_a_wrong_master_key_refuses_to_start(sales_a, settings, tmp_path):
    customer_of(sales_a)  # the database has data under the real key
    # The database stays, the key file is replaced by another installation's.
    original, settings.MASTER_KEY_FILE = settings.MASTER_KEY_FILE, str(tmp_path / "other.json")
    try:
        with pytest.raises(WrongKeyFile, match="not the key this database was encrypted"):
            check_key_file()
        with pytest.raises(CommandError, match="Anke cannot start"):
            call_command("run", "--check", "--demo-customers", "0")
    finally:
        settings.MASTER_KEY_FILE = original


def test_a_key_file_without_a_version_in_use_refuses_to_start(sales_a, settings, tmp_path):
    customer_of(sales_a)
    check_key_file()
    doc = json.loads(Path(settings.MASTER_KEY_FILE).read_text())
    del doc["master"]["1"]
    doc["master"]["2"] = {**doc["index"]["1"]}
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(doc))
    path.chmod(0o600)
    original, settings.MASTER_KEY_FILE = settings.MASTER_KEY_FILE, str(path)
    try:
        with pytest.raises(WrongKeyFile, match="version 1 wraps data keys but is not in"):
            check_key_file()
    finally:
        settings.MASTER_KEY_FILE = original


def test_a_missing_named_key_file_refuses_to_start(settings, tmp_path, db):
    original = settings.MASTER_KEY_FILE, settings.MASTER_KEY_FILE_CREATE
    settings.MASTER_KEY_FILE = str(tmp_path / "absent.json")
    settings.MASTER_KEY_FILE_CREATE = False
    try:
        with pytest.raises(KeyFileError, match="does not exist"):
            check_key_file()
        with pytest.raises(CommandError, match="Anke cannot start.*does not exist"):
            call_command("run", "--check", "--demo-customers", "0")
    finally:
        settings.MASTER_KEY_FILE, settings.MASTER_KEY_FILE_CREATE = original


def test_a_wrong_index_key_is_refused_even_before_it_has_a_check_value(sales_a, settings,
                                                                       tmp_path):
    customer_of(sales_a, phone="13812345678")
    KeyCheck.objects.all().delete()  # a database from before check values, or a first start
    doc = json.loads(Path(settings.MASTER_KEY_FILE).read_text())
    doc["index"]["1"]["key"] = doc["master"]["1"]["key"]  # a key, but not the index key
    path = tmp_path / "wrong-index.json"
    path.write_text(json.dumps(doc))
    path.chmod(0o600)
    original, settings.MASTER_KEY_FILE = settings.MASTER_KEY_FILE, str(path)
    try:
        with pytest.raises(WrongKeyFile, match="index key version 1 .* is not the key"):
            check_key_file()
    finally:
        settings.MASTER_KEY_FILE = original
    assert not KeyCheck.objects.filter(kind="index").exists()
