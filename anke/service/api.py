"""REST API for service tickets."""

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from rest_framework import serializers

from anke.audit.catalogue import Event
from anke.customers.api import (
    CustomerRecordViewSet,
    EncryptedRecordSerializer,
    IdFilter,
    choice_field,
    customer_field,
)
from anke.service.actions import delete_ticket, open_ticket, update_ticket
from anke.service.models import Ticket


class TicketSerializer(EncryptedRecordSerializer):
    """A complaint, feedback or enquiry. The SLA due time follows from the priority."""

    customer = customer_field()
    kind = choice_field(Ticket.Kind, "TicketKind", required=False)
    status = choice_field(Ticket.Status, "TicketStatus", required=False)
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_active=True), required=False,
        allow_null=True, help_text=_("An active user's id."))

    class Meta:
        model = Ticket
        fields = ("id", "customer", "kind", "subject", "description", "priority", "status",
                  "assignee", "sla_due_at", "resolved_at", "satisfaction", "created_at",
                  "updated_at", "version", "unreadable_fields", "restricted_fields")
        read_only_fields = ("id", "sla_due_at", "resolved_at", "created_at", "updated_at",
                            "version")


class TicketUpdateSerializer(TicketSerializer):
    """A ticket being edited: it stays with its customer."""

    customer = customer_field(read_only=True)


class TicketFilter(filters.FilterSet):
    customer = filters.UUIDFilter(field_name="customer_id", help_text=_("Customer id."))
    status = filters.ChoiceFilter(choices=Ticket.Status.choices)
    priority = filters.ChoiceFilter(choices=Ticket.Priority.choices)
    kind = filters.ChoiceFilter(choices=Ticket.Kind.choices)
    assignee = IdFilter(field_name="assignee_id", help_text=_("Assignee's user id."))

    class Meta:
        model = Ticket
        fields = ("customer", "status", "priority", "kind", "assignee")


class TicketViewSet(CustomerRecordViewSet):
    """Service tickets of the customers the requesting user may see, newest first."""

    model = Ticket
    serializer_class = TicketSerializer
    update_serializer_class = TicketUpdateSerializer
    filterset_class = TicketFilter
    list_event = Event.TICKET_LIST
    view_event = Event.TICKET_VIEW
    create_action = staticmethod(open_ticket)
    update_action = staticmethod(update_ticket)
    delete_action = staticmethod(delete_ticket)
