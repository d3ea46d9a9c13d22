"""User administration through the API: PATCH a user, deactivate (off-boarding), reactivate."""

import json

import pytest
import yaml

from anke.accounts.models import ApiToken, User
from anke.audit.models import AuditEvent
from anke.customers.models import Customer
from tests.api.conftest import signed_in, with_token
from tests.personas import customer_of


def events(action, **filters):
    # The cast's own off-boarding (the departed rep) ran through the operator's CLI actor.
    return list(AuditEvent.objects.filter(action=action, **filters)
                .exclude(auth_method="cli").order_by("id"))


def codes(user) -> list[str]:
    return sorted(User.objects.get(pk=user.pk).roles.values_list("code", flat=True))


def test_an_administrator_patches_details_and_roles(cast):
    response = signed_in(cast.admin).patch(f"/api/v1/users/{cast.sales_b.pk}/", {
        "display_name": "销售乙", "department": cast.east.pk, "manager": cast.sales_manager.pk,
        "roles": ["sales_rep", "sales_manager"]}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body == {
        "id": cast.sales_b.pk, "username": "sales_b", "display_name": "销售乙",
        "department": cast.east.pk, "region": cast.sales_b.region_id,
        "manager": cast.sales_manager.pk, "roles": ["sales_rep", "sales_manager"],
        "ip_allowlist": [], "is_active": True, "last_login": None}
    assert codes(cast.sales_b) == ["sales_manager", "sales_rep"]
    [event] = events("user.update")
    assert event.auth_method == "session" and event.actor == cast.admin
    assert json.loads(event.detail)["roles"] == [["sales_rep"], ["sales_manager", "sales_rep"]]


def test_a_token_of_an_administrator_cannot_change_users(cast):
    """A user change needs a person who has just confirmed who they are (step-up)."""
    client, token = with_token(cast.admin)
    assert client.get(f"/api/v1/users/{cast.sales_b.pk}/").status_code == 200
    response = client.patch(f"/api/v1/users/{cast.sales_b.pk}/", {"region": None},
                            format="json")
    assert response.status_code == 403
    assert response.json()["error"]["message"] == (
        "API tokens cannot do this: it needs a person who has just confirmed who they are.")
    assert User.objects.get(pk=cast.sales_b.pk).region_id == cast.sales_b.region_id
    [refused] = events("user.update")
    assert refused.outcome == "denied" and refused.reason == "step_up_required"
    assert refused.token_id == token.pk


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"roles": ["wizard"]}, "roles", "Unknown role: wizard"),
    ({"roles": "sales_rep"}, "roles", "Expected a list of items"),
    ({"department": 999999}, "department", "Choose an existing department."),
    ({"manager": "x"}, "manager", "A valid integer is required."),
    ({"manager": 10**30}, "manager", "less than or equal to"),
    ({"owner": 1}, "owner", "Unknown field."),
])
def test_bad_patches_are_400_naming_the_field(cast, body, field, message):
    response = signed_in(cast.admin).patch(f"/api/v1/users/{cast.sales_b.pk}/", body,
                                           format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and message in " ".join(error["fields"][field])
    assert codes(cast.sales_b) == ["sales_rep"]
    assert not events("user.update")


def test_an_unknown_user_is_404(cast):
    client = signed_in(cast.admin)
    assert client.patch("/api/v1/users/999999/", {}, format="json").status_code == 404
    assert client.post("/api/v1/users/999999/deactivate/", {"successor": cast.sales_a.pk},
                       format="json").status_code == 404
    assert client.post("/api/v1/users/999999/reactivate/").status_code == 404
    assert client.patch("/api/v1/users/abc/", {}, format="json").status_code == 404


def test_put_is_not_offered(cast):
    response = signed_in(cast.admin).put(f"/api/v1/users/{cast.sales_b.pk}/", {},
                                         format="json")
    assert response.status_code == 405


def test_deactivation_through_the_api(cast):
    customer = customer_of(cast.sales_b)
    client, token = with_token(cast.sales_b)
    response = signed_in(cast.admin).post(f"/api/v1/users/{cast.sales_b.pk}/deactivate/",
                                          {"successor": cast.sales_a.pk}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["user"]["is_active"] is False and body["successor"] == cast.sales_a.pk
    assert (body["customers"], body["deals"], body["tasks"], body["tickets"]) == (1, 0, 0, 0)
    assert body["tokens_revoked"] == 1
    assert Customer.objects.get(pk=customer.pk).owner == cast.sales_a
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert client.get("/api/v1/customers/").status_code == 401
    # the successor sees it through the API
    listed = signed_in(cast.sales_a).get("/api/v1/customers/").json()["results"]
    assert str(customer.pk) in {row["id"] for row in listed}

    response = signed_in(cast.admin).post(f"/api/v1/users/{cast.sales_b.pk}/reactivate/")
    assert response.status_code == 200 and response.json()["is_active"] is True
    assert [e.outcome for e in events("user.reactivate")] == ["allowed"]


@pytest.mark.parametrize(("body", "message"), [
    ({}, "Choose who takes over"),
    ({"successor": None}, "Choose who takes over"),
    ({"successor": "auditor"}, "A valid integer is required."),
    ({"successor": 0}, "greater than or equal to 1"),
    ({"successor": "self"}, "Choose someone other than the user who leaves."),
    ({"successor": "auditor_id"}, "may own customers"),
    ({"successor": 1, "force": True}, "Unknown field."),
])
def test_a_bad_deactivation_is_400_and_changes_nothing(cast, body, message):
    customer_of(cast.sales_b)
    if body.get("successor") == "self":
        body = {"successor": cast.sales_b.pk}
    elif body.get("successor") == "auditor_id":
        body = {"successor": cast.auditor.pk}
    response = signed_in(cast.admin).post(f"/api/v1/users/{cast.sales_b.pk}/deactivate/",
                                          body, format="json")
    assert response.status_code == 400
    assert message in json.dumps(response.json()["error"]["fields"], ensure_ascii=False)
    assert User.objects.get(pk=cast.sales_b.pk).is_active
    assert Customer.objects.filter(owner=cast.sales_b).count() == 1
    assert not events("user.deactivate")


def test_the_schema_documents_the_administration_endpoints(cast):
    schema = yaml.safe_load(signed_in(cast.sales_a).get("/api/v1/schema/").content)
    item = schema["paths"]["/api/v1/users/{id}/"]
    assert "patch" in item and "put" not in item and "delete" not in item
    assert set(item["patch"]["responses"]) >= {"200", "400", "403", "404"}
    request = schema["components"]["schemas"]["PatchedUserUpdateRequest"]["properties"]
    assert set(request) == {"display_name", "department", "region", "manager", "roles",
                            "ip_allowlist"}
    deactivate = schema["paths"]["/api/v1/users/{id}/deactivate/"]["post"]
    assert "DeactivateRequest" in json.dumps(deactivate["requestBody"])
    assert "Deactivation" in json.dumps(deactivate["responses"]["200"])
    assert "post" in schema["paths"]["/api/v1/users/{id}/reactivate/"]
