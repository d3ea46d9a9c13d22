"""Open every encrypted value, in batches: the check after a restore, a crash or a rotation."""

from anke.audit.catalogue import Event
from anke.audit.recorder import record
from anke.encryption.datakeys import READ_KEYS_ATTR, ReadKeys
from anke.encryption.fields import Unreadable, encrypted_fields, encrypted_models
from anke.encryption.registry import subject_id_of

BATCH = 1000


def verify_all(actor) -> list[tuple[str, int, list]]:
    """Per model: (label, values checked, [(pk, field, reason)]). Erased subjects count as
    fine: their values are meant to be unreadable."""
    report = []
    for model in encrypted_models():
        checked, failures, last = 0, [], None
        fields = encrypted_fields(model)
        while True:
            page = model.objects.order_by("pk")
            objects = list((page.filter(pk__gt=last) if last else page)[:BATCH])
            if not objects:
                break
            last = objects[-1].pk
            keys = ReadKeys(actor, {subject_id_of(obj) for obj in objects})
            for obj in objects:
                setattr(obj, READ_KEYS_ATTR, keys)
                for field in fields:
                    value = getattr(obj, field.attname)
                    checked += 1
                    if isinstance(value, Unreadable) and value.reason != Unreadable.ERASED:
                        failures.append((obj.pk, field.name, value.reason))
        report.append((model._meta.label, checked, failures))
    record(actor, Event.KEY_VERIFY, object_type="key",
           reason=", ".join(f"{label}: {checked} checked, {len(failures)} unreadable"
                            for label, checked, failures in report)[:500])
    return report
