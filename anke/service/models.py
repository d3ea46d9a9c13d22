"""Service tickets: complaints, feedback and enquiries with priority, assignee and SLA."""

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from anke.access.querysets import ScopedQuerySet
from anke.core.fields import Classification
from anke.core.models import TimeStampedModel, UUIDModel, VersionedModel
from anke.encryption.fields import EncryptedModel, EncryptedTextField


class TicketQuerySet(ScopedQuerySet):
    resource = "ticket"
    customer_path = "customer__"


class Ticket(EncryptedModel, UUIDModel, TimeStampedModel, VersionedModel):
    """A customer's complaint, feedback or enquiry and its handling."""

    class Kind(models.TextChoices):
        COMPLAINT = "complaint", _("complaint")
        FEEDBACK = "feedback", _("feedback")
        ENQUIRY = "enquiry", _("enquiry")

    class Priority(models.TextChoices):
        LOW = "low", _("low")
        NORMAL = "normal", _("normal")
        HIGH = "high", _("high")
        URGENT = "urgent", _("urgent")

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        IN_PROGRESS = "in_progress", _("in progress")
        WAITING = "waiting", _("waiting for customer")
        RESOLVED = "resolved", _("resolved")
        CLOSED = "closed", _("closed")

    # Time to resolve by priority; the SLA due time is set from it when the ticket opens.
    SLA = {
        Priority.URGENT: timedelta(hours=4),
        Priority.HIGH: timedelta(hours=24),
        Priority.NORMAL: timedelta(days=3),
        Priority.LOW: timedelta(days=7),
    }

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE,
                                 related_name="tickets", verbose_name=_("customer"))
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices,
                            default=Kind.ENQUIRY)
    subject = models.CharField(_("subject"), max_length=200)
    # Free text about a person: classified high and encrypted under the customer's key.
    description = EncryptedTextField(_("description"), blank=True,
                                     classification=Classification.HIGH)
    priority = models.CharField(_("priority"), max_length=10, choices=Priority.choices,
                                default=Priority.NORMAL)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices,
                              default=Status.OPEN, db_index=True)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="tickets",
                                 verbose_name=_("assignee"))
    sla_due_at = models.DateTimeField(_("SLA due"), null=True, blank=True, editable=False)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True, editable=False)
    satisfaction = models.PositiveSmallIntegerField(
        _("satisfaction (1–5)"), null=True, blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
    )

    objects = TicketQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "-created_at"])]
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")

    def __str__(self) -> str:
        return self.subject

    @property
    def is_open(self) -> bool:
        return self.status not in (self.Status.RESOLVED, self.Status.CLOSED)
