"""Retention: whole old epochs are pruned and everything after them still verifies."""

import datetime
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

from anke.audit.bundle import BundleError, export_bundle
from anke.audit.catalogue import Event
from anke.audit.models import AuditEvent, Checkpoint, EventCustomer, Leaf, PrunePoint
from anke.audit.recorder import record
from anke.audit.retention import PruneRefused, prune
from anke.audit.sealing import seal_pending
from anke.audit.verify import verify_trail
from anke.core.context import Actor
from tests.audit.conftest import tamper
from tests.audit.test_bundle import offline_verify
from tests.personas import customer_of

pytestmark = pytest.mark.django_db
OPERATOR = Actor.system()


def events(n: int):
    for i in range(n):
        record(OPERATOR, Event.KEY_VERIFY, object_type="test", object_ids=[i])


def later(days: int) -> datetime.datetime:
    """A moment ``days`` past the retention period from now."""
    return timezone.now() + datetime.timedelta(days=django_settings.AUDIT_RETENTION_DAYS + days)


def test_nothing_younger_than_the_retention_period_is_pruned():
    events(3)
    seal_pending()
    assert prune(OPERATOR).pruned == 0
    assert AuditEvent.objects.count() == 3


def test_old_epochs_go_whole_and_later_checkpoints_still_verify(tmp_path, cast, public_key):
    customer_of(cast.sales_a)  # an event that names a customer, and its index row
    events(4)
    seal_pending()
    first_epoch = AuditEvent.objects.count()
    events(3)
    seal_pending()
    result = prune(OPERATOR, now=later(1))
    assert (result.pruned, result.below) == (first_epoch + 3, first_epoch + 3)
    assert not AuditEvent.objects.filter(leaf__seq__lt=result.below).exists()
    assert not Leaf.objects.filter(seq__lt=result.below).exists()
    assert not EventCustomer.objects.exists()
    assert PrunePoint.objects.get().size == result.below
    assert AuditEvent.objects.filter(action="audit.prune").count() == 1
    events(2)
    seal_pending()
    report = verify_trail()
    assert report.intact, report.problems
    assert report.pruned_below == result.below
    # An auditor's bundle after pruning still proves its events against the newest root.
    export_bundle(tmp_path / "bundle")
    done = offline_verify(tmp_path / "bundle", "--public-key", public_key)
    assert done.returncode == 0, done.stdout


def test_pruning_splits_at_the_newest_checkpoint_older_than_the_cutoff():
    events(2)
    seal_pending()
    events(2)
    seal_pending()
    second = datetime.datetime.fromisoformat(Checkpoint.objects.get(size=4).at)
    # The cutoff falls just before the second checkpoint was signed: only the first epoch goes.
    now = second + datetime.timedelta(days=django_settings.AUDIT_RETENTION_DAYS, microseconds=-1)
    assert prune(OPERATOR, now=now).below == 2
    assert list(Leaf.objects.order_by("seq").values_list("seq", flat=True)) == [2, 3]
    assert AuditEvent.objects.filter(leaf__isnull=False).count() == 2


def test_a_consistency_proof_cannot_reach_into_pruned_history(tmp_path):
    events(4)
    seal_pending()
    events(4)
    seal_pending()
    prune(OPERATOR, now=later(1))
    seal_pending()  # the prune's own event
    with pytest.raises(BundleError, match="pruned by retention"):
        export_bundle(tmp_path / "bundle", prove_from={"size": 3})
    export_bundle(tmp_path / "ok", prove_from={"size": 8})  # from the prune point on it works


def test_tampered_events_are_never_pruned_away():
    events(4)
    seal_pending()
    tamper("UPDATE audit_auditevent SET reason = 'hidden' "
           "WHERE id = (SELECT event_id FROM audit_leaf WHERE seq = 1)")
    with pytest.raises(PruneRefused, match="do not match their signed root"):
        prune(OPERATOR, now=later(1))
    assert AuditEvent.objects.filter(leaf__isnull=False).count() == Leaf.objects.count() == 4


def test_a_dry_run_deletes_nothing():
    events(4)
    seal_pending()
    out = io.StringIO()
    moment = later(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("anke.audit.retention.timezone.now", lambda: moment)
        call_command("audit", "prune", "--dry-run", stdout=out)
    assert "Would delete 4 events below sequence number 4." in out.getvalue()
    assert AuditEvent.objects.count() == 4


def test_a_retention_shorter_than_six_months_refuses_to_start():
    env = {**os.environ, "ANKE_AUDIT_RETENTION_DAYS": "90",
           "DJANGO_SETTINGS_MODULE": "anke.settings"}
    done = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", "import django; django.setup()"], env=env, capture_output=True,
        text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "ANKE_AUDIT_RETENTION_DAYS must be at least 183 (six months)." in done.stderr


def test_prune_command_reports_what_it_did(capsys):
    events(2)
    seal_pending()
    moment = later(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("anke.audit.retention.timezone.now", lambda: moment)
        call_command("audit", "prune")
    assert "Deleted 2 events; the trail now starts at 2." in capsys.readouterr().out
    assert json.loads(Path(django_settings.AUDIT_CHECKPOINT_FILE).read_text()
                      .splitlines()[0])["size"] == 2
