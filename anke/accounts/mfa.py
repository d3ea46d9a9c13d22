"""Who must use a second factor, whether this session has, and the sealing of MFA secrets.

A role says whether its holders need multi-factor authentication (every shipped role does); a
user holding any such role needs it. A session counts as verified once allauth has recorded a
second factor in it: at sign-in, at re-authentication, or when the user enrolled one in this very
session (typing a valid code is the same proof).
"""

from allauth.account.internal.flows.login import get_authentication_records, record_authentication
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.db import transaction

from anke.access.policy import roles_of
from anke.encryption.envelope import from_text, key_version_of, open_sealed, seal, to_text
from anke.encryption.keyring import MASTER, keyring

MFA = "mfa"
PASSKEY = "webauthn"
SECRET_AAD = b"anke/mfa-secret/v1"


def mfa_required(user) -> bool:
    return user.is_authenticated and any(role.mfa_required for role in roles_of(user))


def has_second_factor(user) -> bool:
    """An authenticator app or a security key (recovery codes alone are a fallback)."""
    from allauth.mfa.models import Authenticator

    return user.authenticator_set.exclude(type=Authenticator.Type.RECOVERY_CODES).exists()


def passkey_required(user) -> bool:
    return user.is_authenticated and any(role.passkey_required for role in roles_of(user))


def session_passkey_verified(request) -> bool:
    user = getattr(request, "user", None)
    return user is not None and any(
        entry.get("method") == MFA and entry.get("type") == PASSKEY
        for entry in get_authentication_records(request, user))


def session_mfa_verified(request) -> bool:
    user = getattr(request, "user", None)
    return user is not None and any(entry.get("method") == MFA
                                    for entry in get_authentication_records(request, user))


def last_confirmed(request) -> float | None:
    """When this session last proved who is using it: the latest second factor, or for a
    session that has never shown one (a role without the rule), the latest password."""
    user = getattr(request, "user", None)
    if user is None:
        return None
    records = get_authentication_records(request, user)
    strongest = [r for r in records if r.get("method") == MFA] or records
    return max((r.get("at", 0) for r in strongest), default=None)


def record_enrolment(request, authenticator) -> None:
    """The code that activated an authenticator also verified this session, just now: it
    counts as a fresh re-authentication too (the recovery codes are shown next)."""
    record_authentication(request, request.user, MFA, id=authenticator.pk,
                          type=authenticator.type, enrolled=True, reauthenticated=True)


# --- secrets at rest ------------------------------------------------------------------------------
# TOTP secrets and the recovery-code seed are sealed with AES-256-GCM under a key derived from
# the master key (never a customer's data key: erasing a customer must not touch anyone's
# sign-in). The blob names the master key version, so a rotated master key still opens older
# secrets while the key file keeps that version.

def _secret_key(version: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=SECRET_AAD).derive(keyring().key(MASTER, version))


def seal_secret(text: str) -> str:
    version = keyring().active(MASTER).version
    return to_text(seal(_secret_key(version), version, text.encode(), SECRET_AAD))


def open_secret(text: str) -> str:
    blob = from_text(text)
    return open_sealed(_secret_key(key_version_of(blob)), blob, SECRET_AAD).decode()


SEALED_FIELDS = {"totp": "secret", "recovery_codes": "seed"}


def reseal_secrets(target: int) -> int:
    """Seal every stored second-factor secret under master key ``target`` (rotate-master), so
    retired master keys hold nothing anyone needs to sign in; returns how many moved."""
    from allauth.mfa.models import Authenticator

    moved = 0
    with transaction.atomic():
        for authenticator in (Authenticator.objects.select_for_update()
                              .filter(type__in=SEALED_FIELDS).order_by("pk")):
            field = SEALED_FIELDS[authenticator.type]
            sealed = authenticator.data.get(field)
            if not sealed or key_version_of(from_text(sealed)) == target:
                continue
            authenticator.data[field] = seal_secret(open_secret(sealed))
            authenticator.save(update_fields=["data"])
            moved += 1
    return moved
