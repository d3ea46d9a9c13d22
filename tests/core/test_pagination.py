from anke.core.pagination import keyset_page
from anke.customers.models import Customer
from tests.personas import customer_of


def test_a_tampered_cursor_restarts_from_the_first_page(sales_a):
    for i in range(3):
        customer_of(sales_a, name=f"客户{i}")
    first, _next = keyset_page(Customer.objects.all(), None, 2)
    for cursor in ("!!!", "Zm9v", "' OR 1=1 --"):
        page, _next = keyset_page(Customer.objects.all(), cursor, 2)
        assert page == first


def _all_pages(queryset, size, **kwargs) -> list:
    seen, cursor = [], None
    while True:
        page, cursor = keyset_page(queryset, cursor, size, **kwargs)
        seen.append([c.pk for c in page])
        if cursor is None:
            return seen


def test_a_department_page_merged_per_department_is_the_same_page(cast):
    """The sales manager's list is built per department and merged: every page must be the
    one the plain newest-first query gives, across departments and ties in time."""
    from anke.access.policy import department_partitions

    for i in range(7):
        customer_of(cast.sales_a if i % 3 else cast.sales_manager, name=f"客户{i}")
        customer_of(cast.sales_b, name=f"别人{i}")  # another team: outside the subtree
    partitions = department_partitions(cast.sales_manager)
    assert partitions == ("department_id", [cast.east.pk])
    visible = Customer.objects.visible_to(cast.sales_manager, "view")
    plain = _all_pages(visible, 3)
    assert _all_pages(visible, 3, partitions=partitions) == plain
    assert sum(map(len, plain)) == 7
    wide = ("department_id", [cast.east.pk, cast.north.pk, cast.east.parent_id])
    assert _all_pages(Customer.objects.all(), 4, partitions=wide) == _all_pages(
        Customer.objects.all(), 4)


def test_only_a_pure_department_scope_is_partitioned(cast):
    from anke.access.policy import department_partitions

    assert department_partitions(cast.sales_a) is None  # own scope
    assert department_partitions(cast.manager) is None  # all
    assert department_partitions(cast.auditor) is None  # no customer data
