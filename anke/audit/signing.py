"""The Ed25519 key that signs audit checkpoints, kept in a file the web process never opens.

``var/keys/audit-signing.json`` (or ``ANKE_AUDIT_SIGNING_KEY_FILE``), mode 0600, created by the
first ``anke audit seal``. Only the sealer signs; ``anke audit verify`` trusts the public keys
derived from this file, or only those given with ``--public-key``, never keys found in the
database (someone who can write the database could add their own). ``anke audit public-key``
prints the public key for auditors to keep.
"""

import base64
import fcntl
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from anke.audit.offline import key_id

FILE_FORMAT = "anke-audit-signing/1"


class SigningKeyError(ImproperlyConfigured):
    def __init__(self, path: Path, reason: str):
        super().__init__(f"Audit signing key file {path}: {reason}")


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    private: Ed25519PrivateKey

    @property
    def public_bytes(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)


def _path() -> Path:
    return Path(settings.AUDIT_SIGNING_KEY_FILE)


def _new_entry() -> dict:
    private = Ed25519PrivateKey.generate().private_bytes_raw()
    return {"private": base64.b64encode(private).decode(),
            "created": timezone.now().isoformat(timespec="seconds")}


def _write_new(path: Path, doc: dict) -> None:
    """Create the file whole with mode 0600; the first process to create it wins."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as out:
        json.dump(doc, out, indent=1)
        out.flush()
        os.fsync(out.fileno())


def _load(path: Path) -> list[SigningKey]:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise SigningKeyError(path, f"is readable by others (mode {mode:04o}); "
                                        f"chmod 600 {path}")
        doc = json.loads(path.read_text())
        keys = [Ed25519PrivateKey.from_private_bytes(base64.b64decode(e["private"]))
                for e in doc["keys"]]
    except FileNotFoundError:
        raise SigningKeyError(path, "does not exist") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SigningKeyError(path, f"is not a valid key file ({type(error).__name__})") from None
    if doc.get("format") != FILE_FORMAT or not keys:
        raise SigningKeyError(path, f"is not a key file of format {FILE_FORMAT}")
    result = []
    for private in keys:
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        result.append(SigningKey(key_id(public), private))
    return result


def signing_keys(*, create: bool = False) -> list[SigningKey]:
    """Every key of the file, newest last; created at first use when ``create``."""
    path = _path()
    if create and not path.exists():
        _write_new(path, {"format": FILE_FORMAT, "keys": [_new_entry()]})
    return _load(path)


def active_signing_key() -> SigningKey:
    return signing_keys(create=True)[-1]


def trusted_public_keys(given: list[str] = ()) -> dict[str, bytes]:
    """key id → raw public key. Keys an auditor ``given`` (base64) replace the signing key file:
    verifying with the key you hold must not also trust a file someone may have replaced."""
    if not given:
        return {k.key_id: k.public_bytes for k in signing_keys()} if _path().exists() else {}
    keys = {}
    for text in given:
        try:
            public = base64.b64decode(text, validate=True)
        except ValueError:
            raise ValueError(f"not a base64 public key: {text[:20]}…") from None
        if len(public) != 32:
            raise ValueError("an Ed25519 public key is 32 bytes")
        keys[key_id(public)] = public
    return keys


def add_signing_key() -> SigningKey:
    """Start signing with a new key; older keys stay in the file to verify old checkpoints."""
    path = _path()
    # One rotation at a time: two read-modify-writes in parallel would lose a key.
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        doc = json.loads(path.read_text())
        doc["keys"].append(_new_entry())
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(doc, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    return signing_keys()[-1]
