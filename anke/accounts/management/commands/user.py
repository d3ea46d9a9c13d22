"""``anke user deactivate|reactivate|roles``: user administration from the shell.

The shell operator acts (``Actor.system()``): the same actions, validations and audit events as
the web and the API. Exit code 0 on success, 1 with a message on any refusal.
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from anke.accounts.actions import deactivate_user, reactivate_user, update_user
from anke.accounts.management.commands.createuser import errors_text
from anke.core.context import Actor


class Command(BaseCommand):
    help = "Deactivate (off-board) or reactivate a user, or set their roles."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        deactivate = sub.add_parser(
            "deactivate", help="disable the user, revoke their tokens, end their sessions and "
                               "hand their customers and open work to the successor")
        deactivate.add_argument("username")
        deactivate.add_argument("--successor", help="username of who takes over (needed when "
                                                    "the user owns anything)")
        reactivate = sub.add_parser("reactivate", help="let a deactivated user sign in again")
        reactivate.add_argument("username")
        roles = sub.add_parser("roles", help="show a user's roles, or replace them with --set")
        roles.add_argument("username")
        roles.add_argument("--set", action="append", dest="codes", metavar="ROLE",
                           help="role code, repeatable; the user holds exactly these afterwards")

    def handle(self, *args, verb, **options):
        try:
            getattr(self, f"_{verb}")(**options)
        except ValidationError as error:
            raise CommandError(errors_text(error)) from None

    @staticmethod
    def _user(username):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(_("No user named %(username)s.") % {"username": username})
        return user

    def _deactivate(self, username, successor, **options):
        user = self._user(username)
        heir = self._user(successor) if successor else None
        result = deactivate_user(Actor.system(), user.pk, successor_id=getattr(heir, "pk", None))
        self.stdout.write(_(
            "Deactivated %(user)s. Moved to %(successor)s: %(customers)d customers, %(deals)d "
            "open deals, %(tasks)d open tasks, %(tickets)d open tickets. Revoked %(tokens)d API "
            "tokens, ended %(sessions)d sessions.") % {
            "user": user.username, "successor": heir.username if heir else "—",
            "customers": result["customers"], "deals": result["deals"], "tasks": result["tasks"],
            "tickets": result["tickets"], "tokens": result["tokens_revoked"],
            "sessions": result["sessions_ended"]})

    def _reactivate(self, username, **options):
        user = reactivate_user(Actor.system(), self._user(username).pk)
        self.stdout.write(_("Reactivated %(user)s.") % {"user": user.username})

    def _roles(self, username, codes, **options):
        user = self._user(username)
        if codes is not None:
            user = update_user(Actor.system(), user.pk, changes={"roles": codes})
        held = sorted(user.roles.values_list("code", flat=True))
        self.stdout.write(f"{user.username}: {', '.join(held) or _('(no role)')}")
