"""Web forms for service tickets (validation mirrors the model; actions save)."""

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from anke.access.masking import FieldPolicyFormMixin
from anke.core.forms import BootstrapFormMixin, VersionField
from anke.encryption.forms import UnreadableValuesMixin
from anke.service.models import Ticket


def active_users():
    return get_user_model().objects.filter(is_active=True)


class TicketForm(FieldPolicyFormMixin, UnreadableValuesMixin, BootstrapFormMixin, forms.ModelForm):
    """Opening a ticket: what it is about, how urgent, who handles it."""

    version = VersionField(required=False)

    class Meta:
        model = Ticket
        fields = ("kind", "subject", "description", "priority", "assignee")
        widgets = {"description": forms.Textarea(attrs={"rows": 5})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = active_users()
        self.fields["assignee"].empty_label = _("Unassigned")
        if not self.instance._state.adding:
            self.initial["version"] = self.instance.version


class TicketEditForm(TicketForm):
    """Handling a ticket: its status, priority, assignee and the customer's rating."""

    satisfaction = forms.IntegerField(label=_("Satisfaction (1–5)"), min_value=1, max_value=5,
                                      required=False)

    class Meta(TicketForm.Meta):
        fields = ("status", "priority", "assignee", "satisfaction")


class TicketFilterForm(BootstrapFormMixin, forms.Form):
    """List filters; they and the cursor travel in a POST body like the customer list's."""

    ME = "me"
    NOBODY = "none"

    status = forms.ChoiceField(label=_("Status"), required=False,
                               choices=[("", _("All statuses")), *Ticket.Status.choices])
    priority = forms.ChoiceField(label=_("Priority"), required=False,
                                 choices=[("", _("All priorities")), *Ticket.Priority.choices])
    kind = forms.ChoiceField(label=_("Kind"), required=False,
                             choices=[("", _("All kinds")), *Ticket.Kind.choices])
    assignee = forms.ChoiceField(label=_("Assignee"), required=False)
    cursor = forms.CharField(required=False, widget=forms.HiddenInput, max_length=200)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["assignee"].choices = [
            ("", _("Anyone")), (self.ME, _("Assigned to me")), (self.NOBODY, _("Unassigned")),
            *((str(u.pk), str(u)) for u in active_users()),
        ]

    def apply(self, queryset):
        data = self.cleaned_data
        for name in ("status", "priority", "kind"):
            if data.get(name):
                queryset = queryset.filter(**{name: data[name]})
        assignee = data.get("assignee")
        if assignee == self.ME:
            queryset = queryset.filter(assignee=self.user)
        elif assignee == self.NOBODY:
            queryset = queryset.filter(assignee__isnull=True)
        elif assignee:
            queryset = queryset.filter(assignee_id=assignee)
        return queryset
