"""Domain actions for roles: create, change and delete them.

Every action needs ``role.manage`` (the shell operator is trusted by having the server); a
refusal is audited as denied before it is raised. Each change is validated against the one
catalogue of permissions, scopes and classified fields, saved and recorded with its before and
after state (configuration, never customer data) in one transaction.

Roles have no version column. Edits are a compare-and-set on the role's state instead: ``state_tag``
is a number derived from everything a role grants, handed out with the role (the API's ETag, a
hidden field of the edit form) and sent back with the change; if the role changed in between the
edit is refused as stale. Callers that pass no tag (the CLI) get last-write-wins.
"""

import hashlib
import json

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from anke.access.catalogue import (
    CUSTOMER_DATA_RESOURCES,
    PERMISSIONS,
    SHIPPED_ROLES,
    FieldAccess,
    Scope,
)
from anke.access.guarded import check_fields, deny, require_step_up
from anke.access.models import Role, classified_field_keys
from anke.access.policy import has_permission, roles_of
from anke.accounts.networks import loosens, parse_allowlist
from anke.audit.catalogue import Event
from anke.audit.recorder import clear_change, record
from anke.core.context import Actor
from anke.core.errors import NotVisible, StaleVersion

MANAGE = "role.manage"
EDITABLE = ("name", "permissions", "scopes", "field_policies", "mfa_required",
            "passkey_required", "ip_allowlist")
# An empty list or mapping is a valid grant (nothing); Role.clean() checks these fields' content,
# so the field-level "cannot be blank" check is skipped for them.
_MAY_BE_EMPTY = ["permissions", "scopes", "field_policies", "ip_allowlist"]


# --- reading a role's state --------------------------------------------------------------------


def role_state(role: Role) -> dict:
    """What a role grants, in the shape the audit detail and the state tag use."""
    return {
        "code": role.code,
        "name": role.name,
        "permissions": sorted(role.permissions),
        "scopes": dict(sorted(role.scopes.items())),
        "field_policies": dict(sorted(role.field_policies.items())),
        "mfa_required": role.mfa_required,
        "passkey_required": role.passkey_required,
        "ip_allowlist": list(role.ip_allowlist),
    }


def state_tag(role: Role) -> int:
    """A number that changes whenever the role does (at most 9 digits, so it travels as an
    ETag / If-Match like the versions of customer records)."""
    text = json.dumps(role_state(role), sort_keys=True, ensure_ascii=False)
    return int(hashlib.sha256(text.encode()).hexdigest()[:15], 16) % 10**9


def is_shipped(role: Role) -> bool:
    return role.code in SHIPPED_ROLES


# --- validation --------------------------------------------------------------------------------


def _unknown(values, known) -> list[str]:
    """The values not in ``known``, as short text for an error message."""
    return sorted({str(v)[:60] for v in values if not isinstance(v, str) or v not in known})


def _normalised_permissions(value, errors: dict):
    if not isinstance(value, list | tuple):
        errors["permissions"] = _("Give the permissions as a list of codes.")
        return value
    if unknown := _unknown(value, PERMISSIONS):
        errors["permissions"] = _("Unknown permission: %(codes)s") % {"codes": ", ".join(unknown)}
        return value
    return sorted(set(value))


def _normalised_mapping(value, errors: dict, name: str, keys, levels, key_message,
                        level_message):
    """A dict of known keys to known levels, or an error naming what is not."""
    if not isinstance(value, dict):
        errors[name] = _("Give a mapping of names to values.")
        return value
    problems = []
    if unknown := _unknown(value, keys):
        problems.append(key_message % {"names": ", ".join(unknown)})
    if bad := _unknown(value.values(), levels):
        problems.append(level_message % {"values": ", ".join(bad)})
    if problems:
        errors[name] = problems
        return value
    return dict(sorted(value.items()))


