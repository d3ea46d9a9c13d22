"""Revealing masked fields: a right, a reason, an audit event, a limit, one answer only."""

import pytest

from anke.audit.models import AuditEvent
from tests.access.test_masking import CLEAR, _give, _role
from tests.api.conftest import signed_in
from tests.personas import customer_of

URL = "/api/v1/customers/"
REASON = "客户来电核实身份，需要完整号码回拨"


@pytest.fixture
def rich_customer(cast):
    return customer_of(cast.sales_a, **CLEAR)


def reveal(client, customer, **body):
    return client.post(f"{URL}{customer.pk}/reveal/", {"reason": REASON, **body}, format="json")


def test_a_service_agent_reveals_a_phone_for_one_answer(cast, rich_customer):
    client = signed_in(cast.service)
    response = reveal(client, rich_customer, field_names=["phone", "id_number"])
    assert response.status_code == 200
    assert response.json() == {"phone": "+8613812345678", "id_number": "11010519491231002X"}
    assert response["Cache-Control"] == "no-store"
    event = AuditEvent.objects.get(action="customer.reveal")
    assert (event.outcome, event.fields, event.reason, event.customer_ids) == (
        "allowed", ["id_number", "phone"], REASON, [str(rich_customer.pk)])
    assert client.get(f"{URL}{rich_customer.pk}/").json()["phone"] == "138****5678"


@pytest.mark.parametrize(("body", "field"), [
    ({"field_names": ["phone"], "reason": "看看"}, "reason"),
    ({"field_names": ["company"]}, "fields"),
    ({"field_names": ["nonsense"]}, "fields"),
    ({"field_names": []}, "field_names"),
])
def test_a_reveal_needs_a_reason_and_masked_fields(cast, rich_customer, body, field):
    response = reveal(signed_in(cast.service), rich_customer, **body)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not AuditEvent.objects.filter(action="customer.reveal").exists()


def test_a_hidden_field_cannot_be_revealed(cast, rich_customer):
    _give(cast.auditor, _role("reveal_hidden", {"customer.phone": "hidden"},
                              permissions=("customer.view", "customer.reveal")))
    response = reveal(signed_in(cast.auditor), rich_customer, field_names=["phone"])
    assert response.status_code == 400 and "fields" in response.json()["error"]["fields"]


def test_without_the_right_a_reveal_is_refused_and_audited(cast, rich_customer):
    _give(cast.auditor, _role("masked_reader", {}))
    response = reveal(signed_in(cast.auditor), rich_customer, field_names=["phone"])
    assert response.status_code == 403
    event = AuditEvent.objects.get(action="customer.reveal")
    assert (event.outcome, event.reason) == ("denied", "not_permitted")
    assert "13812345678" not in response.content.decode()


def test_a_customer_out_of_scope_is_not_found(cast):
    other = customer_of(cast.sales_b, **CLEAR)
    _give(cast.sales_a, _role("own_reveal", {}, scope="own",
                              permissions=("customer.view", "customer.reveal")))
    response = reveal(signed_in(cast.sales_a), other, field_names=["phone"])
    assert response.status_code == 404
    assert AuditEvent.objects.get(action="customer.reveal").outcome == "denied"


def test_reveals_are_limited_per_user_per_hour(cast, rich_customer, settings):
    settings.REVEALS_PER_HOUR = 2
    client = signed_in(cast.service)
    for _ in range(2):
        assert reveal(client, rich_customer, field_names=["phone"]).status_code == 200
    refused = reveal(client, rich_customer, field_names=["phone"])
    assert refused.status_code == 429 and 0 < int(refused["Retry-After"]) <= 3600
    assert "13812345678" not in refused.content.decode()
    outcomes = list(AuditEvent.objects.filter(action="customer.reveal").order_by("id")
                    .values_list("outcome", "reason"))
    assert outcomes == [("allowed", REASON), ("allowed", REASON), ("denied", "rate_limited")]


def test_the_customer_page_reveals_in_that_answer_only(client, cast, rich_customer):
    client.force_login(cast.service)
    page = client.get(rich_customer.get_absolute_url())
    assert "138****5678" in page.content.decode() and page.context["reveal_form"] is not None
    answer = client.post(rich_customer.get_absolute_url(),
                         {"field_names": ["phone"], "reason": REASON})
    html = answer.content.decode()
    assert answer.status_code == 200 and answer["Cache-Control"] == "no-store"
    assert "138 1234 5678" in html and 'data-testid="revealed"' in html
    assert "z***@example.com" in html  # only what was asked for
    again = client.get(rich_customer.get_absolute_url()).content.decode()
    assert "138 1234 5678" not in again and "138****5678" in again


def test_a_reveal_without_a_reason_shows_the_error_next_to_the_field(client, cast,
                                                                     rich_customer):
    client.force_login(cast.service)
    answer = client.post(rich_customer.get_absolute_url(), {"field_names": ["phone"]})
    assert answer.status_code == 400
    assert 'data-field-error="reason"' in answer.content.decode()
    assert "138 1234 5678" not in answer.content.decode()
    assert not AuditEvent.objects.filter(action="customer.reveal").exists()


def test_the_owner_is_not_offered_a_reveal(client, cast, rich_customer):
    client.force_login(cast.sales_a)
    assert client.get(rich_customer.get_absolute_url()).context["reveal_form"] is None
