"""REST API for customers and contact persons, and the viewset every customer record uses.

``CustomerRecordViewSet`` is the thin edge of DESIGN.md §2 for the API: lists start from
``visible_to(user, "view")`` and are audited page by page before they are returned; one record is
read through ``access_object`` (audited, 404 for missing and not-yours alike); every write is one
domain action. The viewsets below only name their model, serializers, events and actions.
"""

from functools import cache

from django import forms
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from anke.access.catalogue import FieldAccess
from anke.access.guarded import access_object, audit_read
from anke.access.masking import Withheld, access_levels
from anke.access.policy import classified_fields, scope_partitions
from anke.audit.catalogue import Event
from anke.core.api import (
    ErrorSerializer,
    StableOrderingFilter,
    StrictSerializerMixin,
    etag_headers,
    version_from_if_match,
)
from anke.core.context import Actor
from anke.core.fields import personal_data_fields
from anke.customers.actions import (
    create_contact,
    create_customer,
    delete_contact,
    delete_customer,
    reveal_customer,
    update_contact,
    update_customer,
    view_customer,
)
from anke.customers.models import ContactPerson, Customer
from anke.encryption import blind_index
from anke.encryption.blind_index import CREDIT_CODE, EMAIL, ID_NUMBER, PHONE
from anke.encryption.fields import Unreadable, encrypted_fields

MAX_BIGINT = 2**63 - 1


# --- shared pieces for every customer record ------------------------------------------------------


class IdFilter(filters.NumberFilter):
    """A user id: a whole number in the database's range (``1.5`` or ``10**30`` are a 400)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_BIGINT)
        super().__init__(*args, **kwargs)


class PhoneInputField(serializers.CharField):
    """A phone number as typed (spaces, dashes, +86…); the model validates and stores E.164."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)


def customer_field(**kwargs):
    """The customer a record belongs to: set once on create, by id; read-only afterwards."""
    return serializers.UUIDField(source="customer_id", help_text=_("The customer's id."),
                                 **kwargs)


class ScopedPrimaryKeyField(serializers.PrimaryKeyRelatedField):
    """A reference to another customer record (a deal) that resolves only inside the requesting
    user's scope, so an id from another team is "does not exist", never a confirmation."""

    def __init__(self, model, **kwargs):
        self.scoped_model = model
        kwargs.setdefault("pk_field", serializers.UUIDField())
        super().__init__(queryset=model.objects.none(), **kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        user = getattr(request, "user", None)
        return self.scoped_model.objects.visible_to(user, "view")


@cache
def _named_choice_field(choices, component_name: str):
    schema = {"type": "string", "enum": list(choices.values)}
    field_class = type(f"{component_name}Field", (serializers.ChoiceField,), {})
    return extend_schema_field(schema, component_name=component_name)(field_class)


def choice_field(choices, component_name: str, **kwargs) -> serializers.ChoiceField:
    """A choice field documented as its own named enum in the schema.

    Customers, activities and tickets each have a ``kind`` (orders and tickets a ``status``) with
    different choices; left alone, drf-spectacular would give them hashed names.
    """
    return _named_choice_field(choices, component_name)(choices=choices.choices, **kwargs)


class RecordSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    """Base of every customer-record serializer: strict input, explicit output fields."""


class EncryptedRecordSerializer(RecordSerializer):
    """A record with classified fields, shown as the reader's field policy allows.

    ``restricted_fields`` names the fields shown masked (``138****5678``) or withheld (null);
    a value that cannot be decrypted is answered as null, and ``unreadable_fields`` says which
    and why (erased, missing_key, integrity): a clear answer in place of a wrong value or a
    server error."""

    unreadable_fields = serializers.SerializerMethodField()
    restricted_fields = serializers.SerializerMethodField()

    @extend_schema_field({"type": "object", "additionalProperties": {
        "type": "string", "enum": list(Unreadable.MESSAGES)}})
    def get_unreadable_fields(self, obj) -> dict:
        return {field.name: value.reason for field in encrypted_fields(type(obj))
                if isinstance(value := getattr(obj, field.attname), Unreadable)}

    @extend_schema_field({"type": "object", "additionalProperties": {
        "type": "string", "enum": [FieldAccess.MASKED.value, FieldAccess.HIDDEN.value]}})
    def get_restricted_fields(self, obj) -> dict:
        return {name: level.value for name, level in access_levels(obj).items()
                if level in (FieldAccess.MASKED, FieldAccess.HIDDEN)}

    def get_fields(self):
        fields = super().get_fields()
        classified = {f.name for f in classified_fields(self.Meta.model)}
        for name, field in fields.items():
            if (field.source or name) in classified:  # not bound yet: source may be unset
                field.get_attribute = _null_if_not_shown(field.get_attribute)
        return fields


def _null_if_not_shown(get_attribute):
    def get(instance):
        value = get_attribute(instance)
        return None if isinstance(value, Unreadable | Withheld) else value
    return get


@cache
def audited_fields(serializer_class, model) -> tuple[str, ...]:
    """Names of the personal-data fields a serializer returns: they go into read events."""
    personal = {field.name for field in personal_data_fields() if field.model is model}
    return tuple(sorted(
        name for name, field in serializer_class().fields.items()
        if not field.write_only and field.source in personal
    ))


# drf-spectacular is imported here, not in core.api: DRF's settings import core.api while
# rest_framework.generics is still loading, and drf_spectacular.openapi needs generics.
IF_MATCH = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True,
    description=_("The version the edit started from (the ETag of the last read, e.g. \"3\"). "
                  "Missing: 428. Someone changed the record since: 409."),
)
IF_MATCH_OPTIONAL = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description=_("If given, the record is deleted only if it is still at this version (else "
                  "409)."),
)


