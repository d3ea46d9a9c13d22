"""Guarded reads and writes shared by every domain app's actions.

The pattern of DESIGN.md §2 in one place: look the object up through the access policy (missing and
not-yours are the same 404, and the refusal is audited); in one transaction lock it, check the
version, validate, save only the changed fields and record the event; re-check that the actor can
still see what they saved.

Checks that may refuse run *before* the transaction opens, so the audited refusal is not rolled
back with it; callers pass ``after_save`` hooks instead of wrapping these helpers in a transaction.
"""

import json
import time
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.translation import gettext as _

from anke.access.catalogue import FieldAccess
from anke.access.masking import present
from anke.access.policy import CustomerFacts, FieldPolicy, facts_of, has_permission, scope_q
from anke.audit.catalogue import Event, Outcome
from anke.audit.recorder import record, record_each
from anke.core.context import Actor
from anke.core.errors import ActionDenied, NotVisible, StaleVersion, StepUpRequired
from anke.encryption import envelope
from anke.encryption.datakeys import (
    SubjectErased,
    lock_subject_keys,
    lock_subjects_of,
    open_for_reading,
    prepare_writes,
)
from anke.encryption.registry import subject_id_of


def object_type_of(model) -> str:
    return model._meta.model_name


def customers_of(objects: Iterable) -> set:
    """The customers whose data these records are (the records themselves for customers)."""
    return {subject_id_of(obj) for obj in objects}


def require_step_up(actor: Actor, event: Event, model, object_ids: Iterable = ()) -> None:
    """Sensitive actions (reveal, role, grant and user changes) need a person who proved who
    they are within ``STEP_UP_SECONDS``: with a second factor if they have one. An API token is
    no person: it is refused outright. The shell operator has the server already."""
    if actor.is_operator:
        return
    if actor.token_id is not None:
        deny(actor, event, model, object_ids, "step_up_required", message=_(
            "API tokens cannot do this: it needs a person who has just confirmed who they are."))
    if actor.confirmed_at and time.time() - actor.confirmed_at <= settings.STEP_UP_SECONDS:
        return
    record(actor, event, object_type=object_type_of(model), object_ids=list(object_ids),
           outcome=Outcome.DENIED, reason="step_up_required")
    raise StepUpRequired()


def deny(actor: Actor, event: Event, model, object_ids: Iterable, reason: str, *,
         fields: Iterable[str] = (), message=None):
    """Record a refusal (outside any transaction that would roll it back) and raise it."""
    object_ids = list(object_ids)
    # An attempt on a customer's own id is part of that customer's access history.
    customers = object_ids if model._meta.label == "customers.Customer" else ()
    record(actor, event, object_type=object_type_of(model), object_ids=object_ids,
           fields=fields, outcome=Outcome.DENIED, reason=reason, customers=customers)
    if reason == "not_visible":
        raise NotVisible()
    raise ActionDenied(message)


def check_field_access(actor: Actor, event: Event, model, names: Iterable[str], *,
                       action: str, facts, object_ids=()) -> None:
    """Refuse (403, audited) a write naming a classified field that the actor's field policy
    does not make editable on every customer the records belong to. ``facts()`` gives those
    customers' facts (``None`` for a customer not yet created); it is called only when the
    actor's roles disagree. Masked, hidden and read-only fields are never written, not even
    unchanged."""
    resource = model.objects.get_queryset().resource
    policy = FieldPolicy(actor.user, f"{resource}.{action}", model)
    names = set(names)
    blocked = sorted({name for fact in ([None] if policy.uniform else facts())
                      for name, level in policy.levels(fact).items()
                      if name in names and level != FieldAccess.EDIT})
    if blocked:
        labels = ", ".join(str(model._meta.get_field(name).verbose_name) for name in blocked)
        deny(actor, event, model, object_ids, "field_not_editable", fields=blocked,
             message=_("Your role may not change these fields: %(fields)s.") % {
                 "fields": labels})


