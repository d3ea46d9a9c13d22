"""The key file must be the one the database was written with, or Anke does not start."""

import hashlib
import hmac

from anke.core.context import Actor
from anke.encryption import blind_index, envelope
from anke.encryption.blind_index import VERSION_SHIFT
from anke.encryption.datakeys import Unopenable, open_for_reading, unwrap
from anke.encryption.fields import encrypted_models, index_fields
from anke.encryption.keyring import INDEX, MASTER, keyring
from anke.encryption.models import DataKey, KeyCheck

CHECK_PLAINTEXT = b"anke master key check"


class WrongKeyFile(Exception):
    pass


def _wrong(kind: str, version: int, path) -> WrongKeyFile:
    return WrongKeyFile(f"{kind} key version {version} in {path} is not the key this database "
                        f"was encrypted with")


def _index_check(key: bytes) -> str:
    return hmac.new(key, CHECK_PLAINTEXT, hashlib.sha256).hexdigest()


def check_key_file() -> None:
    """Prove the key file is the one the data was written with: every master key version opens
    its stored check value (or, before there is one, a data key wrapped under it), every index
    key version gives its stored check value, and no live data key is wrapped under a master
    key version the file lacks. Versions seen for the first time get a check value."""
    ring = keyring()
    checks = {(c.kind, c.version): c for c in KeyCheck.objects.all()}
    masters, indexes = ring.versions(MASTER), ring.versions(INDEX)
    for (kind, version), check in checks.items():
        versions = masters if kind == MASTER else indexes
        if version not in versions:
            if kind == MASTER and DataKey.objects.filter(kek_version=version).exclude(
                    status=DataKey.Status.DESTROYED).exists():
                raise WrongKeyFile(
                    f"master key version {version} wraps data keys but is not in {ring.path}")
            continue
        key = versions[version].key
        if kind == INDEX:
            if not hmac.compare_digest(_index_check(key), check.check_value):
                raise _wrong(kind, version, ring.path)
            continue
        try:
            envelope.open_sealed(key, envelope.from_text(check.check_value), CHECK_PLAINTEXT)
        except envelope.IntegrityFailure:
            raise _wrong(kind, version, ring.path) from None
    for version, entry in masters.items():
        if (MASTER, version) in checks:
            continue
        # No check value yet (first start, or a database from before checks): a data key
        # already wrapped under this version must open, or the file is the wrong one.
        sample = DataKey.objects.filter(kek_version=version,
                                        status=DataKey.Status.ACTIVE).first()
        if sample is not None:
            try:
                unwrap(sample)
            except Unopenable:
                raise _wrong(MASTER, version, ring.path) from None
        KeyCheck.objects.get_or_create(kind=MASTER, version=version, defaults={
            "check_value": envelope.to_text(envelope.seal(entry.key, version,
                                                          CHECK_PLAINTEXT, CHECK_PLAINTEXT))})
    for version, entry in indexes.items():
        if (INDEX, version) in checks:
            continue
        if _stored_tokens_disagree(version):
            raise _wrong(INDEX, version, ring.path)
        KeyCheck.objects.get_or_create(kind=INDEX, version=version,
                                       defaults={"check_value": _index_check(entry.key)})


def _stored_tokens_disagree(version: int, sample: int = 5) -> bool:
    """Before an index key version has a check value: do tokens stored under it come out of
    this key? A few indexed values are decrypted and their tokens computed again."""
    low, high = version << VERSION_SHIFT, (version + 1) << VERSION_SHIFT
    for model in encrypted_models():
        for index in index_fields(model):
            rows = list(model.objects.filter(**{f"{index.attname}__gte": low,
                                                f"{index.attname}__lt": high})[:sample])
            open_for_reading(Actor.system(method="startup"), rows)
            source = index.source_field()
            for row in rows:
                value = blind_index.canonical(source.index_group,
                                              getattr(row, source.attname))
                if value is not None:
                    return blind_index.token(source.index_group, value, version) != getattr(
                        row, index.attname)
    return False
