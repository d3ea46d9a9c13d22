"""Access control's cost on the customer lists: scoped lists by role count, scope and page size.

Usage::

    .venv/bin/python -m bench.access                          # SQLite 1M customers, PostgreSQL 200k
    .venv/bin/python -m bench.access --customers 200000 --db sqlite   # a quicker look
    .venv/bin/python -m bench.access --skip-seed --db sqlite          # measure again, no seeding

Per database, in a var dir under ``--work-dir`` and, for PostgreSQL, the database ``--pg-url``
(default ``anke_bench_access`` on 127.0.0.1, dropped and created when seeding; kept afterwards
for ``--skip-seed`` unless ``--drop``), a child process with that environment:

1. seeds a sales organisation of 10 divisions with 2 teams each, one sales rep per team, and
   ``--customers`` customers spread evenly over the reps through the real bulk action
   (``anke.customers.actions.create_customers``, audited, encrypted); a department-scope sales
   manager heads division 1, whose subtree holds a tenth of the customers;
2. measures ``GET /customers/`` and ``GET /api/v1/customers/?page_size=N`` (N = 10, 50, 100) with
   ``django.test.Client`` in-process (every middleware; signed in with a second factor,
   bench/signin.py), all taking turns request by request, as that manager holding 1, 3 and 7 roles
   (custom roles with department, own and region scopes and mixed field policies: the per-record
   field-level path), a service agent (all customers, masked) and a sales rep (own customers):
   p50/p99/mean in ms and the SQL queries per request;
3. explains the list query of each user (EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE on
   PostgreSQL) and times it alone.

Figures, not assertions: a table per database with the budget of issue 4 (department-scope list
p50 ≤ 8 ms at 1M customers on SQLite) beside the manager's list, and whether the query count
stays fixed as the page size and the role count grow; bench/results/access-<timestamp>.json.
See bench/README.md.
"""

import argparse
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import db
from bench.audit import calibrate, environment
from bench.client import percentile
from bench.db import BenchError, Target
from bench.signin import signed_in_client

DEFAULT_CUSTOMERS = {"sqlite": 1_000_000, "postgres": 200_000}
BUDGET_LIST_P50_MS = 8.0
PAGE_SIZES = (10, 50, 100)
DIVISIONS, TEAMS = 10, 2  # 20 teams, one rep each; division 1 holds a tenth of the customers
# Customers per create_customers call (one transaction), the reps taking turns: small enough
# that a division's customers are interleaved with the others' in time, as on a real
# installation (with 500 the newest 9,000 rows held none of division 1's, which skews any
# plan that scans newest first); 50 would seed ~20% slower than 500, 100 ~10%.
BATCH = 100
RESULTS_DIR = Path(__file__).resolve().parent / "results"

# username → (label in the table, role codes). The three managers are alike in everything but
# their roles (same department and region, no customers of their own), so all users can take
# turns request by request: load on the machine that comes and goes then falls on all alike.
MANAGERS = {
    "deptmgr1": ("sales manager, 1 role", ["sales_manager"]),
    "deptmgr3": ("sales manager, 3 roles", ["sales_manager", "bench-region-masked",
                                             "bench-own-mixed"]),
    "deptmgr7": ("sales manager, 7 roles", ["sales_manager", "bench-region-masked",
                                             "bench-own-mixed", "bench-dept-readonly",
                                             "bench-region-mixed", "bench-dept-export",
                                             "bench-tickets-only"]),
}
OTHERS = {
    "service1": ("service agent (all, masked)", ["service_agent"]),
    "rep01": ("sales rep (own)", ["sales_rep"]),
}
USERS = {**MANAGERS, **OTHERS}


# --- the parent: environments, one child per database, the table -------------------------------

