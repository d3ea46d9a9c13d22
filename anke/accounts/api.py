"""REST API for the user directory, user administration and off-boarding, and the requesting
user's own API tokens."""

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from anke.access.policy import has_permission
from anke.accounts.actions import (
    MAX_TOKEN_DAYS,
    NEVER_SETTABLE,
    create_api_token,
    deactivate_user,
    reactivate_user,
    require_user_manager,
    revoke_api_token,
    update_user,
)
from anke.accounts.models import ApiToken
from anke.audit.catalogue import Event
from anke.core.api import CursorPagination, ErrorSerializer, StrictSerializerMixin
from anke.core.context import Actor


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Shows ``Authorization: Bearer <token>`` in the OpenAPI schema."""

    target_class = "anke.accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": str(_("A personal API token (anke_…), created under /api/v1/tokens/ "
                                 "from a signed-in session. Shown once.")),
        }


# --- users --------------------------------------------------------------------------------------


class CanViewUsers(permissions.BasePermission):
    """Reading the directory needs ``user.view``. Changes are let through to the actions,
    which refuse without ``user.manage`` and record the refusal."""

    def has_permission(self, request, view):
        if request.method not in permissions.SAFE_METHODS:
            return True
        return has_permission(request.user, "user.view")


class UserSerializer(serializers.ModelSerializer):
    """A colleague as others see them: no e-mail, phone or roles."""

    department = serializers.CharField(source="department.name", read_only=True,
                                       allow_null=True)
    region = serializers.CharField(source="region.name", read_only=True, allow_null=True)

    class Meta:
        model = get_user_model()
        fields = ("id", "username", "display_name", "department", "region")
        read_only_fields = fields


class UserAccountSerializer(serializers.ModelSerializer):
    """A user as administrators manage them: assignments by id, roles by code."""

    roles = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True,
                                         help_text=_("Role codes."))

    class Meta:
        model = get_user_model()
        fields = ("id", "username", "display_name", "department", "region", "manager", "roles",
                  "ip_allowlist", "is_active", "last_login")
        read_only_fields = fields


class UserUpdateSerializer(StrictSerializerMixin, serializers.Serializer):
    """What an administrator may change. Anything else is refused by name: activity through
    deactivate/reactivate, credentials and superuser flags never through this API."""

    display_name = serializers.CharField(max_length=100, allow_blank=True, required=False)
    department = serializers.IntegerField(allow_null=True, required=False, min_value=1,
                                          max_value=2**63 - 1, help_text=_("Department id."))
    region = serializers.IntegerField(allow_null=True, required=False, min_value=1,
                                      max_value=2**63 - 1, help_text=_("Region id."))
    manager = serializers.IntegerField(allow_null=True, required=False, min_value=1,
                                       max_value=2**63 - 1, help_text=_("User id."))
    roles = serializers.ListField(child=serializers.CharField(max_length=50), required=False,
                                  help_text=_("Role codes: the user holds exactly these."))
    ip_allowlist = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, max_length=100,
        help_text=_("Networks (CIDR) the user may work from; empty: anywhere their roles allow."))

    def to_internal_value(self, data):
        if isinstance(data, dict) and (refused := sorted(
                str(key) for key in data if key in NEVER_SETTABLE)):
            raise serializers.ValidationError(
                {key: [_("This field cannot be set.")] for key in refused})
        return super().to_internal_value(data)


class DeactivateSerializer(StrictSerializerMixin, serializers.Serializer):
    successor = serializers.IntegerField(
        allow_null=True, required=False, min_value=1, max_value=2**63 - 1,
        help_text=_("Id of the active user who takes over the customers, open deals, open "
                    "tasks and open tickets. May be left out only if there is nothing to hand "
                    "over."))


class DeactivationSerializer(serializers.Serializer):
    """What an off-boarding did."""

    user = UserAccountSerializer()
    successor = serializers.IntegerField(allow_null=True)
    customers = serializers.IntegerField(help_text=_("Customers handed over."))
    deals = serializers.IntegerField(help_text=_("Open deals handed over."))
    tasks = serializers.IntegerField(help_text=_("Open tasks handed over."))
    tickets = serializers.IntegerField(help_text=_("Open tickets handed over."))
    tokens_revoked = serializers.IntegerField()
    sessions_ended = serializers.IntegerField()


class ByUsernamePagination(CursorPagination):
    ordering = ("username",)


_REFUSALS = {400: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}


@extend_schema_view(
    partial_update=extend_schema(
        summary=_("Change a user's details or roles (administrators)"),
        request=UserUpdateSerializer, responses={200: UserAccountSerializer, **_REFUSALS}),
    deactivate=extend_schema(
        summary=_("Deactivate a user and hand over their work (administrators)"),
        request=DeactivateSerializer, responses={200: DeactivationSerializer, **_REFUSALS}),
    reactivate=extend_schema(
        summary=_("Reactivate a user (administrators)"),
        request=None, responses={200: UserAccountSerializer, **_REFUSALS}),
)
class UserViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The user directory (to resolve owners and assignees), alphabetically by username.
    Administrators (``user.manage``) also change users and off-board them; every change and
    every refusal is audited."""

    queryset = get_user_model().objects.select_related("department", "region")
    serializer_class = UserSerializer
    permission_classes = [permissions.IsAuthenticated, CanViewUsers]
    pagination_class = ByUsernamePagination
    filter_backends = []
    lookup_value_regex = "[0-9]+"

    def partial_update(self, request, pk=None):
        actor = Actor.from_request(request)
        require_user_manager(actor, Event.USER_UPDATE, pk)  # 403 before the body is read
        serializer = UserUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = update_user(actor, pk, changes=serializer.validated_data)
        return Response(UserAccountSerializer(user).data)

    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        """Deactivate the user, revoke their API tokens, end their sessions and hand their
        customers, open deals, open tasks and open tickets to ``successor``, in one step."""
        actor = Actor.from_request(request)
        require_user_manager(actor, Event.USER_DEACTIVATE, pk)
        serializer = DeactivateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = deactivate_user(actor, pk,
                                 successor_id=serializer.validated_data.get("successor"))
        user = get_user_model().objects.get(pk=pk)
        return Response({**result, "user": UserAccountSerializer(user).data})

    @action(detail=True, methods=["post"])
    def reactivate(self, request, pk=None):
        """Let a deactivated user sign in again (their old tokens stay revoked)."""
        user = reactivate_user(Actor.from_request(request), pk)
        return Response(UserAccountSerializer(user).data)


