"""Attacks on temporary grants, break-glass and access reviews (SECURITY.md §5): each must fail
with the exact refusal, leave an audit event with outcome denied, and change nothing."""

import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from anke.access.grants import break_glass, grant_access, revoke_grant
from anke.access.models import Grant, ReviewCampaign, ReviewItem, Role
from anke.access.policy import forget_roles
from anke.access.reviews import close_review, decide, open_review, overdue_items
from anke.audit.models import AuditEvent
from anke.core.errors import ActionDenied, NotVisible
from anke.customers.models import Customer
from tests.api.conftest import signed_in
from tests.conftest import tripwire_off
from tests.personas import actor, customer_of

GRANTS = "/api/v1/grants/"


def later(**delta):
    return timezone.now() + timedelta(**(delta or {"days": 1}))


def attempt(grantor, grantee, customers=(), **terms):
    arguments = {"permissions": ["customer.view"], "scope": "", "field_access": "masked",
                 "reason": "needs it", "expires_at": later(), **terms}
    return grant_access(actor(grantor), user_id=grantee.pk,
                        customer_ids=[getattr(c, "pk", c) for c in customers], **arguments)


def expire_grants():
    with tripwire_off():  # the clock moves on
        Grant.objects.update(starts_at=timezone.now() - timedelta(days=2),
                             expires_at=timezone.now() - timedelta(seconds=1))


def denied(action: str) -> AuditEvent:
    return AuditEvent.objects.filter(action=action, outcome="denied").latest("id")


# --- a grant opens exactly what it lists, and only while it lasts --------------------------------


def test_a_grant_opens_one_customer_and_nothing_else_and_ends_by_itself(cast):
    listed = customer_of(cast.sales_a, name="甲")
    other = customer_of(cast.sales_a, name="乙")
    attempt(cast.manager, cast.sales_b, [listed])
    rep = signed_in(cast.sales_b)
    assert rep.get(f"/api/v1/customers/{listed.pk}/").status_code == 200
    assert [r["id"] for r in rep.get("/api/v1/customers/").json()["results"]] == [str(listed.pk)]
    assert rep.get(f"/api/v1/customers/{other.pk}/").status_code == 404
    assert rep.patch(f"/api/v1/customers/{listed.pk}/", {"stage": "vip"}, format="json",
                     HTTP_IF_MATCH='"1"').status_code == 403
    assert rep.delete(f"/api/v1/customers/{listed.pk}/").status_code == 403
    assert Customer.objects.get(pk=listed.pk).stage == "lead"

    expire_grants()
    response = rep.get(f"/api/v1/customers/{listed.pk}/")
    assert response.status_code == 404
    refusal = denied("customer.view")
    assert refusal.actor == cast.sales_b and refusal.customer_ids == [str(listed.pk)]
    assert rep.get("/api/v1/customers/").json()["results"] == []


# --- escalation through grants ------------------------------------------------------------------


def refused(call, exc, *, action="grant.create", reason):
    before = Grant.objects.count()
    with pytest.raises(exc):
        call()
    assert Grant.objects.count() == before
    refusal = denied(action)
    assert refusal.reason == reason
    return refusal


def test_granting_a_permission_the_grantor_lacks(cast):
    own = customer_of(cast.sales_a)
    refused(lambda: attempt(cast.sales_manager, cast.sales_a, [own],
                            permissions=["customer.view", "customer.export"]),
            ActionDenied, reason="permission_not_held")


def test_granting_on_a_customer_the_grantor_cannot_see_is_404_and_creates_nothing(cast):
    theirs = customer_of(cast.sales_b)
    refusal = refused(lambda: attempt(cast.sales_manager, cast.sales_a, [theirs]), NotVisible,
                      reason="not_visible")
    assert refusal.customer_ids == [str(theirs.pk)]


def test_granting_stronger_field_access_than_ones_own(cast):
    own = customer_of(cast.sales_a)
    with tripwire_off():  # an approver who sees customers masked
        role = Role.objects.create(code="approver", name="Approver",
                                   permissions=["customer.view", "grant.approve"],
                                   scopes={"customer": "all"},
                                   field_policies={"customer.name": "masked",
                                                   "customer.phone": "masked"})
        cast.auditor.roles.add(role)
    forget_roles(cast.auditor)
    refused(lambda: attempt(cast.auditor, cast.sales_b, [own], field_access="read"),
            ActionDenied, reason="field_access_not_held")


def test_granting_to_oneself(cast):
    own = customer_of(cast.sales_manager)
    refused(lambda: attempt(cast.sales_manager, cast.sales_manager, [own]), ActionDenied,
            reason="self_grant")


def test_an_expiry_beyond_the_maximum_is_refused_and_creates_nothing(cast):
    own = customer_of(cast.sales_a)
    with pytest.raises(ValidationError) as error:
        attempt(cast.manager, cast.sales_b, [own], expires_at=later(days=30, minutes=1))
    assert error.value.message_dict == {"expires_at": ["A grant lasts at most 30 days."]}
    with pytest.raises(ValidationError):  # a late start does not stretch the limit either
        attempt(cast.manager, cast.sales_b, [own], starts_at=later(days=29),
                expires_at=later(days=31))
    assert not Grant.objects.exists()


