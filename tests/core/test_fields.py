import pytest
from django.core.exceptions import ValidationError

from anke.core.fields import Classification, format_phone, normalize_phone, personal_data_fields
from anke.encryption.fields import EncryptedMixin


@pytest.mark.parametrize("raw", ["13812345678", "+86 138 1234 5678", "138-1234-5678",
                                 "0086 13812345678", "(+86)138 1234 5678"])
def test_phone_spellings_normalise_to_one_e164(raw):
    assert normalize_phone(raw) == "+8613812345678"


@pytest.mark.parametrize("raw", ["12345", "138123456789", "abc", "+1 555", ""])
def test_invalid_phones_are_refused(raw):
    with pytest.raises(ValidationError):
        normalize_phone(raw)


def test_phones_are_shown_nationally_or_internationally():
    assert format_phone("+8613812345678") == "138 1234 5678"
    assert format_phone("+14155552671") == "+1 415-555-2671"


def test_the_registry_knows_every_personal_data_field():
    fields = {f"{f.model._meta.label}.{f.name}": f.classification for f in personal_data_fields()}
    high = {name for name, level in fields.items() if level == Classification.HIGH}
    assert {
        "customers.Customer.phone", "customers.Customer.email", "customers.Customer.street",
        "customers.Customer.id_number", "customers.Customer.credit_code",
        "customers.Customer.birthday", "customers.ContactPerson.phone",
        "customers.ContactPerson.email", "customers.Customer.notes",
        "customers.Customer.preferences", "customers.ContactPerson.notes",
        "sales.Activity.summary", "service.Ticket.description",
    } <= high
    assert fields["customers.Customer.name"] == Classification.MEDIUM


def test_every_high_field_is_encrypted():
    # SECURITY.md §2: what is classified high never reaches the database in clear.
    unencrypted = [f"{f.model._meta.label}.{f.name}" for f in personal_data_fields()
                   if f.classification == Classification.HIGH
                   and not isinstance(f, EncryptedMixin)]
    assert unencrypted == []
