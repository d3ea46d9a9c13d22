"""Audit catalogue coverage: a full run of the suite fails when a catalogue entry is never
written by any test (issue 5). An entry nobody emits is either dead or an action nobody tests.

Each test process notes the action of every audit event inserted (``record()`` saves one,
``record_each()`` bulk-creates them). Under xdist each worker hands its set to the controller
in ``workeroutput``; the controller merges them when the worker goes down and, at the end of
the session, compares the union with the catalogue. The check runs only when the whole suite
ran: no ``-k``, ``-m``, ``--deselect``/``--ignore``, node ids or paths narrower than ``tests/``,
and no stop after ``--maxfail``; otherwise it is skipped without a word.
"""

from pathlib import Path

import pytest
from django.db.models import QuerySet, signals

from anke.audit.catalogue import Event
from anke.audit.models import AuditEvent

WORKER_KEY = "anke_audit_emitted"
TESTS_DIR = Path(__file__).resolve().parent

emitted: set[str] = set()


def _on_audit(sender, instance, created, raw, **kwargs):
    if created and not raw:
        emitted.add(instance.action)


signals.post_save.connect(_on_audit, sender=AuditEvent, dispatch_uid="audit-coverage")

_original_bulk_create = QuerySet.bulk_create


def _bulk_create(self, objs, *args, **kwargs):
    created = _original_bulk_create(self, objs, *args, **kwargs)
    if self.model is AuditEvent:
        emitted.update(event.action for event in created)
    return created


QuerySet.bulk_create = _bulk_create


def missing(seen: set[str]) -> list[str]:
    """Catalogue ids no test emitted."""
    return sorted(set(Event.values) - set(seen))


def narrowed_by(config, session) -> str | None:
    """Why this run is not the whole suite, or None if it is."""
    option = config.option
    for flag, value in (("-k", option.keyword), ("-m", option.markexpr),
                        ("--deselect", getattr(option, "deselect", None)),
                        ("--ignore", getattr(option, "ignore", None)),
                        ("--ignore-glob", getattr(option, "ignore_glob", None)),
                        ("--lf", getattr(option, "lf", False)),
                        ("--sw", getattr(option, "stepwise", False))):
        if value:
            return flag
    whole = {TESTS_DIR, TESTS_DIR.parent}
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if "::" in arg or path not in whole:
            return arg
    if option.maxfail and session.testsfailed >= option.maxfail:
        return f"stopped after {session.testsfailed} failures"
    if session.shouldstop or session.shouldfail:
        return "stopped early"
    return None


class Coverage:
    def __init__(self):
        self.lost_workers: list[str] = []
        self.missing: list[str] | None = None

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error):
        output = getattr(node, "workeroutput", None)
        if output is None or WORKER_KEY not in output:
            self.lost_workers.append(node.gateway.id)
        else:
            emitted.update(output[WORKER_KEY])

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        config = session.config
        if hasattr(config, "workerinput"):  # an xdist worker: hand the set to the controller
            config.workeroutput[WORKER_KEY] = sorted(emitted)
            return
        if (config.option.collectonly or self.lost_workers
                or exitstatus == pytest.ExitCode.INTERRUPTED or narrowed_by(config, session)):
            return
        self.missing = missing(emitted)
        if self.missing and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter):
        if self.missing:
            terminalreporter.write_sep("=", "audit catalogue coverage", red=True, bold=True)
            terminalreporter.write_line(
                f"{len(self.missing)} catalogue entries were emitted by no test (write a test "
                "that runs the real action and asserts its event):")
            for action in self.missing:
                terminalreporter.write_line(f"  {action}")


def pytest_configure(config):
    config.pluginmanager.register(Coverage(), "anke-audit-coverage")