class VersionedAutoSchema(AutoSchema):
    """Documents ``If-Match`` and the error answers of views with versioned writes.

    The view's ``serializer_class`` describes every successful answer; ``get_serializer_class``
    may pick another serializer for requests (an update serializer with fewer writable fields).
    """

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.method in ("PUT", "PATCH"):
            parameters.append(IF_MATCH)
        elif self.method == "DELETE":
            parameters.append(IF_MATCH_OPTIONAL)
        return parameters

    def get_summary(self):
        meta = self.view.model._meta
        return {
            "list": _("List %(plural)s"),
            "retrieve": _("Read one %(name)s"),
            "create": _("Create %(name)s"),
            "update": _("Change %(name)s (all editable fields)"),
            "partial_update": _("Change %(name)s (some fields)"),
            "destroy": _("Delete %(name)s"),
        }.get(getattr(self.view, "action", None), "") % {
            "name": meta.verbose_name, "plural": meta.verbose_name_plural}

    def get_response_serializers(self):
        action = getattr(self.view, "action", None)
        output = self.view.serializer_class
        if action == "retrieve":
            return {200: output, 404: ErrorSerializer}
        if action == "create":
            return {201: output, 400: ErrorSerializer, 403: ErrorSerializer,
                    404: ErrorSerializer}
        if action in ("update", "partial_update"):
            return {200: output, 400: ErrorSerializer, 403: ErrorSerializer,
                    404: ErrorSerializer, 409: ErrorSerializer, 428: ErrorSerializer}
        if action == "destroy":
            return {204: None, 403: ErrorSerializer, 404: ErrorSerializer,
                    409: ErrorSerializer}
        return super().get_response_serializers()


class CustomerRecordViewSet(viewsets.GenericViewSet):
    """List, read, create, change and delete one kind of customer record.

    Subclasses set ``model``, ``serializer_class`` (output and create input),
    ``update_serializer_class``, ``list_event`` / ``view_event`` and the three domain actions.
    """

    model = None
    update_serializer_class = None
    list_event: Event
    view_event: Event
    create_action = None
    update_action = None
    delete_action = None
    related: tuple[str, ...] = ()
    prefetch: tuple[str, ...] = ()
    filter_backends = [filters.DjangoFilterBackend, StableOrderingFilter]
    # Cursor pages position on the first ordering field, so only (nearly) unique, non-null
    # fields qualify; stage, status and the like are filters instead.
    ordering_fields = ("created_at", "updated_at")
    schema = VersionedAutoSchema()

    def get_queryset(self):
        return self.with_related(self.model.objects.visible_to(self.request.user, "view"))

    def with_related(self, queryset):
        """Load what the serializer shows in the same query (or one more), never per row."""
        return queryset.select_related(*self.related).prefetch_related(*self.prefetch)

    def get_serializer_class(self):
        if self.action in ("update", "partial_update") and self.update_serializer_class:
            return self.update_serializer_class
        return self.serializer_class

    def actor(self) -> Actor:
        return Actor.from_request(self.request)

    def list(self, request, *args, **kwargs):
        return self.page_of(self.filter_queryset(self.get_queryset()), self.list_event)

    def page_of(self, queryset, event: Event) -> Response:
        """One cursor page of ``queryset``, audited as ``event`` before it is returned."""
        page = self.paginate_queryset(queryset)
        audit_read(self.actor(), event, self.model, page,
                   fields=audited_fields(self.serializer_class, self.model))
        serializer = self.serializer_class(page, many=True, context=self.get_serializer_context())
        return self.get_paginated_response(serializer.data)

    def read_object(self, actor: Actor, pk):
        """The record ``pk`` for display, through the access policy; the read is audited."""
        # access_object applies visible_to itself (and audits a refusal).
        obj = access_object(actor, self.with_related(self.model.objects), pk, self.view_event)
        audit_read(actor, self.view_event, self.model, [obj],
                   fields=audited_fields(self.serializer_class, self.model))
        return obj

    def retrieve(self, request, pk=None, *args, **kwargs):
        obj = self.read_object(self.actor(), pk)
        return self.answer(obj)

    def answer(self, obj, status_code=status.HTTP_200_OK) -> Response:
        data = self.serializer_class(obj, context=self.get_serializer_context()).data
        return Response(data, status=status_code, headers=etag_headers(obj))

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        obj = self.create_record(self.actor(), dict(serializer.validated_data))
        return self.answer(obj, status.HTTP_201_CREATED)

    def create_record(self, actor: Actor, data: dict):
        customer_id = data.pop("customer_id")
        return self.create_action(actor, customer_id, data=data)

    def update(self, request, pk=None, *args, partial=False, **kwargs):
        version = version_from_if_match(request)
        serializer = self.get_serializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        actor = self.actor()
        obj = self.update_action(actor, pk, changes=dict(serializer.validated_data),
                                 version=version)
        # The answer shows every field, not only the changed ones: that is a read too.
        audit_read(actor, self.view_event, self.model, [obj],
                   fields=audited_fields(self.serializer_class, self.model))
        return self.answer(obj)

    def partial_update(self, request, pk=None, *args, **kwargs):
        return self.update(request, pk, partial=True)

    def destroy(self, request, pk=None, *args, **kwargs):
        version = version_from_if_match(request, required=False)
        self.delete_action(self.actor(), pk, version=version)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- customers ----------------------------------------------------------------------------------


