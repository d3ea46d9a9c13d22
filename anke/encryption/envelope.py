"""AES-256-GCM envelopes: the byte formats of SECURITY.md §2, with no database or key storage.

A field value is ``format ‖ key version ‖ nonce ‖ ciphertext+tag`` under the subject's data key,
with associated data naming table, field, row and subject, so a value copied to another row,
field or customer fails to open. A data key is stored wrapped the same way under a master key
version, bound to its subject, its own version and the master key version.
"""

import base64
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FIELD_FORMAT = 1
KEY_BYTES = 32
NONCE_BYTES = 12
_HEADER = struct.Struct(">BI")  # format byte, key version
MIN_BLOB = _HEADER.size + NONCE_BYTES + 16


class IntegrityFailure(Exception):
    """A ciphertext or wrapped key failed authentication: tampered, moved or under another key."""


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def field_aad(table: str, field: str, row_id, subject_id) -> bytes:
    return f"anke/field/v1|{table}|{field}|{row_id}|{subject_id}".encode()


def dek_aad(subject_id, dek_version: int, kek_version: int) -> bytes:
    return f"anke/dek/v1|{subject_id}|{dek_version}|{kek_version}".encode()


def seal(key: bytes, key_version: int, plaintext: bytes, aad: bytes) -> bytes:
    header = _HEADER.pack(FIELD_FORMAT, key_version)
    nonce = os.urandom(NONCE_BYTES)
    # The header is authenticated with the context, so neither can be changed on its own.
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext, header + aad)


def key_version_of(blob: bytes) -> int:
    """The version of the key a blob was sealed under (IntegrityFailure if it is no blob)."""
    if len(blob) < MIN_BLOB:
        raise IntegrityFailure("too short")
    fmt, version = _HEADER.unpack_from(blob)
    if fmt != FIELD_FORMAT:
        raise IntegrityFailure("unknown format")
    return version


def open_sealed(key: bytes, blob: bytes, aad: bytes) -> bytes:
    key_version_of(blob)
    header, nonce = blob[:_HEADER.size], blob[_HEADER.size:_HEADER.size + NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, blob[_HEADER.size + NONCE_BYTES:], header + aad)
    except InvalidTag:
        raise IntegrityFailure("authentication failed") from None


def to_text(blob: bytes) -> str:
    """Blobs are kept in text columns (base64), the same on SQLite and PostgreSQL."""
    return base64.b64encode(blob).decode("ascii")


def from_text(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise IntegrityFailure("not base64") from None
