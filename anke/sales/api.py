"""REST API for the sales side: deals, activities, tasks, orders and the pipeline stages."""

from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from rest_framework import serializers, viewsets

from anke.audit.catalogue import Event
from anke.core.api import StrictSerializerMixin
from anke.core.fields import validate_sane_year
from anke.customers.api import (
    CustomerRecordViewSet,
    EncryptedRecordSerializer,
    IdFilter,
    RecordSerializer,
    ScopedPrimaryKeyField,
    choice_field,
    customer_field,
)
from anke.sales.actions import (
    create_deal,
    create_order,
    create_task,
    delete_activity,
    delete_deal,
    delete_order,
    delete_task,
    log_activity,
    update_activity,
    update_deal,
    update_order,
    update_task,
)
from anke.sales.models import Activity, Currency, Deal, Order, PipelineStage, Task

# --- pipeline stages ----------------------------------------------------------------------------


class PipelineStageSerializer(serializers.ModelSerializer):
    """A column of the pipeline board; deals name it by ``code``."""

    name = serializers.CharField(source="label", read_only=True)

    class Meta:
        model = PipelineStage
        fields = ("id", "code", "name", "position", "probability", "is_won", "is_lost")
        read_only_fields = fields


class PipelineStageViewSet(viewsets.ReadOnlyModelViewSet):
    """The pipeline stages in board order (configured by administrators; read-only here)."""

    queryset = PipelineStage.objects.order_by("position", "id")
    serializer_class = PipelineStageSerializer
    pagination_class = None
    filter_backends = []


# --- deals --------------------------------------------------------------------------------------


class DealSerializer(RecordSerializer):
    """A sales opportunity. The creator owns it; closing stages stamp ``closed_at``."""

    customer = customer_field()
    stage = serializers.SlugRelatedField(
        slug_field="code", queryset=PipelineStage.objects.all(),
        help_text=_("Code of a pipeline stage (see /pipeline-stages/)."))
    owner = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Deal
        fields = ("id", "customer", "title", "stage", "amount", "currency", "expected_close",
                  "owner", "closed_at", "created_at", "updated_at", "version")
        read_only_fields = ("id", "closed_at", "created_at", "updated_at", "version")


class DealUpdateSerializer(DealSerializer):
    """A deal being edited: it stays with its customer."""

    customer = customer_field(read_only=True)


class DealFilter(filters.FilterSet):
    customer = filters.UUIDFilter(field_name="customer_id", help_text=_("Customer id."))
    stage = filters.CharFilter(field_name="stage__code", max_length=30,
                               help_text=_("Pipeline stage code."))
    owner = IdFilter(field_name="owner_id", help_text=_("Owner's user id."))
    currency = filters.ChoiceFilter(choices=Currency.choices)

    class Meta:
        model = Deal
        fields = ("customer", "stage", "owner", "currency")


class DealViewSet(CustomerRecordViewSet):
    """Deals on the customers the requesting user may see."""

    model = Deal
    serializer_class = DealSerializer
    update_serializer_class = DealUpdateSerializer
    filterset_class = DealFilter
    related = ("stage",)
    list_event = Event.DEAL_LIST
    view_event = Event.DEAL_VIEW
    create_action = staticmethod(create_deal)
    update_action = staticmethod(update_deal)
    delete_action = staticmethod(delete_deal)


# --- activities ---------------------------------------------------------------------------------


class ActivitySerializer(EncryptedRecordSerializer):
    """A call, visit, meeting, e-mail or note on the customer's timeline (by the creator)."""

    customer = customer_field()
    deal = ScopedPrimaryKeyField(Deal, required=False, allow_null=True,
                                 help_text=_("A deal of the same customer."))
    kind = choice_field(Activity.Kind, "ActivityKind", required=False)
    performed_by = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Activity
        fields = ("id", "customer", "deal", "kind", "occurred_at", "summary", "performed_by",
                  "created_at", "updated_at", "version", "unreadable_fields", "restricted_fields")
        read_only_fields = ("id", "created_at", "updated_at", "version")
        extra_kwargs = {"occurred_at": {"required": False,
                                        "help_text": _("Defaults to now.")}}


class ActivityUpdateSerializer(ActivitySerializer):
    """An activity being edited: it stays with its customer."""

    customer = customer_field(read_only=True)


class ActivityFilter(filters.FilterSet):
    customer = filters.UUIDFilter(field_name="customer_id", help_text=_("Customer id."))
    deal = filters.UUIDFilter(field_name="deal_id", help_text=_("Deal id."))
    kind = filters.ChoiceFilter(choices=Activity.Kind.choices)
    performed_by = IdFilter(field_name="performed_by_id", help_text=_("User id."))

    class Meta:
        model = Activity
        fields = ("customer", "deal", "kind", "performed_by")


