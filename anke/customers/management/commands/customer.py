"""``anke customer shred ID --reason …``: crypto-shred one customer from the shell."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from anke.accounts.management.commands.createuser import errors_text
from anke.core.context import Actor
from anke.core.errors import NotVisible
from anke.customers.actions import shred_customer


class Command(BaseCommand):
    help = "Work on one customer from the shell."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        shred = sub.add_parser("shred", help="destroy the customer's data key (crypto-shredding)"
                                             "; its encrypted fields can never be read again")
        shred.add_argument("customer_id")
        shred.add_argument("--reason", required=True,
                           help="why (kept in the audit trail and the erasure ledger)")

    def handle(self, *args, verb, customer_id, reason, **options):
        try:
            destroyed = shred_customer(Actor.system(), customer_id, reason=reason)
        except NotVisible:
            raise CommandError(_("No customer with id %(id)s.") % {"id": customer_id}) from None
        except ValidationError as error:
            raise CommandError(errors_text(error)) from None
        if destroyed:
            self.stdout.write(_("Customer %(id)s shredded: its data key is destroyed.") % {
                "id": customer_id})
        else:
            self.stdout.write(_("Customer %(id)s was already shredded.") % {"id": customer_id})
