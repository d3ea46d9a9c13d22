"""Access reviews: who reviews what, what a decision does, and what cannot be decided."""

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from anke.access.grants import grant_access
from anke.access.models import Grant, ReviewCampaign, ReviewItem
from anke.access.policy import forget_roles, has_permission
from anke.access.reviews import (
    close_review,
    decide,
    items_awaiting,
    items_of,
    open_review,
    overdue_items,
)
from anke.audit.models import AuditEvent
from anke.core.errors import ActionDenied, NotVisible
from anke.customers.models import Customer
from tests.conftest import tripwire_off
from tests.personas import actor, customer_of


def due(days=7):
    return timezone.now() + timedelta(days=days)


@pytest.fixture
def review(cast):
    return open_review(actor(cast.admin), name="2025 Q1", due_at=due())


def item_for(campaign, user, **kwargs):
    return ReviewItem.objects.get(campaign=campaign, subject=user, **kwargs)


# --- opening ------------------------------------------------------------------------------------


def test_every_active_users_role_goes_to_their_manager_or_the_opener(cast, review):
    items = list(review.items.select_related("subject", "reviewer", "role"))
    got = {(i.subject.username, i.role.code, i.reviewer.username) for i in items}
    assert got == {
        ("sales_a", "sales_rep", "sales_manager"),
        ("sales_b", "sales_rep", "admin"),
        ("sales_manager", "sales_manager", "admin"),
        ("service", "service_agent", "admin"),
        ("manager", "manager", "admin"),
        ("auditor", "auditor", "admin"),
        ("admin", "administrator", "admin"),
    }  # the departed rep is inactive: nothing to review
    assert all(i.decision == "" for i in items)
    event = AuditEvent.objects.get(action="review.open")
    assert event.actor == cast.admin and event.object_ids == [str(review.pk)]
    assert json.loads(event.detail)["items"] == [None, 7]


def test_active_grants_are_reviewed_too_but_not_ended_ones(cast):
    listed = customer_of(cast.sales_a)
    live = grant_access(actor(cast.manager), user_id=cast.sales_a.pk,
                        permissions=["customer.view"], customer_ids=[listed.pk],
                        field_access="masked", reason="cover", expires_at=due(2))
    ended = grant_access(actor(cast.manager), user_id=cast.sales_b.pk,
                         permissions=["customer.view"], customer_ids=[listed.pk],
                         field_access="masked", reason="cover", expires_at=due(2))
    with tripwire_off():
        Grant.objects.filter(pk=ended.pk).update(revoked_at=timezone.now())
    campaign = open_review(actor(cast.admin), name="grants", due_at=due())
    item = campaign.items.get(grant__isnull=False)
    assert item.grant == live and item.subject == cast.sales_a
    assert item.reviewer == cast.sales_manager


def test_an_inactive_manager_hands_the_review_to_the_opener(cast):
    with tripwire_off():
        cast.sales_manager.is_active = False
        cast.sales_manager.save(update_fields=["is_active"])
    campaign = open_review(actor(cast.admin), name="x", due_at=due())
    assert item_for(campaign, cast.sales_a).reviewer == cast.admin


def test_only_user_managers_open_reviews(cast):
    with pytest.raises(ActionDenied):
        open_review(actor(cast.sales_manager), name="mine", due_at=due())
    assert not ReviewCampaign.objects.exists()
    assert AuditEvent.objects.get(action="review.open").outcome == "denied"


@pytest.mark.parametrize(("name", "when", "field"), [
    ("", 7, "name"), ("x" * 201, 7, "name"), ("ok", -1, "due_at")])
def test_bad_review_input(cast, name, when, field):
    with pytest.raises(ValidationError) as error:
        open_review(actor(cast.admin), name=name, due_at=due(when))
    assert field in error.value.message_dict
    assert not ReviewCampaign.objects.exists()


def test_two_reviews_may_be_open_at_once(cast, review):
    other = open_review(actor(cast.admin), name="second", due_at=due(3))
    assert ReviewCampaign.objects.filter(closed_at__isnull=True).count() == 2
    assert items_awaiting(cast.sales_manager).count() == 2
    assert {i.campaign_id for i in items_awaiting(cast.sales_manager)} == {review.pk, other.pk}


# --- deciding -----------------------------------------------------------------------------------


