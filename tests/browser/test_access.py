"""Access control in a real browser: a masked role sees masks and reveals one value with a
reason; the clear value is on that answer only."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from anke.audit.models import AuditEvent
from tests.browser.test_journeys import log_in
from tests.personas import customer_of

pytestmark = pytest.mark.browser


def test_service_agent_sees_masks_and_reveals_a_phone_with_a_reason(page, live_server, cast):
    customer = customer_of(cast.sales_a, name="欧阳锋", phone="13812345678",
                           email="ouyang@example.com")
    log_in(page, cast.service)
    page.goto(customer.get_absolute_url())
    expect(page.get_by_test_id("customer-name")).to_have_text("欧*锋")
    expect(page.get_by_test_id("customer-phone")).to_have_text("138****5678")
    expect(page.locator("main")).not_to_contain_text("ouyang@example.com")

    page.get_by_text("Reveal masked fields").click()
    reveal = page.locator("main details form")
    reveal.get_by_label("phone").check()
    reveal.get_by_label("Reason").fill("客户来电要求核对预留手机号")
    reveal.locator("button[type=submit]").click()
    expect(page.get_by_test_id("customer-phone")).to_have_text("138 1234 5678")
    expect(page.get_by_test_id("revealed")).to_contain_text("phone")
    expect(page.locator("main")).not_to_contain_text("ouyang@example.com")

    page.goto(customer.get_absolute_url())
    expect(page.get_by_test_id("customer-phone")).to_have_text("138****5678")
    event = AuditEvent.objects.get(action="customer.reveal")
    assert (event.actor_username, event.fields, event.reason) == (
        "service", ["phone"], "客户来电要求核对预留手机号")


def test_a_reveal_without_a_reason_is_refused_next_to_the_field(page, live_server, cast,
                                                               browser_problems):
    customer = customer_of(cast.sales_a, name="黄药师", phone="13900001111")
    browser_problems.allow(  # the refused form answers 400, which Chromium logs
        rf"status of 400 \(Bad Request\) \[.*{re.escape(customer.get_absolute_url())}\]$")
    log_in(page, cast.service)
    page.goto(customer.get_absolute_url())
    page.get_by_text("Reveal masked fields").click()
    page.locator("main details form").get_by_label("phone").check()
    page.locator("main details form button[type=submit]").click()
    expect(page.locator("[data-field-error=reason]")).to_be_visible()
    expect(page.get_by_test_id("customer-phone")).to_have_text("139****1111")
    assert not AuditEvent.objects.filter(action="customer.reveal").exists()
    assert page.url.endswith(reverse("customers:detail", args=[customer.pk]))
