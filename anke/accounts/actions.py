"""Domain actions for users, departments, regions and API tokens."""

import secrets
from datetime import timedelta

from allauth.usersessions.models import UserSession
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from anke.access.catalogue import PERMISSIONS, Scope
from anke.access.guarded import check_fields, deny, require_step_up
from anke.access.models import Role
from anke.access.policy import (
    CustomerFacts,
    FieldPolicy,
    forget_roles,
    has_permission,
    roles_of,
)
from anke.accounts.models import ApiToken, Department, Region
from anke.accounts.networks import loosens, parse_allowlist
from anke.audit.catalogue import Event
from anke.audit.recorder import clear_change, record
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
        user.pending_roles = found  # the password's minimum length depends on them
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


def create_api_token(actor: Actor, user, *, name: str, expires_days: int = 90,
                     scope: str = ApiToken.Scope.READ):
    """Issue a personal token for ``user``; returns ``(token, secret)``. The secret is shown
    once and only its SHA-256 is stored. Only a session that has shown a second factor (or the
    shell operator) may: a stolen password alone must not turn into a long-lived token."""
    if not actor.is_operator and actor.user.pk != user.pk:
        deny(actor, Event.TOKEN_CREATE, ApiToken, [], "not_permitted")
    if not actor.is_operator and not actor.second_factor:
        deny(actor, Event.TOKEN_CREATE, ApiToken, [], "second_factor_required",
             message=_("Set up two-factor authentication, and sign in with it, before creating "
                       "API tokens."))
    require_step_up(actor, Event.TOKEN_CREATE, ApiToken)
    if scope not in ApiToken.Scope.values:
        raise ValidationError({"scope": _("Choose read or write.")})
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
            expires_at=timezone.now() + timedelta(days=expires_days), scope=scope,
        )
        record(actor, Event.TOKEN_CREATE, object_type="apitoken", object_ids=[token.pk],
               fields=["name", "expires_at", "scope"])
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


# --- user administration and off-boarding -------------------------------------------------------

USER_FIELDS = ("display_name", "department", "region", "manager", "roles", "ip_allowlist")
# Holding either of these is what lets someone fix everyone else's access: the last active
# holder keeps them.
GUARDED_PERMISSIONS = ("user.manage", "role.manage")
# Listed by the action so a caller sending them learns they are refused, not silently ignored.
NEVER_SETTABLE = ("is_active", "is_staff", "is_superuser", "password", "username", "email",
                  "last_login", "date_joined", "groups", "user_permissions")


def change_password(actor: Actor, user, password: str) -> None:
    """Set a user's own new password (the form that asked for it validated it). Every other
    session of theirs ends with it: Django ties a session to the password it was opened with."""
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        record(actor, Event.PASSWORD_CHANGE, object_type="user", object_ids=[user.pk],
               fields=["password"])


def require_user_manager(actor: Actor, event: Event, user_id=None) -> None:
    """``user.manage`` (or the shell operator), else an audited 403 naming the target. Edges
    call it before they validate input too, so a refusal is a 403 whatever was sent."""
    if not actor.is_operator and not has_permission(actor.user, "user.manage"):
        pk = _as_pk(user_id)
        deny(actor, event, get_user_model(), [] if pk is None else [pk], "not_permitted")


def _as_pk(value) -> int | None:
    raw = str(getattr(value, "pk", value))
    # ASCII digits only: "²".isdigit() is true and int() refuses it.
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None


def _target(actor: Actor, user_id, event: Event):
    """The user ``user_id`` or an audited 404."""
    pk = _as_pk(user_id)
    user = get_user_model().objects.select_related("department", "region").filter(
        pk=pk).first() if pk is not None else None
    if user is None:
        deny(actor, event, get_user_model(), [user_id] if pk is not None else [], "not_visible")
    return user


