"""``Authorization: Bearer <token>`` for the API, against hashed personal tokens."""

from dataclasses import replace

from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.permissions import SAFE_METHODS

from anke.accounts.models import ApiToken
from anke.accounts.networks import allowed_from
from anke.audit.catalogue import Event, Outcome
from anke.audit.recorder import record
from anke.core.context import Actor

REJECTION_WINDOW = 60
MAX_REJECTIONS = 20


def _too_many_rejections(ip: str | None) -> bool:
    """Count unusable tokens per client IP in the shared cache (never per process)."""
    key = f"token-rejections:{ip or 'unknown'}"
    cache.add(key, 0, REJECTION_WINDOW)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, REJECTION_WINDOW)
        count = 1
    return count > MAX_REJECTIONS


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
            actor = Actor.from_request(request._request)
            if _too_many_rejections(actor.ip):
                # DRF authenticates before it throttles: without this a guessing client writes
                # an audit row per attempt. Past the limit it is refused, recorded once a window.
                raise exceptions.Throttled(wait=REJECTION_WINDOW)
            record(actor, Event.TOKEN_REJECTED, object_type="apitoken",
                   outcome=Outcome.DENIED, reason="invalid_token")
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked token."))
        ip = request._request.client_ip
        if not allowed_from(token.user, ip):
            self._refuse(request, token, Event.IP_REFUSED, "token")
            raise exceptions.PermissionDenied(_("Your account may not be used from this network."))
        if token.scope == ApiToken.Scope.READ and request.method not in SAFE_METHODS:
            self._refuse(request, token, Event.TOKEN_REJECTED, "read_only_token")
            raise exceptions.PermissionDenied(_("This token may only read."))
        now = timezone.now()
        # Write last-used at most once a minute (one UPDATE per request would serialise SQLite),
        # and whenever the token shows up from another address: its owner sees where it is used.
        if (token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60
                or token.last_used_ip != ip):
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=ip)
        return token.user, token

    @staticmethod
    def _refuse(request, token, event: Event, reason: str) -> None:
        actor = replace(Actor.from_request(request._request), user=token.user,
                        auth_method="token", token_id=token.pk)
        record(actor, event, object_type="apitoken", object_ids=[token.pk],
               outcome=Outcome.DENIED, reason=reason)

    def authenticate_header(self, request):
        return self.keyword
