"""Roles: a bundle of permissions and a record scope, held by users (many-to-many)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from anke.access.catalogue import SHIPPED_ROLES, Scope


class Role(models.Model):
    """A named set of permissions with the record scope it reaches.

    Shipped roles carry a ``code`` and show a translated label; roles an administrator adds show
    their ``name`` as typed.
    """

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    permissions = models.JSONField(_("permissions"), default=list)
    customer_scope = models.CharField(
        _("customer scope"), max_length=20, choices=Scope.choices, default=Scope.NONE
    )

    class Meta:
        ordering = ["id"]
        verbose_name = _("role")
        verbose_name_plural = _("roles")

    def __str__(self) -> str:
        return str(self.label)

    @property
    def label(self):
        shipped = SHIPPED_ROLES.get(self.code)
        return shipped[0] if shipped else self.name