class TagListField(serializers.ListField):
    """Tags as a list of names; sending a list replaces the customer's tags."""

    child = serializers.CharField(max_length=50)

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 20)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_representation(self, data):
        return [tag.name for tag in data.all()]


class CustomerSerializer(EncryptedRecordSerializer):
    """A customer. ``owner`` changes through reassignment, never through this payload."""

    owner = serializers.PrimaryKeyRelatedField(read_only=True)
    department = serializers.CharField(source="department.name", read_only=True,
                                       allow_null=True)
    region = serializers.CharField(source="region.name", read_only=True, allow_null=True)
    kind = choice_field(Customer.Kind, "CustomerKind", required=False)
    tags = TagListField()
    phone = PhoneInputField()

    class Meta:
        model = Customer
        fields = (
            "id", "kind", "name", "company", "stage", "source", "owner", "department", "region",
            "tags", "phone", "email", "province", "city", "district", "street", "id_number",
            "credit_code", "birthday", "website", "preferences", "notes", "last_contacted_at",
            "created_at", "updated_at", "version", "unreadable_fields", "restricted_fields",
        )
        read_only_fields = ("id", "last_contacted_at", "created_at", "updated_at", "version")


class CustomerFilter(filters.FilterSet):
    stage = filters.ChoiceFilter(choices=Customer.Stage.choices)
    kind = filters.ChoiceFilter(choices=Customer.Kind.choices)
    source = filters.ChoiceFilter(choices=Customer.Source.choices)
    owner = IdFilter(field_name="owner_id", help_text=_("Owner's user id."))
    tag = filters.CharFilter(field_name="tags__name", max_length=50,
                             help_text=_("Tag name (exact)."))

    class Meta:
        model = Customer
        fields = ("stage", "kind", "source", "owner", "tag")


class CustomerSearchSerializer(StrictSerializerMixin, serializers.Serializer):
    """A search by name or company, or an exact search by phone, e-mail, ID number or credit
    code. It travels in a POST body so that names and numbers never land in URLs and proxy logs;
    the list filters still apply as query parameters. Give exactly one of the fields."""

    q = serializers.CharField(
        max_length=100, required=False,
        help_text=_("Name or company contains this text (a phone number, e-mail or ID number "
                    "typed here is matched exactly)."))
    phone = serializers.CharField(max_length=32, required=False,
                                  help_text=_("Phone number, in any common format."))
    email = serializers.CharField(max_length=254, required=False, help_text=_("E-mail address."))
    id_number = serializers.CharField(max_length=32, required=False,
                                      help_text=_("Resident identity number."))
    credit_code = serializers.CharField(max_length=32, required=False,
                                        help_text=_("Unified social credit code."))

    INVALID = {
        PHONE: _("Enter a valid phone number."),
        EMAIL: _("Enter a valid e-mail address."),
        ID_NUMBER: _("Enter a valid resident identity number."),
        CREDIT_CODE: _("Enter a valid unified social credit code."),
    }

    def validate(self, attrs):
        if len(attrs) != 1:
            raise serializers.ValidationError(
                _("Give exactly one of q, phone, email, id_number and credit_code."))
        (name, text), = attrs.items()
        if name == "q":
            return {"q": text}
        value = blind_index.canonical(name, text)
        if value is None:
            raise serializers.ValidationError({name: self.INVALID[name]})
        return {"exact": (name, value)}


