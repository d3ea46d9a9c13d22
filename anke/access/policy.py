"""The access policy: may this user do this, on which records, and with which fields.

A user's rights are the union of their roles and of their active temporary grants. Fail closed:
an inactive or anonymous user, an unknown permission, a resource without a scope or a field
without a policy yields nothing. Roles and grants are read once per user object and kept on it,
so a request costs a fixed number of queries whatever the page size.
"""

from django.db.models import Q

from anke.access.catalogue import PERMISSIONS, FieldAccess, Scope, field_key, strongest

_ROLES_ATTR = "_anke_roles"
_GRANTS_ATTR = "_anke_grants"
_SUBTREE_ATTR = "_anke_department_subtree"
_GRANTED_CUSTOMERS_ATTR = "_anke_granted_customers"


def _active(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and user.is_active


def roles_of(user) -> list:
    if not _active(user):
        return []
    roles = getattr(user, _ROLES_ATTR, None)
    if roles is None:
        roles = list(user.roles.all())
        setattr(user, _ROLES_ATTR, roles)
    return roles


def grants_of(user) -> list:
    """The user's temporary grants in force now (expired ones end by themselves)."""
    if not _active(user):
        return []
    grants = getattr(user, _GRANTS_ATTR, None)
    if grants is None:
        from anke.access.models import Grant

        # A grant lasts no longer than its grantor's standing: off-boarding the grantor ends it.
        grants = list(Grant.objects.active().filter(user=user, granted_by__is_active=True))
        setattr(user, _GRANTS_ATTR, grants)
    return grants


def forget_roles(user) -> None:
    """Drop what was read of the user's roles and grants after they changed."""
    for attr in (_ROLES_ATTR, _GRANTS_ATTR, _SUBTREE_ATTR, _GRANTED_CUSTOMERS_ATTR):
        if hasattr(user, attr):
            delattr(user, attr)


def has_permission(user, permission: str) -> bool:
    if permission not in PERMISSIONS:
        return False
    return (any(permission in role.permissions for role in roles_of(user))
            or any(permission in grant.permissions for grant in grants_of(user)))


def resource_of(permission: str) -> str:
    return permission.split(".", 1)[0]


def scope_q(user, permission: str, customer_path: str = "", *,
            with_grants: bool = True) -> Q | None:
    """The records of a customer-scoped resource that ``user`` may act on with ``permission``.

    ``customer_path`` leads from the queried model to its customer ("" for Customer itself,
    "customer__" for deals, tickets…). Returns None when nothing is reachable.
    ``with_grants=False`` counts the user's roles alone (what they may lend on).
    """
    if permission not in PERMISSIONS:
        return None
    resource = resource_of(permission)
    grants = grants_of(user) if with_grants else []
    # Each scope once, however many roles give it: a repeated subquery in the OR makes the
    # database's plan worse, not the answer wider.
    scopes = dict.fromkeys(role.scope_for(resource) for role in roles_of(user)
                           if permission in role.permissions)
    scopes.update(dict.fromkeys(grant.scope for grant in grants
                                if permission in grant.permissions and grant.scope))
    parts = [_scope_part(user, scope, customer_path) for scope in scopes]
    parts += [_grant_part(user, grant, customer_path) for grant in grants
              if permission in grant.permissions and not grant.scope]
    q = None
    for part in parts:
        if part is _EVERYTHING:
            return Q()
        if part is not None:
            q = part if q is None else q | part
    return q


_EVERYTHING = object()


def _customer_id_lookup(path: str) -> str:
    return f"{path[:-2]}_id" if path else "pk"


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


def _grant_part(user, grant, path: str):
    listed = grant.customers.through.objects.filter(grant_id=grant.pk).values("customer_id")
    return Q(**{f"{_customer_id_lookup(path)}__in": listed})


def scope_partitions(user, permission: str = "customer.view") -> list[dict] | None:
    """The parts of ``user``'s reach with ``permission``, as lookups that each follow one
    index (each department of a subtree, their own customers, their region), when there are
    several; None when one index serves (one part, or a scope of everything) or when a grant
    lists customers.

    A newest-first page of several parts is cheapest as the merge of each part's newest rows
    (``keyset_page``): the database would otherwise sort every customer the parts reach.
    """
    resource = resource_of(permission)
    scopes = {role.scope_for(resource) for role in roles_of(user)
              if permission in role.permissions}
    for grant in grants_of(user):
        if permission in grant.permissions:
            if not grant.scope:
                return None
            scopes.add(Scope(grant.scope))
    if Scope.ALL in scopes:
        return None
    parts = []
    if Scope.OWN in scopes:
        parts.append({"owner_id": user.pk})
    if Scope.REGION in scopes and user.region_id:
        parts.append({"region_id": user.region_id})
    if Scope.DEPARTMENT in scopes:
        parts += [{"department_id": pk} for pk in sorted(_department_subtree(user))]
    return parts if len(parts) > 1 else None


def users_in_reach(user, permission: str = "customer.view"):
    """Active users whose customers ``user`` reaches with ``permission``: the owners a filter
    may offer. Derived from the scopes themselves (the user's department subtree, region…), so
    it costs no scan of customers and never names someone only records outside the scope
    would reveal."""
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.filter(is_active=True)
    if permission not in PERMISSIONS:
        return users.none()
    resource = resource_of(permission)
    scopes = [role.scope_for(resource) for role in roles_of(user)
              if permission in role.permissions]
    scopes += [grant.scope for grant in grants_of(user)
               if permission in grant.permissions and grant.scope]
    if Scope.ALL in scopes:
        return users
    q = Q(pk__in=[])
    for scope in set(scopes):
        if scope == Scope.OWN:
            q |= Q(pk=user.pk)
        elif scope == Scope.DEPARTMENT and user.department_id:
            q |= Q(department__path__startswith=user.department.path)
        elif scope == Scope.REGION and user.region_id:
            q |= Q(region_id=user.region_id)
    listed = [grant.pk for grant in grants_of(user)
              if permission in grant.permissions and not grant.scope]
    if listed:
        from anke.access.models import Grant

        owners = Grant.customers.through.objects.filter(grant_id__in=listed).values(
            "customer__owner_id")
        q |= Q(pk__in=owners)
    return users.filter(q)


# --- field policies ---------------------------------------------------------------------------


def classified_fields(model) -> list:
    from anke.core.fields import ClassifiedMixin

    return [f for f in model._meta.concrete_fields if isinstance(f, ClassifiedMixin)]


class CustomerFacts:
    """What decides whether a scope reaches a record: its customer's owner, department and
    region."""

    __slots__ = ("customer_id", "owner_id", "department_id", "region_id")

    def __init__(self, customer_id, owner_id, department_id, region_id):
        self.customer_id = customer_id
        self.owner_id = owner_id
        self.department_id = department_id
        self.region_id = region_id

    @classmethod
    def of(cls, customer):
        return cls(customer.pk, customer.owner_id, customer.department_id, customer.region_id)


class FieldPolicy:
    """What ``user`` may do with each classified field of ``model``'s records under
    ``permission``: for each record, the strongest level among the roles and grants holding
    the permission whose scope reaches that record."""

    def __init__(self, user, permission: str, model, *, with_grants: bool = True):
        self.user = user
        resource = resource_of(permission)
        fields = classified_fields(model)
        self.names = [f.name for f in fields]
        self.sources = [
            (("scope", role.scope_for(resource)),
             {f.name: role.access_to(field_key(f)) for f in fields})
            for role in roles_of(user) if permission in role.permissions
        ] + [
            (("scope", grant.scope) if grant.scope else ("grant", grant.pk),
             dict.fromkeys(self.names, FieldAccess(grant.field_access)))
            for grant in (grants_of(user) if with_grants else []) if permission in grant.permissions
        ]
        self.top = self._union(levels for _reach, levels in self.sources)
        self.hidden = dict.fromkeys(self.names, FieldAccess.HIDDEN)
        # A source reaching every record with the strongest levels decides alone: no record
        # needs looking at.
        self.everywhere = any(reach == ("scope", Scope.ALL) and levels == self.top
                              for reach, levels in self.sources)
        # Most users hold one role, or roles that agree: a record then only has to be reached.
        self.uniform = self.everywhere or all(levels == self.top
                                              for _reach, levels in self.sources)

    def _union(self, level_maps) -> dict:
        level_maps = list(level_maps)
        return {name: strongest(levels[name] for levels in level_maps) for name in self.names}

    def levels(self, facts: CustomerFacts | None) -> dict:
        """The levels for a record of that customer (``None``: a record not yet placed, which
        every source holding the permission reaches)."""
        if facts is None or self.everywhere:
            return self.top
        if self.uniform:
            # A customer shown beside a record of another resource (a ticket's customer) may be
            # one no source reaches: then its fields are not the reader's to see.
            return self.top if self.reaches(facts) else self.hidden
        return self._union(levels for reach, levels in self.sources
                           if self._reaches(reach, facts))

    def reaches(self, facts: CustomerFacts) -> bool:
        """Whether any role or grant holding the permission reaches a record of that customer."""
        return any(self._reaches(reach, facts) for reach, _levels in self.sources)

    def _reaches(self, reach, facts: CustomerFacts) -> bool:
        kind, value = reach
        user = self.user
        if kind == "grant":
            return facts.customer_id in _granted_customers(user).get(value, ())
        if value == Scope.ALL:
            return True
        if value == Scope.OWN:
            return facts.owner_id == user.pk
        if value == Scope.DEPARTMENT:
            return facts.department_id in _department_subtree(user)
        if value == Scope.REGION:
            return user.region_id is not None and facts.region_id == user.region_id
        return False


def _department_subtree(user) -> set:
    subtree = getattr(user, _SUBTREE_ATTR, None)
    if subtree is None:
        subtree = set()
        if user.department_id:
            departments = user._meta.get_field("department").related_model.objects
            subtree = set(departments.filter(path__startswith=user.department.path)
                          .values_list("pk", flat=True))
        setattr(user, _SUBTREE_ATTR, subtree)
    return subtree


def _granted_customers(user) -> dict:
    """Grant id → the customer ids it lists, for all the user's active grants in one query."""
    granted = getattr(user, _GRANTED_CUSTOMERS_ATTR, None)
    if granted is None:
        from anke.access.models import Grant

        granted = {}
        rows = Grant.customers.through.objects.filter(
            grant_id__in=[g.pk for g in grants_of(user) if not g.scope])
        for grant_id, customer_id in rows.values_list("grant_id", "customer_id"):
            granted.setdefault(grant_id, set()).add(customer_id)
        setattr(user, _GRANTED_CUSTOMERS_ATTR, granted)
    return granted


def facts_of(objects) -> dict:
    """The customer facts of each object (keyed by ``id(obj)``), with at most one query for the
    records whose customer was not loaded with them."""
    from anke.encryption.registry import subject_id_of

    facts, missing = {}, {}
    for obj in objects:
        if not hasattr(obj, "customer_id"):
            facts[id(obj)] = CustomerFacts.of(obj)
        elif "customer" in obj._state.fields_cache:
            facts[id(obj)] = CustomerFacts.of(obj.customer)
        else:
            missing.setdefault(subject_id_of(obj), []).append(obj)
    if missing:
        customer_model = next(iter(missing.values()))[0]._meta.get_field("customer").related_model
        rows = customer_model.objects.filter(pk__in=list(missing)).values_list(
            "pk", "owner_id", "department_id", "region_id")
        for row in rows:
            for obj in missing[row[0]]:
                facts[id(obj)] = CustomerFacts(*row)
    return facts


def field_levels(user, permission: str, objects) -> dict:
    """``id(obj)`` → {field name: FieldAccess} for objects of one model."""
    objects = list(objects)
    if not objects:
        return {}
    policy = FieldPolicy(user, permission, type(objects[0]))
    if policy.everywhere:
        return {id(obj): policy.top for obj in objects}
    facts = facts_of(objects)
    return {id(obj): policy.levels(facts.get(id(obj))) for obj in objects}
