"""The access policy: may this user do this, and on which records.

Fail closed: an inactive or anonymous user, an unknown permission or a role with an unknown scope
yields nothing. Roles are read once per user object and kept on it, so a request costs one query.
"""

from django.db.models import Q

from anke.access.catalogue import PERMISSIONS, Scope

_ROLES_ATTR = "_anke_roles"


def roles_of(user) -> list:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    roles = getattr(user, _ROLES_ATTR, None)
    if roles is None:
        roles = list(user.roles.all())
        setattr(user, _ROLES_ATTR, roles)
    return roles


def forget_roles(user) -> None:
    """Drop the cached roles after they changed."""
    if hasattr(user, _ROLES_ATTR):
        delattr(user, _ROLES_ATTR)


def has_permission(user, permission: str) -> bool:
    if permission not in PERMISSIONS:
        return False
    return any(permission in role.permissions for role in roles_of(user))


def scope_q(user, permission: str, customer_path: str = "") -> Q | None:
    """The records of a customer-scoped resource that ``user`` may act on with ``permission``.

    ``customer_path`` leads from the queried model to its customer ("" for Customer itself,
    "customer__" for deals, tickets…). Returns None when nothing is reachable.
    """
    if permission not in PERMISSIONS:
        return None
    q = None
    for role in roles_of(user):
        if permission not in role.permissions:
            continue
        part = _scope_part(user, role.customer_scope, customer_path)
        if part is _EVERYTHING:
            return Q()
        if part is not None:
            q = part if q is None else q | part
    return q


_EVERYTHING = object()


def _scope_part(user, scope: str, path: str):
    if scope == Scope.ALL:
        return _EVERYTHING
    if scope == Scope.OWN:
        return Q(**{f"{path}owner_id": user.pk})
    if scope == Scope.DEPARTMENT and user.department_id:
        # The subtree's ids by materialised path as a subquery, so the customer side stays an
        # indexed department_id lookup instead of a join per row.
        departments = user._meta.get_field("department").related_model.objects
        subtree = departments.filter(path__startswith=user.department.path).values("pk")
        return Q(**{f"{path}department_id__in": subtree})
    if scope == Scope.REGION and user.region_id:
        return Q(**{f"{path}region_id": user.region_id})
    return None
