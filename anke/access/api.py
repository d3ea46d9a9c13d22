"""REST API for roles: ``/api/v1/roles/``.

Reading needs ``user.view`` or ``role.manage``; every change needs ``role.manage`` and is one
action of ``anke.access.actions`` (a refusal is audited there, before any input is looked at).
Input is strict: unknown fields are refused, and the catalogue decides which permissions,
resources, classified fields, scopes and access levels exist (400 naming the unknown ones).

A role has no version column: its ``version`` is a tag of its state, sent back in ``If-Match``
on PUT and PATCH like the versions of customer records (409 when the role changed meanwhile).
PATCH merges ``scopes`` and ``field_policies`` key by key; PUT replaces them whole.
"""

from django.db.models import Count
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.response import Response

from anke.access import actions
from anke.access.catalogue import (
    CUSTOMER_DATA_RESOURCES,
    PERMISSIONS,
    FieldAccess,
    Scope,
)
from anke.access.models import Role
from anke.access.policy import has_permission
from anke.audit.catalogue import Event
from anke.core.api import (
    CursorPagination,
    ErrorSerializer,
    StrictSerializerMixin,
    version_from_if_match,
)
from anke.core.context import Actor

# --- fields: any JSON goes in, the action names what is wrong; the schema shows the catalogue ----


@extend_schema_field({"type": "array", "items": {"type": "string", "enum": list(PERMISSIONS)},
                      "description": "Permission codes from the catalogue."})
class PermissionListField(serializers.JSONField):
    """Permission codes (checked against the catalogue by the action)."""


@extend_schema_field({
    "type": "object",
    "properties": {r: {"type": "string", "enum": list(Scope.values)}
                   for r in CUSTOMER_DATA_RESOURCES},
    "additionalProperties": False,
    "description": "Record scope per customer-data resource; a resource left out reaches "
                   "no records.",
})
class ScopeMapField(serializers.JSONField):
    """Resource → record scope."""


@extend_schema_field({
    "type": "object",
    "additionalProperties": {"type": "string", "enum": list(FieldAccess.values)},
    "description": "Access level per classified field key (customer.phone…); a field left "
                   "out is hidden.",
})
class FieldPolicyMapField(serializers.JSONField):
    """Classified field key → access level."""


class RoleSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    """A role: what it grants and how many users hold it. Also the body that creates one."""

    label = serializers.SerializerMethodField(
        help_text=_("The name shown to people (translated for shipped roles)."))
    permissions = PermissionListField()
    scopes = ScopeMapField(required=False)
    field_policies = FieldPolicyMapField(required=False)
    users = serializers.SerializerMethodField(help_text=_("How many users hold the role."))
    version = serializers.SerializerMethodField(
        help_text=_("The role's state tag: send it in If-Match to change the role."))

    class Meta:
        model = Role
        fields = ("id", "code", "name", "label", "permissions", "scopes", "field_policies",
                  "mfa_required", "passkey_required", "ip_allowlist", "users", "version")
        read_only_fields = ("id",)
        # Uniqueness and the slug format are the action's to check, with its own messages.
        extra_kwargs = {"code": {"validators": []}}

    def get_label(self, role) -> str:
        return str(role.label)

    def get_users(self, role) -> int:
        count = getattr(role, "user_count", None)
        return role.users.count() if count is None else count

    def get_version(self, role) -> int:
        return actions.state_tag(role)


class RoleUpdateSerializer(RoleSerializer):
    """A change to a role. The code never changes; a shipped role keeps its name."""

    name = serializers.CharField(max_length=100, required=False)
    # PUT replaces everything the role grants, so it names all of it.
    scopes = ScopeMapField()
    field_policies = FieldPolicyMapField()

    class Meta(RoleSerializer.Meta):
        read_only_fields = ("id", "code")


# --- the viewset ------------------------------------------------------------------------------


class CanReadRoles(permissions.BasePermission):
    """Reads need ``user.view`` or ``role.manage``; writes are left to the actions, which
    refuse (and audit) without ``role.manage``."""

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            return (has_permission(request.user, actions.MANAGE)
                    or has_permission(request.user, "user.view"))
        return True


class ByIdPagination(CursorPagination):
    ordering = ("id",)


IF_MATCH = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True,
    description=_("The role's version (its ETag, e.g. \"123456789\"). Missing: 428. The role "
                  "changed since: 409."),
)
_CHANGE_ANSWERS = {200: RoleSerializer, 400: ErrorSerializer, 403: ErrorSerializer,
                   404: ErrorSerializer, 409: ErrorSerializer, 428: ErrorSerializer}


@extend_schema_view(
    list=extend_schema(summary=_("List roles")),
    retrieve=extend_schema(summary=_("Read one role"),
                           responses={200: RoleSerializer, 403: ErrorSerializer,
                                      404: ErrorSerializer}),
    create=extend_schema(summary=_("Create a role"), request=RoleSerializer,
                         responses={201: RoleSerializer, 400: ErrorSerializer,
                                    403: ErrorSerializer}),
    update=extend_schema(summary=_("Change a role (everything it grants)"),
                         request=RoleUpdateSerializer, parameters=[IF_MATCH],
                         responses=_CHANGE_ANSWERS),
    partial_update=extend_schema(
        summary=_("Change a role (some fields; scopes and field policies merge)"),
        request=RoleUpdateSerializer, parameters=[IF_MATCH], responses=_CHANGE_ANSWERS),
    destroy=extend_schema(summary=_("Delete a role nobody holds"),
                          responses={204: None, 400: ErrorSerializer, 403: ErrorSerializer,
                                     404: ErrorSerializer}),
)
class RoleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Roles: permissions, a record scope per resource and an access level per classified
    field. A user's rights are the union of their roles."""

    serializer_class = RoleSerializer
    permission_classes = [permissions.IsAuthenticated, CanReadRoles]
    pagination_class = ByIdPagination
    filter_backends = []
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        return Role.objects.annotate(user_count=Count("users"))

    def actor(self) -> Actor:
        return Actor.from_request(self.request)

    def answer(self, role, status_code=status.HTTP_200_OK) -> Response:
        data = RoleSerializer(role, context=self.get_serializer_context()).data
        return Response(data, status=status_code,
                        headers={"ETag": f'"{data["version"]}"'})

    def retrieve(self, request, *args, **kwargs):
        return self.answer(self.get_object())

    def create(self, request, *args, **kwargs):
        actor = self.actor()
        actions.require_role_manager(actor, Event.ROLE_CREATE)
        serializer = RoleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        role = actions.create_role(actor, **serializer.validated_data)
        return self.answer(role, status.HTTP_201_CREATED)

    def update(self, request, pk=None, *args, partial=False, **kwargs):
        actor = self.actor()
        actions.require_role_manager(actor, Event.ROLE_UPDATE, [pk])
        version = version_from_if_match(request)
        serializer = RoleUpdateSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        if partial:
            current = Role.objects.filter(pk=pk).first()
            for name in ("scopes", "field_policies"):
                if current is not None and isinstance(changes.get(name), dict):
                    changes[name] = {**getattr(current, name), **changes[name]}
        role = actions.update_role(actor, pk, changes=changes, version=version)
        return self.answer(role)

    def partial_update(self, request, pk=None, *args, **kwargs):
        return self.update(request, pk, partial=True)

    def destroy(self, request, pk=None, *args, **kwargs):
        actions.delete_role(self.actor(), pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
