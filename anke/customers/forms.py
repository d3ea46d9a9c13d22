"""Web forms for customers and contact persons (validation mirrors the model; actions save)."""

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from anke.access.masking import FieldPolicyFormMixin
from anke.access.policy import users_in_reach
from anke.core.forms import BootstrapFormMixin, DateInput, VersionField
from anke.customers.actions import CONTACT_FIELDS, CUSTOMER_FIELDS
from anke.customers.models import ContactPerson, Customer, Tag
from anke.encryption.forms import UnreadableValuesMixin


class CustomerForm(FieldPolicyFormMixin, UnreadableValuesMixin, BootstrapFormMixin,
                   forms.ModelForm):
    tags = forms.CharField(label=_("Tags"), required=False, max_length=500,
                           help_text=_("Separate tags with commas."))
    version = VersionField(required=False)

    class Meta:
        model = Customer
        fields = CUSTOMER_FIELDS
        widgets = {
            "birthday": DateInput(),
            "preferences": forms.Textarea(attrs={"rows": 2}),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["tags"] = ", ".join(t.name for t in self.instance.tags.all())
            self.initial["version"] = self.instance.version

    def clean_tags(self):
        raw = self.cleaned_data["tags"].replace("，", ",")
        return [name.strip() for name in raw.split(",") if name.strip()]


class ContactForm(FieldPolicyFormMixin, UnreadableValuesMixin, BootstrapFormMixin, forms.ModelForm):
    version = VersionField(required=False)

    class Meta:
        model = ContactPerson
        fields = CONTACT_FIELDS
        widgets = {"notes": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["version"] = self.instance.version


class CustomerFilterForm(BootstrapFormMixin, forms.Form):
    """List filters. The free-text query travels in a POST body, never in the URL."""

    q = forms.CharField(label=_("Name, company, phone, e-mail or ID number"), required=False,
                        max_length=100)
    stage = forms.ChoiceField(label=_("Stage"), required=False,
                              choices=[("", _("All stages")), *Customer.Stage.choices])
    kind = forms.ChoiceField(label=_("Kind"), required=False,
                             choices=[("", _("All kinds")), *Customer.Kind.choices])
    tag = forms.ModelChoiceField(label=_("Tag"), required=False, queryset=Tag.objects.all(),
                                 empty_label=_("All tags"), to_field_name="name")
    owner = forms.ModelChoiceField(label=_("Owner"), required=False,
                                   queryset=get_user_model().objects.none(),
                                   empty_label=_("All owners"))
    cursor = forms.CharField(required=False, widget=forms.HiddenInput, max_length=200)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # Only owners whose customers the user reaches: the options name no one else.
        self.fields["owner"].queryset = users_in_reach(user, "customer.view")

    def choices_for_template(self) -> dict:
        """Options and current values of the selects as plain strings.

        The list page renders its filter bar by hand from these: Django's widget templates
        cost more than the whole table of 50 rows on the hottest page of the product.
        """
        def current(name):
            value = self[name].value() if self.is_bound else None
            return "" if value is None else str(value)

        return {
            "q": current("q"),
            "stage": current("stage"), "stages": [(v, str(label)) for v, label in
                                                   Customer.Stage.choices],
            "kind": current("kind"), "kinds": [(v, str(label)) for v, label in
                                                Customer.Kind.choices],
            "tag": current("tag"), "tags": list(Tag.objects.values_list("name", flat=True)),
            "owner": current("owner"), "owners": [
                (str(pk), display or username) for pk, display, username in
                self.fields["owner"].queryset.values_list("pk", "display_name", "username")],
        }

    def apply(self, queryset, actor):
        data = self.cleaned_data
        queryset = queryset.search(data.get("q") or "", actor)
        if data.get("stage"):
            queryset = queryset.filter(stage=data["stage"])
        if data.get("kind"):
            queryset = queryset.filter(kind=data["kind"])
        if data.get("tag"):
            queryset = queryset.filter(tags=data["tag"])
        if data.get("owner"):
            queryset = queryset.filter(owner=data["owner"])
        return queryset
