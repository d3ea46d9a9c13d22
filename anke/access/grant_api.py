"""REST API for temporary grants, break-glass and access reviews.

Thin: each write is one call of ``anke.access.grants`` or ``anke.access.reviews``; the rules,
refusals and audit events live there.
"""

from functools import cache

from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from anke.access.catalogue import PERMISSIONS, FieldAccess, Scope
from anke.access.grants import (
    MAX_BREAK_GLASS_CUSTOMERS,
    MAX_LISTED_CUSTOMERS,
    MAX_REASON,
    break_glass,
    customer_ids_by_grant,
    grant_access,
    grants_visible_to,
    revoke_grant,
)
from anke.access.models import Grant, ReviewCampaign, ReviewItem
from anke.access.policy import has_permission
from anke.access.reviews import MAX_NOTE, close_review, decide, open_review
from anke.core.api import CursorPagination, ErrorSerializer, StrictSerializerMixin
from anke.core.context import Actor


@cache
def _enum_field(component_name: str, values: tuple):
    field_class = type(f"{component_name}Field", (serializers.ChoiceField,), {})
    schema = {"type": "string", "enum": list(values)}
    return extend_schema_field(schema, component_name=component_name)(field_class)


def permission_field(**kwargs):
    return _enum_field("GrantPermission", tuple(PERMISSIONS))(choices=list(PERMISSIONS),
                                                              **kwargs)


def field_access_field(**kwargs):
    return _enum_field("GrantFieldAccess", tuple(FieldAccess.values))(
        choices=FieldAccess.choices, **kwargs)


GRANT_SCOPES = ("", Scope.OWN, Scope.DEPARTMENT, Scope.REGION, Scope.ALL)


def scope_field(**kwargs):
    return _enum_field("GrantScope", tuple(str(s) for s in GRANT_SCOPES))(
        choices=[str(s) for s in GRANT_SCOPES], **kwargs)


class ByIdPagination(CursorPagination):
    ordering = ("-id",)


# --- grants -------------------------------------------------------------------------------------


class GrantSerializer(serializers.ModelSerializer):
    """A temporary grant. ``customers`` lists the customer ids it names (empty for a scope
    grant); ``active`` says whether it is in force now."""

    permissions = serializers.ListField(child=permission_field())
    scope = scope_field()
    field_access = field_access_field()
    customers = serializers.SerializerMethodField()
    active = serializers.SerializerMethodField()

    class Meta:
        model = Grant
        fields = ("id", "user", "granted_by", "permissions", "scope", "customers",
                  "field_access", "reason", "break_glass", "created_at", "starts_at",
                  "expires_at", "revoked_at", "revoked_by", "active")
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.UUIDField()))
    def get_customers(self, obj) -> list:
        listed = self.context.get("customer_ids")
        if listed is None:
            listed = customer_ids_by_grant([obj.pk])
        return [str(c) for c in sorted(listed.get(obj.pk, []))]

    def get_active(self, obj) -> bool:
        now = timezone.now()
        return obj.revoked_at is None and obj.starts_at <= now < obj.expires_at


class GrantCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    user = serializers.IntegerField(min_value=1, help_text=_("The user who receives the grant."))
    permissions = serializers.ListField(child=permission_field(), min_length=1, max_length=50)
    customers = serializers.ListField(
        child=serializers.UUIDField(), max_length=MAX_LISTED_CUSTOMERS, default=list,
        help_text=_("Customer ids; leave empty when a scope is chosen."))
    scope = scope_field(default="", help_text=_(
        "Applied to the grantee's own customers, department or region; empty: only the listed "
        "customers."))
    field_access = field_access_field()
    reason = serializers.CharField(max_length=MAX_REASON)
    starts_at = serializers.DateTimeField(required=False)
    expires_at = serializers.DateTimeField()


class RevokeSerializer(StrictSerializerMixin, serializers.Serializer):
    reason = serializers.CharField(max_length=MAX_REASON)


