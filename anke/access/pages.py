"""Edit and delete pages for any customer record, through the access policy.

Every record (the customer itself, contact persons, deals, activities, tasks, tickets) is edited
and deleted the same way: look it up with ``access_object`` (404 for missing and not-yours, 403
for visible but not permitted, both audited), then one domain action. The apps' views declare
their pages with these factories instead of repeating that shape.
"""

from django.contrib.auth.decorators import login_required
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from anke.access.guarded import access_object, audit_read
from anke.access.policy import has_permission
from anke.audit.catalogue import Event
from anke.core.context import Actor
from anke.core.views import confirm_delete, edit_version, form_page, without_version


def crumbs_to(customer) -> list[dict]:
    """Breadcrumbs from the customer list to one customer's page (or just the list)."""
    crumbs = [{"url": reverse("customers:list"), "label": _("Customers")}]
    if customer is not None:
        crumbs.append({"url": customer.get_absolute_url(), "label": customer.name})
    return crumbs


def delete_url_for(user, permission: str, route: str, pk) -> str:
    """The delete page of ``pk`` if the user holds ``permission`` (scope is checked there)."""
    return reverse(route, args=[pk]) if has_permission(user, permission) else ""


def _lookup(model, request, pk, event: Event, action: str, shown=()):
    """The record and its customer (the record itself when it is a customer).

    The page shows the record's fields (a pre-filled form, its name), so the read is audited
    as a view of ``shown`` before anything is rendered.
    """
    is_child = bool(model.objects.get_queryset().customer_path)
    queryset = model.objects.select_related("customer") if is_child else model.objects.all()
    actor = Actor.from_request(request)
    obj = access_object(actor, queryset, pk, event, action)
    view_event = Event(f"{model.objects.get_queryset().resource}.view")
    audit_read(actor, view_event, model, [obj], fields=shown)
    return obj, (obj.customer if is_child else obj)


def record_edit_view(model, *, form_class, update, event: Event, title, delete_route: str,
                     form_kwargs=None):
    """A page that edits one record with ``update(actor, pk, changes=…, version=…)``.

    ``form_kwargs(request, obj)`` may pass extra arguments to the form (choices scoped to the
    user, for example).
    """
    resource = model.objects.get_queryset().resource

    @login_required
    @require_http_methods(["GET", "POST"])
    def edit(request, pk):
        obj, customer = _lookup(model, request, pk, event, "edit",
                                shown=form_class._meta.fields)

        def save(actor, data):
            update(actor, pk, changes=without_version(data), version=edit_version(data, obj))
            return customer.get_absolute_url()

        return form_page(
            request, form_class=form_class, instance=obj, title=title,
            cancel_url=customer.get_absolute_url(), breadcrumbs=crumbs_to(customer), save=save,
            form_kwargs=form_kwargs(request, obj) if form_kwargs else None,
            delete_url=delete_url_for(request.user, f"{resource}.delete", delete_route, obj.pk),
        )

    return edit


def record_delete_view(model, *, delete, event: Event, success_route: str | None = None):
    """A page that confirms and deletes one record with ``delete(actor, pk, version=…)``; then
    back to ``success_route`` or the record's customer."""

    @login_required
    @require_http_methods(["GET", "POST"])
    def remove(request, pk):
        obj, customer = _lookup(model, request, pk, event, "delete", shown=["name"])
        return confirm_delete(
            request, obj=obj, cancel_url=customer.get_absolute_url(),
            success_url=reverse(success_route) if success_route else customer.get_absolute_url(),
            delete=lambda actor, version: delete(actor, pk, version=version),
        )

    return remove
