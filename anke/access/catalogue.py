"""The one catalogue of permissions, record scopes and shipped roles.

A permission is ``resource.action``. A role bundles permissions, a record scope per resource and
an access level per classified field; a user's rights are the union of their roles and of their
temporary grants. The codes here are stable ids that stored roles refer to.
"""

from dataclasses import dataclass, field

from django.db import models
from django.utils.translation import gettext_lazy as _

CUSTOMER_DATA_RESOURCES = ("customer", "contact", "activity", "deal", "task", "order", "ticket")

PERMISSIONS: dict[str, str] = {
    "customer.view": _("View customers"),
    "customer.create": _("Create customers"),
    "customer.edit": _("Edit customers"),
    "customer.delete": _("Delete customers"),
    "customer.export": _("Export customers"),
    "customer.import": _("Import customers"),
    "customer.reassign": _("Reassign customers to another owner"),
    "customer.reveal": _("Reveal masked fields"),
    "contact.view": _("View contact persons"),
    "contact.create": _("Create contact persons"),
    "contact.edit": _("Edit contact persons"),
    "contact.delete": _("Delete contact persons"),
    "activity.view": _("View activities"),
    "activity.create": _("Log activities"),
    "activity.edit": _("Edit activities"),
    "activity.delete": _("Delete activities"),
    "deal.view": _("View deals"),
    "deal.create": _("Create deals"),
    "deal.edit": _("Edit deals"),
    "deal.delete": _("Delete deals"),
    "task.view": _("View tasks"),
    "task.create": _("Create tasks"),
    "task.edit": _("Edit tasks"),
    "task.delete": _("Delete tasks"),
    "order.view": _("View orders"),
    "order.create": _("Create orders"),
    "order.edit": _("Edit orders"),
    "order.delete": _("Delete orders"),
    "ticket.view": _("View tickets"),
    "ticket.create": _("Create tickets"),
    "ticket.edit": _("Edit tickets"),
    "ticket.delete": _("Delete tickets"),
    "audit.view": _("View the audit trail"),
    "user.view": _("View users"),
    "user.manage": _("Manage users"),
    "role.manage": _("Manage roles"),
    "grant.approve": _("Approve temporary grants"),
    "grant.break_glass": _("Grant oneself emergency access (break-glass)"),
    "backup.run": _("Run backups"),
    "key.rotate": _("Rotate keys"),
    "privacy.manage": _("Manage privacy requests and consent"),
}


class Scope(models.TextChoices):
    """Which customers (and their deals, tickets…) a role reaches."""

    NONE = "none", _("no customer data")
    OWN = "own", _("own customers")
    DEPARTMENT = "department", _("department and its sub-departments")
    REGION = "region", _("own region")
    ALL = "all", _("all customers")


class FieldAccess(models.TextChoices):
    """What a role may do with one classified field, weakest first: the union of roles is the
    strongest level any of them gives. Only a field shown in clear can be editable."""

    HIDDEN = "hidden", _("hidden")
    MASKED = "masked", _("masked")
    READ = "read", _("clear, read-only")
    EDIT = "edit", _("clear, editable")

    @property
    def rank(self) -> int:
        return _ACCESS_ORDER.index(self)


_ACCESS_ORDER = list(FieldAccess)


def strongest(levels) -> FieldAccess:
    """The union of several access levels (hidden when there are none)."""
    return max(levels, key=lambda level: level.rank, default=FieldAccess.HIDDEN)


def field_key(model_field) -> str:
    """A classified field's stable id in field policies: ``customer.phone``."""
    return f"{model_field.model._meta.model_name}.{model_field.name}"


def _all(resource: str, *actions: str) -> list[str]:
    return [f"{resource}.{action}" for action in actions]


_WORK = ("view", "create", "edit", "delete")
_SALES_WORK = [p for r in CUSTOMER_DATA_RESOURCES for p in _all(r, *_WORK)]
_SERVICE_WORK = (
    _all("customer", "view", "reveal")
    + _all("contact", "view")
    + _all("activity", "view", "create", "edit")
    + _all("deal", "view")
    + _all("order", "view")
    + _all("task", "view", "create", "edit")
    + _all("ticket", "view", "create", "edit")
)


@dataclass(frozen=True)
class ShippedRole:
    """A role as shipped: every resource gets ``scope``; every classified field gets
    ``fields`` unless ``field_overrides`` (field key → level) says otherwise."""

    label: str
    permissions: list[str]
    scope: str
    fields: FieldAccess
    field_overrides: dict[str, FieldAccess] = field(default_factory=dict)

    def scopes(self) -> dict[str, str]:
        return {resource: str(self.scope) for resource in CUSTOMER_DATA_RESOURCES}

    def field_policies(self, keys) -> dict[str, str]:
        return {key: str(self.field_overrides.get(key, self.fields)) for key in keys}


# Service agents see who they talk to masked; what they write themselves (the activities they
# log, the tickets they handle) is theirs to read and edit.
_SERVICE_FIELDS = {"activity.summary": FieldAccess.EDIT, "ticket.description": FieldAccess.EDIT}

# Data migrations create these; administrators may edit them.
SHIPPED_ROLES: dict[str, ShippedRole] = {
    "sales_rep": ShippedRole(_("Sales rep"), _SALES_WORK + ["user.view"], Scope.OWN,
                             FieldAccess.EDIT),
    "sales_manager": ShippedRole(
        _("Sales manager"),
        _SALES_WORK + ["customer.reassign", "grant.approve", "grant.break_glass", "user.view"],
        Scope.DEPARTMENT, FieldAccess.EDIT),
    "service_agent": ShippedRole(_("Service agent"), _SERVICE_WORK + ["user.view"], Scope.ALL,
                                 FieldAccess.MASKED, _SERVICE_FIELDS),
    "manager": ShippedRole(
        _("Manager"),
        _SALES_WORK + ["customer.export", "customer.import", "customer.reassign", "grant.approve",
                       "user.view"],
        Scope.ALL, FieldAccess.EDIT),
    "administrator": ShippedRole(
        _("Administrator"), ["user.view", "user.manage", "role.manage", "grant.approve"],
        Scope.NONE, FieldAccess.MASKED),
    "auditor": ShippedRole(_("Auditor"), ["audit.view", "user.view"], Scope.NONE,
                           FieldAccess.MASKED),
    "privacy_officer": ShippedRole(_("Privacy officer"), ["privacy.manage", "user.view"],
                                   Scope.NONE, FieldAccess.MASKED),
}
