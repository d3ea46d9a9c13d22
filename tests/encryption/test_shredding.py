"""Crypto-shredding: one audited transaction, and afterwards no road shows the values."""

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from anke.audit.models import AuditEvent
from anke.core.context import Actor
from anke.core.errors import ActionDenied
from anke.customers.actions import (
    create_contact,
    delete_customer,
    shred_customer,
    update_customer,
)
from anke.customers.models import ContactPerson, Customer
from anke.encryption.fields import Unreadable
from anke.encryption.models import DataKey, Erasure
from anke.service.actions import open_ticket, update_ticket
from anke.service.models import Ticket
from tests.api.conftest import signed_in
from tests.helpers import read_back
from tests.personas import actor, customer_of


@pytest.fixture
def shredded(sales_a):
    customer = customer_of(sales_a, name="欧阳锋", email="oy@example.com",
                           id_number="11010519491231002X")
    create_contact(actor(sales_a), customer.pk, data={"name": "欧阳克", "phone": "13700001234"})
    assert shred_customer(Actor.system(), customer.pk, reason="data-subject request 7")
    return customer


def test_shredding_destroys_the_key_clears_indexes_and_records_it(shredded):
    key = DataKey.objects.get(subject_id=shredded.pk)
    assert (key.status, key.wrapped) == ("destroyed", "")
    assert Erasure.objects.get(subject_id=shredded.pk).reason == "data-subject request 7"
    assert Customer.objects.filter(pk=shredded.pk, phone_bidx=None, email_bidx=None,
                                   id_number_bidx=None).exists()
    assert not ContactPerson.objects.exclude(phone_bidx=None).exists()
    event = AuditEvent.objects.get(action="customer.shred")
    assert event.object_ids == [str(shredded.pk)] and "phone" in event.fields
    assert event.reason == "data-subject request 7"
    again = read_back(Customer, shredded.pk)
    assert isinstance(again.phone, Unreadable) and again.phone.reason == "erased"
    assert str(again.id_number) == "[erased]"


def test_no_road_shows_a_shredded_customer(shredded, client_a, sales_a):
    page = client_a.get(reverse("customers:detail", args=[shredded.pk])).content.decode()
    assert "[erased]" in page and "欧阳锋" in page
    assert "13812345678" not in page and "138 1234 5678" not in page and "oy@" not in page
    assert "1370000" not in page and "137 0000" not in page
    api = signed_in(sales_a)
    body = api.get(f"/api/v1/customers/{shredded.pk}/").json()
    assert body["phone"] is None and body["email"] is None
    assert body["unreadable_fields"]["phone"] == "erased"
    found = api.post("/api/v1/customers/search/", {"phone": "13812345678"}, format="json")
    assert found.json()["results"] == []
    contacts = api.get("/api/v1/contacts/", {"customer": str(shredded.pk)}).json()["results"]
    assert contacts[0]["phone"] is None


def test_a_shredded_customers_personal_data_can_no_longer_be_written(shredded, sales_a):
    with pytest.raises(ValidationError, match="erased"):
        update_customer(actor(sales_a), shredded.pk, changes={"phone": "13900000000"},
                        version=1)
    with pytest.raises(ValidationError, match="erased"):
        create_contact(actor(sales_a), shredded.pk, data={"name": "新人", "phone": "13700009999"})
    with pytest.raises(ValidationError, match="erased"):
        open_ticket(actor(sales_a), shredded.pk, data={"subject": "新问题", "description": "x"})
    assert ContactPerson.objects.filter(customer_id=shredded.pk).count() == 1
    assert read_back(Customer, shredded.pk).phone.reason == "erased"


def test_the_rest_of_a_shredded_record_can_still_change(sales_a, cast):
    # An open ticket of an erased customer must still be closable, a stage still settable.
    customer = customer_of(sales_a, id_number="11010519491231002X")
    ticket = open_ticket(actor(sales_a), customer.pk, data={"subject": "屏幕坏了",
                                                             "description": "第二天就坏了"})
    shred_customer(Actor.system(), customer.pk, reason="request")
    update_customer(actor(sales_a), customer.pk, changes={"stage": "churned"}, version=1)
    update_ticket(actor(sales_a), ticket.pk, changes={"status": "closed"}, version=1)
    assert Customer.objects.get(pk=customer.pk).stage == "churned"
    closed = read_back(Ticket, ticket.pk)
    assert closed.status == "closed" and closed.description.reason == "erased"


def test_shredding_again_says_so_and_needs_a_reason(shredded):
    assert shred_customer(Actor.system(), shredded.pk, reason="again") is False
    with pytest.raises(Exception, match="reason"):
        shred_customer(Actor.system(), shredded.pk, reason="  ")


def test_a_user_without_the_right_cannot_shred(sales_a):
    customer = customer_of(sales_a)
    with pytest.raises(ActionDenied):
        shred_customer(actor(sales_a), customer.pk, reason="mine")
    assert DataKey.objects.get(subject_id=customer.pk).status == "active"
    assert AuditEvent.objects.filter(action="customer.shred", outcome="denied").exists()


def test_the_shred_command(sales_a, capsys):
    customer = customer_of(sales_a)
    call_command("customer", "shred", str(customer.pk), "--reason", "erasure request")
    assert "shredded" in capsys.readouterr().out
    with pytest.raises(CommandError, match="No customer"):
        call_command("customer", "shred", "not-a-uuid", "--reason", "x")


def test_deleting_a_customer_destroys_its_key(sales_a):
    customer = customer_of(sales_a)
    delete_customer(actor(sales_a), customer.pk)
    assert DataKey.objects.get(subject_id=customer.pk).status == "destroyed"
    assert Erasure.objects.filter(subject_id=customer.pk, reason="deleted").exists()
