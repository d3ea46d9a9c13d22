"""The figures: one table per database, encrypted beside the plaintext baseline with the
overhead in % and the budgets beside them; and a JSON file."""

import json
from datetime import UTC, datetime
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"

# From the performance issues. The latency budgets are defined at 1M customers on SQLite; the
# prototype figures are the reference implementation's list page at one and at four clients.
# The encryption issue adds the list overhead over the plaintext baseline run in the same
# invocation, the exact phone search and the key rotation rates.
BUDGETS = {
    "seed_customers_per_s": 4000,
    "list_p50_ms": 8.0,
    "detail_p50_ms": 4.0,
    "prototype_list_p50_ms": 5.4,
    "prototype_list_x4_req_per_s": 350,
    "list_p50_overhead_pct": 15.0,
    "search_phone_p50_ms": 5.0,
    "rotate_master_per_s": 20000,
    "rotate_data_per_s": 2000,
}
# Measurements whose baseline figure is a different operation: the foundation had no phone
# search, so there the phone number is a name/company icontains search that finds nothing.
NOT_COMPARABLE = {"search phone"}


def _within(ok: bool, low_word: str = "over") -> str:
    return "within" if ok else low_word


def budget_text(row: dict) -> str:
    """The budgets that apply to one compared row, each with its verdict."""
    name, p50, rate = row["name"], row.get("p50_ms"), row.get("req_per_s")
    parts = []
    if name == "list":
        overhead = row.get("p50_overhead_pct")
        if overhead is not None:
            parts.append(f"overhead ≤ {BUDGETS['list_p50_overhead_pct']:.0f}% "
                         f"[{_within(overhead <= BUDGETS['list_p50_overhead_pct'])}]")
        if p50 is not None:
            parts.append(f"p50 ≤ {BUDGETS['list_p50_ms']:.0f} ms (1M, SQLite) "
                         f"[{_within(p50 <= BUDGETS['list_p50_ms'])}]")
    elif name == "detail" and p50 is not None:
        parts.append(f"p50 ≤ {BUDGETS['detail_p50_ms']:.0f} ms (1M, SQLite) "
                     f"[{_within(p50 <= BUDGETS['detail_p50_ms'])}]")
    elif name == "search phone" and p50 is not None:
        parts.append(f"p50 ≤ {BUDGETS['search_phone_p50_ms']:.0f} ms (1M, SQLite) "
                     f"[{_within(p50 <= BUDGETS['search_phone_p50_ms'])}]")
    elif name.startswith("list x") and rate is not None:
        parts.append(f"proto ~{BUDGETS['prototype_list_x4_req_per_s']} req/s "
                     f"[{_within(rate >= BUDGETS['prototype_list_x4_req_per_s'], 'under')}]")
    return "; ".join(parts)


def _num(value, fmt: str = ".1f") -> str:
    return "–" if value is None else format(value, fmt)


def _pct(value) -> str:
    return "–" if value is None else f"{value:+.0f}%"


def compare(m: dict, b: dict | None) -> dict:
    """One measurement of the encrypted code with the baseline's figures and the overhead."""
    comparable = m["name"] not in NOT_COMPARABLE
    row = {key: m.get(key) for key in ("name", "user", "clients", "n", "errors", "p50_ms",
                                       "p99_ms", "mean_ms", "req_per_s", "rows_mean",
                                       "stopped_early")}
    row["comparable"] = comparable
    row["baseline"] = None if b is None else {
        key: b.get(key) for key in ("n", "errors", "p50_ms", "p99_ms", "mean_ms", "req_per_s",
                                    "rows_mean", "stopped_early")}
    row["p50_overhead_pct"] = row["p99_overhead_pct"] = row["req_per_s_change_pct"] = None
    if b is not None and comparable:
        for key, out in (("p50_ms", "p50_overhead_pct"), ("p99_ms", "p99_overhead_pct"),
                         ("req_per_s", "req_per_s_change_pct")):
            if m.get(key) is not None and b.get(key):
                row[out] = (m[key] / b[key] - 1) * 100
    row["budget"] = budget_text(row)
    return row


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


ROTATION = {"rotate-master": ("data keys", "rotate_master_per_s"),
            "rotate-data": ("customers", "rotate_data_per_s")}


def rotation_line(verb: str, run: dict) -> str:
    unit, budget_key = ROTATION[verb]
    if run.get("error"):
        return f"{verb}: failed: {run['error']}"
    done, seconds = run.get("done"), run["seconds"]
    if done is None:
        return f"{verb}: finished in {seconds:.1f} s without a progress line (nothing to do?)"
    rate = done / seconds if seconds else 0.0
    run["rate_per_s"] = rate
    budget = BUDGETS[budget_key]
    return (f"{verb}: {done:,} {unit} in {seconds:.1f} s → {rate:,.0f} {unit}/s end to end, "
            f"{run.get('command_rate_per_s', 0):,}/s by the command's own count (start-up "
            f"excluded) [budget ≥ {budget:,}: {_within(rate >= budget, 'under')}]")