def test_confirming_records_the_decision_and_changes_nothing_else(cast, review):
    item = item_for(review, cast.sales_a)
    decide(actor(cast.sales_manager), item.pk, decision="confirm", note="still on the team")
    item.refresh_from_db()
    assert item.decision == "confirm" and item.decided_by == cast.sales_manager
    assert item.note == "still on the team" and item.decided_at is not None
    assert list(cast.sales_a.roles.values_list("code", flat=True)) == ["sales_rep"]
    event = AuditEvent.objects.get(action="review.decide")
    assert event.object_ids == [str(item.pk)] and event.outcome == "allowed"
    assert json.loads(event.detail)["decision"] == ["", "confirm"]


def test_revoking_a_role_removes_it_and_access_ends_on_the_next_request(cast, review):
    customer = customer_of(cast.sales_a)
    assert Customer.objects.visible_to(cast.sales_a, "view").count() == 1
    item = item_for(review, cast.sales_a)
    decide(actor(cast.sales_manager), item.pk, decision="revoke", note="left sales")
    assert not cast.sales_a.roles.exists()
    forget_roles(cast.sales_a)  # a new request reads the user afresh
    assert not Customer.objects.visible_to(cast.sales_a, "view").filter(pk=customer.pk).exists()
    assert not has_permission(cast.sales_a, "customer.view")
    decided = AuditEvent.objects.get(action="review.decide")
    assert json.loads(decided.detail) == {"decision": ["", "revoke"],
                                          "role": [None, "sales_rep"],
                                          "subject": [None, cast.sales_a.pk]}
    changed = AuditEvent.objects.get(action="user.update")
    assert changed.object_ids == [str(cast.sales_a.pk)] and changed.fields == ["roles"]
    assert json.loads(changed.detail) == {"roles": [["sales_rep"], []]}
    assert decided.request_id == changed.request_id


def test_revoking_a_grant_item_ends_the_grant(cast):
    listed = customer_of(cast.sales_b)
    grant = grant_access(actor(cast.manager), user_id=cast.sales_a.pk,
                         permissions=["customer.view"], customer_ids=[listed.pk],
                         field_access="masked", reason="cover", expires_at=due(2))
    campaign = open_review(actor(cast.admin), name="g", due_at=due())
    item = campaign.items.get(grant=grant)
    decide(actor(cast.sales_manager), item.pk, decision="revoke")
    grant.refresh_from_db()
    assert grant.revoked_by == cast.sales_manager and grant.revoked_at is not None
    forget_roles(cast.sales_a)
    assert not Customer.objects.visible_to(cast.sales_a, "view").filter(pk=listed.pk).exists()
    assert AuditEvent.objects.get(action="grant.revoke").reason == f"access review {campaign.pk}"


def test_a_confirmed_item_may_still_be_revoked_but_a_revoke_is_final(cast, review):
    item = item_for(review, cast.sales_a)
    decide(actor(cast.sales_manager), item.pk, decision="confirm")
    decide(actor(cast.sales_manager), item.pk, decision="revoke")
    with pytest.raises(ValidationError):
        decide(actor(cast.sales_manager), item.pk, decision="confirm")
    item.refresh_from_db()
    assert item.decision == "revoke"


def test_a_reviewer_cannot_decide_another_reviewers_items(cast, review):
    item = item_for(review, cast.sales_b)  # reviewed by the admin
    with pytest.raises(ActionDenied):
        decide(actor(cast.sales_manager), item.pk, decision="revoke")
    item.refresh_from_db()
    assert item.decision == ""
    assert list(cast.sales_b.roles.values_list("code", flat=True)) == ["sales_rep"]
    denied = AuditEvent.objects.get(action="review.decide")
    assert denied.outcome == "denied" and denied.reason == "not_permitted"
    assert denied.object_ids == [str(item.pk)]


def test_a_user_manager_may_decide_any_item_but_not_their_own(cast, review):
    decide(actor(cast.admin), item_for(review, cast.sales_a).pk, decision="confirm")
    own = item_for(review, cast.admin)
    with pytest.raises(ActionDenied):
        decide(actor(cast.admin), own.pk, decision="confirm")
    own.refresh_from_db()
    assert own.decision == ""
    assert AuditEvent.objects.filter(action="review.decide", outcome="denied",
                                     reason="own_access").count() == 1