def access_object(actor: Actor, queryset: models.QuerySet, pk, event: Event,
                  action: str = "view"):
    """The object ``pk`` if ``actor`` may perform ``action`` on it.

    Not visible at all → NotVisible (404). Visible but not for this action → ActionDenied (403).
    Both are audited as denied. A malformed id is simply not found.
    """
    model = queryset.model
    user = actor.user
    try:
        model._meta.pk.to_python(pk)
    except ValidationError:
        deny(actor, event, model, [], "not_visible")
    visible = queryset.visible_to(user, "view")
    obj = visible.filter(pk=pk).first()
    if obj is None:
        deny(actor, event, model, [pk], "not_visible")
    if action != "view" and not queryset.visible_to(user, action).filter(pk=pk).exists():
        deny(actor, event, model, [pk], "not_permitted")
    return obj


def require_permission(actor: Actor, permission: str, event: Event, model) -> None:
    if not has_permission(actor.user, permission):
        deny(actor, event, model, [], "not_permitted")


def parent_for_new(actor: Actor, parents: models.QuerySet, parent_id, permission: str,
                   event: Event, model):
    """The customer a new record is added to: visible to the actor (else 404) and inside the
    scope of ``permission`` (else 403)."""
    parent = access_object(actor, parents, parent_id, event)
    q = scope_q(actor.user, permission, "")
    if q is None or not parents.model.objects.filter(q, pk=parent.pk).exists():
        deny(actor, event, model, [parent.pk], "not_permitted")
    present(actor.user, [parent])  # pages adding a record name its customer, as the role sees it
    return parent


def create_child(actor: Actor, parents: models.QuerySet, parent_id, model, *, data: dict,
                 allowed: Iterable[str], event: Event, after_save=None, **extra) -> models.Model:
    """Create a record of a customer (deal, ticket…) after checking fields and scope."""
    check_fields(model, data, allowed)
    resource = model.objects.get_queryset().resource
    parent = parent_for_new(actor, parents, parent_id, f"{resource}.create", event, model)
    check_field_access(actor, event, model, data, action="create",
                       facts=lambda: [CustomerFacts.of(parent)], object_ids=[parent.pk])
    with transaction.atomic():
        obj = save_new(actor, model(customer=parent, **data, **extra), event)
        if after_save:
            after_save(obj)
    return obj


MAX_ROW_ERRORS = 20


def raise_row_errors(errors: dict) -> None:
    """Refuse a bulk write, naming the first rows that failed and how many more did."""
    if not errors:
        return
    shown = dict(list(errors.items())[:MAX_ROW_ERRORS])
    if len(errors) > MAX_ROW_ERRORS:
        shown["more"] = _("%(count)d more rows have errors.") % {
            "count": len(errors) - MAX_ROW_ERRORS}
    raise ValidationError(shown)


def unique_errors(model, objects: list) -> dict:
    """Unique fields checked for a whole batch in one query per field, not one per row.

    Primary keys are application-generated UUIDs and are left to the database constraint.
    """
    errors = {}
    for field in model._meta.concrete_fields:
        if not field.unique or field.primary_key:
            continue
        values = [getattr(obj, field.attname) for obj in objects]
        taken = set(model._default_manager.filter(**{f"{field.name}__in": values})
                    .values_list(field.attname, flat=True))
        seen = set()
        for line, value in enumerate(values, start=1):
            if value in taken or value in seen:
                errors[f"row {line}"] = str({field.name: [_("This value is already used.")]})
            seen.add(value)
    return errors


