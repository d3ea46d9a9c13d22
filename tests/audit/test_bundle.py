"""``anke audit export`` bundles, checked by the stand-alone ``verify.py`` in a separate Python
process, as an auditor would run it without Anke."""

import base64
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from anke.audit.bundle import kept_tree
from anke.audit.catalogue import Event
from anke.audit.models import AuditEvent
from anke.audit.offline import checkpoint_message
from anke.audit.recorder import record
from anke.audit.sealing import seal_pending
from anke.audit.signing import active_signing_key
from anke.core.context import Actor
from anke.core.errors import NotVisible
from anke.customers.actions import view_customer
from tests.audit.conftest import tamper
from tests.personas import actor, customer_of

pytestmark = pytest.mark.django_db


def offline_verify(bundle: Path, *args: str) -> subprocess.CompletedProcess:
    # -I: isolated mode, no site customisation or current directory on the path; the script
    # may import only the standard library and cryptography.
    return subprocess.run(  # noqa: S603 - the bundle's own script, arguments from this test
        [sys.executable, "-I", str(bundle / "verify.py"), str(bundle), *args],
        capture_output=True, text=True, timeout=60, check=False)


def events(n: int):
    for i in range(n):
        record(Actor.system(), Event.KEY_VERIFY, object_type="test", object_ids=[i])


def export(out: Path, *args: str) -> Path:
    call_command("audit", "export", str(out), *args, stdout=io.StringIO())
    return out


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_whole_trail_bundle_verifies_offline_with_the_public_key(tmp_path, public_key):
    events(5)
    seal_pending()
    events(4)
    seal_pending()
    bundle = export(tmp_path / "bundle")
    done = offline_verify(bundle, "--public-key", public_key)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK every event, proof and signature in the bundle verifies" in done.stdout
    assert [e["seq"] for e in lines(bundle / "events.jsonl")] == list(range(9))
    assert [c["size"] for c in lines(bundle / "checkpoints.jsonl")] == [5, 9]
    assert (bundle / "README.txt").exists()


def test_a_period_is_a_contiguous_range_proven_against_the_newest_root(tmp_path, public_key):
    events(6)
    seal_pending()
    bundle = export(tmp_path / "bundle")
    proof = json.loads((bundle / "proof.json").read_text())
    assert proof["range"] == [0, 6] and proof["checkpoint_size"] == 6
    # Cut a middle range by hand to prove the range proof is what ties it to the root.
    tree = kept_tree(6)
    middle = tmp_path / "middle"
    middle.mkdir()
    for name in ("checkpoints.jsonl", "public_keys.json", "verify.py"):
        (middle / name).write_bytes((bundle / name).read_bytes())
    kept = (bundle / "events.jsonl").read_text().splitlines()[2:5]
    (middle / "events.jsonl").write_text("\n".join(kept) + "\n")
    (middle / "proof.json").write_text(json.dumps({
        "checkpoint_size": 6, "range": [2, 5],
        "nodes": [[lo, hi, h.hex()] for lo, hi, h in tree.range_nodes(6, 2, 5)]}))
    assert offline_verify(middle, "--public-key", public_key).returncode == 0


def test_since_and_until_select_the_events_of_that_time(tmp_path, public_key):
    events(3)
    seal_pending()
    with pytest.raises(CommandError, match="no sealed events in that period"):
        export(tmp_path / "future", "--since", "2999-01-01")
    assert not (tmp_path / "future").exists()
    bundle = export(tmp_path / "now", "--since", "2000-01-01", "--until", "2999-01-01")
    assert json.loads((bundle / "proof.json").read_text())["range"] == [0, 3]


@pytest.mark.parametrize("attack", ["edit", "drop", "reorder"])
def test_a_tampered_bundle_fails_offline(tmp_path, public_key, attack):
    events(6)
    seal_pending()
    bundle = export(tmp_path / "bundle")
    path = bundle / "events.jsonl"
    rows = path.read_text().splitlines()
    if attack == "edit":
        rows[3] = rows[3].replace('"reason":""', '"reason":"nothing happened"')
    elif attack == "drop":
        del rows[3]
    else:
        rows[2], rows[3] = rows[3], rows[2]
        rows[2] = rows[2].replace('"seq":3', '"seq":2')
        rows[3] = rows[3].replace('"seq":2', '"seq":3')
    path.write_text("\n".join(rows) + "\n")
    done = offline_verify(bundle, "--public-key", public_key)
    assert done.returncode == 1
    assert done.stdout.startswith("FAIL ")
    expected = ("the bundle's events are not exactly the range" if attack == "drop"
                else "do not hash to the signed root of size 6")
    assert expected in done.stdout


def test_a_bundle_signed_by_another_key_fails_with_the_auditors_key(tmp_path, public_key):
    events(2)
    seal_pending()
    bundle = export(tmp_path / "bundle")
    other = "A" * 43 + "="  # a well-formed public key that is not Anke's
    done = offline_verify(bundle, "--public-key", other)
    assert done.returncode == 1
    assert "checkpoint at size 2: bad signature or unknown key" in done.stdout