def _snapshot(user, roles) -> dict:
    """A user's assignments as the trail keeps them: ids and sorted role codes."""
    return {"display_name": user.display_name, "department": user.department_id,
            "region": user.region_id, "manager": user.manager_id,
            "roles": sorted(role.code for role in roles), "ip_allowlist": list(user.ip_allowlist)}


def _resolve(model, value, field: str, message: str):
    if value is None or value == "":
        return None
    if isinstance(value, model):
        return value
    pk = _as_pk(value)
    found = model.objects.filter(pk=pk).first() if pk is not None else None
    if found is None:
        raise ValidationError({field: message})
    return found


def _check_manager(user, manager) -> None:
    """A manager is someone else, and no chain of managers may lead back to the user."""
    if manager is None:
        return
    if manager.pk == user.pk:
        raise ValidationError({"manager": _("A user cannot be their own manager.")})
    seen, current = {manager.pk}, manager.manager_id
    User = get_user_model()
    while current is not None and current not in seen:
        if current == user.pk:
            raise ValidationError({"manager": _(
                "This would make a circle of managers: %(name)s reports to this user "
                "already.") % {"name": str(manager)}})
        seen.add(current)
        current = User.objects.filter(pk=current).values_list("manager_id", flat=True).first()


def _holder_roles(permission: str) -> list[int]:
    return [role.pk for role in Role.objects.all() if permission in (role.permissions or [])]


def _check_not_last_holder(user, remaining_roles, *, leaving: bool) -> None:
    """Refuse to leave no active user holding ``user.manage`` or ``role.manage`` (by role:
    temporary grants run out). Runs inside the transaction after locking the holders, so two
    administrators demoting each other at once cannot both succeed."""
    if not user.is_active:
        return  # an inactive user holds nothing
    User = get_user_model()
    for permission in GUARDED_PERMISSIONS:
        role_ids = _holder_roles(permission)
        if not user.roles.filter(pk__in=role_ids).exists():
            continue  # the user does not hold it now: nothing is lost
        if not leaving and any(role.pk in role_ids for role in remaining_roles):
            continue
        holders = User.objects.filter(is_active=True, roles__in=role_ids).distinct()
        list(User.objects.select_for_update().filter(pk__in=holders.values("pk"))
             .order_by("pk").values_list("pk", flat=True))
        if not holders.exclude(pk=user.pk).exists():
            raise ValidationError({"roles" if not leaving else "user": _(
                "%(name)s is the last active user who may %(right)s. Give that right to "
                "someone else first, or nobody could manage access any more.") % {
                "name": str(user), "right": str(PERMISSIONS[permission]).lower()}})


