"""The audit trail: who did what to which records, from where, and whether it was allowed."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from anke.audit.catalogue import Event, Outcome


class AuditEvent(models.Model):
    """One recorded action. Names objects by id and fields by name, never by value."""

    at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+",
        db_constraint=False, verbose_name=_("actor"),
    )
    # Kept beside the foreign key so the event still names the actor if the user row goes.
    actor_username = models.CharField(_("username"), max_length=150, blank=True)
    roles = models.CharField(_("roles"), max_length=255, blank=True)
    auth_method = models.CharField(_("authentication"), max_length=20, blank=True)
    session_ref = models.CharField(_("session"), max_length=16, blank=True)
    token_id = models.BigIntegerField(_("API token"), null=True, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    request_id = models.CharField(_("request id"), max_length=32, blank=True, db_index=True)
    action = models.CharField(_("action"), max_length=50, choices=Event.choices, db_index=True)
    object_type = models.CharField(_("object type"), max_length=50, blank=True)
    object_ids = models.JSONField(_("object ids"), default=list)
    fields = models.JSONField(_("fields"), default=list)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices,
                               default=Outcome.ALLOWED)
    reason = models.CharField(_("reason"), max_length=500, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [models.Index(fields=["actor", "at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_username} {self.action} {self.outcome}"
