"""Field policies: masking, withheld fields, per-record union of roles, and writes they refuse."""

import datetime

import pytest
from django.urls import reverse

from anke.access.catalogue import FieldAccess
from anke.access.masking import (
    PresentedObjectSaved,
    mask_email,
    mask_id_number,
    mask_name,
    mask_phone,
)
from anke.access.models import Role, classified_field_keys
from anke.access.policy import forget_roles
from anke.audit.models import AuditEvent
from anke.customers.actions import create_contact, update_customer, view_customer
from anke.customers.models import Customer
from anke.service.actions import open_ticket
from tests.api.conftest import signed_in
from tests.conftest import tripwire_off
from tests.personas import actor, customer_of

URL = "/api/v1/customers/"
CLEAR = {
    "name": "张三丰", "phone": "13812345678", "email": "zhangsan@example.com",
    "id_number": "11010519491231002X", "street": "朝阳路88号",
    "birthday": datetime.date(1990, 3, 7), "preferences": "喜欢喝茶", "notes": "女儿在上小学",
}


@pytest.mark.parametrize(("masker", "value", "shown"), [
    (mask_phone, "+8613812345678", "138****5678"),
    (mask_phone, "+14155552671", "+1 415***2671"),
    (mask_email, "zhangsan@example.com", "z***@example.com"),
    (mask_id_number, "110101199003071234", "1101**********1234"),
    (mask_id_number, "91350100M000100Y43", "9135**********0Y43"),
    (mask_name, "张三丰", "张*丰"),
    (mask_name, "欧阳娜娜", "欧**娜"),
    (mask_name, "张三", "张*"),
    (mask_name, "张", "*"),
])
def test_masks(masker, value, shown):
    assert masker(value) == shown


@pytest.fixture
def rich_customer(cast):
    return customer_of(cast.sales_a, **CLEAR)


def test_a_service_agent_reads_a_customer_masked_in_json(cast, rich_customer):
    body = signed_in(cast.service).get(f"{URL}{rich_customer.pk}/").json()
    assert {k: body[k] for k in ("name", "phone", "email", "id_number", "street", "birthday",
                                 "preferences", "notes")} == {
        "name": "张*丰", "phone": "138****5678", "email": "z***@example.com",
        "id_number": "1101**********002X", "street": "***", "birthday": "****-**-**",
        "preferences": "***", "notes": "***"}
    assert body["restricted_fields"]["phone"] == "masked"
    assert body["company"] == "" and body["unreadable_fields"] == {}


def test_the_owner_reads_the_same_customer_in_clear(cast, rich_customer):
    body = signed_in(cast.sales_a).get(f"{URL}{rich_customer.pk}/").json()
    assert (body["name"], body["phone"], body["id_number"]) == (
        "张三丰", "+8613812345678", "11010519491231002X")
    assert body["restricted_fields"] == {}


def test_a_masked_role_finds_a_customer_by_full_phone_and_gets_it_masked(cast, rich_customer):
    for typed in ("13812345678", "+86 138 1234 5678", "138-1234-5678"):
        response = signed_in(cast.service).post(f"{URL}search/", {"phone": typed},
                                                format="json")
        rows = response.json()["results"]
        assert [(r["id"], r["phone"], r["name"]) for r in rows] == [
            (str(rich_customer.pk), "138****5678", "张*丰")]


def test_html_pages_show_the_masked_values(client, cast, rich_customer):
    open_ticket(actor(cast.sales_a), rich_customer.pk,
                data={"subject": "发票开错了", "assignee": cast.service})
    create_contact(actor(cast.sales_a), rich_customer.pk,
                   data={"name": "李小龙", "phone": "13611112222"})
    client.force_login(cast.service)
    detail = client.get(rich_customer.get_absolute_url()).content.decode()
    listing = client.get(reverse("customers:list")).content.decode()
    tickets = client.get(reverse("service:list")).content.decode()
    assert "138****5678" in detail and "张*丰" in detail and "136****2222" in detail
    assert "李小龙" not in detail and "13611112222" not in detail and "136 1111 2222" not in detail
    assert "张*丰" in listing and "张*丰" in tickets
    for page in (detail, listing, tickets):
        assert "张三丰" not in page and "13812345678" not in page and "138 1234 5678" not in page


def _role(code, levels: dict, *, scope="all", permissions=("customer.view", "contact.view")):
    keys = classified_field_keys()
    with tripwire_off():  # staged configuration; role administration has its own tests
        return Role.objects.create(
            code=code, name=code, permissions=list(permissions),
            scopes={"customer": scope, "contact": scope},
            field_policies={key: levels.get(key, FieldAccess.MASKED) for key in keys})


def _give(user, *roles):
    with tripwire_off():
        user.roles.add(*roles)
    forget_roles(user)