def update_user(actor: Actor, user_id, *, changes: dict):
    """Change a user's display name, department, region, manager, roles (role codes) or IP
    allowlist.

    ``is_active`` changes only through :func:`deactivate_user` and :func:`reactivate_user`;
    names in ``NEVER_SETTABLE`` (and anything else unknown) are refused. Administrators may drop
    their own roles but not add to them: another administrator must, so nobody hands themselves
    customer data. The event carries the before/after of what changed.
    """
    require_user_manager(actor, Event.USER_UPDATE, user_id)
    user = _target(actor, user_id, Event.USER_UPDATE)
    require_step_up(actor, Event.USER_UPDATE, type(user), [user.pk])
    changes = dict(changes)
    check_fields(type(user), changes, USER_FIELDS)
    values = {}
    if "display_name" in changes:
        values["display_name"] = str(changes["display_name"] or "").strip()
    if "department" in changes:
        values["department"] = _resolve(Department, changes["department"], "department",
                                        _("Choose an existing department."))
    if "region" in changes:
        values["region"] = _resolve(Region, changes["region"], "region",
                                    _("Choose an existing region."))
    if "manager" in changes:
        manager = _resolve(type(user), changes["manager"], "manager", _("Choose a user."))
        if manager is not None and manager.pk != user.manager_id and not manager.is_active:
            raise ValidationError({"manager": _("Choose an active user.")})
        _check_manager(user, manager)
        values["manager"] = manager
    if "ip_allowlist" in changes:
        values["ip_allowlist"] = parse_allowlist(changes["ip_allowlist"])
        if (not actor.is_operator and actor.user.pk == user.pk
                and loosens(user.ip_allowlist, values["ip_allowlist"])):
            deny(actor, Event.USER_UPDATE, type(user), [user.pk], "self_escalation",
                 fields=["ip_allowlist"],
                 message=_("You cannot let yourself in from more networks. Ask another "
                           "administrator."))
    current_roles = list(user.roles.all())
    roles = current_roles
    if "roles" in changes:
        codes = changes["roles"]
        if not isinstance(codes, list | tuple) or not all(isinstance(c, str) for c in codes):
            raise ValidationError({"roles": _("Give a list of role codes.")})
        roles = list(Role.objects.filter(code__in=codes))
        if missing := sorted(set(codes) - {r.code for r in roles}):
            raise ValidationError({"roles": _("Unknown role: %(codes)s")
                                   % {"codes": ", ".join(missing)}})
        added = {r.pk for r in roles} - {r.pk for r in current_roles}
        if added and not actor.is_operator and actor.user.pk == user.pk:
            deny(actor, Event.USER_UPDATE, type(user), [user.pk], "self_escalation",
                 message=_("You cannot give yourself a role. Ask another administrator."))
    # A department or region is what department and region scopes reach: moving oneself into
    # another would widen one's own access as surely as a new role (leaving one narrows it).
    moved = {name for name in ("department", "region")
             if values.get(name) is not None and values[name].pk != getattr(user, f"{name}_id")}
    if moved and not actor.is_operator and actor.user.pk == user.pk:
        deny(actor, Event.USER_UPDATE, type(user), [user.pk], "self_escalation",
             fields=sorted(moved),
             message=_("You cannot move yourself to another department or region. Ask another "
                       "administrator."))
    before = _snapshot(user, current_roles)
    with transaction.atomic():
        user = type(user).objects.select_for_update().get(pk=user.pk)
        for name, value in values.items():
            setattr(user, name, value)
        user.full_clean(exclude=["password", "username"], validate_unique=False)
        if "roles" in changes:
            _check_not_last_holder(user, roles, leaving=False)
        after = _snapshot(user, roles)
        changed = sorted(name for name in after if after[name] != before[name])
        if update_fields := [name for name in changed if name != "roles"]:
            user.save(update_fields=update_fields)
        if "roles" in changed:
            user.roles.set(roles)
        forget_roles(user)
        record(actor, Event.USER_UPDATE, object_type="user", object_ids=[user.pk],
               fields=changed, detail=clear_change(
                   {name: before[name] for name in changed},
                   {name: after[name] for name in changed}))
    return user


def may_own_customers(user) -> bool:
    """Whether ``user`` can be given customers: may create them, or holds a role that
    reaches customers at all. (Roles are read fresh: the answer decides a handover.)"""
    if not user.is_active:
        return False
    forget_roles(user)
    return has_permission(user, "customer.create") or any(
        "customer.view" in role.permissions and role.scope_for("customer") != Scope.NONE
        for role in roles_of(user))


def successor_candidates(user):
    """Active users other than ``user`` who may take over their customers."""
    role_ids = [role.pk for role in Role.objects.all()
                if "customer.create" in role.permissions
                or ("customer.view" in role.permissions
                    and role.scope_for("customer") != Scope.NONE)]
    return (get_user_model().objects.filter(is_active=True, roles__in=role_ids)
            .exclude(pk=user.pk).distinct().select_related("department").order_by("username"))