# --- API tokens ---------------------------------------------------------------------------------


class TokenSerializer(serializers.ModelSerializer):
    """One of the requesting user's API tokens. The secret itself is never stored."""

    class Meta:
        model = ApiToken
        fields = ("id", "name", "hint", "scope", "created_at", "expires_at", "revoked_at",
                  "last_used_at", "last_used_ip")
        read_only_fields = fields


class NewTokenSerializer(TokenSerializer):
    """A token just created: ``secret`` is in this answer and never again."""

    secret = serializers.CharField(
        read_only=True, help_text=_("Send as 'Authorization: Bearer <secret>'. Shown once."))

    class Meta(TokenSerializer.Meta):
        fields = (*TokenSerializer.Meta.fields, "secret")
        read_only_fields = fields


class TokenCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    name = serializers.CharField(max_length=100)
    expires_days = serializers.IntegerField(min_value=1, max_value=MAX_TOKEN_DAYS, default=90,
                                            help_text=_("Days until the token expires."))
    scope = serializers.ChoiceField(choices=ApiToken.Scope.choices, default=ApiToken.Scope.READ,
                                    help_text=_("read: GET only; write: every method."))


@extend_schema_view(
    create=extend_schema(request=TokenCreateSerializer,
                         responses={201: NewTokenSerializer, 400: ErrorSerializer,
                                    403: ErrorSerializer}),
    destroy=extend_schema(responses={204: None, 404: ErrorSerializer}),
)
class TokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The requesting user's own API tokens. DELETE revokes a token (it stays listed)."""

    serializer_class = TokenSerializer
    filter_backends = []
    # ASCII digits only: revoke_api_token takes str.isdigit() ids to int(), and "²" is a digit.
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        return ApiToken.objects.filter(user=self.request.user)

    def create(self, request, *args, **kwargs):
        """Create a token. Only from a signed-in session: a token cannot mint more tokens, so a
        leaked one cannot outlive its own expiry or revocation."""
        if isinstance(request.auth, ApiToken):
            raise exceptions.PermissionDenied(
                _("Create API tokens from a signed-in session, not with another token."))
        serializer = TokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, secret = create_api_token(Actor.from_request(request), request.user,
                                         **serializer.validated_data)
        data = {**TokenSerializer(token).data, "secret": secret}
        return Response(data, status=status.HTTP_201_CREATED,
                        headers={"Cache-Control": "no-store"})

    def destroy(self, request, pk=None, *args, **kwargs):
        """Revoke a token at once; requests with it answer 401 from now on."""
        revoke_api_token(Actor.from_request(request), pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
