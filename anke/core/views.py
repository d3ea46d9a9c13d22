"""The one shape of a create/edit page: validate the form, call one domain action, show errors
next to their fields. Views stay thin; rules live in the actions."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from anke.core.context import Actor
from anke.core.errors import StaleVersion


def form_page(request, *, form_class, save, title: str, cancel_url: str, breadcrumbs=(),
              initial=None, instance=None, success_message: str = "", form_kwargs=None,
              delete_url: str = ""):
    """GET shows ``form_class``; POST validates it and calls ``save(actor, cleaned_data)``.

    ``save`` returns the object to redirect to (its ``get_absolute_url``) or a URL string.
    ``delete_url``, when the user may delete the object, adds a Delete link.
    """
    form_kwargs = dict(form_kwargs or {})
    if instance is not None:
        form_kwargs["instance"] = instance
    if request.method == "POST":
        form = _restricted(form_class(request.POST, **form_kwargs), request.user)
        if form.is_valid():
            try:
                result = save(Actor.from_request(request), form.cleaned_data)
            except StaleVersion as error:
                form.add_error(None, str(error))
            except ValidationError as error:
                form.add_action_errors(error)
            else:
                messages.success(request, success_message or _("Saved."))
                return redirect(result)
    else:
        form = _restricted(form_class(initial=initial, **form_kwargs), request.user)
    return render(request, "web/form_page.html", {
        "form": form, "title": title, "cancel_url": cancel_url, "breadcrumbs": breadcrumbs,
        "delete_url": delete_url,
    }, status=400 if request.method == "POST" else 200)


def _restricted(form, user):
    """The form with only the fields the user's field policy lets them edit."""
    if hasattr(form, "restrict_to"):
        form.restrict_to(user)
    return form


def confirm_delete(request, *, obj, delete, cancel_url: str, success_url: str):
    """GET asks; POST calls ``delete(actor, version)`` and goes to ``success_url``."""
    if request.method == "POST":
        try:
            version = int(request.POST.get("version", ""))
        except ValueError:
            version = None
        try:
            delete(Actor.from_request(request), version)
        except StaleVersion as error:
            messages.error(request, str(error))
            return redirect(cancel_url)
        messages.success(request, _("Deleted."))
        return redirect(success_url)
    return render(request, "web/confirm_delete.html", {"object": obj, "cancel_url": cancel_url})


def without_version(data: dict) -> dict:
    return {name: value for name, value in data.items() if name != "version"}


def edit_version(data: dict, instance) -> int:
    """The version the edit started from: the form's, or the one it was shown with."""
    return data.get("version") or instance.version

