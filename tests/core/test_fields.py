import pytest
from django.core.exceptions import ValidationError

from anke.core.fields import Classification, format_phone, normalize_phone, personal_data_fields


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
        "customers.ContactPerson.email",
    } <= high
    assert fields["customers.Customer.name"] == Classification.MEDIUM
    assert fields["sales.Activity.summary"] == Classification.MEDIUM
    assert fields["service.Ticket.description"] == Classification.MEDIUM