@dataclass
class AccessTarget(Target):
    """A bench target in which the test client's host is allowed and the API's per-user rate
    limit does not answer 429 to a benchmark sending hundreds of requests a second."""

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update({"ANKE_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
                    "ANKE_API_RATE_USER": "1000000/min"})
        return env


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.access",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=None,
                        help="customers to seed (default 1,000,000 on SQLite, 200,000 on "
                             "PostgreSQL)")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--requests", type=int, default=200,
                        help="timed requests per user and request kind (default 200)")
    parser.add_argument("--warmup", type=int, default=10,
                        help="untimed requests per user and request kind first (default 10)")
    parser.add_argument("--skip-seed", action="store_true",
                        help="reuse the databases seeded by an earlier run (migrated if needed)")
    parser.add_argument("--work-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "anke-bench-access")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/anke_bench_access",
                        help="PostgreSQL database to drop, create and use (loopback only)")
    parser.add_argument("--drop", action="store_true",
                        help="remove the var dirs and drop the PostgreSQL database afterwards")
    parser.add_argument("--seed", type=int, default=2026, help="data seed (default 2026)")
    parser.add_argument("--worker", choices=("sqlite", "postgres"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.customers is not None and not DIVISIONS * TEAMS <= args.customers <= 5_000_000:
        parser.error("--customers must be from 20 to 5,000,000")
    if args.requests < 10 or args.warmup < 1:
        parser.error("--requests must be ≥ 10 and --warmup ≥ 1")
    return args


def targets(args: argparse.Namespace) -> list[AccessTarget]:
    return db.scratch_targets(args.db, args.work_dir, args.pg_url, AccessTarget)


def exists(target: AccessTarget) -> None:
    if target.name == "sqlite":
        if not (target.var_dir / "anke.sqlite3").exists():
            raise BenchError(f"no seeded SQLite database in {target.var_dir}: "
                             "run without --skip-seed first.")
        return
    conn, dbname = db._pg_admin(target)
    with conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                             (dbname,)).fetchone()
    if not found:
        raise BenchError(f"PostgreSQL database {dbname} does not exist: "
                         "run without --skip-seed first.")


def run_target(target: AccessTarget, args: argparse.Namespace) -> dict:
    customers = args.customers or DEFAULT_CUSTOMERS[target.name]
    print(f"\n== {target.db_label}: {customers:,} customers, var dir {target.var_dir}"
          + (f", {target.database_url}" if target.name == "postgres" else ""), flush=True)
    load_before = os.getloadavg()
    if args.skip_seed:
        exists(target)
    else:
        db.reset(target)
    migrate_seconds = db.migrate(target)
    db.collectstatic(target)  # the list page renders {% static %} through the manifest
    print(f"  migrated in {migrate_seconds:.1f} s", flush=True)
    cmd = ["-m", "bench.access", "--worker", target.name, "--customers", str(customers),
           "--requests", str(args.requests), "--warmup", str(args.warmup),
           "--seed", str(args.seed)]
    if args.skip_seed:
        cmd.append("--skip-seed")
    # Bounded but generous: seeding at ≥ 200 customers/s, 20 measurements of ≤ 1 s a request.
    timeout = 900 + (0 if args.skip_seed else customers / 200) + 20 * (
        args.requests + args.warmup)
    result = db.run(target, cmd, timeout=timeout, echo=True)
    if result is None:
        raise BenchError("the access bench child ended without a result")
    result["migrate_seconds"] = migrate_seconds
    result["load_before_after"] = [load_before, os.getloadavg()]
    result["database_bytes"] = db.database_size(target)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    started = datetime.now(UTC)
    results = {"started": started.isoformat(), "args": {k: str(v) for k, v in vars(args).items()},
               "budget": {"department_list_p50_ms": BUDGET_LIST_P50_MS, "at": "1M, SQLite"},
               "environment": environment(), "code": db.code_state(), "databases": {}}
    try:
        chosen = targets(args)
    except BenchError as error:
        print(f"bench.access: {error}", file=sys.stderr)
        return 2
    for target in chosen:
        try:
            results["databases"][target.name] = run_target(target, args)
        except BenchError as error:
            print(f"  ! {target.db_label} failed: {error}", flush=True)
            results["databases"][target.name] = {"error": str(error)}
        finally:
            if args.drop:
                db.drop_scratch(target)
    if args.drop:
        with contextlib.suppress(OSError):  # only when nothing else was left in it
            args.work_dir.rmdir()
    for name, result in results["databases"].items():
        print("\n" + table(name, result))
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"access-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n")
    print(f"\nResults written to {path}")
    return 1 if any("error" in r for r in results["databases"].values()) else 0