def _normalised(data: dict) -> dict:
    """``data`` with permissions sorted and de-duplicated, or a ValidationError naming every
    unknown permission, resource, field, scope and level (before ``Role.clean`` would meet a
    value of the wrong type)."""
    errors, out = {}, dict(data)
    if "permissions" in data:
        out["permissions"] = _normalised_permissions(data["permissions"], errors)
    if "scopes" in data:
        out["scopes"] = _normalised_mapping(
            data["scopes"], errors, "scopes", CUSTOMER_DATA_RESOURCES, Scope.values,
            _("Unknown resource: %(names)s"), _("Unknown record scope: %(values)s"))
    if "field_policies" in data:
        out["field_policies"] = _normalised_mapping(
            data["field_policies"], errors, "field_policies", set(classified_field_keys()),
            FieldAccess.values, _("Unknown classified field: %(names)s"),
            _("Unknown access level: %(values)s"))
    for name in ("mfa_required", "passkey_required"):
        if name in data and not isinstance(data[name], bool):
            errors[name] = _("Give true or false.")
    if "ip_allowlist" in data:
        try:
            out["ip_allowlist"] = parse_allowlist(data["ip_allowlist"])
        except ValidationError as error:
            errors.update(error.message_dict)
    if "name" in data:
        if isinstance(data["name"], str):
            out["name"] = data["name"].strip()
        else:
            errors["name"] = _("Give the name as text.")
    if errors:
        raise ValidationError(errors)
    return out


def _widens(role: Role, changes: dict) -> bool:
    """Whether ``changes`` give ``role`` a permission, a scope or a field level it lacks, or let
    it sign in without a second factor or from more networks."""
    if set(changes.get("permissions", role.permissions)) - set(role.permissions):
        return True
    if (role.mfa_required and changes.get("mfa_required") is False
            or role.passkey_required and changes.get("passkey_required") is False):
        return True
    if loosens(role.ip_allowlist, changes.get("ip_allowlist", role.ip_allowlist)):
        return True
    scopes = changes.get("scopes", {})
    if any(scope != Scope.NONE and role.scope_for(resource) != scope
           for resource, scope in scopes.items()):
        return True
    return any(FieldAccess(level).rank > role.access_to(key).rank
               for key, level in changes.get("field_policies", {}).items())


def require_role_manager(actor: Actor, event: Event, object_ids=()) -> None:
    """Refuse (audited, 403) an actor who may not manage roles."""
    if not actor.is_operator and not has_permission(actor.user, MANAGE):
        deny(actor, event, Role, object_ids, "not_permitted")


def _role_or_404(actor: Actor, role_id, event: Event) -> Role:
    raw = str(role_id)
    role = Role.objects.filter(pk=int(raw)).first() if raw.isascii() and raw.isdigit() \
        and len(raw) < 19 else None
    if role is None:
        deny(actor, event, Role, [role_id], "not_visible")
    return role


def _check_someone_keeps_manage(role: Role) -> None:
    """Refuse a change that would leave no active user able to manage roles (a lock-out only
    the shell operator could undo)."""
    others = [r.pk for r in Role.objects.exclude(pk=role.pk) if MANAGE in r.permissions]
    keeper = get_user_model().objects.filter(is_active=True, roles__in=others).exists()
    if not keeper:
        raise ValidationError({"permissions": _(
            "No other active user would keep the permission to manage roles. Give it to "
            "someone else first.")})


# --- actions -----------------------------------------------------------------------------------


