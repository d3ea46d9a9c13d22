"""The auditor's journey through the audit trail in a real browser: open it from the navigation,
filter by action, follow a customer id to who accessed that customer, download the CSV. The pages
are checked for JS errors and CSP violations like every journey (see conftest.py)."""

import csv
import io
import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from anke.audit.catalogue import Event
from anke.audit.models import AuditEvent
from anke.audit.recorder import record
from tests.browser.test_journeys import log_in
from tests.personas import actor, customer_of

pytestmark = pytest.mark.browser


def test_auditor_filters_the_trail_follows_a_customer_and_downloads_csv(page, live_server,
                                                                        cast, tmp_path):
    customer = customer_of(cast.sales_a, name="欧阳锋", phone="13812345678")
    customer_of(cast.sales_b, name="欧阳克")
    record(actor(cast.sales_b), Event.CUSTOMER_VIEW, object_type="customer",
           object_ids=[customer.pk], customers=[customer.pk], outcome="denied",
           reason="not_visible")

    log_in(page, cast.auditor)
    page.locator(f"#nav a[href='{reverse('audit:list')}']").click()
    table = page.get_by_test_id("audit-table")
    expect(table).to_contain_text("created a customer")

    # Filter by action: a POST, so the filter never shows in the URL.
    page.locator("select[name=action]").select_option(Event.CUSTOMER_VIEW.value)
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith(reverse("audit:list"))):
        page.get_by_role("search").get_by_role("button", name="Filter").click()
    expect(page).to_have_url(live_server.url + reverse("audit:list"))
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("viewed a customer")
    expect(rows.first.get_by_test_id("outcome")).to_have_text("denied")

    # The customer id cell leads to that customer's access history, ids only.
    rows.first.get_by_test_id("customer-link").click()
    history = reverse("audit:customer", args=[customer.pk])
    expect(page).to_have_url(live_server.url + history)
    expect(page.get_by_test_id("customer-id")).to_have_text(str(customer.pk))
    history_rows = page.get_by_test_id("audit-table").locator("tbody tr")
    expect(history_rows).to_have_count(2)  # its creation and the refused view
    expect(page.locator("main")).not_to_contain_text("欧阳锋")

    # Back to the trail, the same filter, and the CSV of it.
    page.locator(f"nav a[href='{reverse('audit:list')}']").first.click()
    page.locator("select[name=action]").select_option(Event.CUSTOMER_VIEW.value)
    with page.expect_download() as download_info:
        page.get_by_test_id("export-csv").click()
    download = download_info.value
    assert re.fullmatch(r"audit-events-\d{8}T\d{6}Z\.csv", download.suggested_filename)
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert [(r["action"], r["outcome"], r["customer_ids"]) for r in rows] == [
        ("customer.view", "denied", str(customer.pk))]
    export = AuditEvent.objects.filter(action=Event.AUDIT_EXPORT, actor=cast.auditor).get()
    assert (export.object_ids, export.fields) == (["1"], ["action"])
