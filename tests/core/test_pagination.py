from django.db import connection
from django.test.utils import CaptureQueriesContext

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


def test_a_page_merged_from_the_parts_of_a_scope_is_the_same_page(cast):
    """A list reached through several scopes (a department, one's own customers, a region) is
    built per part and merged: every page must be the one the plain newest-first query gives,
    across parts that overlap, across cursors and ties in time."""
    from anke.access.models import Role
    from anke.access.policy import forget_roles, scope_partitions
    from tests.conftest import tripwire_off

    for i in range(7):
        customer_of(cast.sales_a if i % 3 else cast.sales_manager, name=f"客户{i}")
        customer_of(cast.sales_b, name=f"别人{i}")  # another team and region: outside
    with tripwire_off():  # a staged role: own and region scopes beside the department one
        extra = Role.objects.create(code="own_region", name="own_region",
                                    permissions=["customer.view"],
                                    scopes={"customer": "own"})
        region = Role.objects.create(code="region", name="region",
                                     permissions=["customer.view"],
                                     scopes={"customer": "region"})
        cast.sales_manager.roles.add(extra, region)
    forget_roles(cast.sales_manager)
    partitions = scope_partitions(cast.sales_manager)
    assert partitions == [{"owner_id": cast.sales_manager.pk},
                          {"region_id": cast.sales_manager.region_id},
                          {"department_id": cast.east.pk}]
    visible = Customer.objects.visible_to(cast.sales_manager, "view")
    plain = _all_pages(visible, 3)
    assert _all_pages(visible, 3, partitions=partitions) == plain
    assert sum(map(len, plain)) == 7
    wide = [{"department_id": pk} for pk in (cast.east.pk, cast.north.pk, cast.east.parent_id)]
    assert _all_pages(Customer.objects.all(), 4, partitions=wide) == _all_pages(
        Customer.objects.all(), 4)


def test_one_index_serves_a_scope_of_one_part_or_of_everything(cast):
    from anke.access.policy import scope_partitions

    assert scope_partitions(cast.sales_a) is None  # own customers: the owner index
    assert scope_partitions(cast.sales_manager) is None  # one department (no sub-teams)
    assert scope_partitions(cast.manager) is None  # all
    assert scope_partitions(cast.auditor) is None  # no customer data


def test_api_pages_merged_from_the_parts_of_a_scope_are_the_same_pages(cast):
    """The API's cursor pages of a scope of several parts (merged part by part) hold exactly the
    rows the plain query gives, page after page."""
    from django.urls import reverse

    from anke.access.models import Role
    from anke.access.policy import forget_roles, scope_partitions
    from tests.api.conftest import signed_in
    from tests.conftest import tripwire_off

    for i in range(7):
        customer_of(cast.sales_a if i % 3 else cast.sales_manager, name=f"客户{i}")
        customer_of(cast.sales_b, name=f"别人{i}")  # another team and region: outside
    with tripwire_off():
        own = Role.objects.create(code="own", name="own", permissions=["customer.view"],
                                  scopes={"customer": "own"})
        cast.sales_manager.roles.add(own)
    forget_roles(cast.sales_manager)
    assert len(scope_partitions(cast.sales_manager)) == 2
    client = signed_in(cast.sales_manager)
    expected = [str(pk) for pk in Customer.objects.visible_to(cast.sales_manager, "view")
                .order_by("-created_at", "-id").values_list("pk", flat=True)]
    seen, url = [], reverse("api:customer-list") + "?page_size=3"
    while url:
        with CaptureQueriesContext(connection) as queries:
            body = client.get(url).json()
        assert [q for q in queries if " UNION " in q["sql"]]  # merged, not sorted whole
        seen.append([row["id"] for row in body["results"]])
        url = body["next"]
    assert [pk for page in seen for pk in page] == expected and len(expected) == 7
    assert [len(page) for page in seen] == [3, 3, 1]
    previous = client.get(body["previous"]).json()  # back, oldest-first underneath
    assert [row["id"] for row in previous["results"]] == seen[1]


def test_a_row_gone_between_the_merge_and_the_page_does_not_end_the_paging(cast, monkeypatch):
    """The merged ids and the page are two statements: a row deleted in between must not leave
    a short page, which would tell the reader there is no next one."""
    from anke.core import pagination
    from anke.customers.actions import delete_customer
    from tests.personas import actor

    for i in range(6):
        customer_of(cast.sales_a, name=f"客户{i}")
    visible = Customer.objects.all()
    parts = [{"owner_id": cast.sales_a.pk}, {"owner_id": cast.sales_b.pk}]
    newest = list(visible.order_by("-created_at", "-pk"))
    merge = pagination.merged_newest

    def merge_then_delete(queryset, partitions, limit):
        ids = merge(queryset, partitions, limit)
        delete_customer(actor(cast.sales_a), newest[0].pk, version=newest[0].version)
        return ids

    monkeypatch.setattr(pagination, "merged_newest", merge_then_delete)
    page, cursor = keyset_page(visible.filter(owner__in=[cast.sales_a, cast.sales_b]), None, 3,
                               partitions=parts)
    assert [c.pk for c in page] == [c.pk for c in newest[1:4]] and cursor is not None
