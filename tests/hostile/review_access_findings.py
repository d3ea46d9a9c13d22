"""Findings of the security review of the access-control work (roles, field policies, masking,
reveal, grants, reviews, user administration), now fixed: each test is an attack that must fail."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from anke.access.actions import state_tag
from anke.access.grants import grant_access
from anke.access.models import Role
from anke.access.policy import forget_roles
from anke.accounts.actions import deactivate_user, update_user
from anke.accounts.models import Department
from anke.core.errors import ActionDenied
from anke.service.actions import open_ticket
from tests.api.conftest import signed_in
from tests.conftest import tripwire_off
from tests.personas import actor, customer_of


def later(**delta):
    return timezone.now() + timedelta(**(delta or {"days": 1}))


def role(code: str) -> Role:
    return Role.objects.get(code=code)


# --- finding 1: an administrator hands themselves customer data by editing their own role ------


def test_an_administrator_cannot_widen_a_role_they_hold(cast):
    customer = customer_of(cast.sales_a, phone="13812345678")
    admin = signed_in(cast.admin)
    assert admin.get(f"/api/v1/customers/{customer.pk}/").status_code == 404
    administrator = role("administrator")
    response = admin.patch(
        f"/api/v1/roles/{administrator.pk}/",
        {"permissions": [*administrator.permissions, "customer.view"],
         "scopes": {"customer": "all"}, "field_policies": {"customer.phone": "read"}},
        format="json", HTTP_IF_MATCH=f'"{state_tag(administrator)}"')
    # Expected: refused like update_user's "you cannot give yourself a role" (403).
    assert response.status_code == 403, response.json()
    assert admin.get(f"/api/v1/customers/{customer.pk}/").status_code == 404


# --- finding 2: reveal ignores the scope of customer.reveal ------------------------------------


def test_reveal_is_limited_to_the_customers_the_reveal_right_reaches(cast):
    listed = customer_of(cast.sales_a, name="甲", phone="13812345678")
    other = customer_of(cast.sales_a, name="乙", phone="13987654321")
    with tripwire_off():
        # A service desk that sees everyone masked but may not reveal by itself…
        desk = Role.objects.create(code="desk", name="Desk", permissions=["customer.view"],
                                   scopes={"customer": "all"},
                                   field_policies={"customer.name": "masked",
                                                   "customer.phone": "masked"})
        cast.auditor.roles.add(desk)
        # …and a lead who may reveal and lend that right on a case.
        lead = Role.objects.create(code="lead", name="Lead",
                                   permissions=["customer.view", "customer.reveal",
                                                "grant.approve"],
                                   scopes={"customer": "all"},
                                   field_policies={"customer.name": "masked",
                                                   "customer.phone": "masked"})
        cast.manager.roles.add(lead)
    forget_roles(cast.manager)
    grant_access(actor(cast.manager), user_id=cast.auditor.pk,
                 permissions=["customer.reveal"], customer_ids=[listed.pk],
                 field_access="hidden", reason="case 42", expires_at=later())
    desk_user = signed_in(cast.auditor)
    body = {"field_names": ["phone"], "reason": "caller asked for a callback"}
    assert desk_user.post(f"/api/v1/customers/{listed.pk}/reveal/", body,
                          format="json").status_code == 200
    response = desk_user.post(f"/api/v1/customers/{other.pk}/reveal/", body, format="json")
    # Expected: 403 (the reveal right was lent for `listed` only). Actual: 200, clear phone.
    assert response.status_code == 403, response.json()


# --- finding 3: a grant's field-access ceiling ignores which role reaches the customer ---------


def test_a_grantor_cannot_lend_clear_access_to_a_customer_they_see_masked(cast):
    theirs = customer_of(cast.sales_b, phone="13812345678")  # north: outside the manager's team
    with tripwire_off():  # a team lead who also covers the service desk
        cast.sales_manager.roles.add(role("service_agent"))
    forget_roles(cast.sales_manager)
    lead = signed_in(cast.sales_manager)
    assert lead.get(f"/api/v1/customers/{theirs.pk}/").json()["phone"] == "138****5678"
    try:
        grant_access(actor(cast.sales_manager), user_id=cast.auditor.pk,
                     permissions=["customer.view"], customer_ids=[theirs.pk],
                     field_access="read", reason="help", expires_at=later())
    except ActionDenied:
        return  # expected: field_access_not_held
    phone = signed_in(cast.auditor).get(f"/api/v1/customers/{theirs.pk}/").json()["phone"]
    pytest.fail(f"the grantee sees {phone!r} where the grantor sees 138****5678")


def test_a_grantor_cannot_lend_every_customer_in_clear(cast):
    theirs = customer_of(cast.sales_b, phone="13812345678")
    with tripwire_off():
        cast.sales_manager.roles.add(role("service_agent"))
    forget_roles(cast.sales_manager)
    try:
        grant_access(actor(cast.sales_manager), user_id=cast.auditor.pk,
                     permissions=["customer.view"], scope="all",
                     field_access="read", reason="help", expires_at=later())
    except ActionDenied:
        return
    phone = signed_in(cast.auditor).get(f"/api/v1/customers/{theirs.pk}/").json()["phone"]
    pytest.fail(f"the grantee sees every customer in clear ({phone!r})")


# --- finding 4: a customer reached only through a child record is shown at the user's top level --


def test_a_ticket_grant_does_not_show_the_customers_name_in_clear(cast):
    victim = customer_of(cast.sales_a, name="王小明", phone="13812345678")
    open_ticket(actor(cast.sales_a), victim.pk, data={"subject": "发票问题"})
    # Help with this customer's tickets: ticket.view only, classified fields masked.
    grant_access(actor(cast.manager), user_id=cast.sales_b.pk, permissions=["ticket.view"],
                 customer_ids=[victim.pk], field_access="masked", reason="backup on tickets",
                 expires_at=later())
    client = Client()
    client.force_login(cast.sales_b)
    # sales_b cannot open the customer at all…
    assert client.get(reverse("customers:detail", args=[victim.pk])).status_code == 404
    body = client.post(reverse("service:list"), {"assignee": ""}).content.decode()
    assert "发票问题" in body
    # …but the ticket list prints its name in clear (expected: withheld or 王*明).
    assert "王小明" not in body


def test_a_user_manager_cannot_widen_their_own_department_scope(cast):
    north_customer = customer_of(cast.sales_b, phone="13812345678")
    with tripwire_off():  # a team lead of 华东组 who also administers users
        cast.sales_manager.roles.add(role("administrator"))
    forget_roles(cast.sales_manager)
    lead = signed_in(cast.sales_manager)
    assert lead.get(f"/api/v1/customers/{north_customer.pk}/").status_code == 404
    hq = Department.objects.get(name="总部")
    try:
        update_user(actor(cast.sales_manager), cast.sales_manager.pk,
                    changes={"department": hq.pk})
    except ActionDenied:
        return  # expected: like roles, one's own department/region is changed by someone else
    response = lead.get(f"/api/v1/customers/{north_customer.pk}/")
    pytest.fail(f"after moving themself to 总部 the lead reads {response.json()['phone']!r}")


# --- finding 5: grants outlive the grantor's authority -------------------------------------------


def test_a_grant_ends_when_its_grantor_is_offboarded(cast):
    victim = customer_of(cast.sales_a, phone="13812345678")
    grant_access(actor(cast.sales_manager), user_id=cast.sales_b.pk,
                 permissions=["customer.view"], customer_ids=[victim.pk], field_access="read",
                 reason="cover", expires_at=later(days=30))
    deactivate_user(actor(cast.admin), cast.sales_manager.pk, successor_id=None)
    response = signed_in(cast.sales_b).get(f"/api/v1/customers/{victim.pk}/")
    assert response.status_code == 404, response.json()
