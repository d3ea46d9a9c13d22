"""The lookups on blind indexes and data keys use the index on their column, whatever the planner
knows: a deployed SQLite database has no statistics (nothing runs ANALYZE), so a query that
also filters on a less selective indexed column (the owner, a key's status) may be planned on
that column and read thousands of rows for one match."""

import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from anke.encryption.datakeys import lock_subject_keys
from tests.personas import customer_of

sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite",
                                 reason="EXPLAIN QUERY PLAN is SQLite's; PostgreSQL has statistics")


def plans(queries, table: str) -> list[tuple[str, str]]:
    """(sql, plan) of every captured SELECT that reads ``table``."""
    found = []
    with connection.cursor() as cursor:
        for query in queries:
            sql = query["sql"]
            if sql.startswith("SELECT") and f'FROM "{table}"' in sql:
                cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
                found.append((sql, " | ".join(row[-1] for row in cursor.fetchall())))
    return found


@sqlite_only
def test_a_new_customers_key_lookups_use_the_subject_index(sales_a):
    customer_of(sales_a)  # another subject with an active key
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        customer_of(sales_a, name="新客户", phone="13900001111")
        lock_subject_keys([uuid.uuid4()], create=True)
    lookups = plans(queries.captured_queries, "encryption_datakey")
    assert lookups
    for sql, plan in lookups:
        assert "(subject_id=?)" in plan, (sql, plan)
        assert "datakey_rotation" not in plan and "SCAN" not in plan, (sql, plan)
