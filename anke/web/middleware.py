"""Translate domain refusals raised in web views into the pages every view would give."""

from django.core.exceptions import PermissionDenied
from django.http import Http404

from anke.core.errors import ActionDenied, NotVisible


class DomainErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if request.path.startswith("/api/"):
            return None  # the API's exception handler answers with its own body
        if isinstance(exception, NotVisible):
            raise Http404 from exception
        if isinstance(exception, ActionDenied):
            raise PermissionDenied(str(exception)) from exception
        return None
