from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from anke.accounts.actions import create_api_token, revoke_api_token
from anke.accounts.management.commands.createuser import errors_text
from anke.accounts.models import ApiToken
from anke.core.context import Actor
from anke.core.errors import NotVisible


class Command(BaseCommand):
    help = "Create, list or revoke personal API tokens."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        create = sub.add_parser("create", help="issue a token; the secret is printed once")
        create.add_argument("username")
        create.add_argument("--name", default="cli")
        create.add_argument("--expires-days", type=int, default=90)
        create.add_argument("--scope", choices=["read", "write"], default="read",
                            help="read: GET only (default); write: every method")
        listing = sub.add_parser("list", help="list a user's tokens (never their secrets)")
        listing.add_argument("username")
        revoke = sub.add_parser("revoke", help="revoke a token by id")
        revoke.add_argument("token_id")

    def handle(self, *args, verb, **options):
        getattr(self, f"_{verb}")(**options)

    def _user(self, username):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(_("No user named %(username)s.") % {"username": username})
        return user

    def _create(self, username, name, expires_days, scope, **options):
        try:
            token, secret = create_api_token(Actor.system(), self._user(username), name=name,
                                             expires_days=expires_days, scope=scope)
        except ValidationError as error:
            raise CommandError(errors_text(error)) from None
        self.stderr.write(_("Token %(id)d for %(username)s expires %(expires)s. "
                            "It is shown only now:") % {
            "id": token.pk, "username": username, "expires": f"{token.expires_at:%Y-%m-%d}"})
        self.stdout.write(secret)

    def _list(self, username, **options):
        for token in ApiToken.objects.filter(user=self._user(username)):
            state = ("revoked" if token.revoked_at else
                     "active" if token.is_usable else "expired")
            self.stdout.write(f"{token.pk}\t{token.name}\t{token.hint}…\t"
                              f"{token.expires_at:%Y-%m-%d}\t{state}")

    def _revoke(self, token_id, **options):
        try:
            token = revoke_api_token(Actor.system(), token_id)
        except NotVisible:
            raise CommandError(_("No token with id %(id)s.") % {"id": token_id}) from None
        self.stdout.write(_("Revoked token %(id)d.") % {"id": token.pk})
