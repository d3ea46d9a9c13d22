"""Temporary grants and break-glass: extra access for one user, for a while, audited.

A grant adds permissions to one user until it expires (``Grant.objects.active()`` ignores it
from then on: nothing has to run for it to end). Whoever grants may pass on only what their own
roles give them (what a grant gave them is not theirs to hand on), on customers they can reach
with that permission, with field access no stronger than their own, for at most
``ANKE_GRANT_MAX_DAYS``. Break-glass is the one exception: a holder of ``grant.break_glass``
takes read access to named customers, outside their scope, for at most
``ANKE_BREAK_GLASS_MAX_MINUTES``; each use is an alert event and a warning on ``anke.alerts``.

Refusals are audited (outside the transaction) and raise ``ActionDenied`` (403) or
``NotVisible`` (404); bad input raises ``ValidationError`` and changes nothing.
"""

import logging
import uuid
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from anke.access.catalogue import (
    CUSTOMER_DATA_RESOURCES,
    PERMISSIONS,
    FieldAccess,
    Scope,
    field_key,
    strongest,
)
from anke.access.guarded import deny, require_step_up
from anke.access.models import Grant
from anke.access.policy import (
    CustomerFacts,
    FieldPolicy,
    classified_fields,
    forget_roles,
    has_permission,
    resource_of,
    roles_of,
    scope_q,
)
from anke.audit.catalogue import Event
from anke.audit.recorder import clear_change, record
from anke.core.context import Actor
from anke.core.fields import personal_data_fields

alerts = logging.getLogger("anke.alerts")

# Rights over rights are never lent: a grant cannot hand out grants, roles or users, so nothing
# given temporarily can make itself permanent or outlive the grant it came from.
NOT_GRANTABLE = frozenset({"grant.approve", "grant.break_glass", "user.manage", "role.manage"})
BREAK_GLASS_PERMISSIONS = tuple(f"{resource}.view" for resource in CUSTOMER_DATA_RESOURCES)
BREAK_GLASS_MIN_REASON = 15
MAX_BREAK_GLASS_CUSTOMERS = 20
MAX_LISTED_CUSTOMERS = 500
MAX_REASON = 500
GRANT_FIELDS = ["user", "permissions", "scope", "customers", "field_access", "reason",
                "starts_at", "expires_at"]


# --- what a user may hand on --------------------------------------------------------------------


def grantable_permissions(user) -> list[str]:
    """The permissions ``user``'s roles hold that a grant may carry, in catalogue order."""
    held = {p for role in roles_of(user) for p in role.permissions}
    return [p for p in PERMISSIONS if p in held and p not in NOT_GRANTABLE]


def role_scopes(user, permission: str) -> set[Scope]:
    """The record scopes of ``user``'s roles that hold ``permission``."""
    resource = resource_of(permission)
    return {role.scope_for(resource) for role in roles_of(user) if permission in role.permissions}


def field_access_ceiling(user, permissions: Iterable[str], *, customer_ids=(),
                         scope: str = "") -> FieldAccess:
    """The strongest field access a grant of ``permissions`` from ``user`` may carry.

    A grant gives one level to every classified field of the records it covers, so it may not
    exceed what the grantor's own roles give on any of those fields for those records: for
    listed customers, the levels of the roles that reach each one (a team lead who is also a
    service agent sees other teams' customers masked, so may lend them no more than masked);
    for a scope, the roles reaching that scope; with neither, what every role gives. What a
    grant gave the grantor never counts. Resources without classified fields set no limit.
    """
    facts = [CustomerFacts(*row) for row in customer_model().objects.filter(
        pk__in=list(customer_ids)).values_list("pk", "owner_id", "department_id", "region_id")]
    ceiling = FieldAccess.EDIT
    for permission in set(permissions):
        resource = resource_of(permission)
        roles = [role for role in roles_of(user) if permission in role.permissions]
        for model in {f.model for f in personal_data_fields()
                      if f.model.objects.get_queryset().resource == resource}:
            if facts:
                policy = FieldPolicy(user, permission, model, with_grants=False)
                levels = [level for fact in facts for level in policy.levels(fact).values()]
            else:
                keys = [field_key(f) for f in classified_fields(model)]
                in_scope = [role for role in roles
                            if scope and role.scope_for(resource) in (Scope.ALL, Scope(scope))]
                # For a scope, the roles reaching it together; otherwise every role on its own.
                groups = [in_scope] if in_scope else [[role] for role in roles] or [[]]
                levels = [strongest(role.access_to(key) for role in group)
                          for group in groups for key in keys]
            ceiling = min([ceiling, *levels], key=lambda level: level.rank)
    return ceiling


