"""Anke benchmark: seed the demo company, serve it with gunicorn, time real HTTP requests.

Usage (``make bench BENCH_ARGS="..."`` runs the same)::

    .venv/bin/python -m bench                       # 100,000 customers, SQLite and PostgreSQL
    .venv/bin/python -m bench --customers 1000000 --db sqlite
    .venv/bin/python -m bench --customers 2000 --requests 50     # a quick end-to-end check
    .venv/bin/python -m bench --skip-seed --db postgres           # reuse the last seeded DBs
    .venv/bin/python -m bench --skip-seed baseline                # re-seed the working tree's
    .venv/bin/python -m bench --baseline none                     # encrypted code only

Every measurement runs twice in one invocation: against this working tree (field-level
encryption on) and against the plaintext baseline ``--baseline REV`` (default ``e685b8c``, the
foundation), extracted with ``git archive`` under ``--work-dir`` and served from there, each
with its own var dir and database (``anke_bench`` / ``anke_bench_baseline`` on PostgreSQL).

For each database and code version the bench migrates, loads ``--customers`` demo customers
through ``anke.web.demo.load_demo`` in a child process and prints the load rate (customers/s,
all table rows/s); PostgreSQL then gets an ``ANALYZE``. It then runs ``collectstatic`` and
starts ``gunicorn anke.wsgi:application --workers 2`` per version on a free 127.0.0.1 port, both
at once, logs in as the sales rep ``zhangwei`` (own customers), the sales manager ``salesmgr``
(department scope) and ``manager`` (all customers) and measures p50/p99/mean latency in ms of
the customer list (GET /customers/), a random visible customer's page, a name search by surname
and by full name, an exact phone search (POST /customers/), creating a customer (POST
/customers/new/) — the two versions taking turns request by request — and the list page with
four concurrent clients (req/s).
With gunicorn stopped, the encrypted database then gets ``manage.py keys rotate-master`` and
``keys rotate-data``, timed as data keys/s and customers/s.

Figures, not assertions: a table per database, encrypted beside the baseline with the overhead
in %, and the budgets beside them (list p50 overhead ≤ 15%; exact phone search p50 ≤ 5 ms at 1M
on SQLite; rotate-master ≥ 20,000 data keys/s; rotate-data ≥ 2,000 customers/s; and the
foundation's list p50 ≤ 8 ms, detail p50 ≤ 4 ms, demo load ≥ 4,000 customers/s). The results
are also written to ``bench/results/<timestamp>.json``. Every request has a timeout, each
measurement stops at ``--max-seconds``, and gunicorn is always stopped. See bench/README.md.
"""

import argparse
import http.client
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench import client, db, report, server
from bench.db import BASELINE, ENCRYPTED, BenchError, Target

# A sales rep with own scope, the department-scope sales manager (the demo's sales department
# holds every rep's team, so the subtree reaches all demo customers) and the manager with
# all scope.
USERS = ("zhangwei", "salesmgr", "manager")
SURNAMES = ("张", "王", "李", "刘", "陈")
MAX_CUSTOMERS = 2_000_000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000,
                        help="demo customers to seed (default 100000)")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--requests", type=int, default=300,
                        help="timed requests per client per measurement (default 300)")
    parser.add_argument("--warmup", type=int, default=5,
                        help="untimed requests per client before each measurement (default 5)")
    parser.add_argument("--skip-seed", nargs="?", const="all", choices=("all", "baseline"),
                        help="reuse the databases seeded by an earlier run: 'all' (the default "
                             "when given bare) or only the baseline's, whose code does not "
                             "change (the working tree's schema may have)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--clients", type=int, default=4,
                        help="concurrent clients for the throughput measurement (default 4)")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds allowed per HTTP request (default 30)")
    parser.add_argument("--max-seconds", type=float, default=120.0,
                        help="each measurement stops after this long (default 120)")
    parser.add_argument("--seed", type=int, default=2026, help="demo data seed (default 2026)")
    parser.add_argument("--work-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "anke-bench",
                        help="where the var dirs live (default $TMPDIR/anke-bench)")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/anke_bench",
                        help="PostgreSQL database to drop, create and use (loopback only)")
    parser.add_argument("--no-analyze", action="store_true",
                        help="PostgreSQL: measure without running ANALYZE after seeding")
    parser.add_argument("--baseline", default="e685b8c", metavar="REV",
                        help="plaintext code to measure beside the working tree, a git revision "
                             "(default e685b8c, the foundation); 'none' to skip")
    parser.add_argument("--no-rotate", action="store_true",
                        help="skip timing `keys rotate-master` and `keys rotate-data`")
    args = parser.parse_args(argv)
    if not 1 <= args.customers <= MAX_CUSTOMERS:
        parser.error(f"--customers must be from 1 to {MAX_CUSTOMERS:,}")
    if args.requests < 1 or args.warmup < 0 or args.workers < 1 or args.clients < 1:
        parser.error("--requests, --workers and --clients must be positive, --warmup ≥ 0")
    return args


