"""The databases under test: a fresh environment per target, reset, migrate, seed, sample.

Every Django step runs in a child process with the target's environment, so one bench run can
measure SQLite and PostgreSQL side by side without the two settings ever meeting. A target is
also tied to one checkout of the code: this working tree (encryption on), or the baseline
revision extracted with ``git archive`` under the work dir (the plaintext foundation); its
children run with that checkout as cwd and PYTHONPATH, so they import its ``anke``.
"""

import hashlib
import io
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
# The Django side of the bench, run by path from this checkout against any code version:
# ``-P`` keeps bench/ off sys.path, PYTHONPATH puts the target's checkout first.
SEED_SCRIPT = ["-P", str(BENCH_DIR / "seed.py")]
ENCRYPTED, BASELINE = "encrypted", "baseline"
# Fixed so sessions survive a gunicorn restart between runs; never used outside the bench.
BENCH_SIGNING_KEY = "bench-only-signing-key-not-a-secret-0123456789abcdefghij"


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which and why."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class Target:
    name: str  # "sqlite" | "postgres"
    var_dir: Path
    database_url: str
    info: dict = field(default_factory=dict)
    variant: str = ENCRYPTED  # ENCRYPTED: this working tree; BASELINE: the --baseline checkout
    code_dir: Path = ROOT
    revision: str = ""  # the baseline's short commit, for labels

    @property
    def db_label(self) -> str:
        return {"sqlite": "SQLite", "postgres": "PostgreSQL"}[self.name]

    @property
    def label(self) -> str:
        if self.variant == BASELINE:
            return f"{self.db_label}, plaintext baseline {self.revision}"
        return f"{self.db_label}, encrypted (working tree)"

    def baseline(self, code_dir: Path, revision: str) -> "Target":
        """The same database kind for the baseline checkout, in its own var dir / database."""
        url = self.database_url
        if self.name == "sqlite":
            var_dir = self.var_dir.parent / f"baseline-{self.var_dir.name}"
            url = f"sqlite:///{var_dir / 'anke.sqlite3'}"
        else:
            var_dir = self.var_dir.parent / "baseline-postgres"
            parts = urlsplit(url)
            url = urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_baseline"))
        return Target(self.name, var_dir, url, variant=BASELINE, code_dir=code_dir,
                      revision=revision)

    def env(self) -> dict[str, str]:
        """The process environment: the caller's, minus any Anke/Django settings, plus ours."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ANKE_", "DJANGO_")) and k not in ("DATABASE_URL", "REDIS_URL")}
        env.update({
            "ANKE_VAR_DIR": str(self.var_dir),
            "DATABASE_URL": self.database_url,
            "ANKE_SECRET_KEY": BENCH_SIGNING_KEY,
            "ANKE_LOG_LEVEL": "WARNING",
            "ANKE_DEBUG": "false",
            "ANKE_HTTPS": "false",
            "ANKE_PRODUCTION": "false",
            "ANKE_TRUSTED_PROXY_HOPS": "0",
            "DJANGO_SETTINGS_MODULE": "anke.settings",
            "PYTHONUNBUFFERED": "1",
            # The checkout's anke comes before the venv's editable install of this tree.
            "PYTHONPATH": str(self.code_dir),
        })
        env.pop("PYTHONHOME", None)
        return env

    def demo_totp_secret(self) -> str | None:
        """The authenticator secret the demo accounts share (none before second factors)."""
        path = self.var_dir / "demo-totp.txt"
        return path.read_text().strip() if path.exists() else None

    def logins(self) -> dict[str, str]:
        """username → password from the demo's logins file."""
        path = self.var_dir / "demo-logins.txt"
        if not path.exists():
            raise BenchError(f"{path} is missing: seed the {self.label} database first "
                             "(run without --skip-seed).")
        rows = [line.split("\t") for line in path.read_text().splitlines() if line]
        return {row[0]: row[2] for row in rows if len(row) >= 3}


def sqlite_target(work_dir: Path) -> Target:
    var_dir = work_dir / "sqlite"
    return Target("sqlite", var_dir, f"sqlite:///{var_dir / 'anke.sqlite3'}")


def postgres_target(work_dir: Path, url: str) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise BenchError(f"--pg-url must be a postgres:// URL, not {url!r}.")
    if not is_loopback(parts.hostname or ""):
        raise BenchError("--pg-url must point at 127.0.0.1 (the benchmark stays on loopback).")
    return Target("postgres", work_dir / "postgres", url)


def _pg_admin(target: Target):
    import psycopg

    parts = urlsplit(target.database_url)
    dbname = parts.path.lstrip("/")
    if not dbname:
        raise BenchError("--pg-url must name a database, e.g. .../anke_bench")
    admin_url = urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))
    try:
        return psycopg.connect(admin_url, autocommit=True, connect_timeout=10), dbname
    except psycopg.OperationalError as error:
        raise BenchError(f"cannot reach PostgreSQL at {parts.hostname}:{parts.port}: "
                         f"{error}") from None