# --- the table ----------------------------------------------------------------------------------

def _queries(m: dict) -> str:
    low, high = m["queries_min"], m["queries_max"]
    return f"{high}" if low == high else f"{low}–{high}"


def verdicts(rows: list[dict]) -> None:
    """Mark each row ``by size`` (the user's API pages of 10, 50 and 100 rows cost the same
    queries) and ``by roles`` (the manager with 3 or 7 roles costs the same queries as with 1)."""
    by_key = {(r["user"], r["request"]): r for r in rows}
    for r in rows:
        r["by_size"] = r["by_roles"] = None
        if r["request"].startswith("api"):
            sizes = [by_key[(r["user"], f"api {n}")]["queries_max"] for n in PAGE_SIZES
                     if (r["user"], f"api {n}") in by_key]
            r["by_size"] = "fixed" if len(set(sizes)) == 1 else "grows"
        if r["user"] in MANAGERS:
            # 1, 3 and 7 roles. One more query from 1 role to several, the same for 3 as for
            # 7, is a step (the per-record field path reads the department subtree once), not
            # growth with the role count.
            counts = [by_key[(u, r["request"])]["queries_max"] for u in MANAGERS
                      if (u, r["request"]) in by_key]
            if len(set(counts)) == 1:
                r["by_roles"] = "fixed"
            elif len(set(counts[1:])) == 1:
                r["by_roles"] = f"step {counts[1] - counts[0]:+d}"
            else:
                r["by_roles"] = "grows"


def table(name: str, r: dict) -> str:
    label = {"sqlite": "SQLite", "postgres": "PostgreSQL"}[name]
    if "error" in r:
        return f"{label}: failed — {r['error']}"
    before, after = r["load_before_after"]
    cal = r["calibration_ms"]
    seed = r.get("seed")
    seeded = (f"seeded {seed['customers']:,} in {seed['seconds']:.0f} s "
              f"({seed['customers_per_s']:,.0f}/s)" if seed else "reused (--skip-seed)")
    lines = [f"{label} — {r['customers']:,} customers ({seeded}); division 1 holds "
             f"{r['users']['deptmgr1']['visible']:,}; load average {before[0]:.2f} before, "
             f"{after[0]:.2f} after ({os.cpu_count()} CPUs); CPU calibration "
             f"{min(cal.values()):.0f}–{max(cal.values()):.0f} ms (≈70 idle)",
             f"  {'user':<30} {'request':<26} {'p50':>9} {'p99':>9} {'mean':>9} {'rows':>5} "
             f"{'queries':>7} {'by size':>7} {'by roles':>8}   budget"]
    rows = r["measurements"]
    verdicts(rows)
    last_user = None
    for m in rows:
        user = USERS[m["user"]][0] if m["user"] != last_user else ""
        last_user = m["user"]
        budget = ""
        if m["user"] in MANAGERS and m["request"] == "web":
            ok = m["p50_ms"] <= BUDGET_LIST_P50_MS
            budget = (f"p50 ≤ {BUDGET_LIST_P50_MS:.0f} ms (1M, SQLite) "
                      f"{'within' if ok else 'over'}")
        lines.append(f"  {user:<30} {m['path']:<26} {m['p50_ms']:>6.2f} ms {m['p99_ms']:>6.1f} ms "
                     f"{m['mean_ms']:>6.2f} ms {m['rows']:>5} {_queries(m):>7} "
                     f"{m['by_size'] or '–':>7} {m['by_roles'] or '–':>8}   {budget}")
    lines.append("  the list query alone (ORM, first page of 50, "
                 f"{r['query_alone'][0]['n']} runs each):")
    for q in r["query_alone"]:
        lines.append(f"  {USERS[q['user']][0]:<30} {'SQL only':<26} {q['p50_ms']:>6.2f} ms "
                     f"{q['p99_ms']:>6.1f} ms {q['mean_ms']:>6.2f} ms   plan: {q['plan_short']}")
    return "\n".join(lines)


