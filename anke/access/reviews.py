"""Access reviews: every role and active grant of every active user, confirmed or revoked.

Opening a review creates one item per (user, role) and per (user, active grant); each item goes
to the user's manager, or to whoever opened the review when the user has no active manager.
A reviewer decides their own items (a holder of ``user.manage`` may decide any), never one
about themself. Revoking takes the role away, or ends the grant, in the transaction that records
the decision, so the user loses that access on their next request.
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from anke.access.catalogue import PERMISSIONS
from anke.access.grants import end_grant
from anke.access.guarded import deny
from anke.access.models import Grant, ReviewCampaign, ReviewItem, Role
from anke.access.policy import has_permission
from anke.audit.catalogue import Event
from anke.audit.recorder import clear_change, record
from anke.core.context import Actor

Decision = ReviewItem.Decision
MAX_NOTE = 500
IN_CHARGE = ("user.manage", "role.manage")


def _int_id(raw) -> int | None:
    raw = str(raw)
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None


# --- queries ------------------------------------------------------------------------------------


def open_items() -> QuerySet:
    """Undecided items of campaigns still open."""
    return ReviewItem.objects.filter(decision="", campaign__closed_at__isnull=True)


def items_awaiting(user) -> QuerySet:
    """The items ``user`` still has to decide."""
    return open_items().filter(reviewer_id=getattr(user, "pk", None))


def overdue_items(at=None) -> QuerySet:
    """Undecided items of open campaigns past their due date."""
    return open_items().filter(campaign__due_at__lt=at or timezone.now())


def items_of(campaign) -> QuerySet:
    return (ReviewItem.objects.filter(campaign=campaign)
            .select_related("subject", "reviewer", "role", "grant", "decided_by")
            .order_by("reviewer__username", "subject__username", "id"))


def may_decide(user, item: ReviewItem) -> bool:
    return item.reviewer_id == getattr(user, "pk", None) or has_permission(user, "user.manage")


# --- actions ------------------------------------------------------------------------------------


def _require_manager(actor: Actor, event: Event) -> None:
    if not has_permission(actor.user, "user.manage"):
        deny(actor, event, ReviewCampaign, [], "not_permitted")


def open_review(actor: Actor, *, name: str, due_at) -> ReviewCampaign:
    """Open a review of every active user's roles and active grants, due at ``due_at``."""
    event = Event.REVIEW_OPEN
    _require_manager(actor, event)
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationError({"name": _("Give the review a name of up to 200 characters.")})
    if due_at is not None and timezone.is_naive(due_at):
        due_at = timezone.make_aware(due_at)
    if due_at is None or due_at <= timezone.now():
        raise ValidationError({"due_at": _("The due date must be in the future.")})
    opener = actor.user
    users = list(get_user_model().objects.filter(is_active=True)
                 .select_related("manager").prefetch_related("roles").order_by("pk"))

    def reviewer_of(user):
        manager = user.manager
        return manager if manager is not None and manager.is_active else opener

    with transaction.atomic():
        campaign = ReviewCampaign(name=name, opened_by=opener, due_at=due_at)
        campaign.full_clean()
        campaign.save()
        items = [ReviewItem(campaign=campaign, subject=user, reviewer=reviewer_of(user),
                            role=role)
                 for user in users for role in user.roles.all()]
        by_pk = {user.pk: user for user in users}
        items += [ReviewItem(campaign=campaign, subject=by_pk[grant.user_id],
                             reviewer=reviewer_of(by_pk[grant.user_id]), grant=grant)
                  for grant in Grant.objects.active().filter(user_id__in=by_pk).order_by("pk")]
        ReviewItem.objects.bulk_create(items, batch_size=500)
        record(actor, event, object_type="reviewcampaign", object_ids=[campaign.pk],
               fields=["name", "due_at"],
               detail=clear_change({}, {"name": name, "due_at": due_at.isoformat(),
                                        "items": len(items)}))
    return campaign


