"""Translate domain refusals raised in web views into the pages every view would give."""

from allauth.account.internal.flows.reauthentication import suspend_request
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import reverse

from anke.core.errors import ActionDenied, NotVisible, StepUpRequired


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
        if isinstance(exception, StepUpRequired):
            # Confirm with the second factor (the password for someone without one); allauth
            # keeps the suspended POST and carries it out once confirmed.
            target = ("mfa_reauthenticate" if request.user.authenticator_set.exists()
                      else "account_reauthenticate")
            return suspend_request(request, reverse(target))
        if isinstance(exception, ActionDenied):
            raise PermissionDenied(str(exception)) from exception
        return None
