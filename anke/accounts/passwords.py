"""Password length by risk (NIST SP 800-63B): 12 characters where a second factor is required,
15 where a password alone opens the account. No composition rules, no forced changes."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

WITH_MFA, PASSWORD_ALONE = 12, 15


def min_length_for(user) -> int:
    from anke.accounts.mfa import mfa_required

    if user is None:
        return PASSWORD_ALONE  # nobody known yet: the stricter rule
    if user.pk is None:  # being created: the roles it will hold
        roles = getattr(user, "pending_roles", [])
        return WITH_MFA if any(r.mfa_required for r in roles) else PASSWORD_ALONE
    return WITH_MFA if mfa_required(user) else PASSWORD_ALONE


class RoleAwareLengthValidator:
    def validate(self, password, user=None):
        length = min_length_for(user)
        if len(password) < length:
            raise ValidationError(
                ngettext("This password is too short. It must contain at least %(min_length)d "
                         "character.",
                         "This password is too short. It must contain at least %(min_length)d "
                         "characters.", length),
                code="password_too_short", params={"min_length": length})

    def get_help_text(self):
        return _("At least %(with_mfa)d characters, or %(alone)d if your account needs no "
                 "second factor. Long phrases are welcome; no other rules.") % {
            "with_mfa": WITH_MFA, "alone": PASSWORD_ALONE}
