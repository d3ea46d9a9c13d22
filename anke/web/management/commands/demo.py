from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils.translation import gettext as _

from anke.web.demo import current_demo_code, demo_totp_secret, load_demo, read_logins

MAX_CUSTOMERS = 2_000_000


def customer_count(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = -1
    if not 0 <= count <= MAX_CUSTOMERS:
        raise CommandError(_("--customers must be a whole number from 0 to %(max)d.")
                           % {"max": MAX_CUSTOMERS})
    return count


class Command(BaseCommand):
    help = "Load the demo company: users for every role and N customers with their records."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=str, default="5000",
                            help="how many customers to add (default 5000)")
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--code", action="store_true",
                            help="only print the demo logins' current authenticator code")

    def handle(self, *args, customers, seed, code, **options):
        if code:
            current = current_demo_code()
            if current is None:
                raise CommandError(_("There is no demo authenticator here: load the demo "
                                     "first."))
            self.stdout.write(current)
            return
        count = customer_count(customers)
        try:
            result = load_demo(count, seed=seed)
        except ValidationError as error:
            raise CommandError(_("Demo data was refused: %(error)s") % {"error": error}) from None
        if connection.vendor == "postgresql":
            # Fresh planner statistics: without them the first pages after a bulk load can pick
            # sequential scans.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        rate = result.customers / result.seconds if result.seconds else 0
        self.stdout.write(_(
            "Loaded %(customers)d customers, %(deals)d deals, %(activities)d activities, "
            "%(tasks)d tasks, %(orders)d orders and %(tickets)d tickets in %(seconds).1f s "
            "(%(rate).0f customers/s).") % {**result.__dict__, "rate": rate})
        print_logins(self.stdout)


def print_logins(out) -> None:
    logins = read_logins()
    if not logins:
        return
    out.write(_("Demo logins (password for all: %(password)s):") % {"password": logins[0][2]})
    for username, role, _password in logins:
        out.write(f"  {username:<10} {role}")
    if secret := demo_totp_secret():
        out.write(_("Every demo login also asks for a code from an authenticator app. Add this "
                    "key to one (Google Authenticator, Microsoft Authenticator, FreeOTP…): "
                    "%(secret)s, or run `.venv/bin/anke demo --code` for the current code.")
                  % {"secret": secret})
