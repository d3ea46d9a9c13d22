"""Data keys: issued per subject, unwrapped only when a value is shown, locked for writes.

Reads: ``open_for_reading(actor, objects)`` is called by the audited read path
(``access.guarded.audit_read``) after the read is recorded; it lets those objects' encrypted
fields decrypt, with every subject's key fetched in one query the first time any value is
needed. An object that was not opened this way cannot show an encrypted value at all.

Writes: a value is encrypted under its subject's active key, fetched with a row lock inside the
writer's transaction, so a concurrent data-key rotation and a write of the same subject queue
instead of one writing under a key the other has just destroyed.
"""

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from anke.encryption import envelope
from anke.encryption.keyring import MASTER, UnknownKeyVersion, keyring
from anke.encryption.models import DataKey, Erasure
from anke.encryption.registry import subject_id_of

READ_KEYS_ATTR = "_anke_read_keys"
WRITE_KEY_ATTR = "_anke_write_key"


class SubjectErased(ValidationError):
    """The subject's data key was destroyed: its personal data can be neither read nor written."""

    def __init__(self):
        super().__init__(
            _("This customer's personal data has been erased; it can no longer be changed."),
            code="erased")


class Unopenable(Exception):
    """Why a subject's key cannot be used: ``erased``, ``missing_key`` or ``integrity``."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def wrap(dek: bytes, subject_id, version: int) -> tuple[int, str]:
    active = keyring().active(MASTER)
    blob = envelope.seal(active.key, active.version, dek,
                         envelope.dek_aad(subject_id, version, active.version))
    return active.version, envelope.to_text(blob)


def unwrap(row: DataKey) -> bytes:
    if row.status == DataKey.Status.DESTROYED:
        raise Unopenable("erased")
    try:
        kek = keyring().key(MASTER, row.kek_version)
    except UnknownKeyVersion:
        raise Unopenable("missing_key") from None
    return open_wrapped(kek, row.subject_id, row.version, row.kek_version, row.wrapped)


def open_wrapped(kek: bytes, subject_id, version: int, kek_version: int, wrapped: str) -> bytes:
    """The data key of a key row's values, with its master key ``kek`` in hand (batches of
    rows read as values, not as model instances, use it directly)."""
    try:
        return envelope.open_sealed(kek, envelope.from_text(wrapped),
                                    envelope.dek_aad(subject_id, version, kek_version))
    except envelope.IntegrityFailure:
        raise Unopenable("integrity") from None


def new_data_key(subject_id, version: int = 1) -> tuple[DataKey, bytes]:
    """A fresh key for ``subject_id`` (unsaved row, plaintext key)."""
    dek = envelope.new_key()
    kek_version, wrapped = wrap(dek, subject_id, version)
    return DataKey(subject_id=subject_id, version=version, kek_version=kek_version,
                   wrapped=wrapped), dek


class ReadKeys:
    """The data keys of a set of subjects for one actor, fetched together when first needed."""

    def __init__(self, actor, subject_ids: Iterable):
        self.actor = actor
        self.subject_ids = {str(s) for s in subject_ids}
        self._rows: dict[tuple[str, int], DataKey] | None = None
        self._erased: set[str] = set()
        self._plain: dict[tuple[str, int], bytes] = {}

    def reload(self) -> None:
        """Fetch the keys again on next use (a rotation replaced some)."""
        self._rows, self._erased, self._plain = None, set(), {}

    def key(self, subject_id, version: int) -> bytes:
        """The plaintext key, or Unopenable with the reason."""
        subject = str(subject_id)
        if self._rows is None:
            self._load()
        found = self._plain.get((subject, version))
        if found is not None:
            return found
        row = self._rows.get((subject, version))
        if row is None:
            raise Unopenable("erased" if subject in self._erased else "missing_key")
        self._plain[(subject, version)] = unwrapped = unwrap(row)
        return unwrapped

    def _load(self) -> None:
        rows = DataKey.objects.filter(subject_id__in=self.subject_ids)
        self._rows = {(str(r.subject_id), r.version): r for r in rows}
        missing = self.subject_ids - {s for s, _v in self._rows}
        if missing:
            self._erased = {str(s) for s in Erasure.objects.filter(
                subject_id__in=missing).values_list("subject_id", flat=True)}


def open_for_reading(actor, objects: Iterable) -> None:
    """Let ``objects`` decrypt their fields for ``actor`` (after the read was audited)."""
    objects = [obj for obj in objects if getattr(obj, "encrypted_model", False)]
    if not objects:
        return
    keys = ReadKeys(actor, {subject_id_of(obj) for obj in objects})
    for obj in objects:
        setattr(obj, READ_KEYS_ATTR, keys)


def read_keys_of(obj) -> ReadKeys | None:
    return getattr(obj, READ_KEYS_ATTR, None)


# --- writing ------------------------------------------------------------------------------------


def _transaction_marker():
    """The outermost atomic block in progress: a key fetched under lock is valid until it ends."""
    connection = transaction.get_connection()
    return connection.atomic_blocks[0] if connection.in_atomic_block else None


def _locked_active(subject_ids: list) -> dict[str, DataKey]:
    """The subjects' active key rows, after locking every key row of theirs as lock_subjects does.

    Selected by subject alone and the status checked here: with ``status`` in the WHERE clause
    SQLite (no statistics) plans the lookup on the rotation index and reads every active key of
    the table, twice per new customer. The subject index finds a subject's few rows.
    """
    queryset = DataKey.objects.filter(subject_id__in=subject_ids)
    if _transaction_marker() is not None:
        queryset = queryset.select_for_update()
    return {str(row.subject_id): row for row in queryset.order_by("subject_id", "version")
            if row.status == DataKey.Status.ACTIVE}


def lock_subjects(subject_ids: Iterable) -> list[DataKey]:
    """Every key row of these subjects, locked until the transaction ends.

    The one lock order of Anke: subjects' key rows first, in subject order, then the rows of
    data. Writers, deletions, rotations and shredding all take it, so they queue per subject
    instead of deadlocking.
    """
    queryset = DataKey.objects.filter(subject_id__in={str(s) for s in subject_ids})
    if _transaction_marker() is not None:
        queryset = queryset.select_for_update()
    return list(queryset.order_by("subject_id", "version"))


def lock_subjects_of(objects: Iterable) -> None:
    lock_subjects({subject_id_of(obj) for obj in objects
                   if getattr(obj, "encrypted_model", False)})


def lock_subject_keys(subject_ids: Iterable, *, create: bool = False) -> dict[str, tuple]:
    """Active keys (version, plaintext) of the subjects, row-locked until the transaction ends.

    A rotation may replace a key while we wait for its lock: then the row we waited for is no
    longer active and a second look finds its successor. A subject without any key gets one when
    ``create`` (a new customer); one whose key was destroyed raises SubjectErased.
    """
    wanted = sorted({str(s) for s in subject_ids})
    rows = _locked_active(wanted)
    if len(rows) < len(wanted):
        rows.update(_locked_active([s for s in wanted if s not in rows]))
    missing = [s for s in wanted if s not in rows]
    if missing:
        known = set(map(str, DataKey.objects.filter(subject_id__in=missing)
                        .values_list("subject_id", flat=True)))
        known |= set(map(str, Erasure.objects.filter(subject_id__in=missing)
                         .values_list("subject_id", flat=True)))
        if known or not create:
            raise SubjectErased()
        fresh = [new_data_key(subject) for subject in missing]
        DataKey.objects.bulk_create([row for row, _dek in fresh])
        return {**{s: (r.version, unwrap_or_fail(r)) for s, r in rows.items()},
                **{str(row.subject_id): (row.version, dek) for row, dek in fresh}}
    return {s: (r.version, unwrap_or_fail(r)) for s, r in rows.items()}


def unwrap_or_fail(row: DataKey) -> bytes:
    """Writers never encrypt under a key they cannot open: fail the write instead."""
    try:
        return unwrap(row)
    except Unopenable as error:
        raise envelope.IntegrityFailure(f"data key of a subject: {error.reason}") from None


def prepare_writes(objects: Iterable, *, new_subjects: bool = False) -> None:
    """Fetch (or, for new customers, issue) the write keys of many objects in one query."""
    objects = [obj for obj in objects if getattr(obj, "encrypted_model", False)]
    if not objects:
        return
    marker = _transaction_marker()
    if marker is None:
        raise RuntimeError("bulk writes of encrypted rows must run inside a transaction")
    keys = lock_subject_keys({subject_id_of(obj) for obj in objects}, create=new_subjects)
    for obj in objects:
        setattr(obj, WRITE_KEY_ATTR, (marker, keys[str(subject_id_of(obj))]))


def write_key_for(obj) -> tuple[int, bytes]:
    marker = _transaction_marker()
    cached = getattr(obj, WRITE_KEY_ATTR, None)
    if cached is not None and marker is not None and cached[0] is marker:
        return cached[1]
    is_new = obj._state.adding and subject_id_of(obj) == obj.pk
    key = lock_subject_keys([subject_id_of(obj)], create=is_new)[str(subject_id_of(obj))]
    if marker is not None:
        setattr(obj, WRITE_KEY_ATTR, (marker, key))
    return key


# --- erasure ------------------------------------------------------------------------------------


def destroy_subject_keys(subject_id, *, reason: str) -> int:
    """Crypto-shred: delete every wrapped key of the subject and add it to the ledger.

    The key rows are locked first: a rotation of this subject in progress finishes, and then its
    new key is the one destroyed.
    """
    now = timezone.now()
    rows = lock_subjects([subject_id])
    destroyed = DataKey.objects.filter(pk__in=[row.pk for row in rows]).exclude(
        status=DataKey.Status.DESTROYED).update(
        status=DataKey.Status.DESTROYED, wrapped="", destroyed_at=now)
    if DataKey.objects.filter(subject_id=subject_id, status=DataKey.Status.ACTIVE).exists():
        raise RuntimeError("a data key of the subject survived shredding")  # fail, roll back
    Erasure.objects.get_or_create(subject_id=subject_id,
                                  defaults={"erased_at": now, "reason": reason[:200]})
    return destroyed
