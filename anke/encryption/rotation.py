"""Online, resumable key rotation.

Master-key rotation adds a master key version to the key file, then rewraps data keys in
batches; data-key rotation gives each subject a new data key and every row a new blind-index
token, re-encrypting all of that subject's rows in the batch transaction that replaces its key.
Each batch commits on its own, so a crash (``kill -9``) at any moment leaves every row readable
under the key it names, and running the command again resumes the unfinished rotation.
Writers lock a subject's key row before writing, so web requests and a rotation queue per
subject instead of racing.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, Q
from django.dispatch import Signal
from django.utils import timezone

from anke.access.policy import has_permission
from anke.audit.catalogue import Event, Outcome
from anke.audit.recorder import record
from anke.core.errors import ActionDenied
from anke.encryption import blind_index, envelope
from anke.encryption.blind_index import VERSION_SHIFT
from anke.encryption.checks import check_key_file
from anke.encryption.datakeys import (
    READ_KEYS_ATTR,
    ReadKeys,
    lock_subjects,
    new_data_key,
    open_wrapped,
)
from anke.encryption.fields import (
    Unreadable,
    encrypted_fields,
    encrypted_models,
    index_fields,
)
from anke.encryption.keyring import INDEX, MASTER, RETIRED, RETIRING, keyring
from anke.encryption.models import DataKey, KeyRotation
from anke.encryption.registry import subject_field, subject_id_of, subject_lookup

Progress = Callable[[int, int], None]  # (done, total)


@dataclass
class RotationResult:
    target_version: int
    done: int
    unreadable: int = 0
    resumed: bool = False


def _run(kind: str, key_kind: str) -> tuple[KeyRotation, bool]:
    """The unfinished rotation of ``kind``, or a new one, with its key version in the file.

    The run is recorded before the key file changes, so a crash between the two resumes with
    the same target version instead of adding another.
    """
    ring = keyring()
    run = KeyRotation.objects.filter(kind=kind, finished_at=None).first()
    resumed = run is not None
    if run is None:
        run = KeyRotation.objects.create(kind=kind,
                                         target_version=max(ring.versions(key_kind)) + 1)
    ring.add_version(key_kind, run.target_version)
    return run, resumed


def _update_many(model, fields: list, rows: list[tuple]) -> None:
    """One UPDATE statement run for many rows (``rows``: values of ``fields``, then the pk)."""
    quote = connection.ops.quote_name
    sets = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    sql = (f"UPDATE {quote(model._meta.db_table)} SET {sets} "  # noqa: S608 - names from the model, quoted
           f"WHERE {quote(model._meta.pk.column)} = %s")
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


# --- master keys --------------------------------------------------------------------------------


def pending_master(target: int):
    return DataKey.objects.filter(status=DataKey.Status.ACTIVE).exclude(kek_version=target)


def _require_key_rotation(actor, event: Event) -> None:
    if not actor.is_operator and not has_permission(actor.user, "key.rotate"):
        record(actor, event, object_type="key", outcome=Outcome.DENIED, reason="not_permitted")
        raise ActionDenied()


def rotate_master(actor, *, batch: int = 2000,
                  progress: Progress | None = None) -> RotationResult:
    """Rewrap every live data key under a new master key version, then retire the old ones."""
    _require_key_rotation(actor, Event.KEY_ROTATE_MASTER)
    ring = keyring()
    run, resumed = _run(KeyRotation.Kind.MASTER, MASTER)
    check_key_file()  # a check value for the new version
    target = run.target_version
    record(actor, Event.KEY_ROTATE_MASTER, object_type="master_key", object_ids=[target],
           reason="resumed" if resumed else "started")
    target_key = ring.key(MASTER, target)
    total = run.done + pending_master(target).count()
    for old in sorted(v for v in ring.versions(MASTER) if v != target):
        old_key = ring.key(MASTER, old)
        while True:
            with transaction.atomic():
                pending = DataKey.objects.filter(status=DataKey.Status.ACTIVE, kek_version=old)
                ids = list(pending.order_by("id").values_list("pk", flat=True)[:batch])
                if not ids:
                    break
                # Locked in subject order, as every writer locks them (datakeys.lock_subjects).
                # Read as values: building a model instance per key was most of the time.
                rows = list(pending.filter(pk__in=ids).select_for_update()
                            .order_by("subject_id")
                            .values_list("pk", "subject_id", "version", "wrapped"))
                updates = []
                for pk, subject_id, version, wrapped in rows:
                    subject = str(subject_id)
                    dek = open_wrapped(old_key, subject, version, old, wrapped)
                    blob = envelope.seal(target_key, target, dek,
                                         envelope.dek_aad(subject, version, target))
                    updates.append((target, envelope.to_text(blob), pk))
                _update_many(DataKey, [DataKey._meta.get_field("kek_version"),
                                       DataKey._meta.get_field("wrapped")], updates)
                run.done += len(rows)
                run.save(update_fields=["done"])
            if progress:
                progress(run.done, total)
    master_rotated.send(sender=rotate_master, target=target)
    _retire_unused_master_versions(target)
    with transaction.atomic():
        run.finished_at = timezone.now()
        run.save(update_fields=["finished_at"])
        record(actor, Event.KEY_ROTATE_MASTER, object_type="master_key", object_ids=[target],
               reason=f"finished: {run.done} data keys rewrapped")
    return RotationResult(target, run.done, resumed=resumed)


# Sent once every data key is under the new master key version, before older versions retire:
# other secrets sealed under a master key (accounts: second-factor secrets) move over too.
master_rotated = Signal()


def _retire_unused_master_versions(target: int) -> None:
    ring = keyring()
    in_use = set(DataKey.objects.filter(status=DataKey.Status.ACTIVE)
                 .values_list("kek_version", flat=True).distinct())
    for version, entry in ring.versions(MASTER).items():
        if version != target and entry.status == RETIRING and version not in in_use:
            # Kept in the file: backups taken before the rotation still need it.
            ring.set_status(MASTER, version, RETIRED)


# --- data keys and blind-index keys -------------------------------------------------------------


def pending_data(run: KeyRotation):
    return DataKey.objects.filter(status=DataKey.Status.ACTIVE, created_at__lt=run.started_at)


def rotate_data(actor, *, batch: int = 500, progress: Progress | None = None) -> RotationResult:
    """A new data key for every subject and new blind-index tokens for every row."""
    _require_key_rotation(actor, Event.KEY_ROTATE_DATA)
    ring = keyring()
    run, resumed = _run(KeyRotation.Kind.DATA, INDEX)
    check_key_file()  # a check value for the new index key version
    record(actor, Event.KEY_ROTATE_DATA, object_type="index_key",
           object_ids=[run.target_version], reason="resumed" if resumed else "started")
    result = RotationResult(run.target_version, run.done, resumed=resumed)
    total = run.done + pending_data(run).count()
    _rekey_pending(actor, run, batch, result, total, progress)
    _reindex_stragglers(actor, run.target_version)
    # A key issued before the run started but committed after the pass above (a long import)
    # is re-keyed now, so "finished" means every subject.
    _rekey_pending(actor, run, batch, result, total, progress)
    for version, entry in ring.versions(INDEX).items():
        # A version some rows still use (a long import that committed after the pass above)
        # stays retiring, so searches keep asking for it; the next rotation moves them.
        if entry.status == RETIRING and not index_rows(version):
            ring.set_status(INDEX, version, RETIRED)
    with transaction.atomic():
        run.finished_at = timezone.now()
        run.save(update_fields=["finished_at"])
        record(actor, Event.KEY_ROTATE_DATA, object_type="index_key",
               object_ids=[run.target_version],
               reason=f"finished: {run.done} subjects re-keyed, {result.unreadable} unreadable")
    result.done = run.done
    return result


def _rekey_pending(actor, run: KeyRotation, batch: int, result: RotationResult, total: int,
                   progress: Progress | None) -> None:
    """Re-key the subjects whose key predates the run, one batch per transaction."""
    while True:
        with transaction.atomic():
            ids = list(pending_data(run).order_by("created_at", "id")
                       .values_list("pk", flat=True)[:batch])
            if not ids:
                return
            rows = list(pending_data(run).filter(pk__in=ids).select_for_update()
                        .order_by("subject_id"))
            result.unreadable += _rekey_subjects(actor, rows)
            run.done += len(rows)
            run.save(update_fields=["done"])
        if progress:
            progress(run.done, total)


def _rekey_subjects(actor, old_rows: list[DataKey]) -> int:
    """Re-encrypt every row of these subjects under new keys, in the caller's transaction.

    The key rows (locked by the caller) are replaced in place, so a shred waiting on one of
    them destroys the new key when it gets its turn. Rows are read as values, not model
    instances: building and saving instances was most of the time. A value that cannot be
    opened keeps its envelope and its token, audited and counted, as an instance save would.
    """
    subjects = [row.subject_id for row in old_rows]
    fresh = {str(row.subject_id): new_data_key(row.subject_id, row.version + 1)
             for row in old_rows}
    old_keys = ReadKeys(actor, subjects)
    unreadable = 0
    for model in encrypted_models():
        sealed_fields, token_fields = encrypted_fields(model), index_fields(model)
        position = {field.name: i for i, field in enumerate(sealed_fields)}
        table, pk_field = model._meta.db_table, model._meta.pk
        rows = model.objects.filter(**{subject_lookup(model): subjects}).values_list(
            "pk", subject_field(model), *(f.attname for f in (*sealed_fields, *token_fields)))
        updates = []
        for pk, subject_id, *stored in rows:
            row, subject = str(pk), str(subject_id)  # as the associated data spells them
            new_row, dek = fresh[subject]
            sealed_values, old_tokens = stored[:len(sealed_fields)], stored[len(sealed_fields):]
            texts, values = [], []
            for field, sealed in zip(sealed_fields, sealed_values, strict=True):
                opened = (field.decrypt_stored(old_keys, table, row, subject, sealed)
                          if sealed is not None else None)
                if isinstance(opened, str):  # why it cannot be opened
                    field.report_unreadable(actor, pk, subject, opened)
                    unreadable += 1
                    texts.append(sealed.text)
                    values.append(Unreadable)
                    continue
                value = opened.value if opened is not None else None
                texts.append(field.encrypt(new_row.version, dek, value, table, row, subject))
                values.append(value)
            tokens = []
            for field, old_token in zip(token_fields, old_tokens, strict=True):
                value = values[position[field.source]]
                tokens.append(old_token if value is Unreadable else blind_index.token_for_write(
                    sealed_fields[position[field.source]].index_group, value))
            updates.append((*texts, *tokens, pk_field.get_db_prep_value(pk, connection)))
        if updates:
            _update_many(model, [*sealed_fields, *token_fields], updates)
    now = DataKey._meta.get_field("created_at").get_db_prep_value(timezone.now(), connection)
    _update_many(DataKey, [DataKey._meta.get_field(name) for name in
                           ("version", "kek_version", "wrapped", "created_at")],
                 [(new.version, new.kek_version, new.wrapped, now, old.pk)
                  for old in old_rows for new, _dek in [fresh[str(old.subject_id)]]])
    return unreadable


def _reindex_stragglers(actor, target: int) -> None:
    """Rows written under an older index key while the rotation ran (by a process that had not
    yet seen the new key file) get tokens of the target version. (An unreadable value keeps its
    old token: it was counted by the re-keying, and no search can confirm it anyway.)"""
    below = target << VERSION_SHIFT
    for model in encrypted_models():
        if not index_fields(model):
            continue  # nothing indexed (activities, tickets): an empty Q would match every row
        late = Q()
        for field in index_fields(model):
            late |= Q(**{f"{field.attname}__lt": below})
        last = None
        while True:
            page = model.objects.filter(late).order_by("pk")
            batch = list((page.filter(pk__gt=last) if last else page)
                         .values_list("pk", subject_field(model))[:500])
            if not batch:
                break
            last = batch[-1][0]
            with transaction.atomic():
                # Keys, then rows, locked: an edit in between is read, not overwritten.
                lock_subjects({subject for _pk, subject in batch})
                objects = list(model.objects.select_for_update()
                               .filter(pk__in=[pk for pk, _s in batch]))
                keys = ReadKeys(actor, {subject_id_of(obj) for obj in objects})
                for obj in objects:
                    setattr(obj, READ_KEYS_ATTR, keys)
                    for field in encrypted_fields(model):
                        getattr(obj, field.attname)  # opened, so saving re-indexes it
                    obj.save(update_fields=[f.name for f in encrypted_fields(model)])
                record(actor, Event.KEY_ROTATE_DATA, object_type=model._meta.model_name,
                       object_ids=[obj.pk for obj in objects],
                       fields=[f.name for f in index_fields(model)],
                       customers={subject for _pk, subject in batch},
                       reason=f"re-indexed under index key {target}")


# --- status -------------------------------------------------------------------------------------


def index_rows(version: int) -> int:
    """How many index tokens (over every indexed column) are under index key ``version``."""
    low, high = version << VERSION_SHIFT, (version + 1) << VERSION_SHIFT
    return sum(model.objects.filter(**{f"{field.attname}__gte": low,
                                       f"{field.attname}__lt": high}).count()
               for model in encrypted_models() for field in index_fields(model))


def status() -> dict:
    """Key versions and how many data keys and rows use each (for ``anke keys status``)."""
    ring = keyring()
    per_kek = dict(DataKey.objects.filter(status=DataKey.Status.ACTIVE)
                   .values_list("kek_version").annotate(n=Count("id")))
    per_index = {version: index_rows(version) for version in ring.versions(INDEX)}
    return {
        "key_file": str(ring.path),
        "master": [(v.version, v.status, v.created, per_kek.get(v.version, 0))
                   for v in sorted(ring.versions(MASTER).values(), key=lambda v: v.version)],
        "index": [(v.version, v.status, v.created, per_index.get(v.version, 0))
                  for v in sorted(ring.versions(INDEX).values(), key=lambda v: v.version)],
        "data_keys": dict(DataKey.objects.values_list("status").annotate(n=Count("id"))),
        "running": [(run.kind, run.target_version, run.done, run.started_at)
                    for run in KeyRotation.objects.filter(finished_at=None)],
    }