def environment() -> dict:
    import django
    import gunicorn

    return {"python": platform.python_version(), "django": django.get_version(),
            "gunicorn": gunicorn.__version__, "sqlite": sqlite3.sqlite_version,
            "platform": platform.platform(), "cpus": os.cpu_count()}


def prepare(target: Target, args: argparse.Namespace) -> dict | None:
    """Fresh database, migrated and seeded; or, with --skip-seed, the existing one migrated."""
    if args.skip_seed == "all" or (args.skip_seed == "baseline" and target.variant == BASELINE):
        db.check_exists(target)
        print(f"  reusing {target.var_dir} (migrating if needed)", flush=True)
        db.migrate(target)
        return None
    print(f"  resetting {target.var_dir}" + (
        f" and {target.database_url}" if target.name == "postgres" else ""), flush=True)
    db.reset(target)
    seconds = db.migrate(target)
    print(f"  migrated in {seconds:.1f} s; seeding {args.customers:,} customers…", flush=True)
    seed = db.seed(target, args.customers, args.seed)
    print("  " + report.seed_line(seed), flush=True)
    return seed


@dataclass
class Arm:
    """One code version under test: its target, its result dict, and while serving, its port."""

    target: Target
    result: dict
    served: server.Served | None = None
    logins: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.result.get("error")

    def serve(self, args: argparse.Namespace) -> None:
        self.served = server.start(self.target, workers=args.workers)
        print(f"  {self.target.label}: gunicorn on {server.HOST}:{self.served.port} with "
              f"{args.workers} workers", flush=True)

    def stop(self) -> None:
        if self.served is not None:
            server.stop(self.served.proc)

    def login(self, username: str, args: argparse.Namespace) -> client.Session:
        try:
            return client.login(server.HOST, self.served.port, username,
                                self.logins[username], timeout=args.timeout,
                                totp_secret=self.target.demo_totp_secret())
        except (OSError, http.client.HTTPException) as error:
            raise BenchError(f"{self.target.label}: login as {username} failed: "
                             f"{type(error).__name__}: {error} (gunicorn "
                             f"{self.served.exit_text()})") from None


def scenarios(username: str, sample: dict, phone_base: int) -> list[tuple[str, client.Scenario]]:
    if not sample.get("phones"):
        raise BenchError(f"no phone numbers sampled among the customers {username} sees")
    return [
        ("list", client.list_page),
        ("detail", client.detail_page(sample["ids"])),
        ("search surname", client.search(list(SURNAMES))),
        ("search name", client.search(sample["names"] or list(SURNAMES))),
        # National format, as typed: "138 1234 5678". The baseline has no phone search: there
        # the same POST is a name/company icontains that finds nothing (not comparable).
        ("search phone", client.search(sample["phones"])),
        ("create", client.create(username, phone_base)),
    ]


