"""API plumbing shared by every app: pagination, strict serializers, one error body shape.

Every error answers ``{"error": {"code", "message", "fields"?}}`` so clients handle one shape.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, filters, pagination, serializers, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from anke.core.errors import ActionDenied, NotVisible, RateLimited, StaleVersion, StepUpRequired
from anke.core.pagination import merged_newest


class CursorPagination(pagination.CursorPagination):
    """Stable pages that never count the whole table (fast at millions of rows).

    A view with ``scope_partitions()`` (the parts of a scope, each with its own index) has its
    newest-first pages narrowed to the merge of each part's newest rows after the cursor
    (``core.pagination.merged_newest``) before DRF pages them as usual: the same rows, without
    the database sorting everything the scope reaches.
    """

    ordering = ("-created_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset, request, view=None):
        partitions = view.scope_partitions() if hasattr(view, "scope_partitions") else None
        if partitions and tuple(self.get_ordering(request, queryset, view)) == self.ordering:
            cursor = self.decode_cursor(request)
            if cursor is None or not cursor.reverse:  # a "previous" page runs oldest first
                offset, position = (cursor.offset, cursor.position) if cursor else (0, None)
                # DRF's own bound for a forward page in descending order (paginate_queryset).
                bounded = queryset if position is None else queryset.filter(
                    created_at__lt=position)
                limit = offset + self.get_page_size(request) + 1
                queryset = queryset.filter(pk__in=merged_newest(bounded, partitions, limit))
        return super().paginate_queryset(queryset, request, view)


class StrictSerializerMixin:
    """Reject fields the client may not set instead of silently ignoring them.

    Mass assignment of ``owner``, ``version``, ids or timestamps is refused with a field error.
    """

    def to_internal_value(self, data):
        if isinstance(data, dict):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            extra = {str(key) for key in data} - writable
            if extra:
                known = set(self.fields)
                raise serializers.ValidationError({
                    key: [_("This field is read-only.") if key in known
                          else _("Unknown field.")]
                    for key in sorted(extra)
                })
        return super().to_internal_value(data)


def _flatten(detail):
    if isinstance(detail, dict):
        return {str(key): _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [str(item) if not isinstance(item, (dict, list)) else _flatten(item)
                for item in detail]
    return [str(detail)]


def error_response(code: str, message, http_status: int, fields=None, **extra) -> Response:
    body = {"code": code, "message": str(message)}
    if fields:
        body["fields"] = fields
    body.update(extra)
    return Response({"error": body}, status=http_status)


def exception_handler(exc, context):
    if isinstance(exc, StaleVersion):
        return error_response("stale_version", exc, status.HTTP_409_CONFLICT,
                              current_version=exc.current_version)
    if isinstance(exc, NotVisible | Http404):
        return error_response("not_found", _("Not found."), status.HTTP_404_NOT_FOUND)
    if isinstance(exc, RateLimited):
        response = error_response("throttled", exc, status.HTTP_429_TOO_MANY_REQUESTS)
        response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, StepUpRequired):
        return error_response("reauthentication_required", _(
            "Confirm it is you first: re-authenticate with your second factor at "
            "/account/2fa/reauthenticate/, then try again."), status.HTTP_403_FORBIDDEN)
    if isinstance(exc, ActionDenied):
        return error_response("permission_denied", exc, status.HTTP_403_FORBIDDEN)
    if isinstance(exc, OverflowError):
        # A date or number the database cannot represent (year 1 shifted to year 0, …).
        return error_response("invalid", _("A value is out of range."),
                              status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        fields = (_flatten(exc.message_dict) if hasattr(exc, "error_dict")
                  else {api_settings.NON_FIELD_ERRORS_KEY: [str(m) for m in exc.messages]})
        return error_response("invalid", _("Some fields are not valid."),
                              status.HTTP_400_BAD_REQUEST, fields)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {
            api_settings.NON_FIELD_ERRORS_KEY: exc.detail}
        return error_response("invalid", _("Some fields are not valid."), response.status_code,
                              _flatten(detail))
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    message = exc.detail if isinstance(exc, exceptions.APIException) else exc
    new = error_response(code if isinstance(code, str) else "error", message,
                         response.status_code)
    for header in ("WWW-Authenticate", "Retry-After"):
        if header in response:
            new[header] = response[header]
    return new


# --- versioned writes: the client names the version it started from -----------------------------


class PreconditionRequired(exceptions.APIException):
    """An edit without the version it started from: the client must send ``If-Match``."""

    status_code = 428
    default_detail = gettext_lazy("Send the version you started from in the If-Match header.")
    default_code = "precondition_required"


def version_from_if_match(request, *, required: bool = True) -> int | None:
    """The integer version in ``If-Match`` (``3`` or ``"3"``, as an ETag is sent back).

    Missing → 428 when ``required``; anything else than one version number (``*``, a list, a weak
    tag) → 400, because each would let an edit skip the lost-update check.
    """
    raw = request.headers.get("If-Match", "").strip()
    if not raw:
        if required:
            raise PreconditionRequired()
        return None
    value = raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw
    if not (value.isascii() and value.isdigit() and len(value) <= 9):
        raise exceptions.ValidationError(
            {"If-Match": [_("Send one version number, for example \"3\".")]})
    return int(value)


def etag_headers(obj) -> dict[str, str]:
    """The ``ETag`` a client sends back as ``If-Match`` on its next edit."""
    return {"ETag": f'"{obj.version}"'}


class StableOrderingFilter(filters.OrderingFilter):
    """``?ordering=`` over the view's explicit ``ordering_fields``, ending on ``id``.

    Cursor pagination needs a total order; without the tie-breaker rows sharing a value (the same
    stage, say) could repeat or vanish between pages.
    """

    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view)
        if not ordering:
            return ordering
        ordering = [ordering] if isinstance(ordering, str) else list(ordering)
        if not any(field.lstrip("-") in ("id", "pk") for field in ordering):
            ordering.append("-id")
        return ordering


# --- schema documentation -----------------------------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text=gettext_lazy("Stable, machine-readable error code."))
    message = serializers.CharField(help_text=gettext_lazy("Human-readable explanation."))
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False,
        help_text=gettext_lazy("Problems by field name (validation errors only)."))
    current_version = serializers.IntegerField(
        required=False, help_text=gettext_lazy("The stored version (409 stale version only)."))


class ErrorSerializer(serializers.Serializer):
    """The one error body every endpoint answers with."""

    error = ErrorDetailSerializer()
