"""Request context: a request id and the client IP taken only from trusted proxy hops."""

import ipaddress
import uuid

from django.conf import settings
from django.utils.cache import patch_cache_control


def client_ip(request) -> str | None:
    """The address of the client as seen by the last trusted proxy.

    With N trusted hops the client is the N-th address from the right of X-Forwarded-For; anything
    further left was written by the client and proves nothing.
    """
    hops = settings.TRUSTED_PROXY_HOPS
    candidate = request.META.get("REMOTE_ADDR")
    if hops:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [p for p in forwarded if p]
        if len(forwarded) >= hops:
            candidate = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(candidate)) if candidate else None
    except ValueError:
        return None


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = uuid.uuid4().hex
        request.client_ip = client_ip(request)
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        if not response.has_header("Cache-Control"):
            # Pages and API answers carry personal data: no shared or disk cache may keep them.
            patch_cache_control(response, no_store=True, private=True)
        return response
