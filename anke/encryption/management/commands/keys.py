"""``anke keys status|rotate-master|rotate-data|verify``: the operator's key commands."""

import sys
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from anke.core.context import Actor
from anke.encryption.checks import WrongKeyFile, check_key_file
from anke.encryption.keyring import KeyFileError
from anke.encryption.rotation import rotate_data, rotate_master, status
from anke.encryption.verify import verify_all


class ProgressBar:
    """A one-line bar on a terminal, a line per tenth of the way elsewhere (CI logs)."""

    def __init__(self, stream, label: str):
        self.stream, self.label = stream, label
        self.started = time.monotonic()
        self.tty = stream.isatty()
        self.last_tenth = -1

    def __call__(self, done: int, total: int) -> None:
        total = max(total, done, 1)
        rate = done / max(time.monotonic() - self.started, 1e-6)
        tenth = done * 10 // total
        if not self.tty and tenth == self.last_tenth:
            return
        self.last_tenth = tenth
        filled = done * 30 // total
        line = (f"{self.label} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total} "
                f"({done * 100 // total}%) {rate:,.0f}/s")
        self.stream.write(f"\r{line}" if self.tty else f"{line}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


class Command(BaseCommand):
    help = "Show key versions, rotate the master or data keys, verify every encrypted value."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        sub.add_parser("status", help="key versions and how many rows use each")
        master = sub.add_parser("rotate-master", help="rewrap every data key under a new "
                                                      "master key (resumable)")
        master.add_argument("--batch", type=int, default=2000)
        data = sub.add_parser("rotate-data", help="new data keys and blind-index keys for "
                                                  "every customer (resumable)")
        data.add_argument("--batch", type=int, default=500)
        sub.add_parser("verify", help="decrypt every encrypted value; exit 1 if any fails")

    def handle(self, *args, verb, **options):
        try:
            check_key_file()
        except (KeyFileError, WrongKeyFile) as error:
            raise CommandError(str(error)) from None
        getattr(self, "_" + verb.replace("-", "_"))(**options)

    def _batch(self, batch: int) -> int:
        if not 1 <= batch <= 100_000:
            raise CommandError(_("--batch must be between 1 and 100000."))
        return batch

    def _status(self, **options):
        state = status()
        self.stdout.write(_("Key file: %(path)s") % {"path": state["key_file"]})
        self.stdout.write(_("Master keys (version, status, created, data keys wrapped):"))
        for version, state_, created, count in state["master"]:
            self.stdout.write(f"  v{version}\t{state_}\t{created}\t{count}")
        self.stdout.write(_("Blind-index keys (version, status, created, indexed values):"))
        for version, state_, created, count in state["index"]:
            self.stdout.write(f"  v{version}\t{state_}\t{created}\t{count}")
        keys = state["data_keys"]
        self.stdout.write(_("Data keys: %(active)d active, %(destroyed)d destroyed") % {
            "active": keys.get("active", 0), "destroyed": keys.get("destroyed", 0)})
        for kind, target, done, started in state["running"]:
            self.stdout.write(_("Unfinished %(kind)s rotation to v%(target)d since %(started)s: "
                                "%(done)d done; run it again to resume.") % {
                "kind": kind, "target": target, "started": f"{started:%Y-%m-%d %H:%M}",
                "done": done})

    def _rotate_master(self, batch, **options):
        bar = ProgressBar(sys.stderr, "rotate-master")
        result = rotate_master(Actor.system(), batch=self._batch(batch), progress=bar)
        bar.close()
        self.stdout.write(_("Master key v%(version)d: %(done)d data keys rewrapped.") % {
            "version": result.target_version, "done": result.done})

    def _rotate_data(self, batch, **options):
        bar = ProgressBar(sys.stderr, "rotate-data")
        result = rotate_data(Actor.system(), batch=self._batch(batch), progress=bar)
        bar.close()
        self.stdout.write(_("Blind-index key v%(version)d: %(done)d customers re-encrypted "
                            "under new data keys.") % {
            "version": result.target_version, "done": result.done})
        if result.unreadable:
            raise CommandError(_("%(count)d values were unreadable before the rotation and "
                                 "stay so; see `anke keys verify`.") % {
                "count": result.unreadable})

    def _verify(self, **options):
        report = verify_all(Actor.system())
        for label, checked, failures in report:
            self.stdout.write(f"{label}\t{checked}\t{len(failures)}")
            for pk, field, reason in failures[:20]:
                self.stdout.write(f"  {pk}\t{field}\t{reason}")
        if any(failures for _label, _checked, failures in report):
            raise CommandError(_("Some encrypted values cannot be read."))
        self.stdout.write(_("Every encrypted value opens."))
