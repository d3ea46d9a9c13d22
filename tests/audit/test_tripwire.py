"""The audit tripwire (tests/conftest.py) and the catalogue coverage check
(tests/audit_coverage.py) catch what they promise, and only that."""

from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import update_last_login
from django.db import transaction

from anke.access.models import Role
from anke.accounts.actions import create_region
from anke.accounts.models import Region
from anke.audit.catalogue import Event
from tests import audit_coverage
from tests.conftest import Tripwire, tripwire, tripwire_off
from tests.personas import OPERATOR

HERE = "tests/audit/test_tripwire.py:"


@contextmanager
def probed():
    """The tripwire's findings for the writes inside only (the test's own are set aside)."""
    saved, probe = (tripwire.writes, tripwire.audited), Tripwire()
    tripwire.writes, tripwire.audited = probe.writes, probe.audited
    try:
        yield probe
    finally:
        tripwire.writes, tripwire.audited = saved


def test_a_write_by_an_action_passes(db):
    with probed() as wire:
        create_region(OPERATOR, code="south", name="华南")
    assert wire.writes  # it saw the write…
    assert wire.findings() == []  # …and the event beside it


def test_a_write_outside_any_transaction_is_named_with_its_line(db):
    with probed() as wire:
        Region.objects.create(code="south", name="华南")
    [finding] = wire.findings()
    assert finding.startswith("accounts.Region created outside any transaction of its own")
    assert HERE in finding


def test_an_audit_event_in_another_transaction_does_not_count(db):
    with probed() as wire:
        with transaction.atomic():
            Region.objects.create(code="west", name="西部")
        create_region(OPERATOR, code="south", name="华南")  # audited, but a transaction apart
    [finding] = wire.findings()
    assert finding.startswith("accounts.Region created in a transaction that wrote no audit")


def test_deletes_bulk_updates_and_links_are_watched(db, cast):
    region = Region.objects.get(code="east")
    with probed() as wire:
        Region.objects.filter(pk=region.pk).update(name="华东区")
        cast.sales_a.roles.add(Role.objects.get(code="manager"))
        Region.objects.create(code="gone", name="-").delete()
    findings = wire.findings()
    assert any(f.startswith("accounts.Region updated in bulk (name)") for f in findings)
    assert any(f.startswith("accounts.User_roles changed (add)") for f in findings)
    # Django's collector opens a transaction of its own, and no event is written in it.
    assert any(f.startswith("accounts.Region deleted in a transaction that wrote no audit")
               for f in findings)


def test_the_login_stamp_and_deliberate_writes_are_exempt(db, cast):
    with probed() as wire:
        update_last_login(None, cast.sales_a)  # the login itself is audited by its signal
        with tripwire_off():
            Region.objects.create(code="staged", name="-")
    assert wire.findings() == []


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_transactional_tests_are_watched_as_well():
    with probed() as wire:
        create_region(OPERATOR, code="south", name="华南")
        with transaction.atomic():
            Region.objects.create(code="west", name="西部")
    [finding] = wire.findings()
    assert finding.startswith("accounts.Region created in a transaction that wrote no audit")


@pytest.mark.no_tripwire
def test_the_marker_switches_it_off_for_a_test():
    assert not tripwire.active


# --- catalogue coverage ---------------------------------------------------------------------------


@contextmanager
def counted(*, keep=True):
    """The events emitted inside, apart from the run's tally (which gets them too if they
    were really written: ``keep``)."""
    saved = audit_coverage.emitted
    audit_coverage.emitted = set()
    try:
        yield audit_coverage.emitted
    finally:
        if keep:
            saved |= audit_coverage.emitted
        audit_coverage.emitted = saved


def test_events_written_one_by_one_and_in_bulk_are_counted(cast):
    from anke.customers.actions import create_customers
    from tests.personas import actor

    with counted() as seen:
        create_region(OPERATOR, code="south", name="华南")  # record()
        create_customers(actor(cast.sales_a), [{"name": "张三"}])  # record_each()
    assert seen == {"region.create", "customer.create"}


def test_only_entries_nobody_emitted_are_missing():
    assert audit_coverage.missing(set(Event.values)) == []
    missing = audit_coverage.missing({"auth.login"})
    assert "auth.logout" in missing
    assert "auth.login" not in missing


def _run(args=("tests",), **option):
    root = Path(audit_coverage.__file__).resolve().parent.parent
    options = {"keyword": "", "markexpr": "", "maxfail": 0, "collectonly": False, **option}
    config = SimpleNamespace(args=list(args), option=SimpleNamespace(**options),
                             invocation_params=SimpleNamespace(dir=root))
    session = SimpleNamespace(config=config, testsfailed=0, shouldstop=False,
                              shouldfail=False, exitstatus=pytest.ExitCode.OK)
    return config, session


@pytest.mark.parametrize(("args", "option", "reason"), [
    (["tests"], {}, None),
    (["tests/"], {}, None),
    (["."], {}, None),
    (["tests/audit"], {}, "tests/audit"),
    (["tests/audit/test_tripwire.py::test_x"], {}, "tests/audit/test_tripwire.py::test_x"),
    (["tests"], {"keyword": "login"}, "-k"),
    (["tests"], {"markexpr": "browser"}, "-m"),
    (["tests"], {"deselect": ["tests/cli"]}, "--deselect"),
])
def test_the_check_runs_only_on_the_whole_suite(args, option, reason):
    config, session = _run(args, **option)
    assert audit_coverage.narrowed_by(config, session) == reason


def test_a_whole_run_missing_an_entry_fails_and_workers_sets_are_merged():
    config, session = _run()
    coverage = audit_coverage.Coverage()
    with counted(keep=False):  # a made-up worker's set must not count for the run
        coverage.pytest_testnodedown(SimpleNamespace(
            workeroutput={audit_coverage.WORKER_KEY: ["auth.login"]},
            gateway=SimpleNamespace(id="gw0")), None)
        coverage.pytest_sessionfinish(session, pytest.ExitCode.OK)
    assert session.exitstatus == pytest.ExitCode.TESTS_FAILED
    assert "auth.logout" in coverage.missing
    assert "auth.login" not in coverage.missing


def test_a_lost_worker_skips_the_check():
    config, session = _run()
    coverage = audit_coverage.Coverage()
    coverage.pytest_testnodedown(SimpleNamespace(gateway=SimpleNamespace(id="gw1")), "crashed")
    coverage.pytest_sessionfinish(session, pytest.ExitCode.OK)
    assert session.exitstatus == pytest.ExitCode.OK
    assert coverage.missing is None
