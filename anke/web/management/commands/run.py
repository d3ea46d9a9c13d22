"""``anke run``: migrate, load the demo on an empty database, print logins, start the audit
sealer, serve with gunicorn."""

import ipaddress
import os
import subprocess
import sys

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from anke.encryption.checks import WrongKeyFile, check_key_file
from anke.encryption.keyring import KeyFileError, keyring
from anke.web.management.commands.demo import customer_count, print_logins


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Command(BaseCommand):
    help = "Set up (migrate, demo data on first start) and serve Anke."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1:8000",
                            help="host:port to listen on (default 127.0.0.1:8000)")
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--threads", type=int, default=4,
                            help="threads per worker (keep-alive, and requests waiting on the "
                                 "database do not block the worker)")
        parser.add_argument("--demo-customers", default="5000",
                            help="customers to load when the database is empty (0 for none)")
        parser.add_argument("--check", action="store_true",
                            help="set up and print the logins, but do not serve")

    def handle(self, *args, bind, workers, threads, demo_customers, check, **options):
        host, _sep, port = bind.rpartition(":")
        if not host or not port.isdigit():
            raise CommandError(_("--bind must look like 127.0.0.1:8000."))
        if not is_loopback(host) and not (settings.HTTPS or settings.TRUSTED_PROXY_HOPS):
            raise CommandError(_(
                "Refusing to serve on %(host)s without TLS: set ANKE_HTTPS=true behind a "
                "TLS-terminating proxy (and ANKE_TRUSTED_PROXY_HOPS), or bind to 127.0.0.1."
            ) % {"host": host})
        count = customer_count(demo_customers)
        try:
            keyring()  # a missing or malformed key file stops us before anything is written
            call_command("migrate", interactive=False, verbosity=0)
            check_key_file()
        except (KeyFileError, WrongKeyFile) as error:
            raise CommandError(_("Anke cannot start: %(problem)s") % {"problem": error}) from None
        call_command("collectstatic", interactive=False, verbosity=0)
        if count and not get_user_model().objects.exists():
            self.stdout.write(_("First start: loading the demo company…"))
            call_command("demo", customers=str(count), stdout=self.stdout)
        else:
            print_logins(self.stdout)
        # The same server, under the name browsers allow passkeys for (never an IP address).
        shown = f"localhost:{port}" if host == "127.0.0.1" else bind
        self.stdout.write(_("Anke is at http://%(bind)s/") % {"bind": shown})
        if check:
            return
        self.stdout.flush()
        sys.stdout.flush()
        # The audit sealer runs beside the web workers and stops when they do (it watches this
        # pid, which gunicorn keeps). In production it runs as its own service (docs/audit.md).
        subprocess.Popen([sys.executable, "-m", "anke.cli", "audit", "seal", "--follow",  # noqa: S603
                          "--parent-pid", str(os.getpid())])
        # Replace this process so gunicorn receives the signals (Ctrl-C, SIGTERM) directly.
        os.execv(sys.executable, [sys.executable, "-m", "gunicorn", "anke.wsgi:application",  # noqa: S606
                                  "--bind", bind, "--workers", str(workers),
                                  "--worker-class", "gthread", "--threads", str(threads),
                                  "--access-logfile", "-", "--access-logformat",
                                  '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'])
