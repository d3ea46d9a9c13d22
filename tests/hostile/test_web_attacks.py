"""Attacks through the web UI that must fail (SECURITY.md §5), each asserting the refusal and
that nothing changed."""

import pytest
from django.test import Client
from django.urls import reverse

from anke.accounts.actions import create_api_token
from anke.audit.models import AuditEvent
from anke.core.context import Actor
from anke.customers.actions import create_contact
from anke.customers.models import ContactPerson, Customer
from tests.personas import actor, customer_of


@pytest.fixture
def victim(cast):
    customer = customer_of(cast.sales_a, name="受害者", phone="13811112222")
    contact = create_contact(actor(cast.sales_a), customer.pk, data={"name": "联系人"})
    return customer, contact


@pytest.fixture
def attacker(client, cast):
    client.force_login(cast.sales_b)
    return client


def _routes(customer, contact):
    return [
        ("get", reverse("customers:detail", args=[customer.pk]), {}),
        ("get", reverse("customers:edit", args=[customer.pk]), {}),
        ("post", reverse("customers:edit", args=[customer.pk]),
         {"kind": "individual", "name": "改名", "stage": "lead", "source": "other", "version": 1}),
        ("get", reverse("customers:delete", args=[customer.pk]), {}),
        ("post", reverse("customers:delete", args=[customer.pk]), {"version": 1}),
        ("get", reverse("customers:contact_create", args=[customer.pk]), {}),
        ("post", reverse("customers:contact_create", args=[customer.pk]), {"name": "间谍"}),
        ("post", reverse("customers:contact_edit", args=[contact.pk]),
         {"name": "改", "version": 1}),
        ("post", reverse("customers:contact_delete", args=[contact.pk]), {"version": 1}),
    ]


def test_another_owners_records_are_404_on_every_route_and_nothing_changes(victim, attacker):
    customer, contact = victim
    for method, url, data in _routes(customer, contact):
        response = getattr(attacker, method)(url, data)
        assert response.status_code == 404, url
        assert "受害者" not in response.content.decode()
    assert Customer.objects.get(pk=customer.pk).name == "受害者"
    assert list(ContactPerson.objects.values_list("name", flat=True)) == ["联系人"]
    assert AuditEvent.objects.filter(outcome="denied").count() == len(_routes(customer, contact))


def test_state_changes_need_the_csrf_token(cast):
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.sales_a)
    response = client.post(reverse("customers:create"), {
        "kind": "individual", "name": "伪造", "stage": "lead", "source": "other"})
    assert response.status_code == 403
    assert not Customer.objects.exists()


def test_get_never_deletes(victim, client, cast):
    customer, _contact = victim
    client.force_login(cast.sales_a)
    assert client.get(reverse("customers:delete", args=[customer.pk])).status_code == 200
    assert Customer.objects.filter(pk=customer.pk).exists()


@pytest.mark.parametrize("query", ["' OR 1=1 --", "%", "_", "\\", "受害者' UNION SELECT 1 --"])
def test_search_is_not_an_injection_point(victim, attacker, query):
    response = attacker.post(reverse("customers:list"), {"q": query})
    assert response.status_code == 200
    assert response.context["customers"] == []


def test_markup_in_customer_data_is_escaped(cast, client):
    customer = customer_of(cast.sales_a, name="<script>alert(1)</script>",
                           notes='"><img src=x onerror=alert(2)>')
    client.force_login(cast.sales_a)
    for url in (reverse("customers:list"), customer.get_absolute_url()):
        body = client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
        assert "<img src=x" not in body


def test_form_fields_outside_the_whitelist_are_ignored(cast, client):
    customer = customer_of(cast.sales_a)
    client.force_login(cast.sales_a)
    response = client.post(reverse("customers:edit", args=[customer.pk]), {
        "kind": "individual", "name": "张三", "stage": "lead", "source": "other",
        "phone": "13812345678", "version": 1,
        "owner": cast.sales_b.pk, "department": cast.north.pk, "id": "x",
        "created_at": "2000-01-01"})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.owner == cast.sales_a and customer.department == cast.east


def test_a_website_link_cannot_carry_javascript(cast, client):
    client.force_login(cast.sales_a)
    response = client.post(reverse("customers:create"), {
        "kind": "individual", "name": "链接", "stage": "lead", "source": "other",
        "website": "javascript:alert(document.cookie)"})
    assert response.status_code == 400
    assert 'data-field-error="website"' in response.content.decode()
    assert not Customer.objects.exists()


def test_another_users_token_cannot_be_revoked(cast, attacker):
    token, _secret = create_api_token(Actor.system(), cast.sales_a, name="mine")
    response = attacker.post(reverse("token_revoke", args=[token.pk]))
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_no_customer_data_for_roles_without_scope(victim, client, cast):
    for persona in (cast.admin, cast.auditor):
        client.force_login(persona)
        assert client.get(reverse("customers:list")).status_code == 200
        assert "受害者" not in client.get(reverse("customers:list")).content.decode()
        assert client.get(victim[0].get_absolute_url()).status_code == 404
