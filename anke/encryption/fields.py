"""Encrypted model fields and the blind-index columns beside them.

An ``Encrypted*Field`` keeps its value in a text column as an AES-256-GCM envelope under the
subject's data key (see ``envelope`` for the format and associated data). Loading a row yields a
sealed value; the model attribute decrypts it the first time it is read, and only if the object
was opened by the audited read path (``datakeys.open_for_reading``). A value that cannot be
opened (erased subject, missing key, failed integrity check) reads as an ``Unreadable`` marker
that says so, and the failed check is audited. Encrypted columns are never compared in SQL:
exact search goes through a ``BlindIndexField``.
"""

import contextvars
import datetime
from contextlib import contextmanager
from functools import cache

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from anke.audit.catalogue import Event, Outcome
from anke.audit.recorder import record
from anke.core import fields as core_fields
from anke.encryption import blind_index, datakeys, envelope
from anke.encryption.registry import subject_id_of


class Sealed:
    """A value as stored: an envelope nobody has opened yet."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __eq__(self, other):
        return isinstance(other, Sealed) and other.text == self.text

    def __hash__(self):
        return hash(self.text)

    def __repr__(self) -> str:
        return "<sealed>"

    __str__ = __repr__


class Unreadable:
    """A value that cannot be shown, and why. Saving the object keeps the stored envelope."""

    ERASED, MISSING_KEY, INTEGRITY = "erased", "missing_key", "integrity"
    MESSAGES = {
        ERASED: _("[erased]"),
        MISSING_KEY: _("[unreadable: its key is missing]"),
        INTEGRITY: _("[unreadable: integrity check failed]"),
    }
    __slots__ = ("reason", "sealed")

    def __init__(self, reason: str, sealed: Sealed):
        self.reason = reason
        self.sealed = sealed

    def __eq__(self, other):
        return isinstance(other, Unreadable) and other.sealed == self.sealed

    def __hash__(self):
        return hash(self.sealed)

    def __str__(self) -> str:
        return str(self.MESSAGES[self.reason])

    __repr__ = __str__


class _Opened:
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class UnauditedRead(RuntimeError):
    """Code tried to show an encrypted value of an object that did not pass ``audit_read``."""


_raw_reads = contextvars.ContextVar("anke_raw_encrypted_reads", default=False)


@contextmanager
def raw_values():
    """Reads return sealed values unopened (copying rows, as ``refresh_from_db`` does)."""
    token = _raw_reads.set(True)
    try:
        yield
    finally:
        _raw_reads.reset(token)


# Set by the read path's field policy (access.masking): how a value is shown once it opens, so
# a masked field is decrypted only if it is actually displayed.
SHOWN_AS_ATTR = "_anke_shown_as"


class EncryptedAttribute:
    """The model attribute of an encrypted field: decrypts on first read, stores as given."""

    def __init__(self, field):
        self.field = field

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        data = instance.__dict__
        if self.field.attname not in data:  # deferred: load it sealed
            instance.refresh_from_db(fields=[self.field.attname])
        value = data[self.field.attname]
        if isinstance(value, Sealed) and not _raw_reads.get():
            value = self.field.open(instance, value)
            shown = getattr(instance, SHOWN_AS_ATTR, None)
            data[self.field.attname] = value = shown(self.field, value) if shown else value
        return value

    def __set__(self, instance, value):
        instance.__dict__[self.field.attname] = value


class Ciphertext(str):
    """An envelope made by ``pre_save``, on its way to the column."""


class EncryptedMixin:
    """Store the field encrypted. ``index_group`` names the blind index an exact search uses
    (a ``BlindIndexField`` beside it holds the token)."""

    def __init__(self, *args, index_group: str | None = None, **kwargs):
        if index_group is not None and index_group not in blind_index.GROUPS:
            raise ValueError(f"unknown blind index group {index_group!r}")
        self.index_group = index_group
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.index_group:
            kwargs["index_group"] = self.index_group
        return name, path, args, kwargs

    def get_internal_type(self):
        return "TextField"

    def db_type(self, connection):
        return connection.data_types["TextField"]

    def contribute_to_class(self, cls, name, **kwargs):
        super().contribute_to_class(cls, name, **kwargs)
        setattr(cls, self.attname, EncryptedAttribute(self))

    # --- between Python values and bytes ----------------------------------------------------

    def encode(self, value) -> bytes:
        return ("" if value is None else str(value)).encode()

    def decode(self, data: bytes):
        return data.decode()

    def open(self, obj, sealed: Sealed):
        keys = datakeys.read_keys_of(obj)
        if keys is None:
            raise UnauditedRead(f"{obj._meta.label}.{self.name} read outside the audited path")
        reason = self._decrypt(keys, obj, sealed)
        if reason == Unreadable.MISSING_KEY:
            # A data-key rotation may have re-keyed the row after it was loaded, so its key is
            # newer than the value in hand: read the value again, once.
            again = (type(obj)._base_manager.filter(pk=obj.pk)
                     .values_list(self.attname, flat=True).first())
            if again is not None and again != sealed:
                keys.reload()
                sealed, reason = again, self._decrypt(keys, obj, again)
        if not isinstance(reason, str):
            return reason.value
        self.report_unreadable(keys.actor, obj.pk, subject_id_of(obj), reason)
        return Unreadable(reason, sealed)

    def report_unreadable(self, actor, row_id, subject_id, reason: str) -> None:
        """Audit a value that failed to open (an erased one is expected, not an incident)."""
        if reason != Unreadable.ERASED:
            record(actor, Event.DATA_UNREADABLE, object_type=self.model._meta.model_name,
                   object_ids=[row_id], fields=[self.name], outcome=Outcome.ERROR,
                   reason=reason, customers=[subject_id])

    def _decrypt(self, keys, obj, sealed: Sealed):
        return self.decrypt_stored(keys, obj._meta.db_table, obj.pk, subject_id_of(obj), sealed)

    def decrypt_stored(self, keys, table: str, row_id, subject_id, sealed: Sealed):
        """The value (wrapped, so None stays a value) or the reason it cannot be opened; for
        batches that read rows as values rather than model instances (key rotation)."""
        try:
            blob = envelope.from_text(sealed.text)
            key = keys.key(subject_id, envelope.key_version_of(blob))
            aad = envelope.field_aad(table, self.column, row_id, subject_id)
            return _Opened(self.decode(envelope.open_sealed(key, blob, aad)))
        except datakeys.Unopenable as error:
            return error.reason
        except envelope.IntegrityFailure:
            return Unreadable.INTEGRITY

    def encrypt(self, key_version: int, key: bytes, value, table: str, row_id,
                subject_id) -> str:
        """The column text of ``value`` sealed under a data key."""
        aad = envelope.field_aad(table, self.column, row_id, subject_id)
        return envelope.to_text(envelope.seal(key, key_version, self.encode(value), aad))

    # --- the database side ------------------------------------------------------------------

    def from_db_value(self, value, expression, connection):
        return None if value is None else Sealed(value)

    def pre_save(self, model_instance, add):
        value = model_instance.__dict__.get(self.attname)
        if isinstance(value, Sealed):
            return value
        if isinstance(value, Unreadable):
            return value.sealed
        version, key = datakeys.write_key_for(model_instance)
        return Ciphertext(self.encrypt(version, key, value, model_instance._meta.db_table,
                                       model_instance.pk, subject_id_of(model_instance)))

    def get_prep_value(self, value):
        if isinstance(value, Sealed):
            return value.text
        if isinstance(value, Ciphertext):
            return str(value)
        raise TypeError(f"{self.model._meta.label}.{self.name} is encrypted and cannot be "
                        f"compared in SQL; search through its blind index")

    def get_db_prep_value(self, value, connection, prepared=False):
        return value if prepared else self.get_prep_value(value)

    def get_lookup(self, lookup_name):
        # Only "is it NULL": any other comparison of ciphertext in SQL is meaningless, and an
        # unsupported lookup is a loud FieldError rather than a silently empty answer.
        return super().get_lookup(lookup_name) if lookup_name == "isnull" else None

    def clean(self, value, model_instance):
        if isinstance(value, Unreadable):
            if value.reason == Unreadable.ERASED:
                # Kept as it is (sealed under a destroyed key); the rest of an erased record
                # may still change (a ticket can be closed). A new value needs the key.
                return value
            raise ValidationError(
                _("The stored value cannot be read (%(problem)s). Enter it again."),
                code="unreadable", params={"problem": str(value)})
        return super().clean(value, model_instance)


class EncryptedPhoneField(EncryptedMixin, core_fields.PhoneField):
    pass


class EncryptedEmailField(EncryptedMixin, core_fields.ClassifiedEmailField):
    pass


class EncryptedIdNumberField(EncryptedMixin, core_fields.ChineseIdNumberField):
    pass


class EncryptedCreditCodeField(EncryptedMixin, core_fields.CreditCodeField):
    pass


class EncryptedCharField(EncryptedMixin, core_fields.ClassifiedCharField):
    pass


class EncryptedTextField(EncryptedMixin, core_fields.ClassifiedTextField):
    pass


class EncryptedDateField(EncryptedMixin, core_fields.ClassifiedDateField):
    def decode(self, data: bytes):
        text = data.decode()
        return datetime.date.fromisoformat(text) if text else None


class BlindIndexField(models.BigIntegerField):
    """The blind-index token of another (encrypted) field of the same row, kept in step by
    ``pre_save``; NULL when that field is empty. Never edited, never shown."""

    def __init__(self, *args, source: str, **kwargs):
        self.source = source
        kwargs.update(null=True, blank=True, editable=False, db_index=True)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        for key in ("null", "blank", "editable", "db_index"):
            kwargs.pop(key, None)
        kwargs["source"] = self.source
        return name, path, args, kwargs

    def source_field(self):
        return self.model._meta.get_field(self.source)

    def pre_save(self, model_instance, add):
        value = model_instance.__dict__.get(self.source_field().attname)
        if isinstance(value, Sealed | Unreadable):
            return getattr(model_instance, self.attname)  # the source did not change
        token = blind_index.token_for_write(self.source_field().index_group, value)
        setattr(model_instance, self.attname, token)
        return token


# --- the registry -------------------------------------------------------------------------------


@cache
def encrypted_fields(model) -> tuple:
    return tuple(f for f in model._meta.concrete_fields if isinstance(f, EncryptedMixin))


@cache
def index_fields(model) -> tuple:
    return tuple(f for f in model._meta.concrete_fields if isinstance(f, BlindIndexField))


def encrypted_models() -> list:
    return [model for model in apps.get_models() if encrypted_fields(model)]


class EncryptedModel(models.Model):
    """Base of models with encrypted fields: saving a changed field saves its index with it,
    and re-reading a row keeps its values sealed until they are shown."""

    encrypted_model = True

    class Meta:
        abstract = True

    def save(self, *args, update_fields=None, **kwargs):
        if update_fields is not None:
            update_fields = set(update_fields)
            update_fields |= {f.name for f in index_fields(type(self))
                              if f.source in update_fields}
        super().save(*args, update_fields=update_fields, **kwargs)

    def refresh_from_db(self, *args, **kwargs):
        with raw_values():
            super().refresh_from_db(*args, **kwargs)
