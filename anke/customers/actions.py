"""Domain actions for customers and contact persons: the only code that changes them."""

import datetime
import time
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from anke.access.catalogue import FieldAccess
from anke.access.guarded import (
    access_object,
    audit_read,
    check_field_access,
    check_fields,
    create_child,
    delete_object,
    deny,
    raise_row_errors,
    require_permission,
    require_step_up,
    save_new,
    update_object,
)
from anke.access.policy import CustomerFacts, field_levels, has_permission
from anke.audit.catalogue import Event, Outcome
from anke.audit.models import AuditEvent
from anke.audit.recorder import record, record_each
from anke.core.context import Actor
from anke.core.errors import ActionDenied, NotVisible, RateLimited
from anke.customers.models import ContactPerson, Customer, Tag
from anke.encryption.datakeys import destroy_subject_keys, open_for_reading, prepare_writes
from anke.encryption.fields import encrypted_fields, index_fields

CUSTOMER_FIELDS = (
    "kind", "name", "company", "stage", "source", "phone", "email", "province", "city",
    "district", "street", "id_number", "credit_code", "birthday", "website", "preferences",
    "notes",
)
CONTACT_FIELDS = ("name", "title", "phone", "email", "is_primary", "notes")


def _resolve_owner(actor: Actor, owner, event: Event):
    """The owner to set: the actor by default; anyone else needs ``customer.reassign``."""
    User = get_user_model()
    if owner is None or owner == "":
        return actor.user
    if not isinstance(owner, User):
        owner = User.objects.filter(pk=owner, is_active=True).first()
        if owner is None:
            raise ValidationError({"owner": _("Choose an active user.")})
    if owner.pk != actor.user.pk and not has_permission(actor.user, "customer.reassign"):
        deny(actor, event, Customer, [], "not_permitted")
    if not owner.is_active:
        raise ValidationError({"owner": _("Choose an active user.")})
    return owner


def _tags_from_names(names: Iterable[str]) -> list[Tag]:
    cleaned = []
    for name in names:
        name = str(name).strip()
        if not name or len(name) > 50:
            raise ValidationError({"tags": _("A tag is 1 to 50 characters long.")})
        cleaned.append(name)
    # ignore_conflicts: another request may add the same new tag at the same moment.
    Tag.objects.bulk_create([Tag(name=name) for name in dict.fromkeys(cleaned)],
                            ignore_conflicts=True)
    existing = {t.name: t for t in Tag.objects.filter(name__in=cleaned)}
    return [existing[name] for name in dict.fromkeys(cleaned)]


def _assert_visible(actor: Actor, customer: Customer) -> None:
    """Re-check after a write: the actor must still see what they saved."""
    if not Customer.objects.visible_to(actor.user, "view").filter(pk=customer.pk).exists():
        raise ActionDenied(_("You would no longer be able to see this customer."))


def _new_customer_facts(owner) -> CustomerFacts:
    """A customer about to be created: its owner's department and region come with it."""
    return CustomerFacts(None, owner.pk, owner.department_id, owner.region_id)


def create_customer(actor: Actor, *, data: dict) -> Customer:
    """Create a customer owned by the actor (or, with the reassign right, by someone else)."""
    data = dict(data)
    tags = data.pop("tags", None) or []
    owner = data.pop("owner", None)
    check_fields(Customer, data, CUSTOMER_FIELDS)
    require_permission(actor, "customer.create", Event.CUSTOMER_CREATE, Customer)
    owner = _resolve_owner(actor, owner, Event.CUSTOMER_CREATE)
    check_field_access(actor, Event.CUSTOMER_CREATE, Customer, data, action="create",
                       facts=lambda: [_new_customer_facts(owner)])
    with transaction.atomic():
        customer = Customer(**data, owner=owner, department_id=owner.department_id,
                            region_id=owner.region_id)
        save_new(actor, customer, Event.CUSTOMER_CREATE)
        if tags:
            customer.tags.set(_tags_from_names(tags))
        _assert_visible(actor, customer)
    return customer


