"""The audit viewer's filters: validated, applied to the trail, and named (never valued) in the
event that records the auditor's own search."""

from datetime import timedelta

from django import forms
from django.utils.translation import gettext_lazy as _

from anke.audit.catalogue import Event, Outcome
from anke.core.fields import validate_sane_year
from anke.core.forms import BootstrapFormMixin, DateTimeInput


class AuditFilterForm(BootstrapFormMixin, forms.Form):
    """Filters of the audit viewer. They travel in a POST body: usernames and IP addresses are
    personal data and must not land in URLs or proxy logs."""

    actor = forms.CharField(label=_("Actor (username)"), required=False, max_length=150)
    action = forms.ChoiceField(label=_("Action"), required=False,
                               choices=[("", _("All actions")), *Event.choices])
    object_type = forms.CharField(label=_("Object type"), required=False, max_length=50)
    object_id = forms.CharField(label=_("Object id"), required=False, max_length=100)
    customer = forms.UUIDField(label=_("Customer id"), required=False)
    outcome = forms.ChoiceField(label=_("Outcome"), required=False,
                                choices=[("", _("All outcomes")), *Outcome.choices])
    ip = forms.GenericIPAddressField(label=_("IP address"), required=False)
    since = forms.DateTimeField(label=_("From"), required=False, widget=DateTimeInput(),
                                validators=[validate_sane_year])
    until = forms.DateTimeField(label=_("To"), required=False, widget=DateTimeInput(),
                                validators=[validate_sane_year])
    # The id of the last event shown; a malformed one starts from the first page.
    cursor = forms.CharField(required=False, widget=forms.HiddenInput, max_length=20)

    FILTERS = ("actor", "action", "object_type", "object_id", "customer", "outcome", "ip",
               "since", "until")

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", _("The end of the period is before its start."))
        return data

    def used_filters(self) -> list[str]:
        """The names of the filters given (valid or not), for the audit event: never values."""
        if not self.is_bound:
            return []
        return [name for name in self.FILTERS if str(self.data.get(name, "")).strip()]

    def position(self) -> int | None:
        """The id the page starts below, or None for the first page."""
        value = self.cleaned_data.get("cursor") or ""
        # ASCII digits only: "²".isdigit() is true, and int() refuses it.
        ok = value.isascii() and value.isdigit() and len(value) < 19
        return int(value) if ok else None

    def apply(self, queryset):
        data = self.cleaned_data
        if data.get("actor"):
            queryset = queryset.filter(actor_username=data["actor"].strip())
        for name in ("action", "outcome", "ip"):
            if data.get(name):
                queryset = queryset.filter(**{name: data[name]})
        if data.get("object_type"):
            queryset = queryset.filter(object_type=data["object_type"].strip())
        if data.get("object_id"):
            queryset = queryset.naming("object_ids", data["object_id"].strip())
        if data.get("customer"):
            queryset = queryset.naming_customer(data["customer"])
        if data.get("since"):
            queryset = queryset.filter(at__gte=data["since"])
        until = data.get("until")
        if until:
            # "To 12:30" from a minute-precise picker means up to the end of that minute.
            if not until.second and not until.microsecond:
                queryset = queryset.filter(at__lt=until + timedelta(minutes=1))
            else:
                queryset = queryset.filter(at__lte=until)
        return queryset