def test_one_customers_events_come_with_inclusion_proofs_and_nothing_of_others(tmp_path, cast,
                                                                              public_key):
    mine = customer_of(cast.sales_a, name="王五")
    other = customer_of(cast.sales_b, name="赵六")
    view_customer(actor(cast.sales_a), mine.pk)
    with pytest.raises(NotVisible):
        view_customer(actor(cast.sales_b), mine.pk)
    seal_pending()
    bundle = export(tmp_path / "bundle", "--customer", str(mine.pk))
    docs = lines(bundle / "events.jsonl")
    assert [(d["action"], d["actor_username"], d["outcome"]) for d in docs] == [
        ("customer.create", "sales_a", "allowed"),
        ("customer.view", "sales_a", "allowed"),
        ("customer.view", "sales_b", "denied"),
    ]
    assert all(str(mine.pk) in d["customer_ids"] for d in docs)
    assert str(other.pk) not in (bundle / "events.jsonl").read_text()
    proof = json.loads((bundle / "proof.json").read_text())
    assert sorted(map(int, proof["inclusion"])) == [d["seq"] for d in docs]
    assert "range" not in proof
    done = offline_verify(bundle, "--public-key", public_key)
    assert done.returncode == 0, done.stdout


def test_a_saved_checkpoint_is_proven_extended_and_a_forked_one_is_not(tmp_path, settings,
                                                                      public_key):
    events(5)
    seal_pending()
    saved = tmp_path / "saved.json"
    saved.write_text(Path(settings.AUDIT_CHECKPOINT_FILE).read_text().splitlines()[0])
    events(6)
    seal_pending()
    bundle = export(tmp_path / "bundle", "--prove-from", str(saved))
    done = offline_verify(bundle, "--public-key", public_key, "--old-checkpoint", str(saved))
    assert done.returncode == 0, done.stdout
    # A checkpoint of another history (same size, different root, validly signed by Anke's
    # key: e.g. from before a rewrite) does not extend to today's.
    old = json.loads(saved.read_text())
    forked_root = b"\x07" * 32
    old["root"] = base64.b64encode(forked_root).decode()
    old["signature"] = base64.b64encode(active_signing_key().sign(
        checkpoint_message(old["origin"], old["size"], forked_root, old["at"]))).decode()
    forked = tmp_path / "forked.json"
    forked.write_text(json.dumps(old))
    done = offline_verify(bundle, "--public-key", public_key, "--old-checkpoint", str(forked))
    assert done.returncode == 1
    assert "the history of size 11 does not extend the saved checkpoint of size 5" in done.stdout


def test_exporting_before_anything_is_sealed_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="nothing has been sealed yet"):
        export(tmp_path / "bundle")
    with pytest.raises(CommandError, match="customer id"):
        export(tmp_path / "bundle", "--customer", "not-a-uuid")
    with pytest.raises(CommandError, match="is not a date"):
        export(tmp_path / "bundle", "--since", "yesterday-ish")


def test_an_export_is_itself_audited(tmp_path):
    events(1)
    seal_pending()
    export(tmp_path / "bundle")
    assert AuditEvent.objects.filter(action="audit.export", reason="bundle").count() == 1


@pytest.mark.parametrize("forgery", ["no proof", "node over the range", "duplicate seq",
                                     "duplicate key", "not canonical"])
def test_forged_bundles_that_keep_the_signed_root_fail_offline(tmp_path, public_key, forgery):
    events(5)
    seal_pending()
    bundle = export(tmp_path / "bundle")
    proof = json.loads((bundle / "proof.json").read_text())
    path = bundle / "events.jsonl"
    rows = path.read_text().splitlines()
    forged = rows[1].replace('"actor_username":""', '"actor_username":"mallory"')
    if forgery == "no proof":
        del proof["range"], proof["nodes"]
        rows[1] = forged
    elif forgery == "node over the range":
        # A single node claiming to be the whole tree would make the events irrelevant.
        checkpoint = json.loads((bundle / "checkpoints.jsonl").read_text().splitlines()[-1])
        proof["range"] = [0, 5]
        proof["nodes"] = [[0, 5, base64.b64decode(checkpoint["root"]).hex()]]
        rows[1] = forged
    elif forgery == "duplicate seq":
        rows.insert(1, forged)
    elif forgery == "duplicate key":
        rows[1] = rows[1][:-1] + ',"actor_username":"mallory"}'
    else:
        rows[1] = rows[1].replace('"action":', '"action" :')
    (bundle / "proof.json").write_text(json.dumps(proof))
    path.write_text("\n".join(rows) + "\n")
    done = offline_verify(bundle, "--public-key", public_key)
    assert done.returncode == 1, done.stdout
    assert done.stdout.startswith("FAIL ")


def test_no_bundle_is_exported_while_a_sealed_event_is_missing(tmp_path, public_key):
    """An event deleted after sealing leaves its leaf behind; the bundle must not quietly leave
    the event out (its proofs would still verify)."""
    events(4)
    seal_pending()
    tamper("DELETE FROM audit_auditevent "
           "WHERE id = (SELECT event_id FROM audit_leaf WHERE seq = 2)")
    with pytest.raises(CommandError, match="sealed events are missing"):
        export(tmp_path / "bundle")
