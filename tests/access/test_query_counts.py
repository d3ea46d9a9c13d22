"""A scoped list costs the same number of queries whatever the page size and however many roles
the reader holds (but one, when several scopes make the page a merge of their parts): the
policy reads roles, grants and the department subtree once per request, never once per row or
per role."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from anke.access.actions import create_role
from anke.access.models import classified_field_keys
from anke.accounts.actions import update_user
from anke.customers.actions import create_customers
from tests.api.conftest import signed_in
from tests.personas import actor

URL = "/api/v1/customers/"
MERGE = 1  # a scope of several parts pages through their merged ids: one query more


@pytest.fixture
def department_customers(cast):
    """60 customers of sales_a and 60 of sales_manager (华东组), 10 of sales_b (华北组)."""
    rows = [{"name": f"客户{i}", "phone": f"1380000{i:04d}", "email": f"c{i}@example.com"}
            for i in range(60)]
    create_customers(actor(cast.sales_a), rows)
    create_customers(actor(cast.sales_manager), [dict(row, name=f"经理{row['name']}")
                                                  for row in rows])
    create_customers(actor(cast.sales_b), rows[:10])


def _count(user, page_size: int) -> tuple[int, int]:
    """(queries, rows) of one list page read by ``user``."""
    client = signed_in(user)
    client.get(URL, {"page_size": 1})  # the session and throttle rows exist from here on
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL, {"page_size": page_size})
    assert response.status_code == 200
    return len(queries), len(response.json()["results"])


def test_a_department_list_costs_the_same_for_10_and_50_rows(cast, department_customers):
    small, rows_small = _count(cast.sales_manager, 10)
    large, rows_large = _count(cast.sales_manager, 50)
    assert (rows_small, rows_large) == (10, 50)
    assert small == large


def _customer_fields(level: str) -> dict:
    return {key: level for key in classified_field_keys() if key.startswith("customer.")}


def _hold(cast, *codes) -> None:
    update_user(actor(cast.admin), cast.sales_manager.pk,
                changes={"roles": ["sales_manager", *codes]})
    cast.sales_manager.refresh_from_db()


def test_a_department_list_costs_the_same_with_one_role_or_three(cast, department_customers):
    # given two more roles reaching customers with other scopes (region, own), agreeing with the
    # sales manager's role on the fields
    admin = actor(cast.admin)
    for code, scope in (("region_editor", "region"), ("own_editor", "own")):
        create_role(admin, code=code, name=code, permissions=["customer.view"],
                    scopes={"customer": scope}, field_policies=_customer_fields("edit"))
    one_role = _count(cast.sales_manager, 50)
    _hold(cast, "region_editor", "own_editor")
    # one more: the page is merged from the scope's parts (the ids first, core.pagination)
    assert _count(cast.sales_manager, 50) == (one_role[0] + MERGE, 50)


def test_roles_that_disagree_on_fields_cost_no_query_per_row(
        cast, department_customers):
    """When the roles give different levels, each record's level depends on which roles reach
    it; a department scope reads the subtree once per request whether its roles agree or not,
    so the count is the same for one role or three, and for any page size."""
    admin = actor(cast.admin)
    create_role(admin, code="region_reader", name="Region reader",
                permissions=["customer.view"], scopes={"customer": "region"},
                field_policies=_customer_fields("masked"))
    create_role(admin, code="own_reader", name="Own reader", permissions=["customer.view"],
                scopes={"customer": "own"}, field_policies=_customer_fields("hidden"))
    one_role = _count(cast.sales_manager, 50)
    _hold(cast, "region_reader", "own_reader")
    three_roles = _count(cast.sales_manager, 50)
    assert three_roles == (one_role[0] + MERGE, 50)
    assert _count(cast.sales_manager, 10) == (three_roles[0], 10)
    _hold(cast, "region_reader")
    assert _count(cast.sales_manager, 50) == three_roles