def reset(target: Target) -> None:
    """A fresh var dir and (for PostgreSQL) a freshly created database."""
    if target.var_dir.exists():
        shutil.rmtree(target.var_dir)
    target.var_dir.mkdir(parents=True)
    if target.name == "postgres":
        from psycopg import sql

        conn, dbname = _pg_admin(target)
        with conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                         .format(sql.Identifier(dbname)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def database_size(target: Target) -> int | None:
    """Bytes on disk: the SQLite file with its WAL, or pg_database_size."""
    if target.name == "sqlite":
        files = [target.var_dir / f"anke.sqlite3{suffix}" for suffix in ("", "-wal")]
        return sum(f.stat().st_size for f in files if f.exists())
    conn, dbname = _pg_admin(target)
    with conn:
        row = conn.execute("SELECT pg_database_size(%s)", (dbname,)).fetchone()
    return row[0] if row else None


def analyze(target: Target) -> dict:
    """PostgreSQL: refresh planner statistics, as autovacuum would after a bulk load.

    Without it a freshly seeded database is planned as if empty (on a server with autovacuum
    off, for good), which measures the stale statistics rather than the app.
    """
    import psycopg

    with psycopg.connect(target.database_url, autocommit=True, connect_timeout=10) as conn:
        autovacuum = conn.execute("SHOW autovacuum").fetchone()[0]
        started = time.perf_counter()
        conn.execute("ANALYZE")
        return {"autovacuum": autovacuum, "analyze_seconds": time.perf_counter() - started}


def check_exists(target: Target) -> None:
    if target.name == "sqlite":
        if not (target.var_dir / "anke.sqlite3").exists():
            raise BenchError(f"no seeded SQLite database in {target.var_dir}: "
                             "run without --skip-seed first.")
        return
    conn, dbname = _pg_admin(target)
    with conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                             (dbname,)).fetchone()
    if not found:
        raise BenchError(f"PostgreSQL database {dbname} does not exist: "
                         "run without --skip-seed first.")
    target.logins()


def run(target: Target, args: list[str], *, timeout: float, echo: bool = False) -> dict | None:
    """Run ``python <args>`` in the project with the target's environment.

    Output lines are echoed when ``echo``; a final ``RESULT <json>`` line is parsed and returned.
    The child is killed when ``timeout`` seconds pass.
    """
    proc = subprocess.Popen([sys.executable, *args], cwd=target.code_dir, env=target.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            encoding="utf-8", errors="replace")
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    started = time.monotonic()
    output, result = [], None
    try:
        for line in proc.stdout:
            if line.startswith("RESULT "):
                result = json.loads(line[7:])
                continue
            output.append(line)
            if echo:
                sys.stdout.write(line)
                sys.stdout.flush()
        code = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if code != 0:
        tail = "".join(output[-30:])
        if time.monotonic() - started >= timeout:
            raise BenchError(f"`{' '.join(args)}` timed out after {timeout:.0f} s:\n{tail}")
        raise BenchError(f"`{' '.join(args)}` failed with exit code {code}:\n{tail}")
    return result


def migrate(target: Target) -> float:
    started = time.perf_counter()
    run(target, ["manage.py", "migrate", "--noinput", "-v", "0"], timeout=900)
    return time.perf_counter() - started


def collectstatic(target: Target) -> None:
    run(target, ["manage.py", "collectstatic", "--noinput", "-v", "0"], timeout=600)


def seed(target: Target, customers: int, seed_value: int) -> dict:
    # Generous but bounded: assumes at least 100 customers/s plus ten minutes.
    timeout = 600 + customers / 100
    result = run(target, [*SEED_SCRIPT, "load", "--customers", str(customers),
                          "--seed", str(seed_value)], timeout=timeout, echo=True)
    if result is None:
        raise BenchError("the seed child ended without a result")
    check_code(target, result)
    return result


def sample(target: Target, users: list[str], count: int = 500) -> dict:
    result = run(target, [*SEED_SCRIPT, "sample", "--users", *users,
                          "--count", str(count)], timeout=900)
    if result is None:
        raise BenchError("the sample child ended without a result")
    check_code(target, result)
    return result


def check_code(target: Target, result: dict) -> None:
    """The child imported the target's ``anke`` (not the venv's editable install of ROOT)."""
    anke_dir = Path(result.get("anke_dir", "")).resolve()
    if anke_dir != (target.code_dir / "anke").resolve():
        raise BenchError(f"{target.label}: the child imported anke from {anke_dir}, "
                         f"not from {target.code_dir / 'anke'}")
    if result.get("foreign_modules"):
        raise BenchError(f"{target.label}: modules imported from outside {anke_dir}: "
                         + ", ".join(result["foreign_modules"]))
    encrypted = bool(result.get("encrypted"))
    if encrypted != (target.variant == ENCRYPTED):
        raise BenchError(f"{target.label}: the code under test "
                         f"{'has' if encrypted else 'lacks'} anke.encryption")