def _open_work(user) -> dict:
    """Querysets of what a departing user hands over: customers they own, their open deals,
    tasks not done and tickets not resolved or closed."""
    Customer = apps.get_model("customers", "Customer")
    Deal = apps.get_model("sales", "Deal")
    Task = apps.get_model("sales", "Task")
    Ticket = apps.get_model("service", "Ticket")
    return {
        "customers": Customer.objects.filter(owner_id=user.pk),
        "deals": Deal.objects.filter(owner_id=user.pk, stage__is_won=False,
                                     stage__is_lost=False),
        "tasks": Task.objects.filter(assignee_id=user.pk, done=False),
        "tickets": Ticket.objects.filter(assignee_id=user.pk).exclude(
            status__in=[Ticket.Status.RESOLVED, Ticket.Status.CLOSED]),
    }


def handover_counts(user) -> dict[str, int]:
    """How many customers, open deals, open tasks and open tickets would move."""
    return {name: queryset.count() for name, queryset in _open_work(user).items()}


def _end_sessions(user) -> int:
    """End every session of ``user`` (allauth's session list knows them by user); returns how
    many. Deactivation alone already locks the user out, since the authentication backend
    refuses inactive users on every request; this deletes the sessions for good."""
    sessions = list(UserSession.objects.filter(user_id=user.pk))
    for session in sessions:
        session.end()
    return len(sessions)


BATCH = 900  # ids per UPDATE … WHERE id IN (…): under SQLite's old 999-variable limit


def _move_customers(user, successor, now) -> list:
    """Give every customer of ``user`` to ``successor`` in batched UPDATEs; the customers'
    department and region follow the new owner (as in ``customers.actions.update_customer``),
    and their version moves on so an edit started before the handover gets a 409."""
    customers = _open_work(user)["customers"]
    moved = []
    while ids := list(customers.select_for_update().order_by("pk").values_list("pk", flat=True)):
        for start in range(0, len(ids), BATCH):
            customers.model.objects.filter(pk__in=ids[start:start + BATCH]).update(
                owner_id=successor.pk, department_id=successor.department_id,
                region_id=successor.region_id, version=F("version") + 1, updated_at=now)
        moved += ids  # a customer given to the user meanwhile is caught by the next pass
    return moved


def _check_reach(user, successor, work: dict) -> None:
    """The successor must be able to edit every deal, task and ticket they take over: one
    handed to someone outside its customer's scope could never be opened. Checked before
    anything is written. Records of customers that move with the handover are judged as they
    will be: owned by the successor, in the successor's department and region."""
    moved = CustomerFacts(None, successor.pk, successor.department_id, successor.region_id)
    for kind in ("deals", "tasks", "tickets"):
        model = work[kind].model
        permission = f"{model.objects.get_queryset().resource}.edit"
        policy = FieldPolicy(successor, permission, model)
        outside = work[kind].exclude(
            pk__in=model.objects.visible_to(successor, "edit").values("pk"))
        if policy.reaches(moved):
            outside = outside.exclude(customer__owner_id=user.pk)
        if count := outside.count():
            raise ValidationError({"successor": _(
                "%(name)s cannot work on %(count)d of the %(kind)s to hand over. Choose "
                "someone whose role reaches those customers.") % {
                "name": str(successor), "count": count, "kind": HANDOVER_LABELS[kind]}})


HANDOVER_LABELS = {"customers": gettext_lazy("customers"), "deals": gettext_lazy("open deals"),
                   "tasks": gettext_lazy("open tasks"), "tickets": gettext_lazy("open tickets")}


