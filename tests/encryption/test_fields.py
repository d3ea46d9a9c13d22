"""Encrypted fields: ciphertext at rest, decrypted only after an audited read, one data-key
query per page, never compared in SQL."""

import base64

import pytest
from django import forms
from django.core.exceptions import FieldError, ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

import anke.customers.forms  # noqa: F401 - the forms must be loaded to be checked
import anke.sales.forms  # noqa: F401
import anke.service.forms  # noqa: F401
from anke.core.context import Actor
from anke.customers.actions import create_contact, update_customer
from anke.customers.models import ContactPerson, Customer
from anke.encryption import envelope
from anke.encryption.datakeys import open_for_reading
from anke.encryption.fields import UnauditedRead, Unreadable, encrypted_fields
from anke.encryption.forms import UnreadableValuesMixin
from anke.encryption.models import DataKey
from tests.helpers import raw_values, read_back
from tests.personas import actor, customer_of

ID_NUMBER = "11010519491231002X"


def test_high_fields_are_envelopes_at_rest_and_read_back_in_clear(sales_a):
    customer = customer_of(sales_a, email="Zhang.San@Example.com", id_number=ID_NUMBER,
                           street="人民路1号", birthday="1990-02-03")
    row = raw_values(Customer, customer.pk, "phone", "email", "id_number", "street", "birthday")
    for value in row:
        blob = base64.b64decode(value)
        assert blob[0] == 1 and len(blob) >= 33  # format byte, key version, nonce, tag
    assert "13812345678" not in str(row) and "Zhang" not in str(row) and "人民路" not in str(row)
    again = read_back(Customer, customer.pk)
    assert (again.phone, again.email, again.id_number, again.street, str(again.birthday)) == (
        "+8613812345678", "Zhang.San@example.com", ID_NUMBER, "人民路1号", "1990-02-03")
    # Empty values are sealed too, so the table does not tell who has which data.
    assert base64.b64decode(raw_values(Customer, customer.pk, "credit_code")[0])[0] == 1


def test_contact_person_fields_use_their_customers_key(sales_a):
    customer = customer_of(sales_a)
    contact = create_contact(actor(sales_a), customer.pk,
                             data={"name": "李四", "phone": "13900001111"})
    assert "13900001111" not in str(raw_values(ContactPerson, contact.pk, "phone"))
    assert DataKey.objects.filter(subject_id=customer.pk).count() == 1
    assert not DataKey.objects.filter(subject_id=contact.pk).exists()
    assert read_back(ContactPerson, contact.pk).phone == "+8613900001111"


def test_a_value_cannot_be_read_without_the_audited_read(sales_a):
    customer = customer_of(sales_a)
    stray = Customer.objects.get(pk=customer.pk)
    with pytest.raises(UnauditedRead):
        stray.phone  # noqa: B018
    assert stray.name == "张三"  # plain fields are unaffected


@pytest.mark.parametrize("lookup", ["phone", "phone__icontains", "phone__startswith",
                                    "email__iexact", "phone__in", "birthday__gt"])
def test_encrypted_columns_are_never_compared_in_sql(sales_a, lookup):
    customer_of(sales_a)
    with pytest.raises(FieldError, match="Unsupported lookup"):
        list(Customer.objects.filter(**{lookup: "+8613812345678"}))
    with pytest.raises(TypeError, match="search through its blind index"), transaction.atomic():
        Customer.objects.update(phone="+8613900000000")
    assert Customer.objects.filter(phone__isnull=False).count() == 1


def test_a_page_of_customers_costs_one_query_for_its_data_keys(sales_a):
    for i in range(50):
        customer_of(sales_a, name=f"客户{i}", phone=f"1381234{i:04d}")
    customers = list(Customer.objects.all())
    open_for_reading(Actor.system(), customers)
    with CaptureQueriesContext(connection) as queries:
        phones = [c.phone for c in customers] + [c.email for c in customers]
    assert len(queries) == 1 and "encryption_datakey" in queries[0]["sql"]
    assert len(set(phones)) == 51


def test_the_list_page_decrypts_nothing(client_a, sales_a):
    for i in range(5):
        customer_of(sales_a, name=f"客户{i}")
    with CaptureQueriesContext(connection) as queries:
        response = client_a.get(reverse("customers:list"))
    assert response.status_code == 200 and "客户4" in response.content.decode()
    assert not [q for q in queries if "encryption_datakey" in q["sql"]]
    # not even the ciphertexts are read: the page's own columns only
    page = [q["sql"] for q in queries if 'FROM "customers_customer"' in q["sql"]
            and '"customers_customer"."name"' in q["sql"]]
    assert page and not [sql for sql in page if '"customers_customer"."phone"' in sql
                         or '"customers_customer"."notes"' in sql]


def test_an_edit_re_encrypts_only_what_changed(sales_a):
    customer = customer_of(sales_a, email="a@example.com")
    before = raw_values(Customer, customer.pk, "phone", "email", "phone_bidx")
    update_customer(actor(sales_a), customer.pk, changes={"phone": "139 0000 2222"}, version=1)
    after = raw_values(Customer, customer.pk, "phone", "email", "phone_bidx")
    assert after[0] != before[0] and after[2] != before[2]  # new value, new index token
    assert after[1] == before[1]  # the e-mail was not rewritten
    assert read_back(Customer, customer.pk).phone == "+8613900002222"


@pytest.mark.parametrize("blob", [b"", b"\x01\x00\x00\x00\x01" + b"x" * 10,
                                  b"\x02" + b"\x00" * 40])
def test_what_is_no_envelope_fails_its_integrity_check(blob):
    with pytest.raises(envelope.IntegrityFailure):
        envelope.open_sealed(envelope.new_key(), blob, b"aad")
    with pytest.raises(envelope.IntegrityFailure):
        envelope.from_text("not base64!")


def test_sealed_and_unreadable_values_never_print_a_value(sales_a):
    customer = customer_of(sales_a)
    sealed = Customer.objects.values_list("phone", flat=True).get(pk=customer.pk)
    assert str(sealed) == repr(sealed) == "<sealed>"
    marker = Unreadable(Unreadable.INTEGRITY, sealed)
    assert str(marker) == "[unreadable: integrity check failed]"
    assert marker == Unreadable(Unreadable.INTEGRITY, sealed) and len({marker, marker}) == 1


def test_a_value_too_long_to_encrypt_is_a_validation_error_and_saves_nothing(sales_a):
    with pytest.raises(ValidationError) as error:
        customer_of(sales_a, street="路" * 201)
    assert "street" in error.value.message_dict
    assert not Customer.objects.exists() and not DataKey.objects.exists()


def test_every_form_editing_an_encrypted_field_keeps_unreadable_values_out_of_its_inputs():
    editing = [form for form in _subclasses(forms.ModelForm)
               if form.__module__.startswith("anke.") and getattr(form._meta, "model", None)
               and {f.name for f in encrypted_fields(form._meta.model)} & set(form.base_fields)]
    assert editing and [f for f in editing if not issubclass(f, UnreadableValuesMixin)] == []


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)