class ActivityViewSet(CustomerRecordViewSet):
    """Activities on the customers the requesting user may see, newest first."""

    model = Activity
    serializer_class = ActivitySerializer
    update_serializer_class = ActivityUpdateSerializer
    filterset_class = ActivityFilter
    ordering = ("-occurred_at", "-id")
    ordering_fields = ("occurred_at", "created_at", "updated_at")
    list_event = Event.ACTIVITY_LIST
    view_event = Event.ACTIVITY_VIEW
    create_action = staticmethod(log_activity)
    update_action = staticmethod(update_activity)
    delete_action = staticmethod(delete_activity)


# --- tasks --------------------------------------------------------------------------------------


class TaskSerializer(RecordSerializer):
    """A follow-up the creator must do for a customer by ``due_at``."""

    customer = customer_field()
    assignee = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Task
        fields = ("id", "customer", "title", "due_at", "assignee", "done", "created_at",
                  "updated_at", "version")
        read_only_fields = ("id", "created_at", "updated_at", "version")


class TaskUpdateSerializer(TaskSerializer):
    """A task being edited: it stays with its customer."""

    customer = customer_field(read_only=True)


class TaskFilter(filters.FilterSet):
    customer = filters.UUIDFilter(field_name="customer_id", help_text=_("Customer id."))
    assignee = IdFilter(field_name="assignee_id", help_text=_("Assignee's user id."))
    done = filters.BooleanFilter()
    due_before = filters.IsoDateTimeFilter(field_name="due_at", lookup_expr="lt",
                                           validators=[validate_sane_year])

    class Meta:
        model = Task
        fields = ("customer", "assignee", "done", "due_before")


class TaskViewSet(CustomerRecordViewSet):
    """Follow-up tasks on the customers the requesting user may see, soonest due first."""

    model = Task
    serializer_class = TaskSerializer
    update_serializer_class = TaskUpdateSerializer
    filterset_class = TaskFilter
    ordering = ("due_at", "id")
    ordering_fields = ("due_at", "created_at", "updated_at")
    list_event = Event.TASK_LIST
    view_event = Event.TASK_VIEW
    create_action = staticmethod(create_task)
    update_action = staticmethod(update_task)
    delete_action = staticmethod(delete_task)


# --- orders -------------------------------------------------------------------------------------


class OrderItemSerializer(StrictSerializerMixin, serializers.Serializer):
    """One line of an order."""

    name = serializers.CharField(max_length=200)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0,
                                          coerce_to_string=True)


class OrderSerializer(RecordSerializer):
    """A transaction with a customer. ``amount`` is the total of the items, never sent."""

    customer = customer_field()
    deal = ScopedPrimaryKeyField(Deal, required=False, allow_null=True,
                                 help_text=_("A deal of the same customer."))
    number = serializers.CharField(max_length=40, required=False, allow_blank=True,
                                   help_text=_("Generated when left out."))
    items = OrderItemSerializer(many=True, allow_empty=False, max_length=200)
    status = choice_field(Order.Status, "OrderStatus", required=False)

    class Meta:
        model = Order
        fields = ("id", "customer", "deal", "number", "items", "amount", "currency", "status",
                  "ordered_on", "created_at", "updated_at", "version")
        read_only_fields = ("id", "amount", "created_at", "updated_at", "version")
        extra_kwargs = {"ordered_on": {"required": False, "help_text": _("Defaults to today.")}}

    def validate_items(self, items):
        # Stored as JSON: prices as strings, so no precision is lost and nothing is a float.
        return [{"name": item["name"], "quantity": item["quantity"],
                 "unit_price": str(item["unit_price"])} for item in items]


class OrderUpdateSerializer(OrderSerializer):
    """An order being edited: it stays with its customer."""

    customer = customer_field(read_only=True)


class OrderFilter(filters.FilterSet):
    customer = filters.UUIDFilter(field_name="customer_id", help_text=_("Customer id."))
    deal = filters.UUIDFilter(field_name="deal_id", help_text=_("Deal id."))
    status = filters.ChoiceFilter(choices=Order.Status.choices)
    currency = filters.ChoiceFilter(choices=Currency.choices)

    class Meta:
        model = Order
        fields = ("customer", "deal", "status", "currency")


class OrderViewSet(CustomerRecordViewSet):
    """Orders of the customers the requesting user may see, newest first."""


    model = Order
    serializer_class = OrderSerializer
    update_serializer_class = OrderUpdateSerializer
    filterset_class = OrderFilter

    list_event = Event.ORDER_LIST
    view_event = Event.ORDER_VIEW
    create_action = staticmethod(create_order)
    update_action = staticmethod(update_order)
    delete_action = staticmethod(delete_order)