def test_rights_over_rights_cannot_be_lent(cast):
    for permission in ("grant.approve", "grant.break_glass", "user.manage", "role.manage"):
        refused(lambda p=permission: attempt(cast.admin, cast.auditor, permissions=[p]),
                ActionDenied, reason="permission_not_held")


def test_access_from_a_grant_cannot_be_lent_on(cast):
    """The sales manager is lent a north customer; they may not pass it on to their rep (who
    would keep it after the manager's grant ends)."""
    north = customer_of(cast.sales_b)
    attempt(cast.manager, cast.sales_manager, [north])
    forget_roles(cast.sales_manager)
    assert Customer.objects.visible_to(cast.sales_manager, "view").filter(pk=north.pk).exists()
    refusal = refused(lambda: attempt(cast.sales_manager, cast.sales_a, [north]), ActionDenied,
                      reason="permission_not_held")
    assert refusal.customer_ids == [str(north.pk)]


def test_break_glass_cannot_be_lent_on(cast):
    north = customer_of(cast.sales_b)
    break_glass(actor(cast.sales_manager), customer_ids=[north.pk],
                reason="customer calling about a complaint", minutes=10)
    forget_roles(cast.sales_manager)
    refused(lambda: attempt(cast.sales_manager, cast.sales_a, [north]), ActionDenied,
            reason="permission_not_held")


def test_a_department_scope_for_someone_outside_ones_department(cast):
    refused(lambda: attempt(cast.sales_manager, cast.sales_b, scope="department"),
            ActionDenied, reason="scope_not_held")


def test_mass_assignment_through_the_api_is_refused(cast):
    own = customer_of(cast.sales_a)
    body = {"user": cast.sales_b.pk, "permissions": ["customer.view"],
            "customers": [str(own.pk)], "field_access": "masked", "reason": "x",
            "expires_at": later().isoformat()}
    client = signed_in(cast.manager)
    for extra in ({"break_glass": True}, {"granted_by": cast.admin.pk},
                  {"revoked_at": None}, {"id": 99}):
        response = client.post(GRANTS, {**body, **extra}, format="json")
        assert response.status_code == 400, extra
    assert not Grant.objects.exists()


def test_a_grant_cannot_be_edited_or_deleted_through_the_api(cast):
    own = customer_of(cast.sales_a)
    grant = attempt(cast.manager, cast.sales_b, [own])
    rep = signed_in(cast.sales_b)
    for method in ("put", "patch", "delete"):
        response = getattr(rep, method)(f"{GRANTS}{grant.pk}/",
                                        {"expires_at": later(days=365).isoformat()},
                                        format="json")
        assert response.status_code == 405
    grant.refresh_from_db()
    assert grant.expires_at < later(days=2) and grant.revoked_at is None


def test_a_stranger_cannot_revoke_or_even_find_a_grant(cast):
    own = customer_of(cast.sales_a)
    grant = attempt(cast.manager, cast.sales_b, [own])
    with pytest.raises(NotVisible):
        revoke_grant(actor(cast.service), grant.pk, reason="sabotage")
    assert denied("grant.revoke").object_ids == [str(grant.pk)]
    grant.refresh_from_db()
    assert grant.revoked_at is None


def test_the_revoke_page_tells_whoever_may_not_revoke_that_the_grant_does_not_exist(cast):
    grant = attempt(cast.manager, cast.sales_b, [customer_of(cast.sales_a)])
    # A user manager without grant approval lists every grant but may revoke none of them.
    with tripwire_off():
        desk = Role.objects.create(code="user_desk", name="User desk",
                                   permissions=["user.view", "user.manage"], scopes={})
        cast.service.roles.add(desk)
    forget_roles(cast.service)
    for user in (cast.service, cast.sales_a):
        client = Client()
        client.force_login(user)
        page = f"/access/grants/{grant.pk}/revoke/"
        assert client.get(page).status_code == 404
        assert client.post(page, {"reason": "sabotage"}).status_code == 404
        refused = AuditEvent.objects.filter(action="grant.revoke", actor_username=user.username)
        assert list(refused.values_list("outcome", "reason", "object_ids")) == [
            ("denied", "not_visible", [str(grant.pk)])] * 2
    grant.refresh_from_db()
    assert grant.revoked_at is None


def test_web_forms_refuse_forged_choices(cast):
    own = customer_of(cast.sales_a)
    client = Client()
    client.force_login(cast.sales_manager)
    form = {"user": cast.sales_b.pk, "permissions": ["customer.view"],
            "customer_ids": str(own.pk), "field_access": "masked", "reason": "x",
            "expires_at": later().strftime("%Y-%m-%dT%H:%M")}
    for forged in ({"user": cast.sales_manager.pk}, {"user": cast.departed.pk},
                   {"permissions": ["customer.export"]}, {"permissions": ["grant.approve"]},
                   {"scope": "all", "customer_ids": ""}):
        response = client.post("/access/grants/new/", {**form, **forged})
        assert response.status_code == 400, forged
    assert not Grant.objects.exists()


