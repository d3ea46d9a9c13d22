from django import forms
from django.utils.translation import gettext_lazy as _

from anke.accounts.actions import MAX_TOKEN_DAYS
from anke.accounts.models import ApiToken
from anke.core.forms import BootstrapFormMixin


class TokenForm(BootstrapFormMixin, forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100,
                           help_text=_("What the token is for, e.g. “reporting script”."))
    expires_days = forms.IntegerField(label=_("Expires after (days)"), min_value=1,
                                      max_value=MAX_TOKEN_DAYS, initial=90)
    scope = forms.ChoiceField(label=_("Scope"), choices=ApiToken.Scope.choices,
                              initial=ApiToken.Scope.READ, widget=forms.RadioSelect,
                              help_text=_("A read-only token cannot change anything."))


class RevealForm(BootstrapFormMixin, forms.Form):
    """Which masked fields of a customer to see in clear, and why."""

    field_names = forms.MultipleChoiceField(label=_("Fields"), widget=forms.CheckboxSelectMultiple)
    reason = forms.CharField(label=_("Reason"), max_length=500, widget=forms.Textarea(
        attrs={"rows": 2}), help_text=_("Kept in the audit trail with your name."))

    def __init__(self, *args, choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["field_names"].choices = choices
