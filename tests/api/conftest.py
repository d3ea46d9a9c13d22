import pytest
from rest_framework.test import APIClient

from anke.accounts.actions import create_api_token
from anke.core.context import Actor


@pytest.fixture(autouse=True)
def _english(settings):
    # Error messages are asserted in places; the default language is zh-hans.
    settings.LANGUAGE_CODE = "en"


def signed_in(user) -> APIClient:
    """A client with a real session (SessionAuthentication), as a browser would have."""
    client = APIClient()
    client.force_login(user)
    return client


def with_token(user, **kwargs) -> tuple[APIClient, object]:
    """A client sending ``Authorization: Bearer`` with a fresh token of ``user``."""
    kwargs.setdefault("scope", "write")  # what most tests exercise; read-only has its own
    token, secret = create_api_token(Actor.system(), user, name="tests", **kwargs)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client, token


@pytest.fixture
def as_sales_a(sales_a):
    return signed_in(sales_a)


@pytest.fixture
def as_sales_b(sales_b):
    return signed_in(sales_b)
