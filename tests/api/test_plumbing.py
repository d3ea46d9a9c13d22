"""Schema, docs page, throttling and the error body for malformed requests."""

import json

import pytest
import yaml
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from anke.api_urls import render_docs
from anke.customers.models import Customer
from anke.service.actions import open_ticket
from tests.api.conftest import signed_in
from tests.personas import actor, customer_of


def test_the_schema_is_openapi_3_with_bearer_auth(as_sales_a):
    response = as_sales_a.get("/api/v1/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": schema["components"][
            "securitySchemes"]["bearerAuth"]["description"]}
    for path in ("customers", "contacts", "deals", "activities", "tasks", "orders", "tickets",
                 "pipeline-stages", "users", "tokens"):
        assert f"/api/v1/{path}/" in schema["paths"]
    patch = schema["paths"]["/api/v1/customers/{id}/"]["patch"]
    if_match = next(p for p in patch["parameters"] if p["name"] == "If-Match")
    assert if_match["in"] == "header" and if_match["required"] is True
    assert "428" in patch["responses"] and "409" in patch["responses"]
    request = schema["components"]["schemas"]["PatchedCustomerRequest"]["properties"]
    assert "owner" not in request and "version" not in request


def test_the_schema_needs_a_signed_in_user(db):
    assert APIClient().get("/api/v1/schema/").status_code == 401