def _head(result: dict) -> str:
    sample = result.get("sample") or {}
    size = result.get("database_bytes")
    return (f"{sample.get('customers_total', 0):,} customers, {sample.get('rows_total', 0):,} "
            f"rows" + (f", {size / 2**20:,.0f} MiB" if size else ""))


def table(entry: dict) -> str:
    enc, base = entry["encrypted"], entry.get("baseline")
    db_label = {"sqlite": "SQLite", "postgres": "PostgreSQL"}[enc["database"]]
    base_name = f"baseline {Path(base['code_dir']).name.removeprefix('code-')[:7]}" if base \
        else "baseline"
    lines = [f"== {db_label}: encrypted (working tree) {_head(enc)}"
             + (f" | plaintext {base_name} {_head(base)}" if base else " | no baseline")
             + f"; gunicorn {enc['workers']} workers; {enc['requests']} requests per client "
               "per measurement"]
    for label, result in (("encrypted", enc), (base_name, base)):
        if not result:
            continue
        lines.append(f"{label} {seed_line(result.get('seed'))}")
        if result.get("analyze"):
            lines.append(f"{label} planner statistics: ANALYZE run before measuring (server "
                         f"autovacuum {result['analyze']['autovacuum']})")
        elif result.get("database") == "postgres":
            lines.append(f"{label} planner statistics: not refreshed (--no-analyze)")
    visible = ", ".join(f"{u} sees {v['visible']:,}"
                        for u, v in (enc.get("sample") or {}).get("users", {}).items())
    if visible:
        lines.append(f"scope: {visible}")
    group = f"{'':<26}{'── encrypted ──':^27}  {'── ' + base_name + ' ──':^27}"
    cols = (f"{'measurement':<16}{'user':<10}"
            f"{'n':>5}{'p50 ms':>8}{'p99 ms':>8}{'req/s':>6}  "
            f"{'n':>5}{'p50 ms':>8}{'p99 ms':>8}{'req/s':>6}"
            f"{'p50 Δ':>7}{'err':>6}{'rows':>8}  budget")
    rows = entry.get("comparison") or []
    if rows:
        lines += [group, cols, "-" * (len(cols) + 30)]
    for row in rows:
        b = row.get("baseline") or {}
        delta = _pct(row["p50_overhead_pct"]) if row["comparable"] else "n/c"
        err = f"{row['errors']}/{b.get('errors', '–')}"
        rows_text = f"{_num(row['rows_mean'], '.0f')}/{_num(b.get('rows_mean'), '.0f')}"
        early = row.get("stopped_early") or b.get("stopped_early")
        lines.append(
            f"{row['name']:<16}{row['user']:<10}"
            f"{row['n']:>5}{_num(row['p50_ms']):>8}{_num(row['p99_ms']):>8}"
            f"{_num(row['req_per_s'], '.0f'):>6}  "
            f"{b.get('n', '–'):>5}{_num(b.get('p50_ms')):>8}{_num(b.get('p99_ms')):>8}"
            f"{_num(b.get('req_per_s'), '.0f'):>6}"
            f"{delta:>7}{err:>6}{rows_text:>8}  {row['budget']}"
            + (" (stopped at --max-seconds)" if early else ""))
    if rows:
        lines.append("p50 Δ: encrypted over baseline; err, rows: encrypted/baseline. n/c: not "
                     "comparable, the baseline has no phone search (its figure is a "
                     "name/company search for the number, which finds nothing).")
    rotation = enc.get("rotation") or {}
    for verb in ROTATION:
        if verb in rotation:
            lines.append(rotation_line(verb, rotation[verb]))
    notes = [*(enc.get("restarts") or ()), *((base or {}).get("restarts") or ())]
    for note in dict.fromkeys(notes):  # each is noted on both versions: once is enough
        lines.append(f"  ! {note}")
    for label, result in (("encrypted", enc), (base_name, base)):
        for row in (result or {}).get("measurements", []):
            for sample_text in row.get("error_samples", []):
                lines.append(f"  ! {label} {row['name']} as {row['user']}: {sample_text}")
        if result and result.get("error"):
            lines.append(f"  ! {label} failed: {result['error']}")
    return "\n".join(lines)


def write_json(results: dict) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{stamp}.json"
    path.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n")
    return path