def grantable_scopes(user, permissions: Iterable[str]) -> list[Scope]:
    """Scopes some role of ``user`` reaches for every one of ``permissions`` (the grantee's
    own department or region must still lie inside the grantor's: see ``_scope_covers``)."""
    data = [p for p in permissions if resource_of(p) in CUSTOMER_DATA_RESOURCES]
    offered = []
    for scope in (Scope.OWN, Scope.DEPARTMENT, Scope.REGION, Scope.ALL):
        if data and all(_scope_rank_ok(role_scopes(user, p), scope) for p in data):
            offered.append(scope)
    return offered


def _scope_rank_ok(held: set, scope: Scope) -> bool:
    if Scope.ALL in held:
        return True
    if scope == Scope.OWN:
        return bool(held & {Scope.OWN, Scope.DEPARTMENT, Scope.REGION})
    return scope in held and scope != Scope.ALL


def role_reach(user, permission: str) -> Q | None:
    """``scope_q`` of ``user``'s roles alone: customers reached only through a grant of their
    own (break-glass included) are not theirs to lend on for longer than it lasts."""
    return scope_q(user, permission, "", with_grants=False)


def _scope_covers(grantor, grantee, scope: Scope, permission: str) -> bool:
    """Whether every customer ``scope`` reaches for ``grantee`` is one ``grantor``'s roles
    reach with ``permission``: a department grant must fall inside the grantor's own
    department subtree, a region grant in the grantor's region."""
    held = role_scopes(grantor, permission)
    if not _scope_rank_ok(held, scope):
        return False
    if Scope.ALL in held:
        return True
    if scope == Scope.DEPARTMENT:
        return bool(grantee.department_id and grantor.department_id
                    and grantee.department.path.startswith(grantor.department.path))
    if scope == Scope.REGION:
        return bool(grantee.region_id and grantee.region_id == grantor.region_id)
    # Own: the grantee's customers today must all be ones the grantor reaches.
    q = role_reach(grantor, permission)
    theirs = customer_model().objects.filter(owner_id=grantee.pk)
    return not (theirs.exclude(q) if q is not None else theirs).exists()


# --- listing ------------------------------------------------------------------------------------


def sees_all_grants(user) -> bool:
    return has_permission(user, "grant.approve") or has_permission(user, "user.manage")


def grants_visible_to(user) -> QuerySet:
    """The grants ``user`` may list and revoke: every grant for approvers and user managers,
    else the ones they gave or hold."""
    grants = Grant.objects.select_related("user", "granted_by", "revoked_by")
    if sees_all_grants(user):
        return grants
    return grants.filter(Q(granted_by_id=user.pk) | Q(user_id=user.pk))


def grants_given_by(user) -> QuerySet:
    return Grant.objects.filter(granted_by_id=user.pk).select_related("user", "revoked_by")


def grants_held_by(user) -> QuerySet:
    return Grant.objects.filter(user_id=user.pk).select_related("granted_by", "revoked_by")


def customer_ids_by_grant(grant_ids: Iterable) -> dict:
    """Grant id → the customer ids it lists, in one query."""
    listed: dict = {}
    rows = Grant.customers.through.objects.filter(grant_id__in=list(grant_ids))
    for grant_id, customer_id in rows.values_list("grant_id", "customer_id"):
        listed.setdefault(grant_id, []).append(customer_id)
    return listed


# --- validation helpers -------------------------------------------------------------------------


def customer_model():
    """The customer model, by the grant's relation (access sits below the customer app)."""
    return Grant._meta.get_field("customers").related_model


def parse_customer_ids(values: Iterable, field: str = "customer_ids") -> list[uuid.UUID]:
    """Distinct customer ids in the order given; anything not a UUID is a field error."""
    ids: dict = {}
    for value in values:
        try:
            ids[uuid.UUID(str(value).strip())] = None
        except ValueError:
            raise ValidationError({field: _("Give customer ids (UUIDs), one per line.")}) \
                from None
    return list(ids)


def _reason(reason, minimum: int = 1) -> str:
    reason = (reason or "").strip()
    if len(reason) < minimum:
        message = (_("Give a reason of at least %(count)d characters.") % {"count": minimum}
                   if minimum > 1 else _("Give a reason."))
        raise ValidationError({"reason": message})
    if len(reason) > MAX_REASON:
        raise ValidationError({"reason": _("Keep the reason under %(count)d characters.")
                               % {"count": MAX_REASON}})
    return reason


def _aware(value):
    if value is not None and timezone.is_naive(value):
        return timezone.make_aware(value)
    return value


def _grantee(user_id):
    User = get_user_model()
    raw = str(user_id)
    grantee = (User.objects.select_related("department").filter(pk=int(raw)).first()
               if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None)
    if grantee is None or not grantee.is_active:
        raise ValidationError({"user_id": _("Choose an active user.")})
    return grantee