class RevealSerializer(StrictSerializerMixin, serializers.Serializer):
    """Which masked fields to see in clear, and why (the reason is kept in the audit trail)."""

    field_names = serializers.ListField(
        child=serializers.CharField(max_length=50), min_length=1, max_length=20,
        help_text=_("Names of fields the customer is shown with masked (see restricted_fields)."))
    reason = serializers.CharField(max_length=500, help_text=_("Why you need the clear values."))


class CustomerViewSet(CustomerRecordViewSet):
    """Customers the requesting user may see. Every list and read is recorded in the audit
    trail; a search (``q``) is recorded as a search."""

    model = Customer
    serializer_class = CustomerSerializer
    filterset_class = CustomerFilter
    # Prefetched, not joined: with a LEFT JOIN on departments, SQLite drives a department
    # scope's page from the departments and reads every customer of the subtree (60 ms at 1M).
    prefetch = ("department", "region", "tags")
    list_event = Event.CUSTOMER_LIST
    view_event = Event.CUSTOMER_VIEW

    def scope_partitions(self):
        """The parts of the user's scope, for pages merged part by part (CursorPagination)."""
        return scope_partitions(self.request.user)

    @extend_schema(request=CustomerSearchSerializer,
                   responses={200: CustomerSerializer(many=True), 400: ErrorSerializer})
    @action(detail=False, methods=["post"])
    def search(self, request):
        """Customers whose name or company contains ``q``, or whose (or whose contact
        person's) phone, e-mail, ID number or credit code is the one given; filtered like the
        list."""
        query = CustomerSearchSerializer(data=request.data)
        query.is_valid(raise_exception=True)
        customers = self.filter_queryset(self.get_queryset())
        if "exact" in query.validated_data:
            customers = customers.matching(self.actor(), *query.validated_data["exact"])
        else:
            customers = customers.search(query.validated_data["q"], self.actor())
        return self.page_of(customers, Event.CUSTOMER_SEARCH)

    @extend_schema(request=RevealSerializer, responses={
        200: {"type": "object", "additionalProperties": {"type": "string", "nullable": True}},
        400: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer, 429: ErrorSerializer})
    @action(detail=True, methods=["post"])
    def reveal(self, request, pk=None):
        """The clear values of masked fields of one customer, for this answer only. Needs the
        reveal right and a reason; audited, and limited per user per hour (429 beyond)."""
        body = RevealSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = reveal_customer(self.actor(), pk, fields=body.validated_data["field_names"],
                                 reason=body.validated_data["reason"])
        response = Response({name: None if isinstance(value, Unreadable) else value
                             for name, value in values.items()})
        response["Cache-Control"] = "no-store"
        return response

    def read_object(self, actor: Actor, pk):
        return view_customer(actor, pk, fields=audited_fields(self.serializer_class, Customer))

    def create_record(self, actor: Actor, data: dict):
        return create_customer(actor, data=data)

    def update_action(self, actor: Actor, pk, *, changes: dict, version: int):
        return update_customer(actor, pk, changes=changes, version=version)

    def delete_action(self, actor: Actor, pk, *, version: int | None):
        delete_customer(actor, pk, version=version)


# --- contact persons ------------------------------------------------------------------------------


class ContactSerializer(EncryptedRecordSerializer):
    """A person to talk to at a customer."""

    customer = customer_field()
    phone = PhoneInputField()

    class Meta:
        model = ContactPerson
        fields = ("id", "customer", "name", "title", "phone", "email", "is_primary", "notes",
                  "created_at", "updated_at", "version", "unreadable_fields", "restricted_fields")
        read_only_fields = ("id", "created_at", "updated_at", "version")


class ContactUpdateSerializer(ContactSerializer):
    """A contact person being edited: it stays with its customer."""

    customer = customer_field(read_only=True)


class ContactFilter(filters.FilterSet):
    customer = filters.UUIDFilter(field_name="customer_id", help_text=_("Customer id."))
    is_primary = filters.BooleanFilter()

    class Meta:
        model = ContactPerson
        fields = ("customer", "is_primary")


class ContactViewSet(CustomerRecordViewSet):
    """Contact persons of the customers the requesting user may see."""

    model = ContactPerson
    serializer_class = ContactSerializer
    update_serializer_class = ContactUpdateSerializer
    filterset_class = ContactFilter
    list_event = Event.CONTACT_LIST
    view_event = Event.CONTACT_VIEW
    create_action = staticmethod(create_contact)
    update_action = staticmethod(update_contact)
    delete_action = staticmethod(delete_contact)
