"""Domain actions for users, departments, regions and API tokens."""

import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from anke.access.guarded import deny
from anke.access.models import Role
from anke.access.policy import has_permission
from anke.accounts.models import ApiToken, Department, Region
from anke.audit.catalogue import Event
from anke.audit.recorder import record
from anke.core.context import Actor

MAX_TOKEN_DAYS = 366


def _require_user_manager(actor: Actor, event: Event, model) -> None:
    if not actor.is_operator and not has_permission(actor.user, "user.manage"):
        deny(actor, event, model, [], "not_permitted")


def create_department(actor: Actor, *, name: str, parent: Department | None = None) -> Department:
    """Add a department under ``parent`` (or at the top); its path makes subtree scope cheap."""
    _require_user_manager(actor, Event.DEPARTMENT_CREATE, Department)
    with transaction.atomic():
        department = Department(name=name, parent=parent, path="")
        department.full_clean(exclude=["path"])
        department.save()
        department.path = f"{parent.path if parent else '/'}{department.pk}/"
        department.save(update_fields=["path"])
        record(actor, Event.DEPARTMENT_CREATE, object_type="department",
               object_ids=[department.pk], fields=["name", "parent"])
    return department


def create_region(actor: Actor, *, code: str, name: str) -> Region:
    _require_user_manager(actor, Event.REGION_CREATE, Region)
    with transaction.atomic():
        region = Region(code=code, name=name)
        region.full_clean()
        region.save()
        record(actor, Event.REGION_CREATE, object_type="region", object_ids=[region.pk],
               fields=["code", "name"])
    return region


def create_user(actor: Actor, *, username: str, password: str | None, roles: list[str],
                department: Department | None = None, region: Region | None = None,
                display_name: str = "", manager=None, check_password: bool = True):
    """Create a user holding the roles named by code. The password is validated unless a loader
    deliberately sets a known demo password."""
    User = get_user_model()
    _require_user_manager(actor, Event.USER_CREATE, User)
    found = list(Role.objects.filter(code__in=roles))
    if missing := sorted(set(roles) - {r.code for r in found}):
        message = _("Unknown role: %(codes)s") % {"codes": ", ".join(missing)}
        raise ValidationError({"roles": message})
    with transaction.atomic():
        user = User(username=username, display_name=display_name, department=department,
                    region=region, manager=manager)
        user.full_clean(exclude=["password"])
        if password:
            if check_password:
                validate_password(password, user)
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
        user.roles.set(found)
        record(actor, Event.USER_CREATE, object_type="user", object_ids=[user.pk],
               fields=["username", "display_name", "department", "region", "roles"])
    return user


def create_api_token(actor: Actor, user, *, name: str, expires_days: int = 90):
    """Issue a personal token for ``user``; returns ``(token, secret)``. The secret is shown
    once and only its SHA-256 is stored."""
    if not actor.is_operator and actor.user.pk != user.pk:
        deny(actor, Event.TOKEN_CREATE, ApiToken, [], "not_permitted")
    if not 1 <= expires_days <= MAX_TOKEN_DAYS:
        raise ValidationError({"expires_days": _("A token lives from 1 to %(max)d days.")
                               % {"max": MAX_TOKEN_DAYS}})
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError({"name": _("Give the token a name of up to 100 characters.")})
    if not user.is_active:
        raise ValidationError({"user": _("This user is deactivated.")})
    secret = ApiToken.PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user, name=name, digest=ApiToken.digest_of(secret), hint=secret[:12],
            expires_at=timezone.now() + timedelta(days=expires_days),
        )
        record(actor, Event.TOKEN_CREATE, object_type="apitoken", object_ids=[token.pk],
               fields=["name", "expires_at"])
    return token, secret


def revoke_api_token(actor: Actor, token_id) -> ApiToken:
    """Revoke a token: its owner may revoke their own; the operator may revoke any."""
    tokens = ApiToken.objects.all() if actor.is_operator else ApiToken.objects.filter(
        user_id=getattr(actor.user, "pk", None))
    raw = str(token_id)
    token = tokens.filter(pk=int(raw)).first() if raw.isascii() and raw.isdigit() else None
    if token is None:
        deny(actor, Event.TOKEN_REVOKE, ApiToken, [token_id], "not_visible")
    with transaction.atomic():
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
        record(actor, Event.TOKEN_REVOKE, object_type="apitoken", object_ids=[token.pk])
    return token