def _period(starts_at, expires_at, now):
    starts_at = max(_aware(starts_at) or now, now)  # a grant never starts in the past
    expires_at = _aware(expires_at)
    if expires_at is None or expires_at <= starts_at:
        raise ValidationError({"expires_at": _("The grant must end in the future, after it "
                                               "starts.")})
    limit = now + timedelta(days=settings.ANKE_GRANT_MAX_DAYS)
    if expires_at > limit:
        raise ValidationError({"expires_at": _("A grant lasts at most %(days)d days.")
                               % {"days": settings.ANKE_GRANT_MAX_DAYS}})
    return starts_at, expires_at


# --- actions ------------------------------------------------------------------------------------


def grant_access(actor: Actor, *, user_id, permissions: Iterable[str], customer_ids=(),
                 scope: str = "", field_access: str, reason: str, expires_at,
                 starts_at=None) -> Grant:
    """Give ``user_id`` ``permissions`` on the listed customers (or, with ``scope``, on the
    customers that scope reaches for them) until ``expires_at``.

    Needs ``grant.approve``. Passing on more than one's own roles hold is refused (403,
    audited); so is a customer the grantor cannot reach with the permission (404 when they
    cannot see it at all).
    """
    event = Event.GRANT_CREATE
    user = actor.user
    if not has_permission(user, "grant.approve"):
        deny(actor, event, Grant, [], "not_permitted")
    require_step_up(actor, event, Grant)
    now = timezone.now()
    permissions = list(dict.fromkeys(permissions or []))
    if not permissions or any(p not in PERMISSIONS for p in permissions):
        raise ValidationError({"permissions": _("Choose permissions from the catalogue.")})
    if field_access not in FieldAccess.values:
        raise ValidationError({"field_access": _("Choose a field access level.")})
    if scope and scope not in (Scope.OWN, Scope.DEPARTMENT, Scope.REGION, Scope.ALL):
        raise ValidationError({"scope": _("Choose a record scope or leave it empty.")})
    customers = parse_customer_ids(customer_ids)
    data_permissions = [p for p in permissions if resource_of(p) in CUSTOMER_DATA_RESOURCES]
    if data_permissions and not (scope or customers):
        raise ValidationError({"customer_ids": _("List customers or choose a scope.")})
    if scope and customers:
        raise ValidationError({"scope": _("List customers or choose a scope, not both.")})
    if not data_permissions and (scope or customers):
        raise ValidationError({"permissions": _("These permissions are not about customers: "
                                                "list no customers and choose no scope.")})
    if len(customers) > MAX_LISTED_CUSTOMERS:
        raise ValidationError({"customer_ids": _("List at most %(count)d customers.")
                               % {"count": MAX_LISTED_CUSTOMERS}})
    reason = _reason(reason)
    starts_at, expires_at = _period(starts_at, expires_at, now)
    grantee = _grantee(user_id)

    if grantee.pk == user.pk:
        deny(actor, event, Grant, [], "self_grant",
             message=_("You cannot grant access to yourself; use break-glass in an emergency."))
    grantable = set(grantable_permissions(user))
    if not set(permissions) <= grantable:
        deny(actor, event, Grant, [], "permission_not_held",
             message=_("You can grant only permissions your own roles give you."))
    if scope and not all(_scope_covers(user, grantee, Scope(scope), p) for p in data_permissions):
        deny(actor, event, Grant, [], "scope_not_held",
             message=_("You cannot grant a scope wider than your own reaches for this user."))
    if customers:
        _check_customers(actor, event, customers, data_permissions)
    if data_permissions and (FieldAccess(field_access).rank > field_access_ceiling(
            user, data_permissions, customer_ids=customers, scope=scope).rank):
        deny(actor, event, Grant, [], "field_access_not_held",
             message=_("You cannot grant field access stronger than your own."))

    with transaction.atomic():
        grant = Grant(user=grantee, granted_by=user, permissions=permissions, scope=scope,
                      field_access=field_access, reason=reason, starts_at=starts_at,
                      expires_at=expires_at)
        grant.full_clean()
        grant.save()
        grant.customers.set(customers)
        record(actor, event, object_type="grant", object_ids=[grant.pk], fields=GRANT_FIELDS,
               reason=reason, customers=customers, detail=clear_change({}, _summary(grant,
                                                                                   customers)))
    forget_roles(grantee)
    return grant


def _check_customers(actor: Actor, event: Event, customers: list, permissions: list) -> None:
    """Every listed customer must be visible to the grantor (else 404, naming none of them to
    the caller) and within their roles' scope for each permission (else 403)."""
    user, Customer = actor.user, customer_model()
    visible = set(Customer.objects.visible_to(user, "view").filter(pk__in=customers)
                  .values_list("pk", flat=True))
    if unseen := [c for c in customers if c not in visible]:
        deny(actor, event, Customer, unseen, "not_visible")
    for permission in permissions:
        q = role_reach(user, permission)
        reachable = set() if q is None else set(
            Customer.objects.filter(q, pk__in=customers).values_list("pk", flat=True))
        if outside := [c for c in customers if c not in reachable]:
            deny(actor, event, Customer, outside, "permission_not_held",
                 message=_("You can grant a permission only on customers your own roles let you "
                         "act on with it."))