def test_unknown_items_are_404(cast, review):
    for attempt in (10**9, "abc", -1):
        with pytest.raises(NotVisible):
            decide(actor(cast.admin), attempt, decision="confirm")
    assert AuditEvent.objects.filter(action="review.decide", outcome="denied").count() == 3


@pytest.mark.parametrize(("decision", "note"), [("approve", ""), ("", ""), ("confirm", "x" * 501)])
def test_bad_decisions_change_nothing(cast, review, decision, note):
    item = item_for(review, cast.sales_a)
    with pytest.raises(ValidationError):
        decide(actor(cast.sales_manager), item.pk, decision=decision, note=note)
    item.refresh_from_db()
    assert item.decision == "" and item.decided_by is None


# --- closing and overdue ------------------------------------------------------------------------


def test_closing_reports_undecided_items_and_freezes_the_review(cast, review):
    decide(actor(cast.sales_manager), item_for(review, cast.sales_a).pk, decision="confirm")
    campaign, undecided = close_review(actor(cast.admin), review.pk)
    assert undecided == 6 and campaign.closed_at is not None
    event = AuditEvent.objects.get(action="review.close")
    assert json.loads(event.detail)["undecided"] == [None, 6]
    assert items_awaiting(cast.admin).count() == 0
    with pytest.raises(ValidationError):
        decide(actor(cast.admin), item_for(review, cast.sales_b).pk, decision="revoke")
    assert list(cast.sales_b.roles.values_list("code", flat=True)) == ["sales_rep"]
    with pytest.raises(ValidationError):
        close_review(actor(cast.admin), review.pk)


def test_only_user_managers_close_reviews(cast, review):
    with pytest.raises(ActionDenied):
        close_review(actor(cast.sales_manager), review.pk)
    with pytest.raises(NotVisible):
        close_review(actor(cast.admin), 10**9)
    review.refresh_from_db()
    assert review.closed_at is None
    assert AuditEvent.objects.filter(action="review.close", outcome="denied").count() == 2


def test_overdue_items_are_the_undecided_ones_of_open_reviews_past_due(cast, review):
    late = open_review(actor(cast.admin), name="late", due_at=due(1))
    closed = open_review(actor(cast.admin), name="closed", due_at=due(1))
    close_review(actor(cast.admin), closed.pk)
    decide(actor(cast.sales_manager), item_for(late, cast.sales_a).pk, decision="confirm")
    ReviewCampaign.objects.filter(pk__in=[late.pk, closed.pk]).update(
        due_at=timezone.now() - timedelta(hours=1))
    overdue = overdue_items()
    assert {i.campaign_id for i in overdue} == {late.pk}
    assert overdue.count() == 6
    assert not overdue.filter(subject=cast.sales_a).exists()


def test_a_campaigns_items_come_grouped_by_reviewer(cast, review):
    reviewers = [i.reviewer.username for i in items_of(review)]
    assert reviewers == sorted(reviewers)


# --- web pages ----------------------------------------------------------------------------------


def test_opening_and_reading_a_review_on_the_web(client, cast):
    client.force_login(cast.admin)
    assert client.get("/access/reviews/new/").status_code == 200
    bad = client.post("/access/reviews/new/", {"name": "", "due_at": "2099-01-01T10:00"})
    assert bad.status_code == 400 and "name" in bad.context["form"].errors
    past = client.post("/access/reviews/new/", {"name": "x", "due_at": "2000-01-01T10:00"})
    assert past.status_code == 400 and "due_at" in past.context["form"].errors
    response = client.post("/access/reviews/new/", {"name": "Q1", "due_at": "2099-01-01T10:00"})
    campaign = ReviewCampaign.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/access/reviews/{campaign.pk}/"
    detail = client.get(response["Location"])
    groups = [row["item"].reviewer.username for row in detail.context["rows"]]
    assert groups == ["admin"] * 6 + ["sales_manager"]
    assert "Reviewed by sales_manager" in detail.content.decode()
    assert client.get("/access/reviews/").context["campaigns"][0] == campaign


def test_overdue_items_are_flagged_on_the_campaign_page(client, cast, review):
    ReviewCampaign.objects.filter(pk=review.pk).update(due_at=timezone.now() - timedelta(days=1))
    decide(actor(cast.sales_manager), item_for(review, cast.sales_a).pk, decision="confirm")
    client.force_login(cast.admin)
    response = client.get(f"/access/reviews/{review.pk}/")
    flagged = {row["item"].subject.username for row in response.context["rows"]
               if row["overdue"]}
    assert flagged == {"admin", "auditor", "manager", "sales_b", "sales_manager", "service"}
    assert response.content.decode().count('data-overdue="1"') == 6


