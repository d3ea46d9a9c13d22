"""The Django side of the benchmark, run as a child process with the target's environment.

``python -P bench/seed.py load --customers N`` loads the demo company through
``anke.web.demo.load_demo`` and prints progress; ``python -P bench/seed.py sample --users a b``
prints ids, names and phone numbers of random customers each user may see. The last line of
output is ``RESULT <json>`` for the parent (bench/db.py) to read.

It runs against either code version (PYTHONPATH names the checkout): the encrypted working tree
or the plaintext baseline, so it imports nothing of the bench and only what both versions have;
``anke.encryption`` is used when its settings install it. ``anke_dir`` and ``foreign_modules``
in the result say which ``anke`` it imported, for the parent to check.
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


def encrypted() -> bool:
    """Whether the code under test has field-level encryption (its settings install the app).

    Not ``find_spec("anke.encryption")``: the venv's editable install of the working tree
    answers for ``anke.<name>`` packages the baseline checkout lacks.
    """
    from django.apps import apps

    return apps.is_installed("anke.encryption")


def code_info() -> dict:
    """Where the ``anke`` under test lives, and any ``anke.*`` module loaded from elsewhere."""
    import anke

    anke_dir = os.path.dirname(os.path.abspath(anke.__file__))
    foreign = sorted(name for name, module in list(sys.modules.items())
                     if (name == "anke" or name.startswith("anke."))
                     and getattr(module, "__file__", None)
                     and not os.path.abspath(module.__file__).startswith(anke_dir + os.sep))
    return {"anke_dir": anke_dir, "encrypted": encrypted(), "foreign_modules": foreign}


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


def _password_alone() -> None:
    """The bench signs its load clients in many times a minute; a TOTP code is good once, so in
    this scratch database the roles let a password alone in. The pages measured are the same."""
    from anke.access.actions import update_role
    from anke.access.models import Role
    from anke.core.context import Actor

    if not any(f.name == "mfa_required" for f in Role._meta.get_fields()):
        return  # a baseline from before second factors
    for role in Role.objects.filter(mfa_required=True):
        update_role(Actor.system(), role.pk, changes={"mfa_required": False})


def load(customers: int, seed: int) -> dict:
    from anke.web.demo import ensure_demo_users, load_demo

    # The users (one Argon2 hash each) are a one-off cost: timed apart from the customers.
    started = time.perf_counter()
    ensure_demo_users()
    users_seconds = time.perf_counter() - started
    _password_alone()
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


def national_phones(customers) -> list[str]:
    """The customers' phone numbers as a person types them: ``138 1234 5678``.

    With encryption the column holds envelopes, so the values are read through the model after
    ``open_for_reading`` (the seeder's own data; this child is not a web request to audit).
    """
    import phonenumbers
    from django.conf import settings

    if encrypted():
        from anke.core.context import Actor
        from anke.encryption.datakeys import open_for_reading

        open_for_reading(Actor.system(), customers)
    phones = []
    for customer in customers:
        value = customer.phone
        if not isinstance(value, str) or not value:
            continue  # empty, or Unreadable
        try:
            number = phonenumbers.parse(value, settings.PHONE_DEFAULT_REGION)
        except phonenumbers.NumberParseException:
            continue
        phones.append(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))
    return phones


def data_keys() -> dict | None:
    """Data keys by status, or None without encryption."""
    if not encrypted():
        return None
    from django.db.models import Count

    from anke.encryption.models import DataKey

    return dict(DataKey.objects.values_list("status").annotate(n=Count("id")))


def sample(usernames: list[str], count: int, names: int) -> dict:
    from django.contrib.auth import get_user_model

    from anke.customers.models import Customer

    User = get_user_model()
    out = {"customers_total": Customer.objects.count(), "rows_total": table_rows(),
           "data_keys": data_keys(), "users": {}}
    for username in usernames:
        user = User.objects.get(username=username)
        visible = Customer.objects.visible_to(user, "view")
        ids = [str(pk) for pk in visible.order_by("?").values_list("pk", flat=True)[:count]]
        full_names = list(visible.filter(kind=Customer.Kind.INDIVIDUAL)
                          .order_by("?").values_list("name", flat=True)[:names])
        # Whole rows (the encrypted phone needs its customer to open); a few more than needed
        # since some customers have no phone.
        picked = list(visible.order_by("?")[:names * 2])
        phones = national_phones(picked)[:names]
        out["users"][username] = {"visible": visible.count(), "ids": ids, "names": full_names,
                                  "phones": phones}
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
    result.update(code_info())
    sys.stdout.write("RESULT " + json.dumps(result, ensure_ascii=False) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
