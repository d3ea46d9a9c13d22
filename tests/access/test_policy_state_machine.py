"""Authorization oracle (SECURITY.md §5): a Hypothesis state machine creates departments, users
with random roles (shipped ones and random custom ones), customers owned by random users,
reassignments, temporary grants that expire, and deactivations; after any step it may ask the API,
as a random user, for the customer list, one customer and its phone, and compares each answer with
a short reference policy written here from the issue text:

- a user's rights are the union of their roles and of their active grants;
- a role reaches the customers its scope names: own (owner is the user), department (the
  customer's department lies in the user's department subtree), region (the user's region),
  all; a role without ``customer.view`` or without a scope reaches nothing;
- a field shows at the strongest level among the roles and grants reaching the record:
  clear (read or edit), masked (``138****5678``) or hidden (null);
- an inactive user gets nothing (the API asks for credentials); an expired grant gives nothing.

The reference never calls the production policy: shipped roles are described below as the issue
describes them, custom roles by what the machine gave them.
"""

import datetime
import itertools
from dataclasses import dataclass, field

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from rest_framework.test import APIClient

from anke.access.actions import create_role
from anke.access.grants import grant_access
from anke.access.models import Grant
from anke.accounts.actions import (
    create_department,
    create_region,
    create_user,
    deactivate_user,
)
from anke.customers.actions import create_customer, update_customer
from anke.customers.models import Customer
from tests.conftest import tripwire_off
from tests.personas import OPERATOR, actor

SCOPES = ("own", "department", "region", "all")
LEVELS = ("hidden", "masked", "read", "edit")  # weakest first
# The shipped roles as the issue describes them: (customer scope, level of customer fields).
SHIPPED = {
    "sales_rep": ("own", "edit"),
    "sales_manager": ("department", "edit"),
    "service_agent": ("all", "masked"),
    "manager": ("all", "edit"),
    "administrator": (None, None),  # users and settings, no customer data
    "auditor": (None, None),  # the audit trail, no customer data
    "privacy_officer": (None, None),
}


@dataclass
class RefRole:
    code: str
    scope: str | None  # None: the role does not reach customers
    phone: str  # the level it gives customer.phone


@dataclass
class RefUser:
    pk: int
    roles: list
    department: int | None
    region: int | None
    active: bool = True


@dataclass
class RefGrant:
    pk: int
    user: int
    customer: object | None  # a listed customer's pk, or None with a scope
    scope: str | None
    level: str
    expired: bool = False


@dataclass
class RefCustomer:
    pk: object
    owner: int
    department: int | None
    region: int | None
    phone: str  # E.164
    masked: str


@dataclass
class Reference:
    """The world as the machine made it, and the policy from the issue text."""

    parents: dict = field(default_factory=dict)  # department → parent department
    users: dict = field(default_factory=dict)
    customers: dict = field(default_factory=dict)
    grants: list = field(default_factory=list)

    def subtree(self, department) -> set:
        found = {department}
        changed = True
        while changed:
            more = {d for d, parent in self.parents.items() if parent in found} - found
            changed = bool(more)
            found |= more
        return found

    def reaches(self, user: RefUser, scope: str | None, customer: RefCustomer) -> bool:
        if scope == "own":
            return customer.owner == user.pk
        if scope == "department":
            return user.department is not None and customer.department in self.subtree(
                user.department)
        if scope == "region":
            return user.region is not None and customer.region == user.region
        return scope == "all"

    def phone_level(self, user: RefUser, customer: RefCustomer) -> str | None:
        """The level at which ``user`` sees ``customer``'s phone, None when the customer is
        out of reach altogether."""
        if not user.active:
            return None
        levels = [role.phone for role in user.roles if self.reaches(user, role.scope, customer)]
        levels += [grant.level for grant in self.grants
                   if grant.user == user.pk and not grant.expired
                   and (grant.customer == customer.pk if grant.customer is not None
                        else self.reaches(user, grant.scope, customer))]
        return max(levels, key=LEVELS.index) if levels else None

    def visible(self, user: RefUser) -> set:
        return {str(c.pk) for c in self.customers.values()
                if self.phone_level(user, c) is not None}

    def phone_shown(self, user: RefUser, customer: RefCustomer):
        return {"hidden": None, "masked": customer.masked, "read": customer.phone,
                "edit": customer.phone}[self.phone_level(user, customer)]


INACTIVE = 401  # an inactive user's session no longer authenticates