def decide(actor: Actor, item_id, *, decision: str, note: str = "") -> ReviewItem:
    """Confirm or revoke one item. Revoking removes the role from the user, or ends the grant,
    in the same transaction."""
    event = Event.REVIEW_DECIDE
    pk = _int_id(item_id)
    item = ReviewItem.objects.filter(pk=pk).first() if pk is not None else None
    if item is None:
        deny(actor, event, ReviewItem, [item_id], "not_visible")
    if not may_decide(actor.user, item):
        deny(actor, event, ReviewItem, [item.pk], "not_permitted")
    if item.subject_id == actor.user.pk:
        deny(actor, event, ReviewItem, [item.pk], "own_access")
    if decision not in Decision.values:
        raise ValidationError({"decision": _("Confirm or revoke.")})
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise ValidationError({"note": _("Keep the note under %(count)d characters.")
                               % {"count": MAX_NOTE}})
    with transaction.atomic():
        item = (ReviewItem.objects.select_for_update().select_related("campaign")
                .get(pk=item.pk))
        if item.campaign.closed_at is not None:
            raise ValidationError({"decision": _("This review is closed; its items cannot "
                                                 "change.")})
        if item.decision == Decision.REVOKE:
            raise ValidationError({"decision": _("This access was already revoked.")})
        before = {"decision": item.decision}
        item.decision = decision
        item.note = note
        item.decided_by = actor.user
        item.decided_at = timezone.now()
        item.save(update_fields=["decision", "note", "decided_by", "decided_at"])
        if decision == Decision.REVOKE:
            _take_back(actor, item)
        record(actor, event, object_type="reviewitem", object_ids=[item.pk],
               fields=["decision", "note"],
               detail=clear_change(before, {
                   "decision": decision, "subject": item.subject_id,
                   "role": item.role.code if item.role_id else None,
                   "grant": item.grant_id}))
    return item


def _take_back(actor: Actor, item: ReviewItem) -> None:
    """Remove the reviewed role from the user, or end the reviewed grant (caller's
    transaction)."""
    if item.grant_id:
        grant = Grant.objects.select_for_update().get(pk=item.grant_id)
        if grant.revoked_at is None:
            end_grant(actor, grant, reason=f"access review {item.campaign_id}")
        return
    subject = item.subject
    _keep_someone_in_charge(subject, item.role)
    before = sorted(subject.roles.values_list("code", flat=True))
    subject.roles.remove(item.role)
    record(actor, Event.USER_UPDATE, object_type="user", object_ids=[subject.pk],
           fields=["roles"], reason=f"access review {item.campaign_id}",
           detail=clear_change({"roles": before},
                               {"roles": [c for c in before if c != item.role.code]}))


def _keep_someone_in_charge(subject, role: Role) -> None:
    """Refuse a revoke that would leave no active user holding ``user.manage`` or
    ``role.manage`` through a role (the rule user administration keeps too): a manager
    reviewing the only administrator must not lock everyone out. Holders are locked first,
    so two such revokes at once cannot both pass."""
    User = get_user_model()
    for permission in IN_CHARGE:
        if permission not in (role.permissions or []):
            continue
        role_ids = [r.pk for r in Role.objects.all() if permission in (r.permissions or [])]
        if subject.roles.filter(pk__in=role_ids).exclude(pk=role.pk).exists():
            continue  # they keep it through another role
        holders = User.objects.filter(is_active=True, roles__in=role_ids).distinct()
        list(User.objects.select_for_update().filter(pk__in=holders.values("pk"))
             .order_by("pk").values_list("pk", flat=True))
        if not holders.exclude(pk=subject.pk).exists():
            raise ValidationError({"decision": _(
                "%(name)s is the last active user who may %(right)s. Give that right to "
                "someone else first, or nobody could manage access any more.") % {
                "name": str(subject), "right": str(PERMISSIONS[permission]).lower()}})


def close_review(actor: Actor, campaign_id) -> tuple[ReviewCampaign, int]:
    """Close a review; returns it and how many items were left undecided (they stay so)."""
    event = Event.REVIEW_CLOSE
    _require_manager(actor, event)
    pk = _int_id(campaign_id)
    campaign = ReviewCampaign.objects.filter(pk=pk).first() if pk is not None else None
    if campaign is None:
        deny(actor, event, ReviewCampaign, [campaign_id], "not_visible")
    with transaction.atomic():
        campaign = ReviewCampaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.closed_at is not None:
            raise ValidationError({"campaign": _("This review is already closed.")})
        campaign.closed_at = timezone.now()
        campaign.save(update_fields=["closed_at"])
        undecided = campaign.items.filter(decision="").count()
        record(actor, event, object_type="reviewcampaign", object_ids=[campaign.pk],
               fields=["closed_at"],
               detail=clear_change({"closed_at": None},
                                   {"closed_at": campaign.closed_at.isoformat(),
                                    "undecided": undecided}))
    return campaign, undecided
