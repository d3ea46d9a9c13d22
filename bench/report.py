"""The figures: one compact table per database beside the reference budgets, and a JSON file."""

import json
from datetime import UTC, datetime
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"

# From the performance issue. The latency budgets are defined at 1M customers on SQLite; the
# prototype figures are the reference implementation's list page at one and at four clients.
BUDGETS = {
    "seed_customers_per_s": 4000,
    "list_p50_ms": 8.0,
    "detail_p50_ms": 4.0,
    "prototype_list_p50_ms": 5.4,
    "prototype_list_x4_req_per_s": 350,
}
BUDGET_TEXT = {
    "list": "p50 ≤ 8 ms (1M, SQLite); proto 5.4 ms",
    "detail": "p50 ≤ 4 ms (1M, SQLite)",
    "list x4": "proto ~350 req/s",
}


def _verdict(row: dict) -> str:
    p50, rate = row.get("p50_ms"), row.get("req_per_s")
    if row["name"] == "list" and p50 is not None:
        return "within" if p50 <= BUDGETS["list_p50_ms"] else "over"
    if row["name"] == "detail" and p50 is not None:
        return "within" if p50 <= BUDGETS["detail_p50_ms"] else "over"
    if row["name"] == "list x4" and rate is not None:
        return "within" if rate >= BUDGETS["prototype_list_x4_req_per_s"] else "under"
    return ""


def _num(value, fmt: str = ".1f") -> str:
    return "–" if value is None else format(value, fmt)


def seed_line(seed: dict | None) -> str:
    if not seed:
        return "seed: skipped (--skip-seed, reusing the seeded database)"
    rate = seed["customers_per_s"]
    verdict = "within" if rate >= BUDGETS["seed_customers_per_s"] else "under"
    return (f"seed: {seed['customers']:,} customers in {seed['seconds']:.1f} s → "
            f"{rate:,.0f} customers/s [budget ≥ {BUDGETS['seed_customers_per_s']:,}: {verdict}]; "
            f"{seed['rows_written']:,} rows written → {seed['rows_per_s']:,.0f} rows/s; "
            f"domain records (customers, deals, activities, tasks, orders, tickets) "
            f"{seed['domain_records']:,} → {seed['domain_records_per_s']:,.0f}/s"
            + (f"; demo users created apart in {seed['users_seconds']:.1f} s"
               if "users_seconds" in seed else ""))


def table(result: dict) -> str:
    sample = result.get("sample") or {}
    size = result.get("database_bytes")
    head = (f"== {result['label']}: {sample.get('customers_total', 0):,} customers, "
            f"{sample.get('rows_total', 0):,} rows"
            + (f", {size / 2**20:,.0f} MiB" if size else "")
            + f"; gunicorn {result['workers']} workers; {result['requests']} requests per "
            "client per measurement")
    lines = [head, seed_line(result.get("seed"))]
    if result.get("analyze"):
        lines.append(f"planner statistics: ANALYZE run before measuring (server autovacuum "
                     f"{result['analyze']['autovacuum']})")
    elif result.get("database") == "postgres":
        lines.append("planner statistics: not refreshed (--no-analyze)")
    visible = ", ".join(f"{u} sees {v['visible']:,}" for u, v in sample.get("users", {}).items())
    if visible:
        lines.append(f"scope: {visible}")
    cols = (f"{'measurement':<17}{'user':<10}{'n':>5}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}"
            f"{'req/s':>8}{'err':>5}{'rows':>6}  budget")
    if result.get("measurements"):
        lines += [cols, "-" * (len(cols) + 34)]
    for row in result.get("measurements", []):
        budget = BUDGET_TEXT.get(row["name"], "")
        verdict = _verdict(row)
        lines.append(
            f"{row['name']:<17}{row['user']:<10}{row['n']:>5}{_num(row['p50_ms']):>9}"
            f"{_num(row['p99_ms']):>9}{_num(row['mean_ms']):>9}{_num(row['req_per_s'], '.0f'):>8}"
            f"{row['errors']:>5}{_num(row['rows_mean'], '.0f'):>6}  "
            + (f"{budget} [{verdict}]" if budget and verdict else budget)
            + (" (stopped at --max-seconds)" if row.get("stopped_early") else ""))
    for row in result.get("measurements", []):
        for sample_text in row.get("error_samples", []):
            lines.append(f"  ! {row['name']} as {row['user']}: {sample_text}")
    if result.get("error"):
        lines.append(f"  ! failed: {result['error']}")
    return "\n".join(lines)


def write_json(results: dict) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{stamp}.json"
    path.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n")
    return path