def create_children(actor: Actor, parents: models.QuerySet, model, rows: list[dict], *,
                    allowed: Iterable[str], event: Event, owner_field: str | None = None,
                    prepare=None, after_save=None) -> list:
    """Create many records of customers in one transaction: all valid and in scope, or none.

    Each row names its ``customer`` (object or id) and fields from ``allowed``; other foreign
    keys must be given as objects (already fetched), so validation costs no query per row.
    Errors name the row (1-based). ``prepare(obj)`` sets derived fields before validation;
    ``after_save(objects)`` runs in the same transaction, so derived changes elsewhere commit
    (or fail) with the records and their events.
    """
    resource = model.objects.get_queryset().resource
    require_permission(actor, f"{resource}.create", event, model)
    customer_ids = {getattr(row["customer"], "pk", row["customer"]) for row in rows}
    q = scope_q(actor.user, f"{resource}.create", "")
    reachable = set() if q is None else set(
        parents.model.objects.filter(q, pk__in=customer_ids).values_list("pk", flat=True))
    if customer_ids - reachable:
        deny(actor, event, model, sorted(map(str, customer_ids - reachable)), "not_visible")
    check_field_access(actor, event, model, {name for row in rows for name in row},
                       action="create",
                       facts=lambda: _facts_of_customers(parents.model, customer_ids))
    foreign_keys = [f.name for f in model._meta.concrete_fields if f.is_relation]
    objects, errors = [], {}
    for line, row in enumerate(rows, start=1):
        row = dict(row)
        customer = row.pop("customer")
        try:
            check_fields(model, row, allowed)
            obj = model(customer_id=getattr(customer, "pk", customer), **row)
            if owner_field:
                setattr(obj, owner_field, actor.user)
            if prepare:
                prepare(obj)
            obj.full_clean(exclude=foreign_keys, validate_unique=False)
        except ValidationError as error:
            errors[f"row {line}"] = str(error.message_dict)
            continue
        objects.append(obj)
    errors.update(unique_errors(model, objects))
    raise_row_errors(errors)
    with transaction.atomic():
        prepare_writes(objects)
        model.objects.bulk_create(objects, batch_size=500)
        record_each(actor, event, object_type=object_type_of(model),
                    object_ids=[obj.pk for obj in objects],
                    fields=[name for name in allowed],
                    customers=[subject_id_of(obj) for obj in objects])
        if after_save:
            after_save(objects)
    return objects


def _facts_of_customers(customer_model, customer_ids) -> list[CustomerFacts]:
    rows = customer_model.objects.filter(pk__in=customer_ids).values_list(
        "pk", "owner_id", "department_id", "region_id")
    return [CustomerFacts(*row) for row in rows]


def audit_read(actor: Actor, event: Event, model, objects: Iterable, *,
               fields: Iterable[str] = (), reason: str = "") -> None:
    """Record a read of ``objects`` before they are returned (an error here fails the request).

    Only then may their encrypted fields decrypt: this is the one road to a clear value, and
    it ends in the reader's field policy (masked and hidden fields are replaced on the objects).
    """
    objects = list(objects)
    record(actor, event, object_type=object_type_of(model),
           object_ids=[obj.pk for obj in objects], fields=fields, reason=reason,
           customers=customers_of(objects))
    show(actor, objects)


def show(actor: Actor, objects: Iterable) -> None:
    """Let records already named by an audited read decrypt, as the actor's field policy
    allows (a customer page shows its contacts and timeline under the customer's event)."""
    objects = list(objects)
    open_for_reading(actor, objects)
    present(actor.user, objects)


def detail_aad(subject_id, event: Event, request_id: str) -> bytes:
    return f"anke/audit-detail/v1|{subject_id}|{Event(event).value}|{request_id}".encode()


def sealed_change(actor: Actor, event: Event, obj, before: dict) -> str:
    """The changed fields' old and new values, sealed under the customer's data key for the
    trail (the change history), or "" when nothing changed or the customer is erased."""
    if not before:
        return ""
    subject = str(subject_id_of(obj))
    try:
        version, key = lock_subject_keys([subject])[subject]
    except SubjectErased:
        return ""
    change = {name: [_plain(old), _plain(_value(obj, name))] for name, old in before.items()}
    payload = json.dumps(change, sort_keys=True, ensure_ascii=False).encode()
    return envelope.to_text(envelope.seal(key, version, payload,
                                          detail_aad(subject, event, actor.request_id)))


