"""What a person does in a real browser, end to end: log in, read the dashboard, find a customer,
correct a phone number, switch the language; and what must not happen: another owner's customer
shown, a stored script run. Every page is also checked for JS errors and CSP violations (see
conftest.py)."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from anke.customers.models import Customer
from tests.accounts.signing_in import KNOWN_SECRET, enrol_totp, unused_code
from tests.helpers import read_back
from tests.personas import PASSWORD, customer_of

pytestmark = pytest.mark.browser


def log_in(page, user):
    """Password, then the code of the user's authenticator app (enrolled here if need be)."""
    if not user.authenticator_set.exists():
        enrol_totp(user)
    page.goto(reverse("account_login"))
    page.locator("input[name=login]").fill(user.username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.locator("input[name=code]").fill(unused_code(user.pk, KNOWN_SECRET))
    page.locator("main form button[type=submit]").first.click()
    expect(page.get_by_test_id("whoami")).to_have_text(str(user))


def submit(page):
    """Press the page's own submit button (not the navbar's log-out or language forms)."""
    page.locator("main form button[type=submit]").first.click()


def test_sales_rep_finds_a_customer_and_corrects_the_phone(page, live_server, cast):
    mine = customer_of(cast.sales_a, name="欧阳锋", phone="13812345678")
    customer_of(cast.sales_a, name="黄药师")
    customer_of(cast.sales_b, name="欧阳克")  # matches the search, but is not sales_a's

    log_in(page, cast.sales_a)
    expect(page).to_have_url(live_server.url + reverse("home"))
    charts = page.locator("canvas[data-chart]")
    expect(charts).to_have_count(2)
    for canvas in charts.all():
        expect(canvas).to_have_attribute("data-rendered", "1")
        assert canvas.evaluate("c => c.width > 0 && c.getBoundingClientRect().width > 0")

    page.locator(f"nav a[href='{reverse('customers:list')}']").click()
    expect(page.get_by_test_id("customer-table")).to_be_visible()
    search = page.get_by_role("search")
    search.get_by_role("textbox", name="Name, company, phone, e-mail or ID number").fill("欧阳")
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith(reverse("customers:list"))):
        search.locator("button[type=submit]").click()
    table = page.get_by_test_id("customer-table")
    expect(table).to_contain_text("欧阳锋")
    expect(table).not_to_contain_text("欧阳克")
    expect(table).not_to_contain_text("黄药师")

    table.get_by_role("link", name="欧阳锋").click()
    expect(page.get_by_test_id("customer-name")).to_have_text("欧阳锋")
    page.locator(f"main a[href='{reverse('customers:edit', args=[mine.pk])}']").click()
    page.locator("input[name=phone]").fill("139 0000 2222")
    submit(page)

    expect(page).to_have_url(live_server.url + mine.get_absolute_url())
    expect(page.get_by_test_id("customer-phone")).to_contain_text("139 0000 2222")
    assert read_back(Customer, mine.pk).phone == "+8613900002222"

    # The new number, typed another way, finds the customer through its blind index.
    page.locator(f"#nav a[href='{reverse('customers:list')}']").click()
    page.get_by_role("search").get_by_role("textbox", name="Name, company, phone").fill(
        "139-0000-2222")
    with page.expect_response(lambda r: r.request.method == "POST"):
        page.get_by_role("search").locator("button[type=submit]").click()
    rows = page.get_by_test_id("customer-table").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("欧阳锋")


def test_invalid_phone_is_explained_next_to_the_field(page, cast, browser_problems):
    customer = customer_of(cast.sales_a, phone="13812345678")
    before = Customer.objects.get(pk=customer.pk)
    edit_url = reverse("customers:edit", args=[customer.pk])
    # A refused form is answered 400, which Chromium logs as a failed load of the page itself.
    browser_problems.allow(rf"status of 400 \(Bad Request\) \[.*{re.escape(edit_url)}\]$")

    log_in(page, cast.sales_a)
    page.goto(edit_url)
    page.locator("input[name=phone]").fill("12345")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        submit(page)
    assert answer.value.status == 400

    expect(page.locator('[data-field-error="phone"]')).to_be_visible()
    expect(page.locator("input[name=phone]")).to_have_value("12345")
    after = read_back(Customer, customer.pk)
    assert (after.phone, after.version) == ("+8613812345678", before.version)


def test_language_select_switches_to_chinese(page, cast):
    page.goto(reverse("account_login"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("main form button[type=submit]")).to_have_text("Log in")

    # No button: anke.js submits the form when the select changes.
    page.locator("select.js-autosubmit[name=language]").select_option("zh-hans")

    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page).to_have_url(re.compile(re.escape(reverse("account_login")) + "$"))
    expect(page.locator("select[name=language]")).to_have_value("zh-hans")


def test_chinese_browser_gets_chinese_pages(open_page, cast):
    page = open_page(locale="zh-CN")
    page.goto(reverse("account_login"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")


def test_another_owners_customer_is_not_found(page, cast, browser_problems):
    theirs = customer_of(cast.sales_a, name="欧阳锋", company="白驼山庄", phone="13812345678",
                         email="ouyang@example.com", notes="蛤蟆功秘籍藏在书房")
    url = theirs.get_absolute_url()
    browser_problems.allow(rf"status of 404 \(Not Found\) \[.*{re.escape(url)}\]$")

    log_in(page, cast.sales_b)
    response = page.goto(url)

    assert response.status == 404
    expect(page.locator("main h1")).to_have_text("Not found")
    body = page.content()
    for secret in ("欧阳锋", "白驼山庄", "13812345678", "138 1234 5678", "ouyang@example.com",
                   "蛤蟆功"):
        assert secret not in body


def test_stored_markup_is_shown_as_text_and_never_runs(page, cast):
    name, notes = "<img src=x onerror=alert(1)>", "<script>alert(2)</script>"
    customer = customer_of(cast.sales_a, name=name, notes=notes)
    dialogs = []

    def on_dialog(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    log_in(page, cast.sales_a)

    page.goto(reverse("customers:list"))
    table = page.get_by_test_id("customer-table")
    expect(table).to_contain_text(name)
    assert table.locator("img").count() == 0
    table.get_by_role("link", name=name).click()

    expect(page).to_have_url(re.compile(re.escape(customer.get_absolute_url()) + "$"))
    expect(page.get_by_test_id("customer-name")).to_have_text(name)
    expect(page.locator("main p.text-prewrap")).to_have_text(notes)
    assert page.locator("main img").count() == 0
    assert page.locator("main script").count() == 0
    assert page.title().startswith(name)
    page.evaluate("0")  # a dialog, had one opened, would have been reported by now
    assert dialogs == []