# --- the baseline checkout ----------------------------------------------------------------------


def git(*args: str) -> str:
    proc = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                          timeout=120)
    if proc.returncode != 0:
        raise BenchError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.rstrip()  # not strip(): porcelain lines start with a status column


def code_state() -> dict:
    """Which code the encrypted target runs: HEAD plus whatever is uncommitted."""
    try:
        head = git("rev-parse", "HEAD")
        changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no")
                   .splitlines() if line]
        # What the servers and seeders import, bench/ aside: changes while the bench runs
        # mean the two ends of the run measured different code.
        fingerprint = hashlib.sha256((
            git("diff", "HEAD", "--binary", "--", ".", ":(exclude)bench")
            + "\0" + git("ls-files", "--others", "--exclude-standard", "--", ".",
                          ":(exclude)bench")).encode()).hexdigest()[:16]
    except (BenchError, OSError, subprocess.SubprocessError) as error:
        return {"path": str(ROOT), "error": str(error)}
    return {"path": str(ROOT), "head": head, "uncommitted": changed,
            "fingerprint": fingerprint}


def checkout(revision: str, work_dir: Path) -> tuple[Path, str]:
    """``revision``'s tree under ``<work_dir>/code-<commit>`` (reused when already there).

    ``git archive`` writes nothing into the repository: no worktree, no index change.
    """
    try:
        commit = git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    except BenchError:
        commit = ""
    if not re.fullmatch(r"[0-9a-f]{40}", commit):
        raise BenchError(f"--baseline {revision!r} is not a commit of {ROOT}")
    dest = work_dir / f"code-{commit[:12]}"
    marker = dest / ".bench-commit"
    if marker.exists() and marker.read_text().strip() == commit:
        return dest, commit
    proc = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit],
                          capture_output=True, timeout=300)
    if proc.returncode != 0:
        raise BenchError(f"git archive {commit}: {proc.stderr.decode(errors='replace')}")
    partial = dest.with_name(dest.name + ".partial")
    for stale in (partial, dest):
        if stale.exists():
            shutil.rmtree(stale)
    partial.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        tar.extractall(partial, filter="data")
    (partial / ".bench-commit").write_text(commit + "\n")
    partial.rename(dest)
    return dest, commit


# --- key rotation (encrypted code only) ---------------------------------------------------------

PROGRESS = re.compile(r"^(rotate-\w+) \[[#.]*\] (\d+)/(\d+) \(\d+%\) ([\d,]+)/s$")


def keys(target: Target, verb: str, *, timeout: float) -> dict:
    """Run ``manage.py keys <verb>`` as a child; wall time, output and its last progress line.

    A failure raises BenchError; a timeout does not: the result then carries ``error`` beside
    how far the command's progress lines got (a rotation is resumable, the kill is harmless).
    """
    args = ["manage.py", "keys", verb]
    proc = subprocess.Popen([sys.executable, *args], cwd=target.code_dir, env=target.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            encoding="utf-8", errors="replace")
    started = time.perf_counter()
    timed_out = False
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        timed_out = True
    seconds = time.perf_counter() - started
    lines = output.splitlines()
    if proc.returncode != 0 and not timed_out:
        raise BenchError(f"`{' '.join(args)}` failed with exit code {proc.returncode}:\n"
                         + "\n".join(lines[-20:]))
    result = {"verb": verb, "seconds": seconds, "output": lines[-40:]}
    progress = [m for m in map(PROGRESS.match, lines) if m]
    if progress:
        last = progress[-1]
        result.update(done=int(last[2]), total=int(last[3]),
                      command_rate_per_s=int(last[4].replace(",", "")))
    if timed_out:
        result["error"] = (f"`{' '.join(args)}` timed out after {timeout:.0f} s and was killed"
                           + (f"; its progress lines had reached {result['done']:,}/"
                              f"{result['total']:,} at {result['command_rate_per_s']:,}/s"
                              if progress else ""))
    return result


def scratch_targets(choice: str, work_dir: Path, pg_url: str, make) -> list:
    """The in-process benchmarks' targets (``--db sqlite|postgres|both``), built with ``make``
    (a Target subclass) in their own var dirs under ``work_dir``."""
    chosen = []
    if choice in ("sqlite", "both"):
        var_dir = work_dir / "sqlite"
        chosen.append(make("sqlite", var_dir, f"sqlite:///{var_dir / 'anke.sqlite3'}"))
    if choice in ("postgres", "both"):
        checked = postgres_target(work_dir, pg_url)  # loopback and scheme checks
        chosen.append(make("postgres", checked.var_dir, checked.database_url))
    return chosen


def drop_scratch(target) -> None:
    """Remove a scratch target: its PostgreSQL database and its var dir."""
    if target.name == "postgres":
        from psycopg import sql

        conn, dbname = _pg_admin(target)
        with conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                         .format(sql.Identifier(dbname)))
    shutil.rmtree(target.var_dir, ignore_errors=True)