class PolicyMachine(RuleBasedStateMachine):
    """Drive the real actions; after every step, ask the API as one of the users (in turn) and
    compare with ``Reference``."""

    cast = None  # set by the test: the manager reassigns, grants and takes over leavers' work
    regions = ()
    serial = itertools.count(1)

    def __init__(self):
        super().__init__()
        self.ref = Reference()
        self.manager = self.cast.manager
        # As the issue says of the manager: all customers, clear.
        self.manager_ref = RefUser(self.manager.pk, [RefRole("manager", "all", "edit")],
                                   self.manager.department_id, self.manager.region_id)
        self.ref.users[self.manager.pk] = self.manager_ref
        self.users = {self.manager.pk: self.manager}
        self.departments, self.custom = [], []
        self.made_customers, self.made_grants = [], []
        self.turn = 0
        self.focus = None  # the user the last step concerned: checked next

    def teardown(self):
        # Examples share the test's transaction: what this one made goes, so the next starts
        # from no customers (its users, roles and departments stay, owning nothing).
        with tripwire_off():
            Grant.objects.filter(pk__in=self.made_grants).delete()
            Customer.objects.filter(pk__in=self.made_customers).delete()
            Session.objects.all().delete()

    def active_users(self) -> list:
        return [self.users[pk] for pk, ref in sorted(self.ref.users.items()) if ref.active]

    # --- the world --------------------------------------------------------------------------

    @initialize(data=st.data())
    def world(self, data):
        """A department tree (root, two teams, a sub-team), two custom roles, five users and
        four customers to start from."""
        root = self._department(None)
        east, north = self._department(root), self._department(root)
        self._department(east)
        del north
        for _ in range(2):
            self.add_custom_role(data.draw(st.sampled_from((*SCOPES, "none"))),
                                 data.draw(st.sampled_from(LEVELS)), data.draw(st.booleans()))
        for _ in range(5):
            self.add_user(data)
        for _ in range(4):
            self.add_customer(data)

    def _department(self, parent):
        department = create_department(OPERATOR, name=f"部门{next(self.serial)}", parent=parent)
        self.ref.parents[department.pk] = parent.pk if parent else None
        self.departments.append(department)
        return department

    @rule(data=st.data())
    def add_department(self, data):
        self._department(data.draw(st.sampled_from(self.departments)))

    @rule(scope=st.sampled_from((*SCOPES, "none")), phone=st.sampled_from(LEVELS),
          views=st.booleans())
    def add_custom_role(self, scope, phone, views):
        code = f"custom{next(self.serial)}"
        create_role(OPERATOR, code=code, name=code,
                    permissions=["customer.view"] if views else ["user.view"],
                    scopes={"customer": scope}, field_policies={"customer.phone": phone})
        self.custom.append(RefRole(code, scope if views and scope != "none" else None, phone))

    @rule(data=st.data())
    def add_user(self, data):
        shipped = data.draw(st.lists(st.sampled_from(sorted(SHIPPED)), max_size=2, unique=True))
        custom = data.draw(st.lists(st.sampled_from(self.custom), max_size=2,
                                    unique_by=lambda role: role.code))
        department = data.draw(st.none() | st.sampled_from(self.departments))
        region = data.draw(st.sampled_from((None, *self.regions)))
        user = create_user(OPERATOR, username=f"user{next(self.serial)}", password=None,
                           roles=[*shipped, *(role.code for role in custom)],
                           department=department, region=region)
        roles = [RefRole(code, *SHIPPED[code]) for code in shipped] + custom
        self.users[user.pk] = user
        self.ref.users[user.pk] = RefUser(
            user.pk, [role for role in roles if role.scope is not None],
            getattr(department, "pk", None), getattr(region, "pk", None))

    @rule(data=st.data())
    def add_customer(self, data):
        owner = data.draw(st.sampled_from(self.active_users()))
        owner_ref = self.ref.users[owner.pk]
        n = next(self.serial) % 10**8
        phone = f"+86139{n:08d}"
        customer = create_customer(actor(self.manager), data={
            "name": f"客户{n}", "phone": phone, "owner": owner.pk})
        self.made_customers.append(customer.pk)
        self.ref.customers[customer.pk] = RefCustomer(
            customer.pk, owner.pk, owner_ref.department, owner_ref.region, phone,
            f"139****{phone[-4:]}")

    def _customer(self, data) -> RefCustomer:
        return data.draw(st.sampled_from(sorted(self.ref.customers.values(),
                                                key=lambda c: str(c.pk))))

    @precondition(lambda self: self.ref.customers)
    @rule(data=st.data())
    def reassign(self, data):
        customer = self._customer(data)
        owner = data.draw(st.sampled_from(self.active_users()))
        owner_ref = self.ref.users[owner.pk]
        version = Customer.objects.values_list("version", flat=True).get(pk=customer.pk)
        update_customer(actor(self.manager), customer.pk, changes={"owner": owner.pk},
                        version=version)
        customer.owner = owner.pk
        customer.department, customer.region = owner_ref.department, owner_ref.region
        self.focus = owner.pk

    @precondition(lambda self: len(self.active_users()) > 1)
    @rule(data=st.data(), scope=st.sampled_from(SCOPES), level=st.sampled_from(LEVELS),
          listed=st.booleans())
    def grant(self, data, scope, level, listed):
        user = data.draw(st.sampled_from([u for u in self.active_users()
                                          if u.pk != self.manager.pk]))
        customer = self._customer(data) if listed and self.ref.customers else None
        grant = grant_access(
            actor(self.manager), user_id=user.pk, permissions=["customer.view"],
            customer_ids=[customer.pk] if customer else [], scope="" if customer else scope,
            field_access=level, reason="state machine",
            expires_at=timezone.now() + datetime.timedelta(hours=1))
        self.made_grants.append(grant.pk)
        self.ref.grants.append(RefGrant(grant.pk, user.pk, customer.pk if customer else None,
                                        None if customer else scope, level))
        self.focus = user.pk

    @precondition(lambda self: any(not g.expired for g in self.ref.grants))
    @rule(data=st.data())
    def expire_grant(self, data):
        """Time passes for one grant: it ended an hour ago (nothing runs to end it)."""
        grant = data.draw(st.sampled_from([g for g in self.ref.grants if not g.expired]))
        past = timezone.now() - datetime.timedelta(hours=1)
        Grant.objects.filter(pk=grant.pk).update(starts_at=past - datetime.timedelta(hours=1),
                                                 expires_at=past)
        grant.expired = True
        self.focus = grant.user

    @precondition(lambda self: len(self.active_users()) > 1)
    @rule(data=st.data())
    def deactivate(self, data):
        user = data.draw(st.sampled_from([u for u in self.active_users()
                                          if u.pk != self.manager.pk]))
        deactivate_user(OPERATOR, user.pk, successor_id=self.manager.pk)
        self.ref.users[user.pk].active = False
        # The leaver's customers go to the successor, with the successor's department and region.
        for customer in self.ref.customers.values():
            if customer.owner == user.pk:
                customer.owner = self.manager.pk
                customer.department = self.manager_ref.department
                customer.region = self.manager_ref.region
        self.focus = user.pk

    # --- the oracle -------------------------------------------------------------------------

    @invariant()
    def the_api_agrees(self):
        """One user per step: the one the step concerned, else each in turn (inactive ones
        too): the list, every phone in it, and one customer read by id."""
        if not self.departments:
            return  # before the world exists
        pks = sorted(self.ref.users)
        user = self.users[self.focus or pks[self.turn % len(pks)]]
        self.turn += 1
        self.focus = None
        ref = self.ref.users[user.pk]
        client = APIClient()
        client.force_login(user)
        response = client.get("/api/v1/customers/", {"page_size": 200})
        if not ref.active:
            assert response.status_code == INACTIVE
            return
        assert response.status_code == 200
        rows = {row["id"]: row for row in response.json()["results"]}
        assert set(rows) == self.ref.visible(ref), ref
        for row_id, row in rows.items():
            customer = next(c for c in self.ref.customers.values() if str(c.pk) == row_id)
            assert row["phone"] == self.ref.phone_shown(ref, customer), (customer, ref)
        customers = sorted(self.ref.customers.values(), key=lambda c: str(c.pk))
        if not customers:
            return
        customer = customers[self.turn % len(customers)]
        response = client.get(f"/api/v1/customers/{customer.pk}/")
        if self.ref.phone_level(ref, customer) is None:
            assert response.status_code == 404, (customer, ref)
        else:
            assert response.status_code == 200, (customer, ref)
            assert response.json()["phone"] == self.ref.phone_shown(ref, customer)


@pytest.mark.django_db
def test_the_api_answers_as_the_reference_policy(cast):
    PolicyMachine.cast = cast
    PolicyMachine.regions = [create_region(OPERATOR, code=f"r{i}", name=f"区域{i}")
                             for i in range(2)]
    run_state_machine_as_test(PolicyMachine, settings=settings(
        max_examples=12, stateful_step_count=25, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
