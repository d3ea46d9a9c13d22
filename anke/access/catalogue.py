"""The one catalogue of permissions, record scopes and shipped roles.

A permission is ``resource.action``. Roles bundle permissions with a record scope; a user's rights
are the union of their roles. Access-control issue work deepens this (per-resource scopes, field
policies, grants); the codes here are stable ids that stored roles refer to.
"""

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

# code → (label, permissions, scope). Data migrations create these; administrators may edit them.
SHIPPED_ROLES: dict[str, tuple[str, list[str], str]] = {
    "sales_rep": (_("Sales rep"), _SALES_WORK + ["user.view"], Scope.OWN),
    "sales_manager": (
        _("Sales manager"), _SALES_WORK + ["customer.reassign", "user.view"], Scope.DEPARTMENT,
    ),
    "service_agent": (_("Service agent"), _SERVICE_WORK + ["user.view"], Scope.ALL),
    "manager": (
        _("Manager"),
        _SALES_WORK + ["customer.export", "customer.import", "customer.reassign", "user.view"],
        Scope.ALL,
    ),
    "administrator": (_("Administrator"), ["user.view", "user.manage", "role.manage"], Scope.NONE),
    "auditor": (_("Auditor"), ["audit.view", "user.view"], Scope.NONE),
    "privacy_officer": (_("Privacy officer"), ["privacy.manage", "user.view"], Scope.NONE),
}