def run_user(arms: list[Arm], username: str, args: argparse.Namespace) -> None:
    """Log in as ``username`` on every arm's server; append one summary per measurement to each
    arm's measurements. Single-client measurements take turns between the arms request by
    request; the concurrent one runs for each arm in turn.

    A server that is found dead after a measurement (killed from outside: its log is empty) is
    restarted and the measurement run again, once; the restart is noted in the results.
    """
    sessions: list[client.Session] = []

    def relogin() -> None:
        for session in sessions:
            session.close()
        sessions[:] = [arm.login(username, args) for arm in arms]

    def attempt(name: str, run) -> None:
        for tries in (1, 2):
            measured = run()
            dead = [arm for arm in arms if not arm.served.alive()]
            if not dead:
                for arm, m in zip(arms, measured, strict=True):
                    arm.result["measurements"].append(m.summary())
                _progress(arms, [arm.result["measurements"][-1] for arm in arms])
                return
            for arm in dead:
                note = (f"gunicorn {arm.served.exit_text()} during {name} as {username}"
                        + ("; restarted and measured again" if tries == 1 else ""))
                print(f"  ! {arm.target.label}: {note}", flush=True)
                for each in arms:  # both figures of the pair are discarded
                    each.result.setdefault("restarts", []).append(
                        f"{arm.target.variant}: {note}")
                if tries == 1:
                    arm.serve(args)
            if tries == 1:
                relogin()
        raise BenchError(f"gunicorn died twice during {name} as {username}")

    try:
        relogin()
        plans = [scenarios(username, arm.result["sample"]["users"][username],
                           random.Random().randrange(10**8)) for arm in arms]
        for k, (name, _scenario) in enumerate(plans[0]):
            attempt(name, lambda k=k, name=name: client.measure_interleaved(
                [(session, plan[k][1]) for session, plan in zip(sessions, plans, strict=True)],
                name, username, requests=args.requests, warmup=args.warmup,
                max_seconds=args.max_seconds, seed=args.seed))
        name = "list x4" if args.clients == 4 else f"list x{args.clients}"
        attempt(name, lambda: [
            client.measure(session, name, username, client.list_page, requests=args.requests,
                           warmup=args.warmup, max_seconds=args.max_seconds, seed=args.seed,
                           clients=args.clients)
            for session in sessions])
    finally:
        for session in sessions:
            session.close()


def _progress(arms: list[Arm], rows: list[dict]) -> None:
    parts = []
    for arm, row in zip(arms, rows, strict=True):
        p50 = "–" if row["p50_ms"] is None else f"{row['p50_ms']:.1f}"
        parts.append(f"{arm.target.variant} n={row['n']} p50 {p50} ms"
                     + (f" ({row['errors']} errors)" if row["errors"] else ""))
    print(f"  {rows[0]['name']:<16} {rows[0]['user']:<9} " + ";  ".join(parts), flush=True)


def new_result(target: Target, args: argparse.Namespace) -> dict:
    return {"database": target.name, "label": target.label, "variant": target.variant,
            "code_dir": str(target.code_dir), "workers": args.workers,
            "requests": args.requests, "customers_requested": args.customers,
            "measurements": []}


def set_up(arm: Arm, args: argparse.Namespace) -> None:
    """Seed (or reuse), ANALYZE, collectstatic and sample one arm; errors end up in its result."""
    target, result = arm.target, arm.result
    print(f"\n### {target.label}", flush=True)
    started = time.perf_counter()
    try:
        result["seed"] = prepare(target, args)
        if target.name == "postgres" and not args.no_analyze:
            result["analyze"] = db.analyze(target)
            print(f"  ANALYZE in {result['analyze']['analyze_seconds']:.1f} s (server "
                  f"autovacuum: {result['analyze']['autovacuum']})", flush=True)
        db.collectstatic(target)
        result["sample"] = db.sample(target, list(USERS))
        result["database_bytes"] = db.database_size(target)
        arm.logins = target.logins()
        for username in USERS:
            if username not in arm.logins:
                raise BenchError(f"no demo login for {username}")
    except BenchError as error:
        result["error"] = str(error)
        print(f"  ! {target.label}: {error}", flush=True)
    result["setup_seconds"] = time.perf_counter() - started


def bench_database(targets: list[Target], args: argparse.Namespace) -> list[dict]:
    """Set up every code version's database, serve them all at once, measure them side by side
    (the first is the encrypted working tree), then time key rotation on the encrypted one."""
    arms = [Arm(target, new_result(target, args)) for target in targets]
    for arm in arms:
        set_up(arm, args)
    ready = [arm for arm in arms if arm.ok]
    started = time.perf_counter()
    # Other work on the machine skews the figures: keep the load beside them.
    load_before = os.getloadavg()
    try:
        for arm in ready:
            arm.serve(args)
        if ready:
            print(f"\n### measuring {' beside '.join(a.target.variant for a in ready)}",
                  flush=True)
        for username in USERS if ready else ():
            run_user(ready, username, args)
    except BenchError as error:
        print(f"  ! {error}", flush=True)
        for arm in ready:
            arm.result["error"] = str(error)
    finally:
        for arm in ready:  # always stopped, restarted ones included
            arm.stop()
    measure_seconds = time.perf_counter() - started
    load_after = os.getloadavg()
    for arm in ready:
        arm.result.update(measure_seconds=measure_seconds, load_average_before=load_before,
                          load_average_after=load_after)
    encrypted = arms[0]
    if encrypted.ok and not args.no_rotate:
        print(f"\n### key rotation, {encrypted.target.label}", flush=True)
        encrypted.result["rotation"] = rotate(
            encrypted.target, encrypted.result["sample"]["customers_total"])
    for arm in arms:
        # The sampled ids, names and phones are inputs, not figures: keep the JSON small.
        for user in (arm.result.get("sample") or {}).get("users", {}).values():
            for key in ("ids", "names", "phones"):
                user[key] = len(user.get(key) or ())
    return [arm.result for arm in arms]


