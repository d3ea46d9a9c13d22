"""Masking: how a classified value looks to a role that may see it only masked, or not at all.

``present`` is the last step of the audited read path (``guarded.audit_read``): after a read is
recorded and its values may decrypt, every classified field the reader may not see in clear is
replaced on the object itself by a ``Masked`` or ``Withheld`` value. Every output built from the
object (HTML, JSON, search results) then carries only what the role allows, and a presented
object refuses to be saved, so a masked value can never be written back.
"""

import datetime

import phonenumbers
from django.conf import settings
from django.db.models.signals import pre_save
from django.dispatch import receiver

from anke.access.catalogue import FieldAccess
from anke.access.policy import FieldPolicy, classified_fields, facts_of, field_levels
from anke.core.fields import Mask
from anke.encryption.fields import SHOWN_AS_ATTR, EncryptedMixin, Sealed

PRESENTED_ATTR = "_anke_field_access"


class Masked(str):
    """A value shown masked (``138****5678``)."""

    __slots__ = ()


class Withheld(str):
    """A value the reader may not see at all: empty in HTML, null in JSON."""

    __slots__ = ()

    def __new__(cls):
        return super().__new__(cls, "")


def _stars(n: int) -> str:
    return "*" * max(n, 1)


def mask_phone(e164: str) -> str:
    try:
        number = phonenumbers.parse(e164, settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return _stars(len(e164))
    national = phonenumbers.national_significant_number(number)
    kept = f"{national[:3]}{_stars(len(national) - 7)}{national[-4:]}" if len(national) >= 8 \
        else f"{_stars(len(national) - 2)}{national[-2:]}"
    region = phonenumbers.region_code_for_number(number)
    return kept if region == settings.PHONE_DEFAULT_REGION else f"+{number.country_code} {kept}"


def mask_email(address: str) -> str:
    local, _at, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}" if local else "***"


def mask_id_number(value: str) -> str:
    return f"{value[:4]}{_stars(len(value) - 8)}{value[-4:]}" if len(value) > 8 \
        else _stars(len(value))


def mask_name(name: str) -> str:
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return f"{name[0]}*"
    return f"{name[0]}{_stars(len(name) - 2)}{name[-1]}"


MASKERS = {
    Mask.PHONE: mask_phone,
    Mask.EMAIL: mask_email,
    Mask.ID_NUMBER: mask_id_number,
    Mask.NAME: mask_name,
    # The street is the part below the district (province, city and district stay visible).
    Mask.ADDRESS: lambda value: "***",
    Mask.DATE: lambda value: "****-**-**",
    Mask.TEXT: lambda value: "***",
}


def mask(field, value):
    """``value`` of ``field`` as a masked role sees it (empty stays empty)."""
    if value is None or value == "":
        return value
    if not isinstance(value, str | datetime.date):
        return value  # an unreadable marker already says what it is and shows nothing
    return Masked(MASKERS[field.mask](str(value)))


def present(user, objects) -> None:
    """Apply ``user``'s field policy to records that are about to be shown, and to the
    customers loaded with them (a ticket list shows its customers' names).

    Hidden fields are withheld at once; masked ones are masked as they are read, so an
    encrypted value is decrypted only if a page actually shows it.
    """
    by_model = {}
    for obj in objects:
        by_model.setdefault(type(obj), []).append(obj)
    for model, group in by_model.items():
        _present_model(user, model, group)


def _present_model(user, model, objects: list) -> None:
    fields = classified_fields(model)
    if fields:
        permission = f"{model.objects.get_queryset().resource}.view"
        levels_by_object = field_levels(user, permission, objects)
        for obj in objects:
            _apply(obj, fields, levels_by_object[id(obj)])
    customers = {id(obj.customer): obj.customer for obj in objects
                 if "customer" in obj._state.fields_cache and obj.customer is not None}
    present(user, [c for c in customers.values() if not hasattr(c, PRESENTED_ATTR)])


_NOT_LOADED = object()


def _apply(obj, fields, levels: dict) -> None:
    masked = set()
    for field in fields:
        level = levels[field.name]
        value = obj.__dict__.get(field.attname, _NOT_LOADED)
        if level == FieldAccess.HIDDEN:
            setattr(obj, field.attname, Withheld())
        elif level == FieldAccess.MASKED:
            masked.add(field.name)
            if value is _NOT_LOADED:
                # Deferred: an encrypted value is masked when it opens; a plain one would load
                # in clear, so it is withheld (the query did not ask for it to be shown).
                if not isinstance(field, EncryptedMixin):
                    setattr(obj, field.attname, Withheld())
            elif not isinstance(value, Sealed):  # clear already (or not encrypted at all)
                setattr(obj, field.attname, mask(field, value))
    setattr(obj, PRESENTED_ATTR, levels)
    if masked:
        setattr(obj, SHOWN_AS_ATTR,
                lambda field, value: mask(field, value) if field.name in masked else value)


def access_levels(obj) -> dict:
    """The levels ``present`` applied to ``obj`` ({} when it was not presented)."""
    return getattr(obj, PRESENTED_ATTR, {})


class FieldPolicyFormMixin:
    """A model form offers only the classified fields its user may edit: masked, hidden and
    read-only ones are left out, so they are neither shown as inputs nor posted back (the
    record's page shows them as the role allows). ``form_page`` calls ``restrict_to``."""

    def restrict_to(self, user) -> None:
        model = self._meta.model
        adding = self.instance._state.adding
        resource = model.objects.get_queryset().resource
        policy = FieldPolicy(user, f"{resource}.{'create' if adding else 'edit'}", model)
        facts = None if adding or policy.uniform else facts_of([self.instance])[id(self.instance)]
        for name, level in policy.levels(facts).items():
            if level != FieldAccess.EDIT:
                self.fields.pop(name, None)


class PresentedObjectSaved(RuntimeError):
    """Code tried to save an object whose fields were masked for display."""


@receiver(pre_save)
def refuse_presented(sender, instance, **kwargs):
    if any(level.rank < FieldAccess.READ.rank for level in access_levels(instance).values()):
        raise PresentedObjectSaved(
            f"{sender._meta.label} {instance.pk} was masked for display and cannot be saved")

