import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from anke.access.catalogue import SHIPPED_ROLES
from anke.access.models import Role
from anke.accounts.actions import create_user
from anke.accounts.models import Department, Region
from anke.core.context import Actor


def errors_text(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in error.message_dict.items())
    return " ".join(error.messages)


class Command(BaseCommand):
    help = "Create a user with a role. The password is read from standard input."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", action="append", required=True,
                            help=f"role code, repeatable ({', '.join(SHIPPED_ROLES)}, …)")
        parser.add_argument("--department", help="department name")
        parser.add_argument("--region", help="region code")
        parser.add_argument("--display-name", default="")
        parser.add_argument("--password-stdin", action="store_true",
                            help="read the password from the first line of standard input")

    def handle(self, *args, username, role, department, region, display_name, password_stdin,
               **options):
        known = set(Role.objects.values_list("code", flat=True))
        if unknown := [code for code in role if code not in known]:
            raise CommandError(_("Unknown role: %(codes)s. Known roles: %(known)s.")
                               % {"codes": ", ".join(unknown), "known": ", ".join(sorted(known))})
        dept = self._one(Department, department, "name", _("No department named %(value)s."))
        reg = self._one(Region, region, "code", _("No region with code %(value)s."))
        password = sys.stdin.readline().rstrip("\n") if password_stdin else None
        if password_stdin and not password:
            raise CommandError(_("No password on standard input."))
        try:
            user = create_user(Actor.system(), username=username, password=password, roles=role,
                               department=dept, region=reg, display_name=display_name)
        except ValidationError as error:
            raise CommandError(errors_text(error)) from None
        self.stdout.write(_("Created user %(username)s (id %(id)d).")
                          % {"username": user.username, "id": user.pk})

    @staticmethod
    def _one(model, value, field, message):
        if value is None:
            return None
        found = model.objects.filter(**{field: value}).first()
        if found is None:
            raise CommandError(message % {"value": value})
        return found
