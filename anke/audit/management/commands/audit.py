"""``anke audit seal|verify|export|prune|public-key|rotate-signing-key``: the audit trail's
operator commands (docs/audit.md)."""

import base64
import datetime
import json
import os
import signal
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from anke.audit.bundle import BundleError, export_bundle
from anke.audit.catalogue import Event, Outcome
from anke.audit.recorder import record
from anke.audit.retention import PruneRefused, prune
from anke.audit.sealing import SealStateCorrupt, seal_pending
from anke.audit.signing import SigningKeyError, add_signing_key, signing_keys
from anke.audit.verify import verify_trail
from anke.core.context import Actor

PRUNE_EVERY = 24 * 60 * 60


def moment(text: str) -> datetime.datetime:
    """A date (midnight, local time) or an ISO date-time; a CommandError otherwise."""
    value = parse_datetime(text)
    if value is None and (day := parse_date(text)) is not None:
        value = datetime.datetime.combine(day, datetime.time())
    if value is None:
        raise CommandError(_("%(value)s is not a date (2026-12-01) or a date and time.")
                           % {"value": text})
    return timezone.make_aware(value) if timezone.is_naive(value) else value


class Command(BaseCommand):
    help = "Seal, verify, export and prune the audit trail."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        seal = sub.add_parser("seal", help="seal pending events and sign a checkpoint")
        seal.add_argument("--follow", action="store_true", help="keep sealing until stopped")
        seal.add_argument("--interval", type=float, default=None,
                          help="seconds between passes with --follow")
        seal.add_argument("--no-prune", action="store_true",
                          help="leave retention to `anke audit prune` run as the owner role")
        seal.add_argument("--parent-pid", type=int, default=None,
                          help="stop when this process is gone (anke run)")
        verify = sub.add_parser("verify", help="check every event, checkpoint and signature; "
                                               "exit 1 if anything was tampered with")
        verify.add_argument("--public-key", action="append", default=[],
                            help="also trust this base64 Ed25519 public key")
        verify.add_argument("--checkpoint-file", default=None)
        export = sub.add_parser("export", help="write a bundle an auditor verifies offline")
        export.add_argument("out", type=Path)
        export.add_argument("--since", type=moment)
        export.add_argument("--until", type=moment)
        export.add_argument("--customer", help="only events about this customer, each with an "
                                               "inclusion proof")
        export.add_argument("--prove-from", type=Path,
                            help="a checkpoint (JSON) saved earlier: add a consistency proof")
        prune_parser = sub.add_parser("prune", help="delete whole epochs past retention")
        prune_parser.add_argument("--dry-run", action="store_true")
        sub.add_parser("public-key", help="print the checkpoint signing public keys")
        sub.add_parser("rotate-signing-key", help="sign new checkpoints with a new key")

    def handle(self, *args, verb, **options):
        try:
            getattr(self, verb.replace("-", "_"))(**options)
        except (SigningKeyError, SealStateCorrupt, BundleError, PruneRefused) as error:
            raise CommandError(str(error)) from None

    def seal(self, *, follow, interval, no_prune, parent_pid, **_options):
        if not follow:
            result = seal_pending()
            self.stdout.write(_("Sealed %(sealed)d events; the trail holds %(size)d.")
                              % {"sealed": result.sealed, "size": result.size})
            return
        interval = settings.AUDIT_SEAL_INTERVAL if interval is None else interval
        self.stdout.write(_("Sealing the audit trail every %(interval)s s.")
                          % {"interval": interval})
        self.stdout.flush()
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_args: stopping.append(True))
        next_prune, failures = time.monotonic(), 0
        while not stopping and (parent_pid is None or os.getppid() == parent_pid):
            try:
                seal_pending()
                if not no_prune and time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + PRUNE_EVERY  # a refusal waits a day too
                    prune(Actor.system(method="sealer"))
            except Exception as error:  # noqa: BLE001 - keep sealing; a dead sealer seals nothing
                self.stderr.write(f"anke audit seal: {type(error).__name__}: {error}")
                failures += 1
            else:
                failures = 0
            finally:
                close_old_connections()
            time.sleep(min(interval * 2 ** failures, 60))

    def verify(self, *, public_key, checkpoint_file, **_options):
        try:
            report = verify_trail(public_key, checkpoint_file)
        except ValueError as error:
            raise CommandError(str(error)) from None
        record(Actor.system(), Event.AUDIT_VERIFY, object_type="audit_trail",
               object_ids=[report.sealed],
               outcome=Outcome.ALLOWED if report.intact else Outcome.ERROR,
               reason="" if report.intact else f"first bad sequence number {report.first_bad}")
        self.stdout.write(_("%(sealed)d sealed events, %(pending)d waiting to be sealed, "
                            "%(checkpoints)d checkpoints.") % {
            "sealed": report.sealed, "pending": report.pending,
            "checkpoints": report.checkpoints})
        if report.unindexed:
            # Not tampering: the viewer still finds them, one by one; a growing number means the
            # sealer cannot write the index (its database grants, docs/audit.md).
            self.stdout.write(_(
                "%(count)d sealed events are not in the customer index yet; if this keeps "
                "growing, check that the sealer may write it.") % {"count": report.unindexed})
        if report.intact:
            self.stdout.write(_("The audit trail is intact."))
            return
        for problem in report.problems:
            self.stdout.write(f"  [{problem.seq}] {problem.message}")
        self.stdout.write(_("TAMPERED: first bad sequence number %(seq)d.")
                          % {"seq": report.first_bad})
        sys.exit(1)

    def export(self, *, out, since, until, customer, prove_from, **_options):
        if customer is not None:
            try:
                customer = uuid.UUID(customer)
            except ValueError:
                raise CommandError(_("--customer must be a customer id (UUID).")) from None
        saved = None
        if prove_from is not None:
            try:
                saved = json.loads(prove_from.read_text(encoding="utf-8"))
                int(saved["size"])
            except (OSError, ValueError, KeyError, TypeError):
                raise CommandError(_("%(path)s is not a saved checkpoint.")
                                   % {"path": prove_from}) from None
        summary = export_bundle(out, since=since, until=until, customer=customer,
                                prove_from=saved)
        record(Actor.system(), Event.AUDIT_EXPORT, object_type="audit_trail",
               object_ids=[summary.checkpoint_size], customers=[customer] if customer else (),
               reason="bundle")
        self.stdout.write(_("Wrote %(count)d events (checkpoint size %(size)d) to %(out)s; "
                            "verify with: python3 %(out)s/verify.py %(out)s --public-key KEY")
                          % {"count": summary.events, "size": summary.checkpoint_size,
                             "out": out})

    def prune(self, *, dry_run, **_options):
        result = prune(Actor.system(), dry_run=dry_run)
        message = _("Would delete %(count)d events below sequence number %(below)d.") \
            if dry_run else _("Deleted %(count)d events; the trail now starts at %(below)d.")
        self.stdout.write(message % {"count": result.pruned, "below": result.below})

    def public_key(self, **_options):
        for key in signing_keys(create=True):
            self.stdout.write(f"{key.key_id} {base64.b64encode(key.public_bytes).decode()}")

    def rotate_signing_key(self, **_options):
        signing_keys(create=True)
        key = add_signing_key()
        record(Actor.system(), Event.AUDIT_SIGNING_KEY, object_type="signing_key",
               object_ids=[key.key_id])
        self.stdout.write(_("New checkpoints are signed with key %(id)s.") % {"id": key.key_id})
