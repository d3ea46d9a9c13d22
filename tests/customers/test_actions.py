import pytest
from django.core.exceptions import ValidationError

from anke.audit.models import AuditEvent
from anke.core.errors import ActionDenied, NotVisible, StaleVersion
from anke.customers.actions import (
    create_contact,
    create_customer,
    create_customers,
    delete_customer,
    update_customer,
    view_customer,
)
from anke.customers.models import Customer
from tests.helpers import read_back
from tests.personas import actor, customer_of


def test_create_normalises_contact_data_and_audits_field_names_only(sales_a):
    customer = create_customer(actor(sales_a), data={
        "name": "李四", "phone": "138-1234-5678", "email": "Li.Si@Example.COM",
        "id_number": "11010519491231002X", "tags": ["VIP", "老客户"],
    })
    customer = read_back(Customer, customer.pk)
    assert customer.phone == "+8613812345678"
    assert customer.email == "Li.Si@example.com"
    assert customer.owner == sales_a
    assert customer.department == sales_a.department
    assert sorted(t.name for t in customer.tags.all()) == ["VIP", "老客户"]
    event = AuditEvent.objects.get(action="customer.create")
    assert event.object_ids == [str(customer.pk)]
    assert "phone" in event.fields
    assert "13812345678" not in str(event.__dict__)


@pytest.mark.parametrize(("field", "value"), [
    ("phone", "12345"),
    ("email", "not-an-email"),
    ("id_number", "110105194912310021"),  # wrong check digit
    ("website", "javascript:alert(1)"),
    ("stage", "bogus"),
])
def test_bad_values_are_refused_and_nothing_is_saved(sales_a, field, value):
    with pytest.raises(ValidationError) as error:
        create_customer(actor(sales_a), data={"name": "王五", field: value})
    assert field in error.value.message_dict
    assert not Customer.objects.exists()
    assert not AuditEvent.objects.filter(action="customer.create").exists()


def test_credit_code_is_for_companies(sales_a):
    with pytest.raises(ValidationError) as error:
        create_customer(actor(sales_a), data={"name": "王五", "credit_code": "91110000100000589A"})
    assert "credit_code" in error.value.message_dict
    company = create_customer(actor(sales_a), data={
        "name": "北京某某科技有限公司", "kind": "company", "credit_code": "91110000100000589A"})
    assert company.credit_code == "91110000100000589A"


def test_stale_version_is_refused(sales_a):
    customer = customer_of(sales_a)
    update_customer(actor(sales_a), customer.pk, changes={"name": "张三丰"}, version=1)
    with pytest.raises(StaleVersion) as error:
        update_customer(actor(sales_a), customer.pk, changes={"name": "张无忌"}, version=1)
    assert error.value.current_version == 2
    assert Customer.objects.get(pk=customer.pk).name == "张三丰"


def test_update_records_only_changed_fields(sales_a):
    customer = customer_of(sales_a)
    update_customer(actor(sales_a), customer.pk,
                    changes={"name": "张三", "phone": "+86 139 1234 5678"}, version=1)
    event = AuditEvent.objects.filter(action="customer.update").get()
    assert event.fields == ["phone"]
    assert Customer.objects.get(pk=customer.pk).version == 2


def test_other_owners_customer_is_not_visible_and_the_attempt_is_audited(sales_a, sales_b):
    customer = customer_of(sales_a)
    with pytest.raises(NotVisible):
        view_customer(actor(sales_b), customer.pk)
    with pytest.raises(NotVisible):
        update_customer(actor(sales_b), customer.pk, changes={"name": "X"}, version=1)
    with pytest.raises(NotVisible):
        delete_customer(actor(sales_b), customer.pk)
    assert Customer.objects.get(pk=customer.pk).name == "张三"
    denied = AuditEvent.objects.filter(outcome="denied", actor=sales_b)
    assert sorted(denied.values_list("action", flat=True)) == [
        "customer.delete", "customer.update", "customer.view"]


def test_service_agent_sees_but_cannot_edit(cast):
    customer = customer_of(cast.sales_a)
    assert view_customer(actor(cast.service), customer.pk) == customer
    with pytest.raises(ActionDenied):
        update_customer(actor(cast.service), customer.pk, changes={"name": "X"}, version=1)


def test_reassigning_needs_the_right(cast):
    customer = customer_of(cast.sales_a)
    with pytest.raises(ActionDenied):
        update_customer(actor(cast.sales_a), customer.pk, changes={"owner": cast.sales_b.pk},
                        version=1)
    moved = update_customer(actor(cast.manager), customer.pk,
                            changes={"owner": cast.sales_b.pk}, version=1)
    assert moved.owner == cast.sales_b and moved.department == cast.north


def test_sales_manager_sees_the_department_subtree(cast):
    mine = customer_of(cast.sales_a)
    theirs = customer_of(cast.sales_b)
    visible = set(Customer.objects.visible_to(cast.sales_manager, "view"))
    assert mine in visible and theirs not in visible


@pytest.mark.parametrize("persona", ["admin", "auditor", "departed"])
def test_roles_without_customer_scope_see_nothing(cast, persona):
    customer_of(cast.sales_a)
    assert not Customer.objects.visible_to(getattr(cast, persona), "view").exists()


def test_bulk_create_is_all_or_nothing_with_row_numbers(cast):
    rows = [{"name": "甲"}, {"name": "乙", "phone": "bad"}, {"name": "丙"}]
    with pytest.raises(ValidationError) as error:
        create_customers(actor(cast.manager), rows)
    assert list(error.value.message_dict) == ["row 2"]
    assert not Customer.objects.exists()


def test_contact_on_invisible_customer_is_refused(cast):
    customer = customer_of(cast.sales_a)
    with pytest.raises(NotVisible):
        create_contact(actor(cast.sales_b), customer.pk, data={"name": "赵六"})
    contact = create_contact(actor(cast.sales_a), customer.pk,
                             data={"name": "赵六", "phone": "13900001111"})
    assert contact.phone == "+8613900001111"
