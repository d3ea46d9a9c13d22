"""API plumbing shared by every app: pagination, strict serializers, one error body shape.

Every error answers ``{"error": {"code", "message", "fields"?}}`` so clients handle one shape.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, pagination, serializers, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from anke.core.errors import ActionDenied, NotVisible, StaleVersion


class CursorPagination(pagination.CursorPagination):
    """Stable pages that never count the whole table (fast at millions of rows)."""

    ordering = ("-created_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 200


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
    if isinstance(exc, ActionDenied):
        return error_response("permission_denied", exc, status.HTTP_403_FORBIDDEN)
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
