"""User administration pages: the directory, one user, edit, deactivate (off-boarding) and
reactivate. Thin edges over ``accounts.actions``.

Reading the directory needs ``user.view``; roles, API tokens, last login and every change need
``user.manage``. A refused change is audited by the action it calls; pages that only show a
form refuse without a trail entry, as the API's read-only directory does.
"""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from anke.access.policy import has_permission
from anke.accounts import actions, history
from anke.accounts.forms import DeactivateForm, UserFilterForm, UserForm
from anke.audit.catalogue import Event
from anke.core.context import Actor

PAGE_SIZE = 50


def _need(request, permission: str) -> None:
    if not has_permission(request.user, permission):
        raise PermissionDenied(_("You do not have permission to do this."))


def _user_or_404(pk):
    user = (get_user_model().objects.select_related("department", "region", "manager")
            .filter(pk=pk).first())
    if user is None:
        raise Http404
    return user


def _crumbs(user=None) -> list[dict]:
    crumbs = [{"url": reverse("accounts:list"), "label": _("Users")}]
    if user is not None:
        crumbs.append({"url": reverse("accounts:detail", args=[user.pk]), "label": str(user)})
    return crumbs


@login_required
@require_GET
def sign_in_history(request):
    """The person's own sign-ins, failures against their account and security changes."""
    return render(request, "accounts/sign_in_history.html",
                  {"events": history.sign_in_history(request.user)})


@login_required
@require_GET
def user_list(request):
    """Colleagues by username, filtered and paged; administrators also see roles and status."""
    _need(request, "user.view")
    admin = has_permission(request.user, "user.manage")
    form = UserFilterForm(request.GET or None, with_roles=admin)
    users = get_user_model().objects.select_related("department", "region", "manager")
    if admin:
        users = users.prefetch_related("roles")
    if form.is_bound and form.is_valid():
        users = form.apply(users)
    page = Paginator(users.order_by("username").distinct(), PAGE_SIZE).get_page(
        request.GET.get("page"))
    query = {k: v for k, v in request.GET.items() if k != "page" and v}
    return render(request, "accounts/user_list.html", {
        "form": form, "page": page, "admin": admin, "query": urlencode(query),
    })


@login_required
@require_GET
def user_detail(request, pk):
    _need(request, "user.view")
    user = _user_or_404(pk)
    admin = has_permission(request.user, "user.manage")
    context = {"shown": user, "admin": admin, "crumbs": _crumbs()}
    if admin:
        tokens = user.api_tokens.aggregate(active=Count("pk", filter=Q(
            revoked_at__isnull=True, expires_at__gt=timezone.now())))
        context.update(roles=list(user.roles.all()), active_tokens=tokens["active"],
                       handover=actions.handover_counts(user) if user.is_active else None)
    return render(request, "accounts/user_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def user_edit(request, pk):
    """Details and role checkboxes; errors from the action show next to their fields."""
    if request.method == "GET":
        _need(request, "user.manage")
    user = _user_or_404(pk)
    form = UserForm(request.POST if request.method == "POST" else None, user=user)
    if request.method == "POST":
        actor = Actor.from_request(request)
        # Refused (and audited) before the input is even looked at.
        actions.require_user_manager(actor, Event.USER_UPDATE, user.pk)
        if form.is_valid():
            try:
                actions.update_user(actor, user.pk, changes=form.changes())
            except ValidationError as error:
                form.add_action_errors(error)
            else:
                messages.success(request, _("Saved."))
                return redirect("accounts:detail", pk=user.pk)
    return render(request, "accounts/user_form.html", {
        "form": form, "shown": user, "crumbs": _crumbs(user),
        "title": _("Edit %(user)s") % {"user": user},
    }, status=400 if request.method == "POST" else 200)


@login_required
@require_http_methods(["GET", "POST"])
def user_deactivate(request, pk):
    """Choose the successor, see what moves, then deactivate and hand over in one step."""
    if request.method == "GET":
        _need(request, "user.manage")
    user = _user_or_404(pk)
    counts = actions.handover_counts(user) if user.is_active else {}
    form = DeactivateForm(request.POST if request.method == "POST" else None, user=user,
                          needs_successor=any(counts.values()))
    if request.method == "POST":
        actor = Actor.from_request(request)
        actions.require_user_manager(actor, Event.USER_DEACTIVATE, user.pk)
        if form.is_valid():
            successor = form.cleaned_data["successor"]
            try:
                result = actions.deactivate_user(actor, user.pk,
                                                 successor_id=getattr(successor, "pk", None))
            except ValidationError as error:
                form.add_action_errors(error)
            else:
                messages.success(request, _(
                    "%(user)s is deactivated: %(customers)d customers, %(deals)d open deals, "
                    "%(tasks)d open tasks and %(tickets)d open tickets moved to %(successor)s; "
                    "%(tokens)d API tokens revoked and %(sessions)d sessions ended.") % {
                    "user": user, "successor": successor or "—",
                    "customers": result["customers"], "deals": result["deals"],
                    "tasks": result["tasks"], "tickets": result["tickets"],
                    "tokens": result["tokens_revoked"], "sessions": result["sessions_ended"]})
                return redirect("accounts:detail", pk=user.pk)
    return render(request, "accounts/user_deactivate.html", {
        "form": form, "shown": user, "counts": counts, "crumbs": _crumbs(user),
    }, status=400 if request.method == "POST" else 200)


@login_required
@require_POST
def user_reactivate(request, pk):
    try:
        user = actions.reactivate_user(Actor.from_request(request), pk)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("%(user)s can sign in again.") % {"user": user})
    return redirect("accounts:detail", pk=pk)
