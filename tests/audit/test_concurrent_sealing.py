"""Several processes write events while two sealers run at once: the history never forks.

On PostgreSQL (the issue's case; SQLite serialises writers anyway, and runs the same test),
writers commit events in single and multi-event transactions, some rolled back, while two
``anke audit seal --follow`` processes race each other. Afterwards every committed event has
exactly one sequence number, the numbers run 0…n-1 without a gap, every checkpoint verifies,
and ``anke audit verify`` exits 0.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

MANAGE = Path(__file__).resolve().parents[2] / "manage.py"
WRITERS, TRANSACTIONS = 4, 60

WRITER = """
import random
import time
from django.db import transaction
from anke.audit.catalogue import Event
from anke.audit.recorder import record
from anke.core.context import Actor

rng = random.Random({seed})
committed = 0
for number in range({transactions}):
    size = rng.choice([1, 1, 2, 5])
    try:
        with transaction.atomic():
            for i in range(size):
                record(Actor.system(), Event.KEY_VERIFY, object_type="writer",
                       object_ids=[{seed}, number, i])
            if number % 7 == 3:
                raise RuntimeError("rolled back")
        committed += size
    except RuntimeError:
        pass
    time.sleep(0.02)  # spread the writes over the sealers' passes
print(committed)
"""


def manage(env, *args, **kwargs):
    return subprocess.run(  # noqa: S603 - our manage.py, arguments from this file
        [sys.executable, str(MANAGE), *args], env=env, capture_output=True, text=True,
        timeout=300, check=False, **kwargs)


def test_concurrent_writers_and_two_sealers_never_fork_the_history(database_url, tmp_path):
    env = {**os.environ, "DATABASE_URL": database_url, "ANKE_VAR_DIR": str(tmp_path / "var"),
           "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("ANKE_MASTER_KEY_FILE", None)
    assert manage(env, "migrate", "-v0").returncode == 0
    sealers = [subprocess.Popen(  # noqa: S603
        [sys.executable, str(MANAGE), "audit", "--skip-checks", "seal", "--follow",
         "--interval", "0.02"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)]
    for sealer in sealers:  # started (a loaded machine may take seconds to import Django)
        assert sealer.stdout.readline()  # "Sealing the audit trail every … s."
    writers = [subprocess.Popen(  # noqa: S603
        [sys.executable, str(MANAGE), "shell", "--no-imports", "-c",
         WRITER.format(seed=seed, transactions=TRANSACTIONS)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for seed in range(WRITERS)]
    committed = 0
    try:
        for writer in writers:
            out, err = writer.communicate(timeout=300)
            assert writer.returncode == 0, err
            committed += int(out.strip().splitlines()[-1])
    finally:
        for sealer in sealers:
            sealer.send_signal(signal.SIGTERM)
        errors = [sealer.communicate(timeout=60)[1] for sealer in sealers]
    assert not any("Traceback" in e for e in errors), errors
    assert manage(env, "audit", "seal").returncode == 0
    verified = manage(env, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    facts = manage(env, "shell", "--no-imports", "-c", (
        "from anke.audit.models import AuditEvent, Checkpoint\n"
        "seqs = sorted(AuditEvent.objects.filter(object_type='writer')"
        ".values_list('leaf__seq', flat=True))\n"
        "allseqs = sorted(AuditEvent.objects.exclude(leaf=None)"
        ".values_list('leaf__seq', flat=True))\n"
        "print(len(seqs), None in seqs, allseqs == list(range(len(allseqs))), "
        "Checkpoint.objects.count())\n"))
    count, unsealed, gap_free, checkpoints = facts.stdout.split()
    assert int(count) == committed > WRITERS * TRANSACTIONS  # multi-event transactions count
    assert (unsealed, gap_free) == ("False", "True")
    assert int(checkpoints) > 2, errors  # the sealers really interleaved with the writers