# --- the child: Django set up in the target's environment --------------------------------------

def _say(text: str) -> None:
    print(f"  {text}", flush=True)


def _summary(latencies: list[float]) -> dict:
    return {"n": len(latencies), "p50_ms": percentile(latencies, 50),
            "p90_ms": percentile(latencies, 90), "p99_ms": percentile(latencies, 99),
            "mean_ms": statistics.fmean(latencies), "max_ms": max(latencies)}


def custom_roles() -> dict[str, dict]:
    """Roles an administrator might add: other scopes and field policies that disagree with
    the sales manager's (so no user holding them has one uniform field policy)."""
    from anke.access.catalogue import CUSTOMER_DATA_RESOURCES
    from anke.access.models import classified_field_keys

    keys = classified_field_keys()

    def fields(default: str, **by_name: str) -> dict:
        return {key: by_name.get(key.split(".", 1)[1], default) for key in keys}

    def scopes(scope: str, resources=CUSTOMER_DATA_RESOURCES) -> dict:
        return dict.fromkeys(resources, scope)

    view = ["customer.view", "contact.view", "deal.view", "ticket.view"]
    return {
        "bench-region-masked": {"name": "区域查看（脱敏）", "permissions": view,
                                "scopes": scopes("region"), "field_policies": fields("masked")},
        "bench-own-mixed": {"name": "本人客户（混合）",
                            "permissions": [*view, "customer.create", "customer.edit"],
                            "scopes": scopes("own"),
                            "field_policies": fields("masked", phone="edit", email="read",
                                                     id_number="hidden")},
        "bench-dept-readonly": {"name": "部门只读", "permissions": view,
                                "scopes": scopes("department"),
                                "field_policies": fields("read", id_number="masked",
                                                         birthday="hidden")},
        "bench-region-mixed": {"name": "区域联系方式", "permissions": ["customer.view"],
                               "scopes": scopes("region", ["customer"]),
                               "field_policies": fields("hidden", phone="read", name="read")},
        "bench-dept-export": {"name": "部门导出", "permissions": ["customer.view",
                                                                  "customer.export"],
                              "scopes": scopes("department", ["customer"]),
                              "field_policies": fields("masked")},
        "bench-tickets-only": {"name": "部门工单", "permissions": ["ticket.view",
                                                                   "ticket.create"],
                               "scopes": scopes("department", ["ticket"]),
                               "field_policies": fields("masked", description="edit")},
    }


def seed_organisation(gen) -> dict:
    """Departments, regions, roles and users through the real actions (audited)."""
    from anke.access.actions import create_role
    from anke.accounts.actions import create_department, create_region, create_user
    from anke.core.context import Actor

    operator = Actor.system()
    for code, role in custom_roles().items():
        create_role(operator, code=code, **role)
    hq = create_department(operator, name="总部")
    centre = create_department(operator, name="销售中心", parent=hq)
    service = create_department(operator, name="客服部", parent=hq)
    numerals = "一二三四五六七八九十"
    reps, division_one = [], None
    for d in range(DIVISIONS):
        division = create_department(operator, name=f"销售{numerals[d]}部", parent=centre)
        region = create_region(operator, code=f"d{d + 1:02d}", name=f"第{numerals[d]}大区")
        if d == 0:
            division_one = (division, region)
        for t in range(TEAMS):
            team = create_department(operator, name=f"销售{numerals[d]}部{numerals[t]}组",
                                     parent=division)
            n = d * TEAMS + t + 1
            reps.append(create_user(operator, username=f"rep{n:02d}", password=None,
                                    roles=["sales_rep"], display_name=gen.person_name(),
                                    department=team, region=region))
    division, region = division_one
    for username, (_label, roles) in MANAGERS.items():
        create_user(operator, username=username, password=None, roles=roles,
                    display_name=gen.person_name(), department=division, region=region)
    create_user(operator, username="service1", password=None, roles=["service_agent"],
                display_name=gen.person_name(), department=service)
    return {"departments": 3 + DIVISIONS * (TEAMS + 1), "reps": len(reps)}