def create_role(actor: Actor, *, code: str, name: str, permissions: list,
                scopes: dict | None = None, field_policies: dict | None = None,
                mfa_required: bool = True, passkey_required: bool = False,
                ip_allowlist: list | None = None) -> Role:
    """Add a role. Resources left out of ``scopes`` reach no records; classified fields left
    out of ``field_policies`` stay hidden."""
    require_role_manager(actor, Event.ROLE_CREATE)
    require_step_up(actor, Event.ROLE_CREATE, Role)
    data = _normalised({"name": name, "permissions": permissions, "scopes": scopes or {},
                        "field_policies": field_policies or {}, "mfa_required": mfa_required,
                        "passkey_required": passkey_required,
                        "ip_allowlist": ip_allowlist or []})
    role = Role(code=code, **data)
    role.full_clean(exclude=_MAY_BE_EMPTY)
    with transaction.atomic():
        role.save(force_insert=True)
        record(actor, Event.ROLE_CREATE, object_type="role", object_ids=[role.pk],
               fields=["code", *EDITABLE], detail=clear_change({}, role_state(role)))
    return role


def update_role(actor: Actor, role_id, *, changes: dict, version: int | None = None) -> Role:
    """Change a role's name, permissions, scopes or field policies.

    ``version`` is the ``state_tag`` the edit started from (None: last write wins). The code
    never changes (users and the shipped labels refer to it); a shipped role keeps its
    translated name but everything it grants is editable.
    """
    require_role_manager(actor, Event.ROLE_UPDATE, [role_id])
    check_fields(Role, changes, EDITABLE)
    current = _role_or_404(actor, role_id, Event.ROLE_UPDATE)
    require_step_up(actor, Event.ROLE_UPDATE, Role, [current.pk])
    changes = _normalised(changes)
    if not actor.is_operator and current in roles_of(actor.user) and _widens(current, changes):
        # Nobody widens a role they hold: an administrator would otherwise hand themselves
        # customer data. Another role manager (or the shell operator) may.
        deny(actor, Event.ROLE_UPDATE, Role, [role_id], "self_escalation",
             message=_("You cannot widen a role you hold yourself; ask another administrator."))
    with transaction.atomic():
        # Every role is locked, in one order: the lock-out check below reads them all, and two
        # administrators taking role.manage from two roles at once must not both pass it.
        locked = {r.pk: r for r in Role.objects.select_for_update().order_by("pk")}
        role = locked.get(int(role_id))
        if role is None:  # deleted since the check above
            raise NotVisible()
        if version is not None and state_tag(role) != version:
            raise StaleVersion(state_tag(role))
        if is_shipped(role) and changes.get("name", role.name) != role.name:
            raise ValidationError({"name": _("A shipped role keeps its translated name.")})
        before = role_state(role)
        for name, value in changes.items():
            setattr(role, name, value)
        role.full_clean(exclude=_MAY_BE_EMPTY)
        if MANAGE in before["permissions"] and MANAGE not in role.permissions:
            _check_someone_keeps_manage(role)
        after = role_state(role)
        changed = [name for name in EDITABLE if before[name] != after[name]]
        if changed:
            role.save(update_fields=changed)
        record(actor, Event.ROLE_UPDATE, object_type="role", object_ids=[role.pk],
               fields=changed, detail=clear_change(before, after))
    return role


def delete_role(actor: Actor, role_id) -> None:
    """Delete a role nobody holds. Shipped roles stay (they can be edited instead)."""
    require_role_manager(actor, Event.ROLE_DELETE, [role_id])
    _role_or_404(actor, role_id, Event.ROLE_DELETE)
    require_step_up(actor, Event.ROLE_DELETE, Role, [role_id])
    with transaction.atomic():
        role = Role.objects.select_for_update().filter(pk=int(role_id)).first()
        if role is None:  # deleted since the check above
            raise NotVisible()
        if is_shipped(role):
            raise ValidationError(_("A shipped role cannot be deleted; change what it grants "
                                    "instead."))
        holders = role.users.count()
        if holders:
            raise ValidationError(ngettext(
                "%(count)d user holds this role. Take it from them first.",
                "%(count)d users hold this role. Take it from them first.", holders)
                % {"count": holders})
        record(actor, Event.ROLE_DELETE, object_type="role", object_ids=[role.pk],
               fields=["code", *EDITABLE], detail=clear_change(role_state(role), {}))
        role.delete()