def test_a_manager_decides_on_my_reviews_and_the_role_goes(client, cast, review):
    client.force_login(cast.sales_manager)
    mine = client.get("/access/reviews/mine/")
    [row] = mine.context["rows"]
    assert row["item"].subject == cast.sales_a and row["may_decide"]
    assert client.get("/access/grants/").context["awaiting"] == 1
    response = client.post(f"/access/reviews/items/{row['item'].pk}/decide/",
                           {"decision": "revoke", "note": "moved to service", "back": "mine"})
    assert response.status_code == 302 and response["Location"] == "/access/reviews/mine/"
    assert not cast.sales_a.roles.exists()
    assert client.get("/access/reviews/mine/").context["rows"] == []


def test_web_decisions_are_refused_like_the_action(client, cast, review):
    client.force_login(cast.sales_manager)
    theirs = item_for(review, cast.sales_b)
    response = client.post(f"/access/reviews/items/{theirs.pk}/decide/", {"decision": "revoke"})
    assert response.status_code == 403
    bad = client.post(f"/access/reviews/items/{item_for(review, cast.sales_a).pk}/decide/",
                      {"decision": "maybe"})
    assert bad.status_code == 400
    assert client.get(f"/access/reviews/items/{theirs.pk}/decide/").status_code == 405
    assert not ReviewItem.objects.exclude(decision="").exists()


def test_review_pages_are_for_user_managers(client, cast, review):
    client.force_login(cast.sales_manager)
    for url in ("/access/reviews/", "/access/reviews/new/", f"/access/reviews/{review.pk}/"):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/access/reviews/{review.pk}/close/").status_code == 403
    review.refresh_from_db()
    assert review.closed_at is None


def test_closing_on_the_web(client, cast, review):
    client.force_login(cast.admin)
    response = client.post(f"/access/reviews/{review.pk}/close/", follow=True)
    assert "7 items were left undecided" in response.content.decode()
    again = client.post(f"/access/reviews/{review.pk}/close/", follow=True)
    assert "already closed" in again.content.decode()


def test_a_refused_decision_on_the_campaign_page_shows_that_page_again(client, cast, review):
    close_review(actor(cast.admin), review.pk)
    client.force_login(cast.admin)
    item = item_for(review, cast.sales_a)
    response = client.post(f"/access/reviews/items/{item.pk}/decide/",
                           {"decision": "revoke", "back": "campaign"})
    assert response.status_code == 400
    assert response.context["campaign"] == review
    assert "closed" in response.content.decode()
    assert cast.sales_a.roles.exists()


def test_a_decision_from_the_campaign_page_returns_there(client, cast, review):
    client.force_login(cast.admin)
    item = item_for(review, cast.sales_b)
    response = client.post(f"/access/reviews/items/{item.pk}/decide/",
                           {"decision": "confirm", "back": "campaign"})
    assert response.status_code == 302 and response["Location"] == f"/access/reviews/{review.pk}/"


def test_a_naive_due_date_is_taken_in_the_local_time_zone(cast):
    naive = timezone.localtime().replace(tzinfo=None) + timedelta(days=3)
    campaign = open_review(actor(cast.admin), name="naive", due_at=naive)
    assert timezone.localtime(campaign.due_at).replace(tzinfo=None) == naive


def test_a_review_cannot_remove_the_last_administrator(cast):
    with tripwire_off():  # the administrator reports to the manager
        cast.admin.manager = cast.manager
        cast.admin.save(update_fields=["manager"])
    campaign = open_review(actor(cast.admin), name="x", due_at=due())
    item = item_for(campaign, cast.admin)
    assert item.reviewer == cast.manager
    with pytest.raises(ValidationError) as error:
        decide(actor(cast.manager), item.pk, decision="revoke")
    assert "last active user who may manage users" in str(error.value)
    item.refresh_from_db()
    assert item.decision == "" and cast.admin.roles.filter(code="administrator").exists()
    with tripwire_off():  # a second administrator
        cast.auditor.roles.add(cast.admin.roles.get())
    decide(actor(cast.manager), item.pk, decision="revoke")
    assert not cast.admin.roles.exists()