def rotate(target: Target, customers: int) -> dict:
    """Time ``keys rotate-master`` then ``keys rotate-data`` on the seeded encrypted database.

    Each runs as a child process with gunicorn stopped; the rate divides the data keys
    (customers) the command reports done by its wall time, start-up included. The command's
    own figure (its last progress line, start-up excluded) is kept beside it.
    """
    out: dict = {}
    # Bounded: generous for a slow machine (≥ 100 customers/s) plus ten minutes.
    timeout = 600 + customers / 100
    def status() -> list[str]:
        try:
            return db.keys(target, "status", timeout=600)["output"]
        except BenchError as error:
            return [f"keys status failed: {error}"]

    out["status_before"] = status()
    for verb in report.ROTATION:
        print(f"  {verb}…", flush=True)
        try:
            out[verb] = db.keys(target, verb, timeout=timeout)
        except BenchError as error:  # keep the HTTP figures and try the other rotation
            out[verb] = {"verb": verb, "error": str(error)}
        print("  " + report.rotation_line(verb, out[verb]), flush=True)
    out["status_after"] = status()
    return out


def compare_pair(encrypted: dict, baseline: dict | None) -> list[dict]:
    """Per measurement and user: the encrypted figures beside the baseline's."""
    rows = []
    base = {(m["name"], m["user"]): m for m in (baseline or {}).get("measurements", [])}
    for m in encrypted.get("measurements", []):
        b = base.get((m["name"], m["user"]))
        rows.append(report.compare(m, b))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    targets = []
    if args.db in ("sqlite", "both"):
        targets.append(db.sqlite_target(args.work_dir))
    try:
        if args.db in ("postgres", "both"):
            targets.append(db.postgres_target(args.work_dir, args.pg_url))
        baseline = None
        if args.baseline.lower() != "none":
            code_dir, commit = db.checkout(args.baseline, args.work_dir)
            baseline = {"revision": args.baseline, "commit": commit, "path": str(code_dir)}
            print(f"baseline {args.baseline} = {commit[:12]}, extracted at {code_dir}",
                  flush=True)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    results = {"started_at": datetime.now(UTC).isoformat(timespec="seconds"),
               "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
               "budgets": report.BUDGETS, "environment": environment(),
               "code": {ENCRYPTED: db.code_state(), BASELINE: baseline}, "databases": {}}
    for target in targets:
        versions = [target]
        if baseline:
            versions.append(target.baseline(Path(baseline["path"]), baseline["commit"][:7]))
        measured = bench_database(versions, args)
        entry = results["databases"][target.name] = {
            ENCRYPTED: measured[0], BASELINE: measured[1] if baseline else None}
        entry["comparison"] = compare_pair(entry[ENCRYPTED], entry[BASELINE])
    results["seconds"] = time.perf_counter() - started
    results["code"]["encrypted_at_end"] = end = db.code_state()
    start = results["code"][ENCRYPTED]
    changed = (start.get("head"), start.get("fingerprint")) != (end.get("head"),
                                                               end.get("fingerprint"))
    results["code"]["changed_during_run"] = changed
    print()
    if changed:
        print("note: the working tree (outside bench/) changed while the bench ran: HEAD "
              f"{start.get('head', '?')[:7]} → {end.get('head', '?')[:7]}; the encrypted "
              "figures may mix code versions.\n")
    for entry in results["databases"].values():
        print(report.table(entry) + "\n")
    path = report.write_json(results)
    print(f"total {results['seconds']:.0f} s; results: {path}")
    failed = [r for entry in results["databases"].values()
              for r in (entry[ENCRYPTED], entry[BASELINE]) if r and (
                  r.get("error") or any(run.get("error") for run in
                                        (r.get("rotation") or {}).values()
                                        if isinstance(run, dict)))]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
