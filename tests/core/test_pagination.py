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
