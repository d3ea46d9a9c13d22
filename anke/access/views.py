"""Role administration pages: the roles with how many users hold each, what one role grants,
and the forms that create, change and delete roles.

Reading needs ``role.manage`` or ``user.view`` (the same as the API); every page that changes
something needs ``role.manage``, and a refusal is audited with the event of the change it would
have made. The pages are plain forms: no script, nothing inline, under the strict CSP.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from anke.access import actions
from anke.access.catalogue import CUSTOMER_DATA_RESOURCES, FieldAccess
from anke.access.forms import (
    RoleForm,
    classified_field_rows,
    permission_groups,
)
from anke.access.models import Role
from anke.access.policy import has_permission
from anke.audit.catalogue import Event
from anke.core.context import Actor
from anke.core.errors import StaleVersion


def role_summary(role: Role) -> dict:
    """What ``role`` lets its users do, for people: the permissions it holds grouped by
    resource (with the record scope of each customer-data resource) and the access level of
    every classified field. Read-only; the user pages may show it too."""
    held = set(role.permissions)
    resources = []
    for resource, label, perms in permission_groups():
        scope = role.scope_for(resource) if resource in CUSTOMER_DATA_RESOURCES else None
        resources.append({
            "resource": resource,
            "label": label,
            "permissions": [p_label for code, p_label in perms if code in held],
            "scope": scope,
            "scope_label": scope.label if scope is not None else "",
        })
    fields = []
    for key, model_label, field_label in classified_field_rows():
        level = role.access_to(key)
        fields.append({"key": key, "model": model_label, "field": field_label,
                       "level": level, "level_label": level.label,
                       "cells": [choice == level for choice in FieldAccess]})
    return {"resources": resources, "fields": fields, "levels": FieldAccess.choices}


def _may_read(user) -> bool:
    return has_permission(user, actions.MANAGE) or has_permission(user, "user.view")


def _require_reader(user) -> None:
    if not _may_read(user):
        raise PermissionDenied


def _role(pk) -> Role:
    return get_object_or_404(Role, pk=pk)


def _crumbs(role: Role | None = None) -> list[dict]:
    crumbs = [{"url": reverse("roles:list"), "label": _("Roles")}]
    if role is not None:
        crumbs.append({"url": reverse("roles:detail", args=[role.pk]), "label": role.label})
    return crumbs


@login_required
@require_GET
def role_list(request):
    """Every role, with the number of users holding it."""
    _require_reader(request.user)
    roles = Role.objects.annotate(user_count=Count("users")).order_by("pk")
    return render(request, "access/role_list.html", {
        "roles": [{"role": role, "shipped": actions.is_shipped(role),
                   "permission_count": len(role.permissions)} for role in roles],
        "can_manage": has_permission(request.user, actions.MANAGE),
    })


@login_required
@require_GET
def role_detail(request, pk):
    """What one role grants: permissions by resource, scopes and the field grid."""
    _require_reader(request.user)
    role = _role(pk)
    return render(request, "access/role_detail.html", {
        "role": role, "summary": role_summary(role), "shipped": actions.is_shipped(role),
        "user_count": role.users.count(), "breadcrumbs": _crumbs(),
        "can_manage": has_permission(request.user, actions.MANAGE),
    })


def _form_page(request, form: RoleForm, *, title: str, cancel_url: str, breadcrumbs, save):
    """Validate ``form`` and call ``save(actor, data)``; errors go next to their fields."""
    if request.method == "POST" and form.is_valid():
        try:
            url = save(Actor.from_request(request), form.role_data(),
                       form.cleaned_data.get("version"))
        except StaleVersion as error:
            form.add_error(None, str(error))
        except ValidationError as error:
            form.add_action_errors(error)
        else:
            messages.success(request, _("Saved."))
            return redirect(url)
    return render(request, "access/role_form.html", {
        "form": form, "title": title, "cancel_url": cancel_url, "breadcrumbs": breadcrumbs,
        "role": form.role,
    }, status=400 if request.method == "POST" else 200)


def _require_manager(request, event: Event, object_ids=()) -> None:
    actions.require_role_manager(Actor.from_request(request), event, object_ids)


@login_required
@require_http_methods(["GET", "POST"])
def role_create(request):
    _require_manager(request, Event.ROLE_CREATE)
    form = RoleForm(request.POST if request.method == "POST" else None)

    def save(actor, data, _version):
        role = actions.create_role(actor, **data)
        return reverse("roles:detail", args=[role.pk])

    return _form_page(request, form, title=_("New role"), cancel_url=reverse("roles:list"),
                      breadcrumbs=_crumbs(), save=save)


@login_required
@require_http_methods(["GET", "POST"])
def role_edit(request, pk):
    _require_manager(request, Event.ROLE_UPDATE, [pk])
    role = _role(pk)
    shipped = actions.is_shipped(role)
    if request.method == "POST":
        form = RoleForm(request.POST, role=role, shipped=shipped)
    else:
        form = RoleForm(role=role, shipped=shipped,
                        initial={"version": actions.state_tag(role)})

    def save(actor, data, version):
        actions.update_role(actor, role.pk, changes=data, version=version)
        return reverse("roles:detail", args=[role.pk])

    return _form_page(request, form, title=_("Change role “%(role)s”") % {"role": role.label},
                      cancel_url=reverse("roles:detail", args=[role.pk]),
                      breadcrumbs=_crumbs(role), save=save)


@login_required
@require_http_methods(["GET", "POST"])
def role_delete(request, pk):
    """Confirm, then delete. Refused (400, with the reason) for shipped roles and roles that
    users still hold."""
    _require_manager(request, Event.ROLE_DELETE, [pk])
    role = _role(pk)
    status = 200
    if request.method == "POST":
        try:
            actions.delete_role(Actor.from_request(request), role.pk)
        except ValidationError as error:
            for message in error.messages:
                messages.error(request, message)
            status = 400
        else:
            messages.success(request, _("Deleted."))
            return redirect("roles:list")
    return render(request, "access/role_delete.html", {
        "role": role, "shipped": actions.is_shipped(role), "user_count": role.users.count(),
        "breadcrumbs": _crumbs(role),
    }, status=status)
