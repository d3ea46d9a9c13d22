"""Customers (individuals and companies), their contact persons and tags."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from anke.access.catalogue import FieldAccess
from anke.access.policy import FieldPolicy, field_levels
from anke.access.querysets import ScopedQuerySet
from anke.core.fields import (
    Classification,
    ClassifiedCharField,
    Mask,
    WebURLField,
    validate_sane_year,
)
from anke.core.models import TimeStampedModel, UUIDModel, VersionedModel
from anke.encryption import blind_index
from anke.encryption.blind_index import CREDIT_CODE, EMAIL, ID_NUMBER, PHONE
from anke.encryption.datakeys import open_for_reading
from anke.encryption.fields import (
    BlindIndexField,
    EncryptedCharField,
    EncryptedCreditCodeField,
    EncryptedDateField,
    EncryptedEmailField,
    EncryptedIdNumberField,
    EncryptedModel,
    EncryptedPhoneField,
    EncryptedTextField,
    encrypted_fields,
)
from anke.encryption.registry import subject_field, subject_id_of


class Tag(models.Model):
    """A label sales and service put on customers (VIP, 老客户…)."""

    name = models.CharField(_("name"), max_length=50, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self) -> str:
        return self.name


class CustomerQuerySet(ScopedQuerySet):
    resource = "customer"
    customer_path = ""

    def search(self, text: str, actor):
        """Name or company contains ``text``; a phone number, e-mail, ID number or credit code
        is matched exactly, on the customer or one of its contact persons."""
        text = text.strip()
        if not text:
            return self
        exact = blind_index.detect(text)
        if exact:
            return self.matching(actor, *exact)
        by_company = models.Q(company__icontains=text)
        if FieldPolicy(actor.user, "customer.view", Customer).top["name"] == FieldAccess.HIDDEN:
            return self.filter(by_company)  # a hidden name is no search key either
        return self.filter(models.Q(name__icontains=text) | by_company)

    def matching(self, actor, group: str, value: str):
        """Customers (among these) whose ``group`` value equals the canonical ``value``.

        The blind index narrows the table to a few candidates; decrypting them confirms the
        match (index tokens are short on purpose, so two values may share one). Candidates
        outside this queryset's scope are never decrypted.

        Candidates are looked up by token alone, without the scope and the ordering (with them
        SQLite plans the query on the owner index and reads every row of a rep's customers),
        and only their ids leave that query; the scope then picks among them by primary key.
        """
        tokens = blind_index.tokens_for_search(group, value)
        found = set()
        for model in (Customer, ContactPerson):
            for field in encrypted_fields(model):
                if field.index_group != group:
                    continue
                candidates = dict(model.objects.filter(**{f"{field.name}_bidx__in": tokens})
                                  .order_by().values_list("pk", subject_field(model)))
                if not candidates:
                    continue
                # The scope applies in the query that fetches the rows to decrypt, as a check
                # of each candidate by primary key: asked as a filter beside the candidates'
                # ids, SQLite without statistics walks the owner index (a rep's 50,000 rows at
                # 1M) once there are more candidates than it guesses an owner has.
                in_scope = Exists(self.filter(pk=OuterRef(subject_field(model)))
                                  .select_related(None).order_by())
                rows = list(model.objects.filter(in_scope, pk__in=list(candidates)).order_by())
                open_for_reading(actor, rows)  # compared here, never returned
                found |= {subject_id_of(row) for row in _searchable_by(actor, field, rows)
                          if blind_index.canonical(group, getattr(row, field.attname)) == value}
        return self.filter(pk__in=found)


def _searchable_by(actor, field, rows) -> list:
    """The rows in which ``field`` is a search key for the actor: a field a user may not see
    (hidden) is no search key either, since finding a record by it would tell its value. The
    system (imports, migrations) searches every row it was given."""
    if actor.user is None:
        return rows
    levels = field_levels(actor.user, f"{field.model.objects.get_queryset().resource}.view", rows)
    return [row for row in rows if levels[id(row)][field.name] != FieldAccess.HIDDEN]


class Customer(EncryptedModel, UUIDModel, TimeStampedModel, VersionedModel):
    """A data subject or a company the business serves. The unit of scope and of erasure."""

    class Kind(models.TextChoices):
        INDIVIDUAL = "individual", _("individual")
        COMPANY = "company", _("company")

    class Stage(models.TextChoices):
        LEAD = "lead", _("lead")
        PROSPECT = "prospect", _("prospect")
        CUSTOMER = "customer", _("customer")
        VIP = "vip", _("key account")
        CHURNED = "churned", _("churned")

    class Source(models.TextChoices):
        WEBSITE = "website", _("website")
        REFERRAL = "referral", _("referral")
        EXHIBITION = "exhibition", _("exhibition")
        COLD_CALL = "cold_call", _("cold call")
        PARTNER = "partner", _("partner")
        OTHER = "other", _("other")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices,
                            default=Kind.INDIVIDUAL)
    name = ClassifiedCharField(_("name"), max_length=200, classification=Classification.MEDIUM,
                               mask=Mask.NAME, db_index=True)
    company = models.CharField(_("company"), max_length=200, blank=True,
                               help_text=_("Employer of an individual, or trading name."))
    stage = models.CharField(_("lifecycle stage"), max_length=20, choices=Stage.choices,
                             default=Stage.LEAD, db_index=True)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices,
                              default=Source.OTHER)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                              related_name="owned_customers", verbose_name=_("owner"))
    department = models.ForeignKey("accounts.Department", null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("department"))
    region = models.ForeignKey("accounts.Region", null=True, blank=True,
                               on_delete=models.PROTECT, related_name="+",
                               verbose_name=_("region"))
    tags = models.ManyToManyField(Tag, blank=True, related_name="customers",
                                  verbose_name=_("tags"))
    phone = EncryptedPhoneField(_("phone"), blank=True, index_group=PHONE)
    email = EncryptedEmailField(_("e-mail"), blank=True, index_group=EMAIL)
    province = models.CharField(_("province"), max_length=50, blank=True)
    city = models.CharField(_("city"), max_length=50, blank=True)
    district = models.CharField(_("district"), max_length=50, blank=True)
    street = EncryptedCharField(_("street address"), max_length=200, blank=True,
                                classification=Classification.HIGH, mask=Mask.ADDRESS)
    id_number = EncryptedIdNumberField(_("ID number"), blank=True, index_group=ID_NUMBER,
                                       help_text=_("Resident identity number (individuals)."))
    credit_code = EncryptedCreditCodeField(_("unified social credit code"), blank=True,
                                           index_group=CREDIT_CODE, help_text=_("For companies."))
    birthday = EncryptedDateField(_("birthday"), null=True, blank=True,
                                  validators=[validate_sane_year],
                                  classification=Classification.HIGH, mask=Mask.DATE)
    website = WebURLField(_("website"), blank=True)
    # Free text: people write phone numbers, health and family matters into it, so it is
    # classified high and encrypted like the contact data.
    preferences = EncryptedTextField(_("preferences"), blank=True,
                                     classification=Classification.HIGH)
    notes = EncryptedTextField(_("notes"), blank=True, classification=Classification.HIGH)
    last_contacted_at = models.DateTimeField(_("last contacted"), null=True, blank=True,
                                             editable=False)
    phone_bidx = BlindIndexField(source="phone")
    email_bidx = BlindIndexField(source="email")
    id_number_bidx = BlindIndexField(source="id_number")
    credit_code_bidx = BlindIndexField(source="credit_code")

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        indexes = [
            models.Index(fields=["owner", "-created_at", "-id"]),
            models.Index(fields=["department", "-created_at", "-id"]),
            models.Index(fields=["region", "-created_at", "-id"]),
            models.Index(fields=["-created_at", "-id"], name="customer_newest_first"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("customers:detail", args=[self.pk])

    def clean(self):
        errors = {}
        # Only values that can be read are checked (an erased one is neither).
        if self.kind == self.Kind.COMPANY and isinstance(self.id_number, str) and self.id_number:
            errors["id_number"] = _("A company has a credit code, not a resident ID number.")
        if (self.kind == self.Kind.INDIVIDUAL and isinstance(self.credit_code, str)
                and self.credit_code):
            errors["credit_code"] = _("An individual has a resident ID number, not a credit code.")
        if errors:
            raise ValidationError(errors)


class ContactPersonQuerySet(ScopedQuerySet):
    resource = "contact"
    customer_path = "customer__"


class ContactPerson(EncryptedModel, UUIDModel, TimeStampedModel, VersionedModel):
    """A person to talk to at a customer (usually a company)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts",
                                 verbose_name=_("customer"))
    name = ClassifiedCharField(_("name"), max_length=100, classification=Classification.MEDIUM,
                               mask=Mask.NAME)
    title = models.CharField(_("job title"), max_length=100, blank=True)
    phone = EncryptedPhoneField(_("phone"), blank=True, index_group=PHONE)
    email = EncryptedEmailField(_("e-mail"), blank=True, index_group=EMAIL)
    is_primary = models.BooleanField(_("primary contact"), default=False)
    notes = EncryptedTextField(_("notes"), blank=True, classification=Classification.HIGH)
    phone_bidx = BlindIndexField(source="phone")
    email_bidx = BlindIndexField(source="email")

    objects = ContactPersonQuerySet.as_manager()

    class Meta:
        ordering = ["-is_primary", "name"]
        verbose_name = _("contact person")
        verbose_name_plural = _("contact persons")

    def __str__(self) -> str:
        return self.name