def test_a_hidden_field_is_null_and_is_no_search_key(cast, rich_customer):
    hider = _role("phone_hidden", {"customer.phone": "hidden", "contactperson.phone": "hidden",
                                  "customer.name": "read"})
    _give(cast.auditor, hider)
    client = signed_in(cast.auditor)
    body = client.get(f"{URL}{rich_customer.pk}/").json()
    assert body["phone"] is None and body["restricted_fields"]["phone"] == "hidden"
    assert body["name"] == "张三丰" and "name" not in body["restricted_fields"]
    found = client.post(f"{URL}search/", {"phone": "13812345678"}, format="json").json()
    assert found["results"] == []
    by_mail = client.post(f"{URL}search/", {"email": "zhangsan@example.com"}, format="json")
    assert [r["id"] for r in by_mail.json()["results"]] == [str(rich_customer.pk)]


def test_roles_combine_per_record(cast):
    """Own customers in clear (sales rep), everyone else's masked (a masked all-scope role)."""
    own = customer_of(cast.sales_a, name="李四", phone="13900001111")
    other = customer_of(cast.sales_b, name="王五", phone="13700002222")
    _give(cast.sales_a, _role("masked_all", {}))
    rows = {r["id"]: r for r in signed_in(cast.sales_a).get(URL).json()["results"]}
    assert (rows[str(own.pk)]["name"], rows[str(own.pk)]["phone"]) == ("李四", "+8613900001111")
    assert (rows[str(other.pk)]["name"], rows[str(other.pk)]["phone"]) == ("王*", "137****2222")


def test_contacts_of_a_masked_customer_are_masked(cast, rich_customer):
    create_contact(actor(cast.sales_a), rich_customer.pk,
                   data={"name": "李小龙", "phone": "13611112222", "email": "li@example.com"})
    rows = signed_in(cast.service).get("/api/v1/contacts/").json()["results"]
    assert [(r["name"], r["phone"], r["email"]) for r in rows] == [
        ("李*龙", "136****2222", "l***@example.com")]


def test_a_masked_field_cannot_be_written_even_unchanged(cast, rich_customer):
    editor = _role("masked_editor", {"customer.name": "edit"},
                   permissions=("customer.view", "customer.edit"))
    _give(cast.auditor, editor)
    client = signed_in(cast.auditor)
    response = client.patch(f"{URL}{rich_customer.pk}/", {"phone": "138****5678"},
                            format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 403
    assert response.json()["error"]["message"] == (
        "Your role may not change these fields: phone.")
    refused = AuditEvent.objects.filter(action="customer.update", outcome="denied").get()
    assert (refused.reason, refused.fields) == ("field_not_editable", ["phone"])
    fresh = view_customer(actor(cast.sales_a), rich_customer.pk)
    assert (fresh.phone, fresh.version) == ("+8613812345678", 1)
    renamed = client.patch(f"{URL}{rich_customer.pk}/", {"name": "张三"}, format="json",
                           HTTP_IF_MATCH='"1"')
    assert renamed.status_code == 200 and renamed.json()["name"] == "张三"
    assert renamed.json()["phone"] == "138****5678"


def test_the_edit_form_leaves_out_fields_the_role_may_not_edit(client, cast, rich_customer):
    _give(cast.auditor, _role("name_editor", {"customer.name": "edit"},
                              permissions=("customer.view", "customer.edit")))
    client.force_login(cast.auditor)
    edit = reverse("customers:edit", args=[rich_customer.pk])
    form = client.get(edit).context["form"]
    assert "name" in form.fields and "phone" not in form.fields and "notes" not in form.fields
    response = client.post(edit, {"name": "张三", "kind": "individual", "stage": "lead",
                                  "source": "other", "phone": "13999999999", "version": 1})
    assert response.status_code == 302
    fresh = view_customer(actor(cast.sales_a), rich_customer.pk)
    assert (fresh.name, fresh.phone) == ("张三", "+8613812345678")


def test_a_presented_object_refuses_to_be_saved(cast, rich_customer):
    shown = view_customer(actor(cast.service), rich_customer.pk)
    assert shown.phone == "138****5678"
    with pytest.raises(PresentedObjectSaved):
        shown.save()
    assert Customer.objects.filter(pk=rich_customer.pk, version=1).exists()


def test_masking_decrypts_only_what_is_read(cast, rich_customer):
    shown = view_customer(actor(cast.service), rich_customer.pk)
    assert type(shown.__dict__["notes"]).__name__ == "Sealed"  # nobody read it: still sealed
    assert shown.email == "z***@example.com"


def test_updates_by_the_owner_still_work_after_masking_exists(cast, rich_customer):
    updated = update_customer(actor(cast.sales_a), rich_customer.pk,
                              changes={"phone": "13900000000"}, version=1)
    assert updated.version == 2
