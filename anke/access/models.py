"""Roles, temporary grants and access reviews: who may do what, on which records, until when."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from anke.access.catalogue import (
    CUSTOMER_DATA_RESOURCES,
    PERMISSIONS,
    SHIPPED_ROLES,
    FieldAccess,
    Scope,
)


def classified_field_keys() -> list[str]:
    """Every classified field's policy key, from the one registry of personal data."""
    from anke.access.catalogue import field_key
    from anke.core.fields import personal_data_fields

    return sorted(field_key(f) for f in personal_data_fields())


def _check_permissions(permissions, errors: dict, name: str = "permissions") -> None:
    if not isinstance(permissions, list) or any(p not in PERMISSIONS for p in permissions):
        errors[name] = _("Choose permissions from the catalogue.")


class Role(models.Model):
    """A named set of permissions, the record scope it reaches per resource and what it may do
    with each classified field.

    ``scopes`` maps a resource (customer, deal…) to a Scope; ``field_policies`` maps a field key
    (``customer.phone``) to a FieldAccess. A resource or field left out is out of reach: a new
    classified field stays hidden until an administrator decides otherwise.
    Shipped roles carry a ``code`` and show a translated label; roles an administrator adds show
    their ``name`` as typed.
    """

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    permissions = models.JSONField(_("permissions"), default=list)
    scopes = models.JSONField(_("record scopes"), default=dict)
    field_policies = models.JSONField(_("field policies"), default=dict)
    mfa_required = models.BooleanField(
        _("requires two-factor authentication"), default=True,
        help_text=_("Holders must sign in with a second factor and cannot reach anything else "
                    "until they have set one up."))
    passkey_required = models.BooleanField(
        _("requires a passkey"), default=False,
        help_text=_("Holders must sign in with a passkey or security key; an authenticator app "
                    "code is not enough."))
    ip_allowlist = models.JSONField(
        _("IP allowlist"), default=list, blank=True,
        help_text=_("Networks the holders may sign in and work from, one per line (CIDR, e.g. "
                    "10.0.0.0/8). Empty: anywhere."))

    class Meta:
        ordering = ["id"]
        verbose_name = _("role")
        verbose_name_plural = _("roles")

    def __str__(self) -> str:
        return str(self.label)

    @property
    def label(self):
        shipped = SHIPPED_ROLES.get(self.code)
        return shipped.label if shipped else self.name

    def scope_for(self, resource: str) -> Scope:
        value = self.scopes.get(resource) if isinstance(self.scopes, dict) else None
        return Scope(value) if value in Scope.values else Scope.NONE

    def access_to(self, key: str) -> FieldAccess:
        value = self.field_policies.get(key) if isinstance(self.field_policies, dict) else None
        return FieldAccess(value) if value in FieldAccess.values else FieldAccess.HIDDEN

    def clean(self):
        errors = {}
        _check_permissions(self.permissions, errors)
        if not isinstance(self.scopes, dict) or any(
                resource not in CUSTOMER_DATA_RESOURCES or scope not in Scope.values
                for resource, scope in self.scopes.items()):
            errors["scopes"] = _("Give each resource one of the record scopes.")
        keys = set(classified_field_keys())
        if not isinstance(self.field_policies, dict) or any(
                key not in keys or level not in FieldAccess.values
                for key, level in self.field_policies.items()):
            errors["field_policies"] = _("Give each classified field one of the access levels.")
        if errors:
            raise ValidationError(errors)


class GrantQuerySet(models.QuerySet):
    def active(self, at=None):
        """Grants in force now: not revoked and not expired (they end by themselves)."""
        at = at or timezone.now()
        return self.filter(revoked_at__isnull=True, starts_at__lte=at, expires_at__gt=at)


class Grant(models.Model):
    """Extra permissions for one user until a given time: on listed customers (and their
    records) or, when ``scope`` is set, on every customer that scope reaches for that user.

    Break-glass grants are the ones users give themselves in an emergency; each one raises an
    alert event.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="access_grants", verbose_name=_("user"))
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("granted by"))
    permissions = models.JSONField(_("permissions"), default=list)
    scope = models.CharField(_("scope"), max_length=20, choices=Scope.choices, blank=True,
                             help_text=_("Leave empty to grant only the listed customers."))
    customers = models.ManyToManyField("customers.Customer", blank=True, related_name="+",
                                       verbose_name=_("customers"))
    field_access = models.CharField(_("field access"), max_length=10,
                                    choices=FieldAccess.choices, default=FieldAccess.MASKED)
    reason = models.CharField(_("reason"), max_length=500)
    break_glass = models.BooleanField(_("break-glass"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    starts_at = models.DateTimeField(_("starts"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"), db_index=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("revoked by"))

    objects = GrantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("temporary grant")
        verbose_name_plural = _("temporary grants")
        indexes = [models.Index(fields=["user", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.user} · {', '.join(self.permissions)}"

    @property
    def resources(self) -> set[str]:
        return {p.split(".", 1)[0] for p in self.permissions}

    def clean(self):
        errors = {}
        _check_permissions(self.permissions, errors)
        if not self.permissions:
            errors["permissions"] = _("Choose at least one permission.")
        if self.expires_at and self.starts_at and self.expires_at <= self.starts_at:
            errors["expires_at"] = _("The grant must end after it starts.")
        if not (self.reason or "").strip():
            errors["reason"] = _("Give a reason.")
        if errors:
            raise ValidationError(errors)


class ReviewCampaign(models.Model):
    """An access review: every role and grant of every user, confirmed or revoked by the
    user's manager (or, for users without one, by whoever opened the campaign)."""

    name = models.CharField(_("name"), max_length=200)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                  related_name="+", verbose_name=_("opened by"))
    opened_at = models.DateTimeField(_("opened"), auto_now_add=True)
    due_at = models.DateTimeField(_("due"))
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        verbose_name = _("access review")
        verbose_name_plural = _("access reviews")

    def __str__(self) -> str:
        return self.name


class ReviewItem(models.Model):
    """One role assignment or grant of one user, to be confirmed or revoked."""

    class Decision(models.TextChoices):
        CONFIRM = "confirm", _("confirmed")
        REVOKE = "revoke", pgettext_lazy("status", "revoked")

    campaign = models.ForeignKey(ReviewCampaign, on_delete=models.CASCADE, related_name="items",
                                 verbose_name=_("access review"))
    subject = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="+", verbose_name=_("user reviewed"))
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                 related_name="review_items", verbose_name=_("reviewer"))
    role = models.ForeignKey(Role, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="+", verbose_name=_("role"))
    grant = models.ForeignKey(Grant, null=True, blank=True, on_delete=models.CASCADE,
                              related_name="+", verbose_name=_("temporary grant"))
    decision = models.CharField(_("decision"), max_length=10, choices=Decision.choices,
                                blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("decided by"))
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)

    class Meta:
        ordering = ["campaign", "subject", "id"]
        verbose_name = _("review item")
        verbose_name_plural = _("review items")
        constraints = [models.CheckConstraint(
            condition=models.Q(role__isnull=False, grant__isnull=True)
            | models.Q(role__isnull=True, grant__isnull=False),
            name="review_item_names_role_or_grant")]

    def __str__(self) -> str:
        return f"{self.subject} · {self.role or self.grant}"