def create_customers(actor: Actor, rows: list[dict], *, owners: list | None = None) -> list:
    """Create many customers in one transaction: all are valid and saved, or none is.

    Used by the demo loader and importers. Errors name the row (1-based) and the field.
    """
    require_permission(actor, "customer.create", Event.CUSTOMER_CREATE, Customer)
    owners = owners or [actor.user] * len(rows)
    if any(o.pk != actor.user.pk for o in owners) and not has_permission(
            actor.user, "customer.reassign"):
        deny(actor, Event.CUSTOMER_CREATE, Customer, [], "not_permitted")
    check_field_access(actor, Event.CUSTOMER_CREATE, Customer,
                       {name for row in rows for name in row}, action="create",
                       facts=lambda: [_new_customer_facts(o) for o in set(owners)])
    customers, tag_names, errors = [], [], {}
    for line, (row, owner) in enumerate(zip(rows, owners, strict=True), start=1):
        row = dict(row)
        tag_names.append(row.pop("tags", None) or [])
        try:
            check_fields(Customer, row, CUSTOMER_FIELDS)
            customer = Customer(**row, owner=owner, department_id=owner.department_id,
                                region_id=owner.region_id)
            # Owners are already-fetched users: skip the per-row foreign-key queries.
            customer.full_clean(exclude=["owner", "department", "region"],
                                validate_unique=False)
        except ValidationError as error:
            errors[f"row {line}"] = str(error.message_dict)
            continue
        customers.append(customer)
    raise_row_errors(errors)
    with transaction.atomic():
        prepare_writes(customers, new_subjects=True)
        Customer.objects.bulk_create(customers, batch_size=500)
        tags = _tags_from_names(sorted({name for names in tag_names for name in names}))
        by_name = {tag.name: tag for tag in tags}
        Customer.tags.through.objects.bulk_create([
            Customer.tags.through(customer_id=customer.pk, tag_id=by_name[name].pk)
            for customer, names in zip(customers, tag_names, strict=True)
            for name in dict.fromkeys(names)
        ], batch_size=500)
        record_each(actor, Event.CUSTOMER_CREATE, object_type="customer",
                    object_ids=[c.pk for c in customers], fields=CUSTOMER_FIELDS)
    return customers


def update_customer(actor: Actor, pk, *, changes: dict, version: int) -> Customer:
    """Change a customer's fields, tags or owner, starting from ``version``."""
    changes = dict(changes)
    tags = changes.pop("tags", None)
    owner = changes.pop("owner", None)
    if owner is not None:
        owner = _resolve_owner(actor, owner, Event.CUSTOMER_UPDATE)
        changes.update(owner=owner, department_id=owner.department_id, region_id=owner.region_id)

    def before_save(customer, changed):
        if tags is not None:
            new_tags = _tags_from_names(tags)
            if {t.pk for t in new_tags} != set(customer.tags.values_list("pk", flat=True)):
                customer.tags.set(new_tags)
                changed.append("tags")

    return update_object(
        actor, Customer.objects, pk, changes=changes, version=version,
        event=Event.CUSTOMER_UPDATE,
        allowed=(*CUSTOMER_FIELDS, "owner", "department_id", "region_id"),
        before_save=before_save, after_save=lambda customer: _assert_visible(actor, customer),
    )


def delete_customer(actor: Actor, pk, *, version: int | None = None) -> None:
    """Delete a customer with its contacts, deals, activities, tasks, orders and tickets.

    Its data key is destroyed with it, so copies of its rows in backups stay unreadable.
    """
    delete_object(actor, Customer.objects, pk, event=Event.CUSTOMER_DELETE, version=version,
                  after_delete=lambda _customer: destroy_subject_keys(pk, reason="deleted"))


def view_customer(actor: Actor, pk, *, fields: Iterable[str] = ()) -> Customer:
    """The customer ``pk`` for display; the view of ``fields`` is audited before it returns."""
    customer = access_object(actor, Customer.objects.select_related(
        "owner", "department", "region"), pk, Event.CUSTOMER_VIEW)
    audit_read(actor, Event.CUSTOMER_VIEW, Customer, [customer], fields=fields)
    return customer


REVEAL_REASON_MIN_LENGTH = 10


