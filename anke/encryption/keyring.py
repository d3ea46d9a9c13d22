"""Master keys (KEKs) and blind-index root keys, kept in a key file outside the database.

The file is JSON, mode 0600 (or 0400), created at first start under ``var/keys/`` unless
``ANKE_MASTER_KEY_FILE`` names one (then it must exist: a mounted secret that is missing is an
error, not a reason to invent a new key). Every key is versioned. A version is ``active`` (new
data uses the newest active one), ``retiring`` (still read, and still searched for blind
indexes, while a rotation moves data off it) or ``retired`` (kept for old backups, never used
for new data). Processes re-read the file when it changes, so a rotation run from the shell is
seen by the web workers without a restart.
"""

import base64
import fcntl
import json
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from anke.encryption.envelope import KEY_BYTES, new_key

FILE_FORMAT = "anke-keys/1"
MASTER = "master"
INDEX = "index"
KINDS = (MASTER, INDEX)
ACTIVE, RETIRING, RETIRED = "active", "retiring", "retired"
STATUSES = (ACTIVE, RETIRING, RETIRED)


class KeyFileError(ImproperlyConfigured):
    """The key file is missing, unreadable, too open or malformed: Anke refuses to start."""

    def __init__(self, path: Path, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"Key file {path}: {reason}")


class UnknownKeyVersion(Exception):
    """Data names a key version the key file does not hold (a lost or wrong key file)."""


@dataclass(frozen=True)
class KeyVersion:
    version: int
    key: bytes = field(repr=False)
    status: str
    created: str
    bits: int | None = None  # index keys: token length, fixed when the version is made


class Keyring:
    """The key file's contents, re-read whenever the file changes on disk."""

    def __init__(self, path: Path, *, create: bool):
        self.path = path
        self.configured = str(path)
        self._lock = threading.Lock()
        self._stamp = None
        self._keys: dict[str, dict[int, KeyVersion]] = {}
        if not path.exists():
            if not create:
                raise KeyFileError(path, "does not exist (ANKE_MASTER_KEY_FILE names it)")
            _create(path)
        self.refresh()

    # --- reading ----------------------------------------------------------------------------

    def refresh(self) -> None:
        try:
            info = self.path.stat()
        except OSError as error:
            raise KeyFileError(self.path, f"cannot be read ({error.strerror})") from None
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        if stamp == self._stamp:
            return
        with self._lock:
            self._keys = _parse(self.path, info)
            self._stamp = stamp

    def versions(self, kind: str) -> dict[int, KeyVersion]:
        self.refresh()
        return self._keys[kind]

    def key(self, kind: str, version: int) -> bytes:
        found = self.versions(kind).get(version)
        if found is None:
            raise UnknownKeyVersion(f"{kind} key version {version} is not in {self.path}")
        return found.key

    def active(self, kind: str) -> KeyVersion:
        """The newest active version: the one new data is written under."""
        active = [v for v in self.versions(kind).values() if v.status == ACTIVE]
        if not active:
            raise KeyFileError(self.path, f"has no active {kind} key")
        return max(active, key=lambda v: v.version)

    # --- changing (rotation commands only) --------------------------------------------------

    def add_version(self, kind: str, number: int) -> None:
        """Version ``number`` of ``kind``, new and active, earlier active ones retiring. Adding
        a version that is already there does nothing (a rotation resumed after a crash)."""
        with self._editing() as doc:
            versions = doc[kind]
            if str(number) in versions:
                return
            if number != max(map(int, versions)) + 1:
                raise ValueError(f"{kind} key version {number} does not follow the last one")
            for entry in versions.values():
                if entry["status"] == ACTIVE:
                    entry["status"] = RETIRING
            versions[str(number)] = _entry(kind, ACTIVE)

    def set_status(self, kind: str, version: int, status: str) -> None:
        with self._editing() as doc:
            doc[kind][str(version)]["status"] = status

    @contextmanager
    def _editing(self) -> Iterator[dict]:
        """Read, change and atomically replace the file, one writer at a time."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            doc = json.loads(self.path.read_text())
            yield doc
            _write_atomically(self.path, doc)
        self._stamp = None
        self.refresh()


def _entry(kind: str, status: str) -> dict:
    entry = {"key": base64.b64encode(new_key()).decode(), "status": status,
             "created": timezone.now().isoformat(timespec="seconds")}
    if kind == INDEX:
        # A changed ANKE_BLIND_INDEX_BITS applies from the next index key (rotate-data), so
        # tokens already stored keep matching.
        entry["bits"] = settings.BLIND_INDEX_BITS
    return entry


def _create(path: Path) -> None:
    """Write the first key file whole, then link it into place: a process starting at the same
    moment sees no file or a complete one, and the first to link wins."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    doc = {"format": FILE_FORMAT, MASTER: {"1": _entry(MASTER, ACTIVE)},
           INDEX: {"1": _entry(INDEX, ACTIVE)}}
    temporary = _write_temporary(path, doc)
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process created it first; read theirs
    finally:
        os.unlink(temporary)


def _write_temporary(path: Path, doc: dict) -> Path:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(doc, out, indent=1)
        out.flush()
        os.fsync(out.fileno())
    return temporary


def _write_atomically(path: Path, doc: dict) -> None:
    os.replace(_write_temporary(path, doc), path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _parse(path: Path, info: os.stat_result) -> dict[str, dict[int, KeyVersion]]:
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise KeyFileError(path, f"is readable by others (mode {mode:04o}); "
                                 f"make it 0600 or 0400 (chmod 600 {path})")
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise KeyFileError(path, f"is not a valid key file ({type(error).__name__})") from None
    if not isinstance(doc, dict) or doc.get("format") != FILE_FORMAT:
        raise KeyFileError(path, f"is not a key file of format {FILE_FORMAT}")
    keys = {}
    for kind in KINDS:
        entries = doc.get(kind)
        if not isinstance(entries, dict) or not entries:
            raise KeyFileError(path, f"has no {kind} keys")
        keys[kind] = {}
        for number, entry in entries.items():
            try:
                version = int(number)
                key = base64.b64decode(entry["key"], validate=True)
                status = entry["status"]
                bits = int(entry["bits"]) if "bits" in entry else None
            except (KeyError, TypeError, ValueError):
                raise KeyFileError(path, f"{kind} key {number!r} is malformed") from None
            if (len(key) != KEY_BYTES or status not in STATUSES or version < 1
                    or (bits is not None and not 8 <= bits <= 32)):
                raise KeyFileError(path, f"{kind} key {number!r} is malformed")
            keys[kind][version] = KeyVersion(version, key, status, str(entry.get("created", "")),
                                             bits)
        if not any(v.status == ACTIVE for v in keys[kind].values()):
            raise KeyFileError(path, f"has no active {kind} key")
    return keys


_keyring: Keyring | None = None
_keyring_lock = threading.Lock()


def keyring() -> Keyring:
    """The process's keyring for ``settings.MASTER_KEY_FILE`` (loaded on first use).

    On every encrypt, decrypt and index token: the fast path only compares the setting."""
    global _keyring
    configured = settings.MASTER_KEY_FILE
    ring = _keyring
    if ring is None or ring.configured != configured:
        with _keyring_lock:
            if _keyring is None or _keyring.configured != configured:
                _keyring = Keyring(Path(configured), create=settings.MASTER_KEY_FILE_CREATE)
                _keyring.configured = configured
            ring = _keyring
    return ring