class BreakGlassSerializer(StrictSerializerMixin, serializers.Serializer):
    customers = serializers.ListField(child=serializers.UUIDField(), min_length=1,
                                      max_length=MAX_BREAK_GLASS_CUSTOMERS)
    reason = serializers.CharField(max_length=MAX_REASON, help_text=_(
        "Why you need this access now (at least 15 characters)."))
    minutes = serializers.IntegerField(min_value=1, help_text=_(
        "How long the access lasts, up to the configured maximum (240 by default)."))


GRANT_WRITE_ERRORS = {400: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}


@extend_schema_view(
    list=extend_schema(summary=_("List temporary grants"), description=_(
        "Grants you gave or hold; every grant for holders of grant.approve or user.manage.")),
    retrieve=extend_schema(summary=_("Read one temporary grant"),
                           responses={200: GrantSerializer, 404: ErrorSerializer}),
    create=extend_schema(summary=_("Grant temporary access"), request=GrantCreateSerializer,
                         responses={201: GrantSerializer, **GRANT_WRITE_ERRORS}),
    revoke=extend_schema(summary=_("Revoke a temporary grant"), request=RevokeSerializer,
                         responses={200: GrantSerializer, 400: ErrorSerializer,
                                    404: ErrorSerializer}),
    break_glass=extend_schema(
        summary=_("Take emergency read access (break-glass)"), request=BreakGlassSerializer,
        description=_("Every use raises an alert event for the security team."),
        responses={201: GrantSerializer, **GRANT_WRITE_ERRORS}),
)
class GrantViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Temporary grants, newest first."""

    serializer_class = GrantSerializer
    filter_backends = []
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        return grants_visible_to(self.request.user)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        context = {**self.get_serializer_context(),
                   "customer_ids": customer_ids_by_grant([g.pk for g in page])}
        return self.get_paginated_response(GrantSerializer(page, many=True, context=context).data)

    def answer(self, grant, code=status.HTTP_200_OK) -> Response:
        return Response(GrantSerializer(grant, context=self.get_serializer_context()).data,
                        status=code)

    def create(self, request, *args, **kwargs):
        serializer = GrantCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        grant = grant_access(
            Actor.from_request(request), user_id=data["user"], permissions=data["permissions"],
            customer_ids=data["customers"], scope=data["scope"],
            field_access=data["field_access"], reason=data["reason"],
            starts_at=data.get("starts_at"), expires_at=data["expires_at"])
        return self.answer(grant, status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        serializer = RevokeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        grant = revoke_grant(Actor.from_request(request), pk,
                             reason=serializer.validated_data["reason"])
        return self.answer(grant)

    @action(detail=False, methods=["post"], url_path="break-glass")
    def break_glass(self, request):
        serializer = BreakGlassSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        grant = break_glass(Actor.from_request(request), customer_ids=data["customers"],
                            reason=data["reason"], minutes=data["minutes"])
        return self.answer(grant, status.HTTP_201_CREATED)


# --- access reviews -----------------------------------------------------------------------------


class ManagesUsers(permissions.BasePermission):
    def has_permission(self, request, view):
        return has_permission(request.user, "user.manage")


class ReviewSerializer(serializers.ModelSerializer):
    """An access review with how many items it has and how many are still undecided."""

    items = serializers.IntegerField(source="item_count", read_only=True)
    undecided = serializers.IntegerField(source="undecided_count", read_only=True)

    class Meta:
        model = ReviewCampaign
        fields = ("id", "name", "opened_by", "opened_at", "due_at", "closed_at", "items",
                  "undecided")
        read_only_fields = fields


class ReviewCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    name = serializers.CharField(max_length=200)
    due_at = serializers.DateTimeField()


def _counted(queryset):
    return queryset.annotate(item_count=Count("items"),
                             undecided_count=Count("items", filter=Q(items__decision="")))


@extend_schema_view(
    list=extend_schema(summary=_("List access reviews")),
    retrieve=extend_schema(summary=_("Read one access review"),
                           responses={200: ReviewSerializer, 404: ErrorSerializer}),
    create=extend_schema(summary=_("Open an access review"), request=ReviewCreateSerializer,
                         responses={201: ReviewSerializer, 400: ErrorSerializer,
                                    403: ErrorSerializer}),
    close=extend_schema(summary=_("Close an access review"), request=None,
                        responses={200: ReviewSerializer, 400: ErrorSerializer,
                                   403: ErrorSerializer, 404: ErrorSerializer}),
)
class ReviewViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Access reviews, newest first (holders of user.manage)."""

    serializer_class = ReviewSerializer
    permission_classes = [permissions.IsAuthenticated, ManagesUsers]
    pagination_class = ByIdPagination
    filter_backends = []
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        return _counted(ReviewCampaign.objects.all())

    def _answer(self, campaign_id, code=status.HTTP_200_OK) -> Response:
        campaign = self.get_queryset().get(pk=campaign_id)
        return Response(ReviewSerializer(campaign).data, status=code)

    def create(self, request, *args, **kwargs):
        serializer = ReviewCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = open_review(Actor.from_request(request), **serializer.validated_data)
        return self._answer(campaign.pk, status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        campaign, _undecided = close_review(Actor.from_request(request), pk)
        return self._answer(campaign.pk)


class ReviewItemSerializer(serializers.ModelSerializer):
    """One role or grant of one user, to confirm or revoke. ``role`` is the role's code."""

    campaign_name = serializers.CharField(source="campaign.name", read_only=True)
    role = serializers.SlugRelatedField(slug_field="code", read_only=True)
    decision = _enum_field("ReviewDecision", ("", *ReviewItem.Decision.values))(
        choices=[("", ""), *ReviewItem.Decision.choices], read_only=True)
    overdue = serializers.SerializerMethodField()

    class Meta:
        model = ReviewItem
        fields = ("id", "campaign", "campaign_name", "subject", "reviewer", "role", "grant",
                  "decision", "decided_by", "decided_at", "note", "overdue")
        read_only_fields = fields

    def get_overdue(self, obj) -> bool:
        campaign = obj.campaign
        return (not obj.decision and campaign.closed_at is None
                and campaign.due_at < timezone.now())


class DecideSerializer(StrictSerializerMixin, serializers.Serializer):
    decision = _enum_field("ReviewDecisionInput", tuple(ReviewItem.Decision.values))(
        choices=ReviewItem.Decision.choices)
    note = serializers.CharField(max_length=MAX_NOTE, required=False, allow_blank=True,
                                 default="")


@extend_schema_view(
    list=extend_schema(summary=_("List the review items you review"), description=_(
        "Newest first; undecided items of open reviews are the ones to decide.")),
    retrieve=extend_schema(summary=_("Read one of your review items"),
                           responses={200: ReviewItemSerializer, 404: ErrorSerializer}),
    decide=extend_schema(summary=_("Confirm or revoke a review item"), request=DecideSerializer,
                         responses={200: ReviewItemSerializer, 400: ErrorSerializer,
                                    403: ErrorSerializer, 404: ErrorSerializer}),
)
class ReviewItemViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin,
                        viewsets.GenericViewSet):
    """The review items assigned to the requesting user."""

    serializer_class = ReviewItemSerializer
    pagination_class = ByIdPagination
    filter_backends = []
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        return (ReviewItem.objects.filter(reviewer=self.request.user)
                .select_related("campaign", "role"))

    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        serializer = DecideSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        item = decide(Actor.from_request(request), pk, **serializer.validated_data)
        item = ReviewItem.objects.select_related("campaign", "role").get(pk=item.pk)
        return Response(ReviewItemSerializer(item).data)