def reveal_customer(actor: Actor, pk, *, fields: Iterable[str], reason: str) -> dict:
    """The clear values of masked ``fields`` of customer ``pk``, for one response only.

    Needs ``customer.reveal``, a reason, and reveals left in the user's hourly allowance; only
    fields the user sees masked can be revealed (a hidden field stays hidden). The reveal is
    recorded, with its reason, before the values are decrypted.
    """
    require_permission(actor, "customer.reveal", Event.CUSTOMER_REVEAL, Customer)
    # Visible, and within the reach of the reveal right itself (a grant of customer.reveal on
    # one customer reveals that customer only).
    customer = access_object(actor, Customer.objects, pk, Event.CUSTOMER_REVEAL, "reveal")
    fields, reason = sorted(set(fields)), (reason or "").strip()
    masked = masked_fields(actor.user, customer)
    errors = {}
    if not fields or not set(fields) <= set(masked):
        errors["fields"] = _("Choose among the fields shown masked: %(fields)s.") % {
            "fields": ", ".join(masked) or "—"}
    if len(reason) < REVEAL_REASON_MIN_LENGTH:
        errors["reason"] = _("Say why you need to see these values (at least %(count)d "
                             "characters).") % {"count": REVEAL_REASON_MIN_LENGTH}
    if errors:
        raise ValidationError(errors)
    require_step_up(actor, Event.CUSTOMER_REVEAL, Customer, [pk])
    with transaction.atomic():
        spent, retry_after = _reveals_this_hour(actor.user)
        if spent < settings.REVEALS_PER_HOUR:  # counted by this event, committed with it
            record(actor, Event.CUSTOMER_REVEAL, object_type="customer", object_ids=[pk],
                   fields=fields, reason=reason, customers=[pk])
    if spent >= settings.REVEALS_PER_HOUR:
        record(actor, Event.CUSTOMER_REVEAL, object_type="customer", object_ids=[pk],
               fields=fields, outcome=Outcome.DENIED, reason="rate_limited", customers=[pk])
        raise RateLimited(retry_after, _(
            "You have revealed %(count)d values this hour, the most allowed. Try again later.")
            % {"count": settings.REVEALS_PER_HOUR})
    open_for_reading(actor, [customer])
    return {name: getattr(customer, name) for name in fields}


def masked_fields(user, customer) -> list[str]:
    """The fields of ``customer`` that ``user`` sees masked (candidates for a reveal)."""
    levels = field_levels(user, "customer.view", [customer])[id(customer)]
    return sorted(name for name, level in levels.items() if level == FieldAccess.MASKED)


def _reveals_this_hour(user) -> tuple[int, int]:
    """How many reveals ``user`` made in this clock hour, and the seconds until the next one,
    counted from the audit trail with the user's row locked: a user's reveals take turns, so
    no burst of parallel requests gets past the limit (a cache counter's read and write could
    interleave), and the count is the record the auditor sees."""
    now = int(time.time())
    window = now - now % 3600
    list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk"))
    spent = AuditEvent.objects.filter(
        actor_id=user.pk, action=Event.CUSTOMER_REVEAL, outcome=Outcome.ALLOWED,
        at__gte=datetime.datetime.fromtimestamp(window, datetime.UTC)).count()
    return spent, window + 3600 - now


def shred_customer(actor: Actor, pk, *, reason: str) -> bool:
    """Crypto-shred a customer: destroy its data key, clear its blind indexes and enter it in
    the erasure ledger, in one audited transaction. The building block of erasure: afterwards
    no code path can show its encrypted fields, and the database holds no way back to them.

    Returns False if it was shredded already. The shell operator or ``privacy.manage`` only.
    """
    if not actor.is_operator and not has_permission(actor.user, "privacy.manage"):
        deny(actor, Event.CUSTOMER_SHRED, Customer, [pk], "not_permitted")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give the reason for the erasure.")})
    try:
        Customer._meta.pk.to_python(pk)
    except ValidationError:
        raise NotVisible() from None
    if not Customer.objects.filter(pk=pk).exists():
        raise NotVisible()
    with transaction.atomic():
        # The data key first: every writer of this customer's data locks it first too.
        destroyed = destroy_subject_keys(pk, reason=reason)
        for model, lookup in ((Customer, "pk"), (ContactPerson, "customer_id")):
            model.objects.filter(**{lookup: pk}).update(
                **{field.name: None for field in index_fields(model)})
        record(actor, Event.CUSTOMER_SHRED, object_type="customer", object_ids=[pk],
               fields=[f.name for f in encrypted_fields(Customer)], reason=reason,
               customers=[pk])
    return destroyed > 0


# --- contact persons ----------------------------------------------------------------------------


def create_contact(actor: Actor, customer_id, *, data: dict) -> ContactPerson:
    return create_child(actor, Customer.objects, customer_id, ContactPerson, data=data,
                        allowed=CONTACT_FIELDS, event=Event.CONTACT_CREATE)


def update_contact(actor: Actor, pk, *, changes: dict, version: int) -> ContactPerson:
    return update_object(actor, ContactPerson.objects, pk, changes=changes, version=version,
                         event=Event.CONTACT_UPDATE, allowed=CONTACT_FIELDS)


def delete_contact(actor: Actor, pk, *, version: int | None = None) -> None:
    delete_object(actor, ContactPerson.objects, pk, event=Event.CONTACT_DELETE, version=version)