def _plain(value):
    return value if value is None or isinstance(value, (bool, int, str)) else str(value)


def check_fields(model, data: dict, allowed: Iterable[str]) -> None:
    unknown = set(data) - set(allowed)
    if unknown:
        raise ValidationError({name: _("This field cannot be set.") for name in sorted(unknown)})


def _value(obj, name):
    field = obj._meta.get_field(name)
    return getattr(obj, field.attname)


def save_new(actor: Actor, obj: models.Model, event: Event, *, exclude_clean=()) -> models.Model:
    """Validate, insert and audit a new object inside the caller's transaction."""
    obj.full_clean(exclude=list(exclude_clean))
    obj.save(force_insert=True)
    fields = [f.name for f in obj._meta.concrete_fields if f.editable and not f.primary_key]
    record(actor, event, object_type=object_type_of(type(obj)), object_ids=[obj.pk],
           fields=fields, customers=customers_of([obj]))
    return obj


def _locked(queryset: models.QuerySet, pk) -> models.Model:
    obj = queryset.select_for_update().filter(pk=pk).first()
    if obj is None:  # removed or reassigned between the check and the lock
        raise NotVisible()
    return obj


def update_object(actor: Actor, queryset: models.QuerySet, pk, *, changes: dict, version: int,
                  event: Event, allowed: Iterable[str], before_save=None,
                  after_save=None) -> models.Model:
    """Apply ``changes`` to ``pk`` if the actor may edit it and nobody changed it since ``version``.

    ``before_save(obj, changed)`` may check rules that depend on the new values (for example
    that a reassignment is permitted); it runs inside the transaction.
    """
    check_fields(queryset.model, changes, allowed)
    visible = access_object(actor, queryset, pk, event, "edit")
    check_field_access(actor, event, queryset.model, changes, action="edit",
                       facts=lambda: list(facts_of([visible]).values()), object_ids=[pk])
    with transaction.atomic():
        # The subject's data key is locked before the row, in the order a key rotation takes.
        # (A changed encrypted field fetches it for writing; an erased subject refuses that.)
        lock_subjects_of([visible])
        obj = _locked(queryset.visible_to(actor.user, "edit"), pk)
        if obj.version != version:
            raise StaleVersion(obj.version)
        open_for_reading(actor, [obj])  # validation reads every field; the event names the changes
        before = {name: _value(obj, name) for name in changes}
        for name, value in changes.items():
            setattr(obj, name, value)
        obj.full_clean()
        changed = sorted(name for name in changes if _value(obj, name) != before[name])
        if before_save:
            before_save(obj, changed)
        fields = [obj._meta.get_field(n) for n in changed]
        update_fields = [f.name for f in fields if f.concrete and not f.many_to_many]
        if changed:
            obj.version += 1
            obj.save(update_fields=[*update_fields, "version", "updated_at"])
        record(actor, event, object_type=object_type_of(type(obj)), object_ids=[obj.pk],
               fields=changed, customers=customers_of([obj]),
               detail=sealed_change(actor, event, obj,
                                    {n: before[n] for n in update_fields if n in before}))
        if after_save:
            after_save(obj)
    return obj


def delete_object(actor: Actor, queryset: models.QuerySet, pk, *, event: Event,
                  version: int | None = None, after_delete=None) -> None:
    visible = access_object(actor, queryset, pk, event, "delete")
    with transaction.atomic():
        lock_subjects_of([visible])  # key rows before data rows, the order rotations take
        obj = _locked(queryset.visible_to(actor.user, "delete"), pk)
        if version is not None and obj.version != version:
            raise StaleVersion(obj.version)
        record(actor, event, object_type=object_type_of(type(obj)), object_ids=[obj.pk],
               customers=customers_of([obj]))
        obj.delete()
        if after_delete:
            after_delete(obj)