def test_the_docs_page_is_plain_html_under_the_csp(as_sales_a):
    response = as_sales_a.get("/api/v1/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "<script" not in html and "<style" not in html and " style=" not in html
    assert "PATCH /api/v1/customers/{id}/" in html
    assert "If-Match" in html
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_the_docs_page_needs_a_signed_in_user(db):
    assert APIClient().get("/api/v1/docs/").status_code == 401


def test_throttling_answers_429_with_the_error_body(as_sales_a, monkeypatch):
    # DRF reads DEFAULT_THROTTLE_RATES once at import (class attribute), so overriding
    # settings in a test would not reach it; set the rates the throttles actually use.
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"user": "3/min", "anon": "3/min"})
    statuses = [as_sales_a.get("/api/v1/customers/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = as_sales_a.get("/api/v1/customers/")
    assert response.json()["error"]["code"] == "throttled"
    assert int(response["Retry-After"]) > 0


def test_malformed_json_is_400(as_sales_a):
    response = as_sales_a.post("/api/v1/customers/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_forms_are_not_accepted(as_sales_a):
    response = as_sales_a.post("/api/v1/customers/", {"name": "王五"})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert not Customer.objects.exists()


@pytest.mark.parametrize("body", [[], "x", 1, None, [{"name": "x"}], {"name": ["x"]},
                                  {"name": {"a": 1}}, {"tags": [None]}, {"tags": [{"a": 1}]},
                                  {"name": "x", "birthday": 1}])
def test_odd_json_shapes_are_400(as_sales_a, body):
    response = as_sales_a.post("/api/v1/customers/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("invalid", "parse_error")


@pytest.mark.parametrize("path", [
    "/api/v1/customers/?customer=1", "/api/v1/deals/?owner=-1", "/api/v1/deals/?stage=" + "x" * 40,
    "/api/v1/tickets/?assignee=9999999999999999999999", "/api/v1/tasks/?due_before=tomorrow",
    "/api/v1/tasks/?done=maybe", "/api/v1/activities/?deal=1", "/api/v1/orders/?status=lost",
    "/api/v1/customers/?ordering=phone", "/api/v1/customers/?page_size=abc",
    "/api/v1/users/?ordering=department", "/api/v1/tokens/99999999999999999999999/",
    "/api/v1/users/99999999999999999999999/", "/api/v1/pipeline-stages/x/",
])
def test_odd_queries_are_never_a_500(as_sales_a, sales_a, path):
    customer_of(sales_a)
    response = as_sales_a.get(path)
    assert response.status_code in (200, 400, 404)
    assert response["Content-Type"] == "application/json"


def test_ordering_by_a_field_not_listed_is_ignored(as_sales_a, sales_a):
    customer_of(sales_a, name="甲")
    response = as_sales_a.get("/api/v1/customers/", {"ordering": "phone"})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_out_of_range_ids_in_bodies_are_400(cast):
    customer = customer_of(cast.sales_a)
    response = signed_in(cast.service).post("/api/v1/tickets/", {
        "customer": str(customer.pk), "subject": "X", "assignee": 10**30}, format="json")
    assert response.status_code == 400
    assert "assignee" in response.json()["error"]["fields"]


@pytest.mark.parametrize("path", ["/api/v1/nothing/", "/api/v1/customers/a/b/"])
def test_unknown_api_paths_are_a_json_404(db, path):
    response = APIClient().get(path)
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}


def test_a_missing_slash_is_still_redirected(as_sales_a):
    response = as_sales_a.get("/api/v1/customers")
    assert response.status_code == 301
    assert response["Location"] == "/api/v1/customers/"


def test_the_api_root_lists_the_endpoints(as_sales_a):
    response = as_sales_a.get("/api/v1/")
    assert response.status_code == 200
    assert "customers" in response.json()


_values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.lists(st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=5),
                                                               st.integers(), max_size=2),
)
_FIELDS = ["name", "kind", "stage", "phone", "email", "id_number", "credit_code", "birthday",
           "website", "tags", "customer", "title", "amount", "items", "due_at", "deal",
           "assignee", "priority", "satisfaction", "occurred_at", "expected_close"]


@pytest.mark.parametrize("path", ["customers", "deals", "orders", "tickets", "activities"])
def test_random_bodies_are_never_a_500(cast, path):
    customer = customer_of(cast.manager)
    client = signed_in(cast.manager)

    @hypothesis_settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(body=st.dictionaries(st.sampled_from(_FIELDS), _values, max_size=5),
           with_customer=st.booleans())
    def post(body, with_customer):
        if with_customer:
            body = {**body, "customer": str(customer.pk)}
        # json.dumps, not format="json": NaN and Infinity must reach the server's parser.
        response = client.post(f"/api/v1/{path}/", json.dumps(body),
                               content_type="application/json")
        assert response.status_code in (201, 400, 404), response.content
        assert response["Content-Type"] == "application/json"

    post()


@pytest.mark.parametrize("path", ["customers", "tickets"])
def test_random_edits_are_never_a_500(cast, path):
    customer = customer_of(cast.manager)
    client = signed_in(cast.manager)
    record = customer if path == "customers" else open_ticket(
        actor(cast.manager), customer.pk, data={"subject": "X"})

    @hypothesis_settings(max_examples=40, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.too_slow])
    @given(body=st.dictionaries(st.sampled_from(_FIELDS + ["status", "description"]), _values,
                                max_size=4),
           if_match=st.one_of(st.just('"1"'), st.text(max_size=5)))
    def patch(body, if_match):
        response = client.patch(f"/api/v1/{path}/{record.pk}/", json.dumps(body),
                                content_type="application/json", HTTP_IF_MATCH=if_match)
        assert response.status_code in (200, 400, 404, 409, 428), response.content

    patch()


def test_the_docs_page_escapes_what_the_schema_says():
    html = render_docs({
        "info": {"title": "<script>alert(1)</script>"},
        "paths": {"/a/": {"get": {"operationId": 'x"><img src=x onerror=alert(1)>',
                                  "description": "<b>bold</b>",
                                  "parameters": [{"name": "<i>", "in": "query"}]}}},
        "components": {"schemas": {"<u>": {"properties": {"<s>": {"type": "string"}}}}},
    })
    assert "<script>" not in html and "<img" not in html
    assert "<b>" not in html and "<i>" not in html and "<u>" not in html and "<s>" not in html
    assert "&lt;script&gt;" in html
