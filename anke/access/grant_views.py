"""Web pages for temporary grants, break-glass and access reviews.

Thin: each POST is one call of ``anke.access.grants`` or ``anke.access.reviews``, which check,
save and audit. A refusal by the action is shown on the form (with its 403 or 404 status) so
the user can correct it; the refusal itself was already audited. Plain forms, no script.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from anke.access.catalogue import PERMISSIONS
from anke.access.grant_forms import (
    MY_CUSTOMERS_SHOWN,
    BreakGlassForm,
    DecideForm,
    GrantForm,
    ReviewForm,
    RevokeForm,
)
from anke.access.grants import (
    break_glass,
    customer_ids_by_grant,
    customer_model,
    grant_access,
    grants_given_by,
    grants_held_by,
    grants_visible_to,
    may_revoke,
    revoke_grant,
    sees_all_grants,
)
from anke.access.guarded import audit_read, deny, require_permission
from anke.access.models import Grant, ReviewCampaign
from anke.access.policy import has_permission
from anke.access.reviews import (
    close_review,
    decide,
    items_awaiting,
    items_of,
    open_review,
)
from anke.audit.catalogue import Event
from anke.core.context import Actor
from anke.core.errors import ActionDenied, NotVisible

ACCESS_PERMISSIONS = ("grant.approve", "grant.break_glass", "user.manage")
LIST_LIMIT = 200


def access_navigation(request):
    """Whether the "Access" menu entry shows. (How many review items wait is shown on the
    access pages, not in the menu: a count on every page would cost every page a query.)"""
    user = getattr(request, "user", None)
    if not getattr(user, "is_authenticated", False):
        return {}
    return {"access_nav": {"show": any(has_permission(user, p) for p in ACCESS_PERMISSIONS)}}


def _submit(request, form, call, *, template: str, context: dict, success: str,
            redirect_to: str):
    """Validate ``form`` and run ``call(actor, cleaned_data)``; errors stay on the form."""
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                call(Actor.from_request(request), form.cleaned_data)
            except ValidationError as error:
                form.add_action_errors(error)
            except NotVisible:
                status = 404
                form.add_error(None, _("Some of these customers do not exist or are not "
                                       "visible to you."))
            except ActionDenied as error:
                status = 403
                form.add_error(None, str(error))
            else:
                messages.success(request, success)
                return redirect(redirect_to)
    return render(request, template, {"form": form, **context}, status=status)


def _crumbs(*extra) -> list[dict]:
    return [{"url": reverse("access:grants"), "label": _("Access")}, *extra]


# --- grants -------------------------------------------------------------------------------------


def _rows(grants, user) -> list[dict]:
    grants = list(grants)
    listed = customer_ids_by_grant([g.pk for g in grants])
    now = timezone.now()
    return [{
        "grant": g,
        "permissions": [str(PERMISSIONS.get(p, p)) for p in g.permissions],
        "customers": len(listed.get(g.pk, ())),
        "active": g.revoked_at is None and g.starts_at <= now < g.expires_at,
        "pending": g.revoked_at is None and g.starts_at > now,
        "may_revoke": g.revoked_at is None and g.expires_at > now and may_revoke(user, g),
    } for g in grants]


@login_required
@require_GET
def grant_list(request):
    """Grants I hold, grants I gave and, for approvers, every grant in force."""
    user = request.user
    now = timezone.now()
    context = {
        "held": _rows(grants_held_by(user)[:LIST_LIMIT], user),
        "given": _rows(grants_given_by(user).filter(break_glass=False)[:LIST_LIMIT], user),
        "all_active": (_rows(grants_visible_to(user).active(now)[:LIST_LIMIT], user)
                       if sees_all_grants(user) else None),
        "can_grant": has_permission(user, "grant.approve"),
        "can_break_glass": has_permission(user, "grant.break_glass"),
        "can_review": has_permission(user, "user.manage"),
        "awaiting": items_awaiting(user).count(),
        "limit": LIST_LIMIT,
    }
    return render(request, "access/grant_list.html", context)


def _my_customers(request, actor: Actor) -> list:
    """The grantor's most recently changed customers for the picker; showing their names is an
    audited read (masked as their field policy says)."""
    customers = list(customer_model().objects.visible_to(request.user, "view")
                     .order_by("-updated_at", "-pk")[:MY_CUSTOMERS_SHOWN])
    if customers:
        audit_read(actor, Event.CUSTOMER_LIST, customer_model(), customers, fields=["name"])
    return customers


@login_required
@require_http_methods(["GET", "POST"])
def grant_create(request):
    actor = Actor.from_request(request)
    require_permission(actor, "grant.approve", Event.GRANT_CREATE, Grant)
    form = GrantForm(request.POST or None, grantor=request.user,
                     my_customers=_my_customers(request, actor))

    def save(actor, data):
        grant_access(actor, user_id=data["user"].pk, permissions=data["permissions"],
                     customer_ids=data["customer_ids"], scope=data["scope"] or "",
                     field_access=data["field_access"], reason=data["reason"],
                     expires_at=data["expires_at"])

    return _submit(request, form, save, template="access/grant_form.html",
                   context={"title": _("New temporary grant"), "crumbs": _crumbs()},
                   success=_("Access granted."), redirect_to=reverse("access:grants"))


@login_required
@require_http_methods(["GET", "POST"])
def grant_revoke(request, pk):
    # As the action answers: whoever may not revoke a grant is told it does not exist, and the
    # attempt is recorded (a user manager sees every grant but may revoke only with approval).
    grant = grants_visible_to(request.user).filter(pk=pk).first()
    if grant is None or not may_revoke(request.user, grant):
        deny(Actor.from_request(request), Event.GRANT_REVOKE, Grant, [pk], "not_visible")
    form = RevokeForm(request.POST or None)
    return _submit(
        request, form, lambda actor, data: revoke_grant(actor, pk, reason=data["reason"]),
        template="access/grant_revoke.html",
        context={"grant": _rows([grant], request.user)[0], "crumbs": _crumbs()},
        success=_("Grant revoked."), redirect_to=reverse("access:grants"))


@login_required
@require_http_methods(["GET", "POST"])
def grant_break_glass(request):
    actor = Actor.from_request(request)
    require_permission(actor, "grant.break_glass", Event.GRANT_BREAK_GLASS, Grant)
    form = BreakGlassForm(request.POST or None)

    def save(actor, data):
        break_glass(actor, customer_ids=data["customer_ids"], reason=data["reason"],
                    minutes=data["minutes"])

    return _submit(request, form, save, template="access/grant_break_glass.html",
                   context={"crumbs": _crumbs()},
                   success=_("Emergency access granted. The security team has been alerted."),
                   redirect_to=reverse("access:grants"))


# --- access reviews -----------------------------------------------------------------------------


def _require_user_manager(request) -> None:
    if not has_permission(request.user, "user.manage"):
        raise PermissionDenied


@login_required
@require_GET
def review_list(request):
    _require_user_manager(request)
    now = timezone.now()
    campaigns = ReviewCampaign.objects.select_related("opened_by").annotate(
        item_count=Count("items"),
        undecided=Count("items", filter=Q(items__decision="")))[:LIST_LIMIT]
    return render(request, "access/review_list.html", {
        "campaigns": campaigns, "now": now, "crumbs": _crumbs()})


@login_required
@require_http_methods(["GET", "POST"])
def review_open(request):
    _require_user_manager(request)
    form = ReviewForm(request.POST or None)
    opened = {}

    def save(actor, data):
        opened["campaign"] = open_review(actor, name=data["name"], due_at=data["due_at"])

    response = _submit(request, form, save, template="access/review_form.html",
                       context={"crumbs": _crumbs({"url": reverse("access:reviews"),
                                                   "label": _("Access reviews")})},
                       success=_("Access review opened."), redirect_to=reverse("access:reviews"))
    if "campaign" in opened:
        return redirect("access:review", opened["campaign"].pk)
    return response


def _item_rows(items, user, now) -> list[dict]:
    return [{
        "item": item,
        "overdue": (not item.decision and item.campaign.closed_at is None
                    and item.campaign.due_at < now),
        "may_decide": (not item.decision and item.campaign.closed_at is None
                       and item.subject_id != user.pk),
        "permissions": ([str(PERMISSIONS.get(p, p)) for p in item.grant.permissions]
                        if item.grant_id else []),
    } for item in items]


def _campaign_page(request, campaign, status=200):
    now = timezone.now()
    items = list(items_of(campaign).select_related("campaign"))
    return render(request, "access/review_detail.html", {
        "campaign": campaign, "rows": _item_rows(items, request.user, now),
        "undecided": sum(1 for item in items if not item.decision),
        "overdue": campaign.closed_at is None and campaign.due_at < now,
        "crumbs": _crumbs({"url": reverse("access:reviews"), "label": _("Access reviews")}),
    }, status=status)


@login_required
@require_GET
def review_detail(request, pk):
    _require_user_manager(request)
    campaign = get_object_or_404(ReviewCampaign.objects.select_related("opened_by"), pk=pk)
    return _campaign_page(request, campaign)


@login_required
@require_POST
def review_close(request, pk):
    try:
        _campaign, undecided = close_review(Actor.from_request(request), pk)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Access review closed; %(count)d items were left "
                                    "undecided.") % {"count": undecided})
    return redirect("access:review", pk)


def _mine_page(request, status=200):
    now = timezone.now()
    items = (items_awaiting(request.user)
             .select_related("campaign", "subject", "role", "grant")
             .order_by("campaign__due_at", "campaign_id", "subject__username", "id"))
    return render(request, "access/review_mine.html", {
        "rows": _item_rows(items, request.user, now), "crumbs": _crumbs()}, status=status)


@login_required
@require_GET
def my_reviews(request):
    return _mine_page(request)


@login_required
@require_POST
def review_decide(request, pk):
    """One item's decision; back to the page it was posted from (that page again, with the
    error and status 400, when the input is refused)."""
    form = DecideForm(request.POST)
    back = form.data.get("back")
    item = None
    if not form.is_valid():
        messages.error(request, _("Choose confirm or revoke; keep the note under 500 "
                                  "characters."))
    else:
        data = form.cleaned_data
        try:
            item = decide(Actor.from_request(request), pk, decision=data["decision"],
                          note=data["note"])
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Decision recorded."))
            if back == "campaign":
                return redirect("access:review", item.campaign_id)
            return redirect("access:my_reviews")
    if back == "campaign" and has_permission(request.user, "user.manage"):
        campaign = ReviewCampaign.objects.filter(items__pk=pk).first()
        if campaign is not None:
            return _campaign_page(request, campaign, status=400)
    return _mine_page(request, status=400)