def deactivate_user(actor: Actor, user_id, *, successor_id) -> dict:
    """Off-board a user in one transaction: deactivate them, revoke their API tokens, end their
    sessions and hand their customers, open deals, open tasks and open tickets to
    ``successor_id``. Returns what moved, by kind.

    The successor must be active, someone else and able to own customers; the successor may be
    left out only when there is nothing to hand over. Nobody deactivates themselves, and the
    last active holder of ``user.manage`` / ``role.manage`` stays.
    """
    require_user_manager(actor, Event.USER_DEACTIVATE, user_id)
    user = _target(actor, user_id, Event.USER_DEACTIVATE)
    require_step_up(actor, Event.USER_DEACTIVATE, type(user), [user.pk])
    if not actor.is_operator and actor.user.pk == user.pk:
        raise ValidationError({"user": _("You cannot deactivate yourself. Ask another "
                                         "administrator.")})
    if not user.is_active:
        raise ValidationError({"user": _("This user is deactivated already.")})
    successor = None
    if successor_id not in (None, ""):
        successor = _resolve(type(user), successor_id, "successor", _("Choose a user."))
        if successor.pk == user.pk:
            raise ValidationError({"successor": _("Choose someone other than the user who "
                                                  "leaves.")})
        if not may_own_customers(successor):
            raise ValidationError({"successor": _(
                "Choose an active user who may own customers (%(name)s may not).")
                % {"name": str(successor)}})
    now = timezone.now()
    with transaction.atomic():
        user = type(user).objects.select_for_update().get(pk=user.pk)
        if not user.is_active:
            raise ValidationError({"user": _("This user is deactivated already.")})
        _check_not_last_holder(user, [], leaving=True)
        work = _open_work(user)
        if successor is None and any(queryset.exists() for queryset in work.values()):
            raise ValidationError({"successor": _(
                "Choose who takes over this user's customers, deals, tasks and tickets.")})
        if successor is not None:
            _check_reach(user, successor, work)
        user.is_active = False
        user.save(update_fields=["is_active"])
        forget_roles(user)
        tokens = ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
            revoked_at=now)
        sessions = _end_sessions(user)
        moved = {"customers": [], "deals": 0, "tasks": 0, "tickets": 0}
        if successor is not None:
            moved["customers"] = _move_customers(user, successor, now)
            moved["deals"] = work["deals"].update(owner_id=successor.pk,
                                                  version=F("version") + 1, updated_at=now)
            moved["tasks"] = work["tasks"].update(assignee_id=successor.pk,
                                                  version=F("version") + 1, updated_at=now)
            moved["tickets"] = work["tickets"].update(assignee_id=successor.pk,
                                                      version=F("version") + 1, updated_at=now)
        counts = {"customers": len(moved["customers"]), "deals": moved["deals"],
                  "tasks": moved["tasks"], "tickets": moved["tickets"],
                  "tokens_revoked": tokens, "sessions_ended": sessions}
        record(actor, Event.USER_DEACTIVATE, object_type="user", object_ids=[user.pk],
               fields=["is_active"], detail=clear_change(
                   {"is_active": True},
                   {"is_active": False, "successor": getattr(successor, "pk", None), **counts}))
        if moved["customers"]:
            record(actor, Event.CUSTOMER_REASSIGN, object_type="customer",
                   object_ids=moved["customers"], customers=moved["customers"],
                   fields=["owner", "department", "region"], reason="user.deactivate",
                   detail=clear_change({"owner": user.pk}, {"owner": successor.pk}))
    return {"successor": getattr(successor, "pk", None), **counts}


def reactivate_user(actor: Actor, user_id):
    """Let a deactivated user sign in again. Their revoked tokens stay revoked and what was
    handed over stays with the successor."""
    require_user_manager(actor, Event.USER_REACTIVATE, user_id)
    user = _target(actor, user_id, Event.USER_REACTIVATE)
    require_step_up(actor, Event.USER_REACTIVATE, type(user), [user.pk])
    with transaction.atomic():
        user = type(user).objects.select_for_update().get(pk=user.pk)
        if user.is_active:
            raise ValidationError({"user": _("This user is active already.")})
        user.is_active = True
        user.save(update_fields=["is_active"])
        forget_roles(user)
        record(actor, Event.USER_REACTIVATE, object_type="user", object_ids=[user.pk],
               fields=["is_active"],
               detail=clear_change({"is_active": False}, {"is_active": True}))
    return user
