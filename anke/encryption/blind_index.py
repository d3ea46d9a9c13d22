"""Blind indexes: exact search on encrypted values without decrypting the table.

An index token is HMAC-SHA256 under a per-group subkey (HKDF from the index root key of a
version) over the canonical value, truncated to the bits fixed for that key version (the
``ANKE_BLIND_INDEX_BITS`` of when it was made), so a lookup returns a few candidates that are
then confirmed by decrypting. The key version is kept in the
token's high bits: searches ask for the tokens of every version in the key file, so rows are
found while a data-key rotation moves them to a new index key, and after.
"""

import hashlib
import hmac
import re
import unicodedata
from functools import lru_cache

import phonenumbers
from django.conf import settings
from stdnum.cn import ric, uscc

from anke.encryption.keyring import INDEX, keyring

VERSION_SHIFT = 32
PHONE, EMAIL, ID_NUMBER, CREDIT_CODE = "phone", "email", "id_number", "credit_code"
GROUPS = (PHONE, EMAIL, ID_NUMBER, CREDIT_CODE)
_NOT_IDENTIFIER = re.compile(r"[\s\-]")


def canonical(group: str, value: str) -> str | None:
    """The form a value is indexed under, or None if it is no valid value of the group.

    ``13812345678``, ``+86 138 1234 5678`` and ``138-1234-5678`` are one phone number.
    """
    value = str(value or "").strip()
    if not value:
        return None
    if group == PHONE:
        try:
            number = phonenumbers.parse(value, settings.PHONE_DEFAULT_REGION)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(number):
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if group == EMAIL:
        value = unicodedata.normalize("NFKC", value).casefold()
        return value if value.count("@") == 1 and "." in value.rpartition("@")[2] else None
    compact = _NOT_IDENTIFIER.sub("", value).upper()
    module = ric if group == ID_NUMBER else uscc
    return compact if module.is_valid(compact) else None


def detect(text: str) -> tuple[str, str] | None:
    """Which kind of identifier a search box holds, with its canonical form."""
    text = str(text or "").strip()
    if "@" in text:
        value = canonical(EMAIL, text)
        return (EMAIL, value) if value else None
    for group in (ID_NUMBER, CREDIT_CODE, PHONE):
        value = canonical(group, text)
        if value:
            return group, value
    return None


@lru_cache(maxsize=64)
def _subkey(root: bytes, group: str) -> bytes:
    # HKDF-Expand with one block is HMAC(PRK, info ‖ 0x01); the root key is already uniform.
    return hmac.new(root, f"anke/bidx/v1|{group}".encode() + b"\x01", hashlib.sha256).digest()


def token(group: str, value: str, version: int) -> int:
    index_key = keyring().versions(INDEX)[version]
    digest = hmac.new(_subkey(index_key.key, group), value.encode(), hashlib.sha256).digest()
    bits = index_key.bits or settings.BLIND_INDEX_BITS
    return (version << VERSION_SHIFT) | (int.from_bytes(digest[:4], "big") >> (32 - bits))


_E164 = re.compile(r"\+[1-9]\d{6,14}")


def _stored_form(group: str, value) -> str | None:
    """The canonical form of a value the model field has already validated and normalised
    (E.164, a checked ID): only what normalisation leaves open is redone, which keeps bulk
    writes from parsing every number twice."""
    value = str(value or "").strip()
    if not value:
        return None
    if group == PHONE:
        return value if _E164.fullmatch(value) else canonical(group, value)
    if group == EMAIL:
        return unicodedata.normalize("NFKC", value).casefold()
    return _NOT_IDENTIFIER.sub("", value).upper()


def token_for_write(group: str, value) -> int | None:
    """The token a row stores for ``value`` under the active index key (None when empty)."""
    value = _stored_form(group, value)
    return None if value is None else token(group, value, keyring().active(INDEX).version)


def tokens_for_search(group: str, value: str) -> list[int]:
    """Tokens of ``value`` (already canonical) under every index key version in the file.

    Retired versions too: a write that began before a rotation and committed after it (a long
    import on PostgreSQL) holds tokens of the old version until the next rotation moves them.
    """
    return [token(group, value, version) for version in sorted(keyring().versions(INDEX))]


def version_of(stored: int) -> int:
    return stored >> VERSION_SHIFT
