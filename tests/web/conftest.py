import pytest


@pytest.fixture
def client_a(client, sales_a):
    """A browser session of sales rep A."""
    client.force_login(sales_a)
    return client