def test_the_forms_need_the_csrf_token(cast):
    far = customer_of(cast.sales_b)
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.sales_manager)
    response = client.post("/access/break-glass/", {
        "customer_ids": str(far.pk), "reason": "the customer is on the phone", "minutes": 30})
    assert response.status_code == 403
    assert not Grant.objects.exists()


# --- break-glass --------------------------------------------------------------------------------


def test_break_glass_without_the_right_is_403(cast):
    far = customer_of(cast.sales_a)
    response = signed_in(cast.sales_b).post(f"{GRANTS}break-glass/", {
        "customers": [str(far.pk)], "reason": "I really want to read this", "minutes": 60},
        format="json")
    assert response.status_code == 403
    assert not Grant.objects.exists()
    assert denied("grant.break_glass").actor == cast.sales_b


def test_break_glass_reads_in_clear_while_it_lasts_and_alerts(cast):
    far = customer_of(cast.sales_b, phone="13700001234")
    client = signed_in(cast.sales_manager)
    assert client.get(f"/api/v1/customers/{far.pk}/").status_code == 404
    response = client.post(f"{GRANTS}break-glass/", {
        "customers": [str(far.pk)], "reason": "customer reports fraud, owner on leave",
        "minutes": 20}, format="json")
    assert response.status_code == 201
    alert = AuditEvent.objects.get(action="grant.break_glass", outcome="allowed")
    assert alert.actor == cast.sales_manager and alert.customer_ids == [str(far.pk)]
    shown = client.get(f"/api/v1/customers/{far.pk}/")
    assert shown.status_code == 200 and shown.json()["phone"] == "+8613700001234"
    expire_grants()
    assert client.get(f"/api/v1/customers/{far.pk}/").status_code == 404


def test_break_glass_on_made_up_customers_is_404(cast):
    ghost = str(uuid.uuid4())
    response = signed_in(cast.sales_manager).post(f"{GRANTS}break-glass/", {
        "customers": [ghost], "reason": "customer reports fraud, owner on leave",
        "minutes": 20}, format="json")
    assert response.status_code == 404
    assert denied("grant.break_glass").customer_ids == [ghost]
    assert not Grant.objects.exists()


# --- reviews ------------------------------------------------------------------------------------


@pytest.fixture
def review(cast):
    return open_review(actor(cast.admin), name="Q1", due_at=later(days=7))


def test_a_review_revoke_ends_access_on_the_next_request(cast, review):
    own = customer_of(cast.sales_a)
    rep = signed_in(cast.sales_a)
    assert rep.get(f"/api/v1/customers/{own.pk}/").status_code == 200
    item = ReviewItem.objects.get(campaign=review, subject=cast.sales_a)
    decide(actor(cast.sales_manager), item.pk, decision="revoke")
    assert not cast.sales_a.roles.exists()
    assert rep.get(f"/api/v1/customers/{own.pk}/").status_code == 404
    assert denied("customer.view").actor == cast.sales_a


def test_a_reviewer_cannot_decide_another_managers_items(cast, review):
    theirs = ReviewItem.objects.get(campaign=review, subject=cast.sales_b)
    response = signed_in(cast.sales_manager).post(f"/api/v1/review-items/{theirs.pk}/decide/",
                                                  {"decision": "revoke"}, format="json")
    assert response.status_code == 403
    refusal = denied("review.decide")
    assert refusal.actor == cast.sales_manager and refusal.object_ids == [str(theirs.pk)]
    theirs.refresh_from_db()
    assert theirs.decision == "" and cast.sales_b.roles.exists()


def test_nobody_reviews_their_own_access(cast, review):
    own = ReviewItem.objects.get(campaign=review, subject=cast.admin)
    with pytest.raises(ActionDenied):
        decide(actor(cast.admin), own.pk, decision="confirm")
    assert denied("review.decide").reason == "own_access"
    own.refresh_from_db()
    assert own.decision == ""


def test_a_closed_review_cannot_be_decided_after_the_fact(cast, review):
    close_review(actor(cast.admin), review.pk)
    item = ReviewItem.objects.get(campaign=review, subject=cast.sales_a)
    with pytest.raises(ValidationError):
        decide(actor(cast.sales_manager), item.pk, decision="revoke")
    item.refresh_from_db()
    assert item.decision == "" and cast.sales_a.roles.exists()


def test_overdue_items_are_listed(cast, review):
    assert not overdue_items().exists()
    ReviewCampaign.objects.filter(pk=review.pk).update(due_at=timezone.now() - timedelta(hours=1))
    assert overdue_items().count() == 7


def test_every_decision_is_audited(cast, review):
    items = ReviewItem.objects.filter(campaign=review).exclude(subject=cast.admin)
    for item in items:
        decide(actor(cast.admin), item.pk, decision="confirm", note="ok")
    events = AuditEvent.objects.filter(action="review.decide", outcome="allowed")
    assert sorted(int(e.object_ids[0]) for e in events) == sorted(i.pk for i in items)
    assert all(e.actor == cast.admin for e in events)
