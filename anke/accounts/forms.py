"""Forms of user administration (sign-in forms are allauth's). They only shape input: the rules
(who may change what, lock-out, successors) live in ``accounts.actions``."""

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from anke.access.models import Role
from anke.accounts.actions import successor_candidates
from anke.accounts.models import Department, Region
from anke.accounts.networks import AllowlistField
from anke.core.forms import BootstrapFormMixin


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj} ({obj.username})" if obj.display_name else obj.username


def _role_choices():
    return [(role.code, role.label) for role in Role.objects.all()]


class UserFilterForm(BootstrapFormMixin, forms.Form):
    """Filters of the user list. ``role`` is offered to administrators only: who holds which
    role is not for every colleague to browse."""

    ACTIVE, INACTIVE = "yes", "no"

    q = forms.CharField(label=_("Name"), required=False, max_length=100)
    role = forms.ChoiceField(label=_("Role"), required=False)
    department = forms.ModelChoiceField(Department.objects.all(), label=_("Department"),
                                        required=False, empty_label=_("All departments"))
    active = forms.ChoiceField(label=_("Status"), required=False, choices=[
        ("", _("All users")), (ACTIVE, _("Active")), (INACTIVE, _("Deactivated"))])

    def __init__(self, *args, with_roles: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if with_roles:
            self.fields["role"].choices = [("", _("All roles")), *_role_choices()]
        else:
            del self.fields["role"]

    def apply(self, queryset):
        data = self.cleaned_data
        if text := data.get("q", "").strip():
            queryset = queryset.filter(Q(username__icontains=text)
                                       | Q(display_name__icontains=text))
        if data.get("role"):
            queryset = queryset.filter(roles__code=data["role"])
        if data.get("department"):
            queryset = queryset.filter(department=data["department"])
        if data.get("active"):
            queryset = queryset.filter(is_active=data["active"] == self.ACTIVE)
        return queryset


class UserForm(BootstrapFormMixin, forms.Form):
    """A user's details and roles as an administrator edits them."""

    display_name = forms.CharField(label=_("Display name"), max_length=100, required=False)
    department = forms.ModelChoiceField(Department.objects.all(), label=_("Department"),
                                        required=False)
    region = forms.ModelChoiceField(Region.objects.all(), label=_("Region"), required=False)
    manager = UserChoiceField(get_user_model().objects.none(), label=_("Manager"),
                              required=False)
    roles = forms.MultipleChoiceField(label=_("Roles"), required=False,
                                      widget=forms.CheckboxSelectMultiple)
    ip_allowlist = AllowlistField(label=_("IP allowlist"), help_text=get_user_model()._meta
                                  .get_field("ip_allowlist").help_text)

    def __init__(self, *args, user, **kwargs):
        kwargs.setdefault("initial", {
            "display_name": user.display_name, "department": user.department_id,
            "region": user.region_id, "manager": user.manager_id,
            "roles": [role.code for role in user.roles.all()],
            "ip_allowlist": "\n".join(user.ip_allowlist)})
        super().__init__(*args, **kwargs)
        # Active colleagues, and the current manager even if they left (so saving other
        # fields does not clear it).
        self.fields["manager"].queryset = get_user_model().objects.filter(
            Q(is_active=True) | Q(pk=user.manager_id)).exclude(pk=user.pk)
        self.fields["roles"].choices = _role_choices()
        self.fields["roles"].widget.attrs["class"] = "form-check-input"

    def changes(self) -> dict:
        data = self.cleaned_data
        return {"display_name": data["display_name"], "department": data["department"],
                "region": data["region"], "manager": data["manager"],
                "roles": list(data["roles"]), "ip_allowlist": data["ip_allowlist"]}


class DeactivateForm(BootstrapFormMixin, forms.Form):
    """Who takes over a departing user's customers and open work."""

    successor = UserChoiceField(get_user_model().objects.none(), label=_("Successor"),
                                help_text=_("Active users who may own customers."))

    def __init__(self, *args, user, needs_successor: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["successor"].queryset = successor_candidates(user)
        self.fields["successor"].required = needs_successor
