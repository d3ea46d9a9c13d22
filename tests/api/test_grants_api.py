"""The grants and access-review endpoints: thin edges over the same actions."""

import uuid
from datetime import timedelta

import pytest
import yaml
from django.utils import timezone

from anke.access.models import Grant, ReviewItem
from anke.audit.models import AuditEvent
from tests.api.conftest import signed_in, with_token
from tests.conftest import tripwire_off
from tests.personas import customer_of

GRANTS = "/api/v1/grants/"
REVIEWS = "/api/v1/reviews/"
ITEMS = "/api/v1/review-items/"


def later(**delta):
    return (timezone.now() + timedelta(**(delta or {"days": 1}))).isoformat()


def grant_body(user, customers, **extra):
    return {"user": user.pk, "permissions": ["customer.view"],
            "customers": [str(c.pk) for c in customers], "field_access": "masked",
            "reason": "covering a holiday", "expires_at": later(), **extra}


def expire_all():
    with tripwire_off():
        Grant.objects.update(starts_at=timezone.now() - timedelta(days=2),
                             expires_at=timezone.now() - timedelta(seconds=1))


# --- grants -------------------------------------------------------------------------------------


def test_a_grant_opens_one_customer_to_another_rep_until_it_expires(cast):
    listed = customer_of(cast.sales_a, name="甲")
    customer_of(cast.sales_a, name="乙")
    response = signed_in(cast.manager).post(GRANTS, grant_body(cast.sales_b, [listed]),
                                            format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["user"] == cast.sales_b.pk and body["granted_by"] == cast.manager.pk
    assert body["customers"] == [str(listed.pk)] and body["active"] is True
    assert body["break_glass"] is False

    rep = signed_in(cast.sales_b)
    assert rep.get(f"/api/v1/customers/{listed.pk}/").status_code == 200
    assert [r["id"] for r in rep.get("/api/v1/customers/").json()["results"]] == [str(listed.pk)]

    expire_all()
    assert rep.get(f"/api/v1/customers/{listed.pk}/").status_code == 404
    denied = AuditEvent.objects.filter(action="customer.view", outcome="denied").get()
    assert denied.actor == cast.sales_b and denied.customer_ids == [str(listed.pk)]
    assert rep.get("/api/v1/customers/").json()["results"] == []


def test_refusals_answer_with_the_error_body_and_create_nothing(cast):
    hidden = customer_of(cast.sales_b)
    own = customer_of(cast.sales_a)
    client = signed_in(cast.sales_manager)
    cases = [
        (grant_body(cast.sales_a, [hidden]), 404, "not_found"),
        (grant_body(cast.sales_a, [own], permissions=["customer.fly"]), 400, "invalid"),
        (grant_body(cast.sales_manager, [own]), 403, "permission_denied"),
        (grant_body(cast.sales_a, [own], expires_at=later(days=31)), 400, "invalid"),
        (grant_body(cast.sales_a, [own], granted_by=cast.manager.pk), 400, "invalid"),
        (grant_body(cast.sales_a, [], scope="all"), 403, "permission_denied"),
    ]
    for body, code, error in cases:
        response = client.post(GRANTS, body, format="json")
        assert response.status_code == code, (body, response.json())
        assert response.json()["error"]["code"] == error
    assert not Grant.objects.exists()


def test_a_permission_the_grantor_lacks_is_403(cast):
    own = customer_of(cast.sales_a)
    response = signed_in(cast.sales_manager).post(
        GRANTS, grant_body(cast.sales_a, [own], permissions=["customer.view", "customer.export"]),
        format="json")
    assert response.status_code == 403
    assert response.json()["error"]["message"] == (
        "You can grant only permissions your own roles give you.")
    assert not Grant.objects.exists()


def test_the_list_shows_grants_given_or_held_and_all_to_approvers(cast):
    listed = customer_of(cast.sales_a)
    signed_in(cast.manager).post(GRANTS, grant_body(cast.sales_b, [listed]), format="json")
    [grant] = Grant.objects.all()
    assert [g["id"] for g in signed_in(cast.sales_b).get(GRANTS).json()["results"]] == [grant.pk]
    assert signed_in(cast.sales_a).get(GRANTS).json()["results"] == []
    assert signed_in(cast.sales_a).get(f"{GRANTS}{grant.pk}/").status_code == 404
    admin_view = signed_in(cast.admin).get(GRANTS).json()["results"]
    assert [g["customers"] for g in admin_view] == [[str(listed.pk)]]


def test_the_holder_revokes_a_grant_through_the_api(cast):
    listed = customer_of(cast.sales_a)
    signed_in(cast.manager).post(GRANTS, grant_body(cast.sales_b, [listed]), format="json")
    grant = Grant.objects.get()
    rep = signed_in(cast.sales_b)
    assert rep.post(f"{GRANTS}{grant.pk}/revoke/", {}, format="json").status_code == 400
    response = rep.post(f"{GRANTS}{grant.pk}/revoke/", {"reason": "done"}, format="json")
    assert response.status_code == 200
    assert response.json()["active"] is False and response.json()["revoked_by"] == cast.sales_b.pk
    assert rep.get(f"/api/v1/customers/{listed.pk}/").status_code == 404
    stranger = signed_in(cast.sales_a).post(f"{GRANTS}{grant.pk}/revoke/", {"reason": "x"},
                                            format="json")
    assert stranger.status_code == 404


def test_break_glass_through_the_api(cast):
    far = customer_of(cast.sales_b, phone="13900002222")
    body = {"customers": [str(far.pk)], "reason": "customer on the phone, owner away",
            "minutes": 15}
    refused = signed_in(cast.sales_a).post(f"{GRANTS}break-glass/", body, format="json")
    assert refused.status_code == 403
    assert AuditEvent.objects.get(action="grant.break_glass").outcome == "denied"

    client = signed_in(cast.sales_manager)
    response = client.post(f"{GRANTS}break-glass/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["break_glass"] is True
    assert response.json()["field_access"] == "read"
    shown = client.get(f"/api/v1/customers/{far.pk}/")
    assert shown.status_code == 200 and shown.json()["phone"] == "+8613900002222"
    assert client.patch(f"/api/v1/customers/{far.pk}/", {"stage": "vip"}, format="json",
                        HTTP_IF_MATCH='"1"').status_code == 403  # read, not edit
    expire_all()
    assert client.get(f"/api/v1/customers/{far.pk}/").status_code == 404


@pytest.mark.parametrize("body", [
    {"customers": [], "reason": "customer on the phone, owner away", "minutes": 15},
    {"customers": ["x"], "reason": "customer on the phone, owner away", "minutes": 15},
    {"customers": [str(uuid.uuid4())], "reason": "short", "minutes": 15},
    {"customers": [str(uuid.uuid4())], "reason": "customer on the phone, owner away",
     "minutes": 10_000},
    {"customers": [str(uuid.uuid4())], "reason": "customer on the phone, owner away",
     "minutes": 15, "break_glass": False},
])
def test_bad_break_glass_bodies_are_400(cast, body):
    response = signed_in(cast.sales_manager).post(f"{GRANTS}break-glass/", body, format="json")
    assert response.status_code == 400, response.json()
    assert not Grant.objects.exists()


def test_break_glass_on_an_unknown_customer_is_404(cast):
    response = signed_in(cast.sales_manager).post(f"{GRANTS}break-glass/", {
        "customers": [str(uuid.uuid4())], "reason": "customer on the phone, owner away",
        "minutes": 15}, format="json")
    assert response.status_code == 404
    assert not Grant.objects.exists()


def test_a_token_acts_with_its_users_rights_here_too(cast):
    client, _token = with_token(cast.sales_b)
    assert client.get(GRANTS).status_code == 200
    assert client.post(GRANTS, grant_body(cast.sales_a, []), format="json").status_code == 403


# --- reviews ------------------------------------------------------------------------------------


def test_a_review_round_trip(cast):
    customer = customer_of(cast.sales_a)
    admin = signed_in(cast.admin)
    response = admin.post(REVIEWS, {"name": "Q1", "due_at": later(days=7)}, format="json")
    assert response.status_code == 201, response.json()
    review = response.json()
    assert review["items"] == 7 and review["undecided"] == 7 and review["closed_at"] is None
    assert [r["id"] for r in admin.get(REVIEWS).json()["results"]] == [review["id"]]

    boss = signed_in(cast.sales_manager)
    [item] = boss.get(ITEMS).json()["results"]
    assert item["subject"] == cast.sales_a.pk and item["role"] == "sales_rep"
    assert item["decision"] == "" and item["overdue"] is False
    assert boss.get(f"{ITEMS}{item['id']}/").json()["campaign_name"] == "Q1"
    assert admin.get(f"{REVIEWS}{review['id']}/").json()["items"] == 7
    assert admin.get(f"{REVIEWS}999999/").status_code == 404

    rep = signed_in(cast.sales_a)
    assert rep.get(f"/api/v1/customers/{customer.pk}/").status_code == 200
    decided = boss.post(f"{ITEMS}{item['id']}/decide/", {"decision": "revoke", "note": "moved"},
                        format="json")
    assert decided.status_code == 200 and decided.json()["decision"] == "revoke"
    assert rep.get(f"/api/v1/customers/{customer.pk}/").status_code == 404

    closed = admin.post(f"{REVIEWS}{review['id']}/close/")
    assert closed.status_code == 200
    assert closed.json()["undecided"] == 6 and closed.json()["closed_at"] is not None
    assert admin.post(f"{REVIEWS}{review['id']}/close/").status_code == 400


def test_reviews_are_for_user_managers(cast):
    boss = signed_in(cast.sales_manager)
    assert boss.get(REVIEWS).status_code == 403
    assert boss.post(REVIEWS, {"name": "x", "due_at": later()}, format="json").status_code == 403


def test_a_reviewer_cannot_decide_another_reviewers_item(cast):
    signed_in(cast.admin).post(REVIEWS, {"name": "Q1", "due_at": later(days=7)}, format="json")
    theirs = ReviewItem.objects.get(subject=cast.sales_b)
    boss = signed_in(cast.sales_manager)
    response = boss.post(f"{ITEMS}{theirs.pk}/decide/", {"decision": "revoke"}, format="json")
    assert response.status_code == 403
    assert boss.get(f"{ITEMS}{theirs.pk}/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.decision == ""
    assert AuditEvent.objects.get(action="review.decide").outcome == "denied"


@pytest.mark.parametrize("body", [{"decision": "maybe"}, {}, {"decision": "confirm",
                                                            "decided_by": 1}])
def test_bad_decisions_are_400(cast, body):
    signed_in(cast.admin).post(REVIEWS, {"name": "Q1", "due_at": later(days=7)}, format="json")
    item = ReviewItem.objects.get(subject=cast.sales_a)
    response = signed_in(cast.sales_manager).post(f"{ITEMS}{item.pk}/decide/", body,
                                                  format="json")
    assert response.status_code == 400
    item.refresh_from_db()
    assert item.decision == ""


def test_the_schema_documents_the_new_endpoints(cast):
    schema = yaml.safe_load(signed_in(cast.sales_a).get("/api/v1/schema/").content)
    for path in ("/api/v1/grants/", "/api/v1/grants/{id}/revoke/", "/api/v1/grants/break-glass/",
                 "/api/v1/reviews/", "/api/v1/reviews/{id}/close/", "/api/v1/review-items/",
                 "/api/v1/review-items/{id}/decide/"):
        assert path in schema["paths"], path
    assert "GrantFieldAccess" in schema["components"]["schemas"]
