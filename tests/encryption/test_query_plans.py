"""The lookups on blind indexes and data keys use the index on their column, whatever the planner
knows: a deployed SQLite database has no statistics (nothing runs ANALYZE), so a query that
also filters on a less selective indexed column (the owner, a key's status) may be planned on
that column and read thousands of rows for one match."""

import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from anke.customers.actions import create_contact
from anke.customers.models import Customer
from anke.customers.views import LIST_COLUMNS
from anke.encryption.datakeys import lock_subject_keys
from tests.personas import actor, customer_of

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


def search_as(user, text: str, page=False) -> tuple[list, CaptureQueriesContext]:
    customers = Customer.objects.visible_to(user, "view")
    if page:  # as the list page asks: its columns only, the owner joined
        customers = customers.select_related("owner").only(*LIST_COLUMNS)
    with CaptureQueriesContext(connection) as queries:
        found = list(customers.search(text, actor(user)))
    return found, queries


@sqlite_only
@pytest.mark.parametrize("page", [False, True], ids=["queryset", "list page"])
def test_a_scoped_phone_search_finds_candidates_on_the_blind_index(sales_a, sales_b, page):
    # given customers of two reps, one of them with a contact person, and more candidates for
    # the number than SQLite guesses a rep has customers (it then preferred the owner index)
    mine = customer_of(sales_a, name="欧阳锋", phone="13812345678")
    for i in range(12):
        customer_of(sales_b, name=f"黄药师{i}", phone="13812345678")
    create_contact(actor(sales_a), mine.pk, data={"name": "王五", "phone": "13812345678"})
    # when the first rep searches a phone number
    found, queries = search_as(sales_a, "138 1234 5678", page)
    # then the candidates come from the phone_bidx indexes, and the scope picks among them by
    # primary key, never by scanning the rep's customers on the owner index
    assert found == [mine]
    customers = plans(queries.captured_queries, "customers_customer")
    contacts = plans(queries.captured_queries, "customers_contactperson")
    assert [plan for sql, plan in customers + contacts if "_bidx" in sql]
    for sql, plan in customers + contacts:
        if '"phone_bidx" IN' in sql:
            assert "phone_bidx" in plan and "owner" not in plan, (sql, plan)
        else:
            assert "sqlite_autoindex_customers_" in plan and "owner" not in plan, (sql, plan)
        assert "SCAN customers_" not in plan, (sql, plan)
    # no deferred column loaded row by row to compare it
    assert not [sql for sql, _plan in customers if '"customers_customer"."id" = ' in sql]


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


def test_candidates_outside_the_scope_are_never_opened(sales_a, sales_b):
    # given a customer and a contact person of another rep with the phone number searched
    mine = customer_of(sales_a, phone="13812345678")
    theirs = customer_of(sales_b, phone="13812345678")
    company = customer_of(sales_b, name="某某贸易", kind="company", phone="")
    create_contact(actor(sales_b), company.pk, data={"name": "王五", "phone": "13812345678"})
    # when the first rep searches it
    found, queries = search_as(sales_a, "13812345678")
    # then only the rep's own customer's data key was fetched to confirm the match
    assert found == [mine]
    key_reads = [q["sql"] for q in queries.captured_queries
                 if 'FROM "encryption_datakey"' in q["sql"]]
    assert key_reads
    for sql in key_reads:
        assert str(mine.pk) in sql or mine.pk.hex in sql
        for other in (theirs, company):
            assert str(other.pk) not in sql and other.pk.hex not in sql


def test_a_search_by_a_contact_persons_phone_stays_inside_the_scope(sales_a, sales_b):
    company = customer_of(sales_b, name="某某贸易", kind="company", phone="")
    create_contact(actor(sales_b), company.pk, data={"name": "王五", "phone": "13700001234"})
    assert search_as(sales_a, "137 0000 1234")[0] == []
    assert search_as(sales_b, "137 0000 1234")[0] == [company]
