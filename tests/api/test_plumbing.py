"""Schema, docs page, throttling and the error body for malformed requests."""

import pytest
import yaml
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from anke.customers.models import Customer
from tests.api.conftest import signed_in
from tests.personas import customer_of


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
