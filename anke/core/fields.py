"""Model fields that declare how sensitive they are, and fields for validated contact data.

Every field holding personal data is one of the ``Classified*`` fields below and names its
classification (and how to mask it). ``personal_data_fields()`` reads them all from one place, so
encryption, masking and privacy code never keep lists of their own.
"""

import phonenumbers
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError as StdnumError

# Dates and times outside these years are typing mistakes, and near year 1 they overflow when a
# time zone shift is applied on the way to the database.
SANE_YEARS = (1900, 2200)


def validate_sane_year(value) -> None:
    if value is not None and not SANE_YEARS[0] <= value.year <= SANE_YEARS[1]:
        raise ValidationError(
            _("Enter a date between the years %(first)d and %(last)d."),
            code="year_out_of_range", params={"first": SANE_YEARS[0], "last": SANE_YEARS[1]})


class Classification(models.TextChoices):
    HIGH = "high", _("high")
    MEDIUM = "medium", _("medium")
    LOW = "low", _("low")


class Mask(models.TextChoices):
    """How a value is shown to a role that may see it only masked (see access/masking)."""

    PHONE = "phone"
    EMAIL = "email"
    ID_NUMBER = "id_number"
    NAME = "name"
    ADDRESS = "address"
    DATE = "date"
    TEXT = "text"


class ClassifiedMixin:
    """Adds ``classification`` and ``mask`` to a model field (kept in migrations, so a
    reclassification shows up in review)."""

    def __init__(self, *args, classification: Classification, mask: Mask = Mask.TEXT, **kwargs):
        self.classification = Classification(classification)
        self.mask = Mask(mask)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["classification"] = self.classification.value
        kwargs["mask"] = self.mask.value
        return name, path, args, kwargs


def personal_data_fields():
    """Every classified field of every installed model: the one registry of personal data."""
    return [
        field
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if isinstance(field, ClassifiedMixin)
    ]


# --- validated contact data -----------------------------------------------------------------------


class PhoneField(ClassifiedMixin, models.CharField):
    """A phone number, stored in E.164 after validation with ``phonenumbers``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 20)
        kwargs.setdefault("classification", Classification.HIGH)
        kwargs.setdefault("mask", Mask.PHONE)
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        return normalize_phone(value) if value else value


def normalize_phone(raw: str) -> str:
    try:
        number = phonenumbers.parse(raw, settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationError(_("Enter a valid phone number."), code="invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def format_phone(e164: str) -> str:
    """National format for numbers of the default region, international for the rest."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return e164
    region = phonenumbers.region_code_for_number(number)
    fmt = (phonenumbers.PhoneNumberFormat.NATIONAL if region == settings.PHONE_DEFAULT_REGION
           else phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(number, fmt)


class StdnumField(ClassifiedMixin, models.CharField):
    """A national identifier checked, check digit included, by a ``python-stdnum`` module."""

    stdnum_module = None
    message = ""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("classification", Classification.HIGH)
        kwargs.setdefault("mask", Mask.ID_NUMBER)
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return value
        try:
            return self.stdnum_module.validate(value)
        except StdnumError:
            raise ValidationError(self.message, code="invalid") from None


class ChineseIdNumberField(StdnumField):
    """Resident identity number (居民身份证号码), 18 characters with check digit."""

    stdnum_module = ric
    message = _("Enter a valid resident identity number (18 characters, check digit included).")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 18)
        super().__init__(*args, **kwargs)


class CreditCodeField(StdnumField):
    """Unified social credit code (统一社会信用代码), 18 characters with check digit."""

    stdnum_module = uscc
    message = _("Enter a valid unified social credit code (18 characters, check digit included).")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 18)
        super().__init__(*args, **kwargs)


class ClassifiedEmailField(ClassifiedMixin, models.EmailField):
    """An e-mail address, validated strictly and stored with its domain lower-cased."""

    default_validators = [EmailValidator(allowlist=[])]

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("classification", Classification.HIGH)
        kwargs.setdefault("mask", Mask.EMAIL)
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        if value and "@" in value:
            local, _sep, domain = value.strip().rpartition("@")
            value = f"{local}@{domain.lower()}"
        return value


class WebURLField(models.URLField):
    """Only http and https: a ``javascript:`` or ``data:`` link can never be stored."""

    default_validators = [URLValidator(schemes=["http", "https"])]

    def formfield(self, **kwargs):
        return super().formfield(**{"assume_scheme": "https", **kwargs})


class ClassifiedCharField(ClassifiedMixin, models.CharField):
    pass


class ClassifiedTextField(ClassifiedMixin, models.TextField):
    pass


class ClassifiedDateField(ClassifiedMixin, models.DateField):
    pass