def _summary(grant: Grant, customers: list) -> dict:
    return {"user": grant.user_id, "permissions": grant.permissions, "scope": grant.scope,
            "customers": len(customers), "field_access": grant.field_access,
            "break_glass": grant.break_glass, "starts_at": grant.starts_at.isoformat(),
            "expires_at": grant.expires_at.isoformat()}


def may_revoke(user, grant: Grant) -> bool:
    return (user is not None and user.is_active
            and (grant.granted_by_id == user.pk or grant.user_id == user.pk
                 or has_permission(user, "grant.approve")))


def revoke_grant(actor: Actor, grant_id, *, reason: str) -> Grant:
    """End a grant now. Its grantor, its holder and holders of ``grant.approve`` may; anyone
    else is told it does not exist (404, audited)."""
    event = Event.GRANT_REVOKE
    raw = str(grant_id)
    grant = (Grant.objects.filter(pk=int(raw)).first()
             if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None)
    if grant is None or not may_revoke(actor.user, grant):
        deny(actor, event, Grant, [grant_id], "not_visible")
    require_step_up(actor, event, Grant, [grant.pk])
    reason = _reason(reason)
    with transaction.atomic():
        grant = Grant.objects.select_for_update().get(pk=grant.pk)
        if grant.revoked_at is not None:
            raise ValidationError({"grant": _("This grant is already revoked.")})
        end_grant(actor, grant, reason)
    if grant.user_id == getattr(actor.user, "pk", None):
        forget_roles(actor.user)
    return grant


def end_grant(actor: Actor, grant: Grant, reason: str) -> None:
    """Revoke ``grant`` inside the caller's transaction and record it."""
    grant.revoked_at = timezone.now()
    grant.revoked_by = actor.user
    grant.save(update_fields=["revoked_at", "revoked_by"])
    record(actor, Event.GRANT_REVOKE, object_type="grant", object_ids=[grant.pk],
           fields=["revoked_at", "revoked_by"], reason=reason,
           detail=clear_change({"revoked_at": None},
                               {"revoked_at": grant.revoked_at.isoformat()}))


def break_glass(actor: Actor, *, customer_ids, reason: str, minutes: int) -> Grant:
    """Take read access to the named customers (any customer: that is the point) for
    ``minutes``, with their classified fields in clear.

    Needs ``grant.break_glass`` and a reason of at least 15 characters. Records the alert
    event ``grant.break_glass`` and logs a warning on ``anke.alerts`` (ids and counts only).
    """
    event = Event.GRANT_BREAK_GLASS
    user = actor.user
    if not has_permission(user, "grant.break_glass"):
        deny(actor, event, Grant, [], "not_permitted")
    require_step_up(actor, event, Grant)
    customers = parse_customer_ids(customer_ids)
    if not customers:
        raise ValidationError({"customer_ids": _("Name at least one customer.")})
    if len(customers) > MAX_BREAK_GLASS_CUSTOMERS:
        raise ValidationError({"customer_ids": _("Break-glass covers at most %(count)d "
                                                 "customers.")
                               % {"count": MAX_BREAK_GLASS_CUSTOMERS}})
    reason = _reason(reason, BREAK_GLASS_MIN_REASON)
    limit = settings.ANKE_BREAK_GLASS_MAX_MINUTES
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= limit:
        raise ValidationError({"minutes": _("Choose from 1 to %(count)d minutes.")
                               % {"count": limit}})
    # Existence only (ids, no personal data): break-glass reaches outside the user's scope.
    Customer = customer_model()
    existing = set(Customer.objects.filter(pk__in=customers).values_list("pk", flat=True))
    if missing := [c for c in customers if c not in existing]:
        deny(actor, event, Customer, missing, "not_visible")
    now = timezone.now()
    with transaction.atomic():
        grant = Grant(user=user, granted_by=user, permissions=list(BREAK_GLASS_PERMISSIONS),
                      field_access=FieldAccess.READ, reason=reason, break_glass=True,
                      starts_at=now, expires_at=now + timedelta(minutes=minutes))
        grant.full_clean()
        grant.save()
        grant.customers.set(customers)
        record(actor, event, object_type="grant", object_ids=[grant.pk], fields=GRANT_FIELDS,
               reason=reason, customers=customers,
               detail=clear_change({}, _summary(grant, customers)))
    forget_roles(user)
    alerts.warning("break-glass: grant %s taken by user %s on %d customer(s) for %d minute(s)",
                   grant.pk, user.pk, len(customers), minutes)
    return grant
