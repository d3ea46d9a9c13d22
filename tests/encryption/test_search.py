"""Exact search by phone, e-mail, ID number and credit code through the blind indexes."""

import pytest
from django.urls import reverse

from anke.audit.models import AuditEvent
from anke.customers.actions import create_contact
from anke.customers.models import Customer
from anke.encryption.blind_index import canonical, detect
from anke.encryption.keyring import INDEX, keyring
from tests.api.conftest import signed_in
from tests.personas import actor, customer_of

SEARCH = "/api/v1/customers/search/"


@pytest.mark.parametrize("typed", ["13812345678", "+86 138 1234 5678", "138-1234-5678",
                                   "+8613812345678"])
def test_every_way_of_writing_a_phone_finds_the_same_customer(client_a, sales_a, typed):
    mine = customer_of(sales_a, name="欧阳锋", phone="13812345678")
    customer_of(sales_a, name="黄药师", phone="13900001111")
    response = client_a.post(reverse("customers:list"), {"q": typed})
    page = response.content.decode()
    assert response.status_code == 200 and "欧阳锋" in page and "黄药师" not in page
    assert str(mine.pk) in page
    event = AuditEvent.objects.filter(action="customer.search").latest("id")
    assert event.object_ids == [str(mine.pk)]
    assert typed not in str(event.__dict__)


def test_the_api_searches_each_kind_exactly(sales_a):
    company = customer_of(sales_a, name="某某科技", kind="company", phone="",
                          credit_code="91110000100000589A", email="Office@Example.com")
    person = customer_of(sales_a, name="李四", phone="", id_number="11010519491231002X")
    client = signed_in(sales_a)
    for body, expected in [
        ({"email": "office@example.COM"}, company),
        ({"credit_code": "91110000100000589a"}, company),
        ({"id_number": "110105194912310 02x"}, person),
        ({"q": "11010519491231002X"}, person),
    ]:
        response = client.post(SEARCH, body, format="json")
        assert response.status_code == 200, body
        assert [row["id"] for row in response.json()["results"]] == [str(expected.pk)], body


def test_a_contact_persons_phone_finds_their_customer(client_a, sales_a):
    customer = customer_of(sales_a, name="某某贸易", phone="")
    create_contact(actor(sales_a), customer.pk, data={"name": "王五", "phone": "13700001234"})
    response = signed_in(sales_a).post(SEARCH, {"phone": "137 0000 1234"}, format="json")
    assert [row["id"] for row in response.json()["results"]] == [str(customer.pk)]


def test_search_stays_inside_the_scope(sales_a, sales_b):
    customer_of(sales_a, phone="13812345678")
    response = signed_in(sales_b).post(SEARCH, {"phone": "13812345678"}, format="json")
    assert response.status_code == 200 and response.json()["results"] == []


def test_a_value_that_shares_an_index_token_is_not_a_match(settings, sales_a, private_key_file):
    # An index key of 8 bits: many numbers share a token; decrypting the candidates weeds
    # them out.
    settings.BLIND_INDEX_BITS = 8
    keyring().add_version(INDEX, 2)
    numbers = [f"1381234{i:04d}" for i in range(80)]
    for number in numbers:
        customer_of(sales_a, name=number[-4:], phone=number)
    response = signed_in(sales_a).post(SEARCH, {"phone": numbers[7]}, format="json")
    assert [row["name"] for row in response.json()["results"]] == ["0007"]
    tokens = Customer.objects.values_list("phone_bidx", flat=True)
    assert len(set(tokens)) < len(numbers)  # there were collisions to weed out


def test_changing_the_token_length_does_not_lose_existing_rows(settings, sales_a):
    mine = customer_of(sales_a, phone="13812345678")
    settings.BLIND_INDEX_BITS = 9  # applies to the next index key, not to stored tokens
    found = signed_in(sales_a).post(SEARCH, {"phone": "13812345678"}, format="json")
    assert [row["id"] for row in found.json()["results"]] == [str(mine.pk)]


@pytest.mark.parametrize("body, field", [
    ({"phone": "12345"}, "phone"), ({"email": "nobody"}, "email"),
    ({"id_number": "110105194912310021"}, "id_number"),
    ({"phone": "13812345678", "q": "x"}, None), ({}, None),
])
def test_a_bad_search_is_a_clear_400(sales_a, body, field):
    response = signed_in(sales_a).post(SEARCH, body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    if field:
        assert field in error["fields"]


def test_detect_and_canonical_forms():
    assert detect(" 138 1234 5678 ") == ("phone", "+8613812345678")
    assert detect("Zhang@Example.COM") == ("email", "zhang@example.com")
    assert detect("11010519491231002x") == ("id_number", "11010519491231002X")
    assert detect("张三") is None and detect("12345") is None
    assert canonical("phone", "not a phone") is None
