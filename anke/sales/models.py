"""The sales side: pipeline stages, deals, activities on the timeline, follow-up tasks, orders."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from anke.access.querysets import ScopedQuerySet
from anke.core.fields import Classification, validate_sane_year
from anke.core.models import TimeStampedModel, UUIDModel, VersionedModel
from anke.encryption.fields import EncryptedModel, EncryptedTextField

SHIPPED_STAGES = {
    "qualify": _("Qualify"),
    "needs": _("Needs analysis"),
    "proposal": _("Proposal"),
    "negotiation": _("Negotiation"),
    "won": _("Won"),
    "lost": _("Lost"),
}


class PipelineStage(models.Model):
    """A column of the pipeline board; configurable by administrators."""

    code = models.SlugField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    probability = models.PositiveSmallIntegerField(_("win probability (%)"), default=0)
    is_won = models.BooleanField(_("counts as won"), default=False)
    is_lost = models.BooleanField(_("counts as lost"), default=False)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("pipeline stage")
        verbose_name_plural = _("pipeline stages")

    def __str__(self) -> str:
        return str(self.label)

    @property
    def label(self):
        return SHIPPED_STAGES.get(self.code, self.name)

    @property
    def is_open(self) -> bool:
        return not (self.is_won or self.is_lost)


class Currency(models.TextChoices):
    CNY = "CNY", _("CNY")
    USD = "USD", _("USD")
    EUR = "EUR", _("EUR")
    HKD = "HKD", _("HKD")


class DealQuerySet(ScopedQuerySet):
    resource = "deal"
    customer_path = "customer__"


class Deal(UUIDModel, TimeStampedModel, VersionedModel):
    """A sales opportunity with a customer, moving through the pipeline."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE,
                                 related_name="deals", verbose_name=_("customer"))
    title = models.CharField(_("title"), max_length=200)
    stage = models.ForeignKey(PipelineStage, on_delete=models.PROTECT, related_name="deals",
                              verbose_name=_("stage"))
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2,
                                 default=Decimal("0"), validators=[MinValueValidator(0)])
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices,
                                default=Currency.CNY)
    expected_close = models.DateField(_("expected close"), null=True, blank=True,
                                      validators=[validate_sane_year])
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                              related_name="deals", verbose_name=_("owner"))
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True, editable=False)

    objects = DealQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "-created_at"])]
        verbose_name = _("deal")
        verbose_name_plural = _("deals")

    def __str__(self) -> str:
        return self.title


class ActivityQuerySet(ScopedQuerySet):
    resource = "activity"
    customer_path = "customer__"


class Activity(EncryptedModel, UUIDModel, TimeStampedModel, VersionedModel):
    """Something that happened with a customer: a call, visit, meeting, e-mail or note."""

    class Kind(models.TextChoices):
        CALL = "call", _("call")
        VISIT = "visit", _("visit")
        MEETING = "meeting", _("meeting")
        EMAIL = "email", _("e-mail")
        NOTE = "note", _("note")

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE,
                                 related_name="activities", verbose_name=_("customer"))
    deal = models.ForeignKey(Deal, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="activities", verbose_name=_("deal"))
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.CALL)
    occurred_at = models.DateTimeField(_("when"), db_index=True, validators=[validate_sane_year])
    # Free text about a person: classified high and encrypted under the customer's key.
    summary = EncryptedTextField(_("summary"), classification=Classification.HIGH)
    performed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                     related_name="activities", verbose_name=_("by"))

    objects = ActivityQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        # The customer's timeline reads its newest activities; without this PostgreSQL may walk
        # the whole occurred_at index when its statistics are stale.
        indexes = [models.Index(fields=["customer", "-occurred_at"])]
        verbose_name = _("activity")
        verbose_name_plural = _("activities")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.occurred_at:%Y-%m-%d}"

    def clean(self):
        _same_customer(self, self.deal, "deal")


class TaskQuerySet(ScopedQuerySet):
    resource = "task"
    customer_path = "customer__"


class Task(UUIDModel, TimeStampedModel, VersionedModel):
    """A follow-up someone must do for a customer by a due time."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE,
                                 related_name="tasks", verbose_name=_("customer"))
    title = models.CharField(_("title"), max_length=200)
    due_at = models.DateTimeField(_("due"), db_index=True, validators=[validate_sane_year])
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                 related_name="tasks", verbose_name=_("assignee"))
    done = models.BooleanField(_("done"), default=False)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["done", "due_at", "id"]
        verbose_name = _("task")
        verbose_name_plural = _("tasks")

    def __str__(self) -> str:
        return self.title


class OrderQuerySet(ScopedQuerySet):
    resource = "order"
    customer_path = "customer__"


class Order(UUIDModel, TimeStampedModel, VersionedModel):
    """A transaction with a customer: line items, total, status."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        CONFIRMED = "confirmed", _("confirmed")
        PAID = "paid", _("paid")
        SHIPPED = "shipped", _("shipped")
        CANCELLED = "cancelled", _("cancelled")
        REFUNDED = "refunded", _("refunded")

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE,
                                 related_name="orders", verbose_name=_("customer"))
    deal = models.ForeignKey(Deal, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="orders", verbose_name=_("deal"))
    number = models.CharField(_("order number"), max_length=40, unique=True)
    items = models.JSONField(_("items"), default=list)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2, editable=False,
                                 default=Decimal("0"))
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices,
                                default=Currency.CNY)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices,
                              default=Status.CONFIRMED)
    ordered_on = models.DateField(_("order date"), db_index=True,
                                  validators=[validate_sane_year])

    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-ordered_on", "-id"]
        indexes = [models.Index(fields=["customer", "-created_at"])]
        verbose_name = _("order")
        verbose_name_plural = _("orders")

    def __str__(self) -> str:
        return self.number

    def clean(self):
        _same_customer(self, self.deal, "deal")
        self.amount = order_total(self.items)


def order_total(items) -> Decimal:
    """Validate line items ``[{"name", "quantity", "unit_price"}]`` and return their total."""
    message = _("Each item needs a name, a whole quantity of at least 1 and a price of 0 or more.")
    if not isinstance(items, list) or not items or len(items) > 200:
        raise ValidationError({"items": _("An order has 1 to 200 items.")})
    total = Decimal("0")
    for item in items:
        try:
            name = str(item["name"]).strip()
            quantity = int(item["quantity"])
            price = Decimal(str(item["unit_price"]))
        except (KeyError, TypeError, ValueError, ArithmeticError):
            raise ValidationError({"items": message}) from None
        if not name or len(name) > 200 or quantity < 1 or not price.is_finite() or price < 0:
            raise ValidationError({"items": message})
        if str(item["quantity"]) != str(quantity):
            raise ValidationError({"items": message})
        total += price * quantity
    if total >= Decimal("1e12"):
        raise ValidationError({"items": _("The order total is too large.")})
    return total.quantize(Decimal("0.01"))


def _same_customer(obj, related, field: str) -> None:
    if related is not None and related.customer_id != obj.customer_id:
        raise ValidationError({field: _("Choose a deal of the same customer.")})
