"""The Django side of the benchmark, run as a child process with the target's environment.

``python -m bench.seed load --customers N`` loads the demo company through
``anke.web.demo.load_demo`` and prints progress; ``python -m bench.seed sample --users a b``
prints ids and names of random customers each user may see. The last line of output is
``RESULT <json>`` for the parent (bench/db.py) to read.
"""

import argparse
import json
import os
import sys
import time


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anke.settings")
    import django

    django.setup()


def table_rows() -> int:
    """Rows in every table of the database (the cache and session tables included)."""
    from django.db import connection

    total = 0
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")  # noqa: S608
            total += cursor.fetchone()[0]
    return total


def chunk_size(customers: int) -> int:
    """Customers per load_demo call: ~20 progress lines, whole batches of 2,000."""
    size = max(2000, min(20000, customers // 20 // 2000 * 2000))
    return min(customers, size) or 1


def load(customers: int, seed: int) -> dict:
    from anke.web.demo import ensure_demo_users, load_demo

    # The users (one Argon2 hash each) are a one-off cost: timed apart from the customers.
    started = time.perf_counter()
    ensure_demo_users()
    users_seconds = time.perf_counter() - started
    rows_before = table_rows()
    totals = dict.fromkeys(("customers", "deals", "activities", "tasks", "orders", "tickets"), 0)
    step = chunk_size(customers)
    started = time.perf_counter()
    done = 0
    while done < customers:
        size = min(step, customers - done)
        result = load_demo(size, seed=seed)
        for key in totals:
            totals[key] += getattr(result, key)
        done += size
        elapsed = time.perf_counter() - started
        rate = done / elapsed if elapsed else 0.0
        eta = (customers - done) / rate if rate else 0.0
        print(f"    {done:>9,}/{customers:,} customers  {rate:>7,.0f}/s  "
              f"{elapsed:>7.1f} s elapsed  ETA {eta:,.0f} s", flush=True)
    seconds = time.perf_counter() - started
    rows_after = table_rows()
    return {
        "seconds": seconds,
        "users_seconds": users_seconds,
        **totals,
        "domain_records": sum(totals.values()),
        "rows_written": rows_after - rows_before,
        "rows_total": rows_after,
        "customers_per_s": totals["customers"] / seconds if seconds else 0.0,
        "domain_records_per_s": sum(totals.values()) / seconds if seconds else 0.0,
        "rows_per_s": (rows_after - rows_before) / seconds if seconds else 0.0,
    }


def sample(usernames: list[str], count: int, names: int) -> dict:
    from django.contrib.auth import get_user_model

    from anke.customers.models import Customer

    User = get_user_model()
    out = {"customers_total": Customer.objects.count(), "rows_total": table_rows(), "users": {}}
    for username in usernames:
        user = User.objects.get(username=username)
        visible = Customer.objects.visible_to(user, "view")
        ids = [str(pk) for pk in visible.order_by("?").values_list("pk", flat=True)[:count]]
        full_names = list(visible.filter(kind=Customer.Kind.INDIVIDUAL)
                          .order_by("?").values_list("name", flat=True)[:names])
        out["users"][username] = {"visible": visible.count(), "ids": ids, "names": full_names}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.seed")
    sub = parser.add_subparsers(dest="command", required=True)
    p_load = sub.add_parser("load")
    p_load.add_argument("--customers", type=int, required=True)
    p_load.add_argument("--seed", type=int, default=2026)
    p_sample = sub.add_parser("sample")
    p_sample.add_argument("--users", nargs="+", required=True)
    p_sample.add_argument("--count", type=int, default=500)
    p_sample.add_argument("--names", type=int, default=50)
    args = parser.parse_args(argv)
    _setup()
    if args.command == "load":
        result = load(args.customers, args.seed)
    else:
        result = sample(args.users, args.count, args.names)
    sys.stdout.write("RESULT " + json.dumps(result, ensure_ascii=False) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
