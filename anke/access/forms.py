"""The role form, and the catalogue laid out for people: permissions grouped by resource,
classified fields named by their model and field."""

from django import forms
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from anke.access.catalogue import (
    CUSTOMER_DATA_RESOURCES,
    PERMISSIONS,
    FieldAccess,
    Scope,
    field_key,
)
from anke.access.models import Role
from anke.accounts.networks import AllowlistField
from anke.core.fields import personal_data_fields
from anke.core.forms import BootstrapFormMixin

RESOURCE_LABELS = {
    "customer": _("Customers"),
    "contact": _("Contact persons"),
    "activity": _("Activities"),
    "deal": pgettext_lazy("resource", "Deals"),
    "task": _("Tasks"),
    "order": _("Orders"),
    "ticket": _("Tickets"),
    "audit": _("Audit trail"),
    "user": _("Users"),
    "role": _("Roles"),
    "grant": _("Temporary grants"),
    "backup": _("Backups"),
    "key": _("Encryption keys"),
    "privacy": _("Privacy"),
}


def resource_label(resource: str):
    return RESOURCE_LABELS.get(resource, resource)


def permission_groups() -> list[tuple[str, object, list[tuple[str, object]]]]:
    """``(resource, label, [(permission code, label), …])`` in catalogue order."""
    groups: dict[str, list] = {}
    for code, label in PERMISSIONS.items():
        groups.setdefault(code.split(".", 1)[0], []).append((code, label))
    return [(resource, resource_label(resource), perms) for resource, perms in groups.items()]


def classified_field_rows() -> list[tuple[str, object, object]]:
    """``(field key, model verbose name, field verbose name)`` of every classified field, in
    the order the models declare them."""
    rows = {}
    for field in personal_data_fields():
        rows.setdefault(field_key(field),
                        (capfirst(field.model._meta.verbose_name), field.verbose_name))
    return [(key, model, name) for key, (model, name) in rows.items()]


def _input_name(key: str) -> str:
    return "access_" + key.replace(".", "__")


class RoleForm(BootstrapFormMixin, forms.Form):
    """Everything a role grants: permission checkboxes per resource, a record scope per
    customer-data resource and an access level per classified field.

    ``role`` is the role being edited (None: a new one). The code is set once, at creation; a
    shipped role shows its translated label instead of an editable name. ``version`` carries
    the role's state tag so a concurrent change is noticed.
    """

    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0,
                                 max_value=10**9 - 1)

    def __init__(self, *args, role: Role | None = None, shipped: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.role = role
        fields = {}
        if role is None:
            fields["code"] = forms.SlugField(
                label=_("Code"), max_length=50,
                help_text=_("A short stable id: letters, digits, hyphens and underscores."))
        if not shipped:
            fields["name"] = forms.CharField(label=_("Name"), max_length=100)
        fields["mfa_required"] = forms.BooleanField(
            label=Role._meta.get_field("mfa_required").verbose_name, required=False,
            initial=True, help_text=Role._meta.get_field("mfa_required").help_text)
        fields["passkey_required"] = forms.BooleanField(
            label=Role._meta.get_field("passkey_required").verbose_name, required=False,
            help_text=Role._meta.get_field("passkey_required").help_text)
        fields["ip_allowlist"] = AllowlistField(
            label=Role._meta.get_field("ip_allowlist").verbose_name,
            help_text=Role._meta.get_field("ip_allowlist").help_text)
        self.permission_fields = []
        for resource, label, perms in permission_groups():
            name = f"permissions_{resource}"
            fields[name] = forms.MultipleChoiceField(
                label=label, choices=perms, required=False,
                widget=forms.CheckboxSelectMultiple)
            self.permission_fields.append(name)
        self.scope_fields = {}
        for resource in CUSTOMER_DATA_RESOURCES:
            name = f"scope_{resource}"
            fields[name] = forms.ChoiceField(label=resource_label(resource),
                                             choices=Scope.choices, initial=Scope.NONE)
            self.scope_fields[name] = resource
        self.access_fields = {}
        for key, model_label, field_label in classified_field_rows():
            name = _input_name(key)
            fields[name] = forms.ChoiceField(label=f"{model_label} · {field_label}",
                                             choices=FieldAccess.choices,
                                             initial=FieldAccess.HIDDEN)
            self.access_fields[name] = key
        self.fields.update(fields)
        # The mixin styled the fields that existed when it ran; these were added after.
        for name, field in self.fields.items():
            if name in self.permission_fields or isinstance(field.widget, forms.CheckboxInput):
                field.widget.attrs["class"] = "form-check-input"
            elif isinstance(field.widget, forms.Select):
                field.widget.attrs["class"] = "form-select"
            elif not isinstance(field.widget, forms.HiddenInput):
                field.widget.attrs["class"] = "form-control"
        if role is not None and not self.is_bound:
            self._fill_from(role)

    def _fill_from(self, role: Role) -> None:
        held = set(role.permissions)
        for resource, _label, perms in permission_groups():
            self.initial[f"permissions_{resource}"] = [c for c, _p in perms if c in held]
        for name, resource in self.scope_fields.items():
            self.initial[name] = role.scope_for(resource).value
        for name, key in self.access_fields.items():
            self.initial[name] = role.access_to(key).value
        if "name" in self.fields:
            self.initial["name"] = role.name
        self.initial["mfa_required"] = role.mfa_required
        self.initial["passkey_required"] = role.passkey_required
        self.initial["ip_allowlist"] = "\n".join(role.ip_allowlist)

    # --- for the template ---------------------------------------------------------------------

    def code_field(self):
        return self["code"] if "code" in self.fields else None

    def name_field(self):
        return self["name"] if "name" in self.fields else None

    def permission_rows(self):
        return [self[name] for name in self.permission_fields]

    def scope_rows(self):
        return [self[name] for name in self.scope_fields]

    def access_rows(self):
        return [self[name] for name in self.access_fields]

    # --- for the action -----------------------------------------------------------------------

    def role_data(self) -> dict:
        """The cleaned form as the arguments of ``create_role`` / ``update_role``."""
        data = self.cleaned_data
        out = {
            "permissions": sorted(p for name in self.permission_fields for p in data[name]),
            "scopes": {resource: data[name] for name, resource in self.scope_fields.items()},
            "field_policies": {key: data[name] for name, key in self.access_fields.items()},
            "mfa_required": data["mfa_required"],
            "passkey_required": data["passkey_required"],
            "ip_allowlist": data["ip_allowlist"],
        }
        for name in ("code", "name"):
            if name in self.fields:
                out[name] = data[name]
        return out