def seed_customers(total: int, gen) -> dict:
    """``total`` customers, a batch per rep in turn (so each division's customers are spread
    over the whole time range, as on a real installation)."""
    from django.contrib.auth import get_user_model

    from anke.core.context import Actor
    from anke.customers.actions import create_customers

    reps = list(get_user_model().objects.filter(username__startswith="rep")
                .select_related("department").order_by("username"))
    started = time.perf_counter()
    done, step, next_report = 0, BATCH, max(total // 20, 1)
    while done < total:
        for rep in reps:
            size = min(step, total - done)
            if size <= 0:
                break
            create_customers(Actor.system(rep, method="demo"),
                             [gen.customer() for _ in range(size)])
            done += size
        if done >= next_report or done == total:
            next_report += max(total // 20, 1)
            elapsed = time.perf_counter() - started
            rate = done / elapsed
            _say(f"{done:>9,}/{total:,} customers  {rate:>6,.0f}/s  {elapsed:>7.1f} s elapsed  "
                 f"ETA {(total - done) / rate:,.0f} s")
    seconds = time.perf_counter() - started
    return {"customers": total, "seconds": seconds, "customers_per_s": total / seconds}


def analyze() -> dict | None:
    """PostgreSQL: planner statistics, as autovacuum would gather after a bulk load. SQLite
    gets none (nothing runs ANALYZE on a deployed SQLite database; bench/README.md)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"analyze_seconds": time.perf_counter() - started}


class QueryCounter:
    """Counts the SQL statements the connection executes (installed with execute_wrapper)."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


DETAIL_LINK = re.compile(r'href="/customers/[0-9a-f-]{36}/"')


def rows_of(kind: str, response) -> int:
    if kind == "web":
        return len(set(DETAIL_LINK.findall(response.content.decode())))
    return len(response.json()["results"])


def measure_http(users: dict, requests: int, warmup: int) -> list[dict]:
    """Every user's web list and API pages, all taking turns request by request."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    kinds = [("web", "/customers/", "GET /customers/")] + [
        (f"api {n}", f"/api/v1/customers/?page_size={n}", f"API ?page_size={n}")
        for n in PAGE_SIZES]
    plans = []
    for username, user in users.items():
        client = signed_in_client(user)
        for kind, url, path in kinds:
            plans.append({"user": username, "request": kind, "url": url, "path": path,
                          "client": client, "latencies": [], "queries": [], "rows": set(),
                          "statements": None, "masked_phone": None})
    counter = QueryCounter()

    def get(plan: dict) -> float:
        before = counter.count
        began = time.perf_counter()
        response = plan["client"].get(plan["url"])
        elapsed = (time.perf_counter() - began) * 1000
        if response.status_code != 200:
            raise BenchError(f"GET {plan['url']} as {plan['user']} answered "
                             f"{response.status_code}: {response.content[:300]!r}")
        plan["queries"].append(counter.count - before)
        plan["rows"].add(rows_of(plan["request"], response))
        if plan["request"].startswith("api") and plan["masked_phone"] is None:
            phones = [row.get("phone") or "" for row in response.json()["results"]]
            plan["masked_phone"] = any("*" in p for p in phones)
        return elapsed

    with connection.execute_wrapper(counter):
        for plan in plans:  # what each request runs, once, for the JSON
            with CaptureQueriesContext(connection) as captured:
                get(plan)
            plan["statements"] = [q["sql"][:400] for q in captured.captured_queries]
        for i in range(warmup + requests):
            for j in range(len(plans)):
                plan = plans[(i + j) % len(plans)]  # rotated: no fixed neighbour
                elapsed = get(plan)
                if i >= warmup:
                    plan["latencies"].append(elapsed)
                else:
                    plan["queries"].pop()  # the first requests may warm caches
            if (i + 1) % 50 == 0:
                _say(f"{i + 1 - warmup if i >= warmup else 0:>4}/{requests} timed rounds of "
                     f"{len(plans)} requests")
    out = []
    for plan in plans:
        summary = _summary(plan["latencies"])
        out.append({"user": plan["user"], "label": USERS[plan["user"]][0],
                    "roles": len(USERS[plan["user"]][1]), "request": plan["request"],
                    "path": plan["path"], **summary,
                    "rows": max(plan["rows"]), "queries_min": min(plan["queries"]),
                    "queries_max": max(plan["queries"]),
                    "masked_phone": plan["masked_phone"], "statements": plan["statements"]})
        _say(f"{USERS[plan['user']][0]:<30} {plan['path']:<24} p50 {summary['p50_ms']:6.2f} ms "
             f"p99 {summary['p99_ms']:6.1f} ms  queries {out[-1]['queries_max']}")
    return out


def measure_query(users: dict, runs: int = 50) -> list[dict]:
    """The list page's own query (visible_to, newest first, 51 rows), timed alone and
    explained: where a scoped list's time goes when the database is the slow part."""
    from django.db import connection

    from anke.customers.models import Customer

    queries = {username: (Customer.objects.visible_to(user, "view").select_related("owner")
                          .order_by("-created_at", "-pk")[:51]) for username, user in users.items()}
    latencies = {username: [] for username in users}
    for i in range(runs + 3):
        for username, qs in queries.items():  # taking turns, like the requests
            began = time.perf_counter()
            list(qs.all())
            if i >= 3:
                latencies[username].append((time.perf_counter() - began) * 1000)
    out = []
    for username, qs in queries.items():
        if connection.vendor == "postgresql":
            plan = qs.explain(analyze=True, buffers=True)
        else:
            plan = qs.explain()
        sql, params = qs.query.sql_with_params()
        short = " | ".join(line.strip() for line in plan.splitlines()
                           if line.strip() and "Planning" not in line
                           and "Execution" not in line and "Buffers" not in line)[:160]
        out.append({"user": username, **_summary(latencies[username]), "sql": sql,
                    "params": [str(p) for p in params], "plan": plan, "plan_short": short})
        _say(f"{USERS[username][0]:<30} list query alone p50 {out[-1]['p50_ms']:.2f} ms")
        print(f"    SQL: {sql % tuple(repr(str(p)) for p in params)}\n    plan:\n"
              + "\n".join("      " + line for line in plan.splitlines()), flush=True)
    return out


def worker(args: argparse.Namespace) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anke.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from anke.customers.models import Customer
    from anke.web.demo import Generator

    result = {"database": args.worker, "loadavg": {}, "calibration_ms": {}}

    def phase(name: str, func):
        result["loadavg"][name] = [os.getloadavg()[0]]
        result["calibration_ms"][name] = calibrate()
        value = func()
        result["loadavg"][name].append(os.getloadavg()[0])
        return value

    if not args.skip_seed:
        gen = Generator(args.seed)
        result["organisation"] = seed_organisation(gen)
        _say(f"seeding {args.customers:,} customers over {DIVISIONS * TEAMS} reps")
        result["seed"] = phase("seed", lambda: seed_customers(args.customers, gen))
        result["analyze"] = analyze()
    result["customers"] = Customer.objects.count()
    users = {u.username: u for u in get_user_model().objects.filter(username__in=USERS)}
    if set(users) != set(USERS):
        raise BenchError(f"users missing: {sorted(set(USERS) - set(users))}: seed again")
    users = {name: users[name] for name in USERS}
    result["users"] = {name: {"roles": USERS[name][1],
                              "visible": Customer.objects.visible_to(u, "view").count()}
                       for name, u in users.items()}
    _say("visible customers: " + ", ".join(f"{name} {v['visible']:,}"
                                           for name, v in result["users"].items()))
    _say(f"measuring: {len(users)} users × 4 requests, {args.warmup} warm-up + "
         f"{args.requests} timed rounds")
    result["measurements"] = phase("http", lambda: measure_http(users, args.requests,
                                                                args.warmup))
    result["query_alone"] = phase("query", lambda: measure_query(users))
    print("RESULT " + json.dumps(result, default=str, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
