"""``Authorization: Bearer <token>`` for the API, against hashed personal tokens."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from anke.accounts.models import ApiToken
from anke.audit.catalogue import Event, Outcome
from anke.audit.recorder import record
from anke.core.context import Actor


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Malformed Authorization header."))
        try:
            secret = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("Malformed Authorization header.")) from None
        token = (ApiToken.objects.usable().select_related("user", "user__department")
                 .filter(digest=ApiToken.digest_of(secret)).first())
        if token is None:
            record(Actor.from_request(request._request), Event.TOKEN_REJECTED,
                   object_type="apitoken", outcome=Outcome.DENIED, reason="invalid_token")
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked token."))
        now = timezone.now()
        # Write last-used at most once a minute: one UPDATE per request would serialise SQLite.
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword
