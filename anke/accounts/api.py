"""REST API for the user directory and the requesting user's own API tokens."""

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, permissions, serializers, status, viewsets
from rest_framework.response import Response

from anke.access.policy import has_permission
from anke.accounts.actions import MAX_TOKEN_DAYS, create_api_token, revoke_api_token
from anke.accounts.models import ApiToken
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
    def has_permission(self, request, view):
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


class ByUsernamePagination(CursorPagination):
    ordering = ("username",)


class UserViewSet(viewsets.ReadOnlyModelViewSet):
    """The user directory (to resolve owners and assignees), alphabetically by username."""

    queryset = get_user_model().objects.select_related("department", "region")
    serializer_class = UserSerializer
    permission_classes = [permissions.IsAuthenticated, CanViewUsers]
    pagination_class = ByUsernamePagination
    filter_backends = []


# --- API tokens ---------------------------------------------------------------------------------


class TokenSerializer(serializers.ModelSerializer):
    """One of the requesting user's API tokens. The secret itself is never stored."""

    class Meta:
        model = ApiToken
        fields = ("id", "name", "hint", "created_at", "expires_at", "revoked_at",
                  "last_used_at")
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
