"""Browser journeys: Debian's Chromium, driven through Playwright, against pytest-django's live
server. One browser per test session, a fresh context (cookies, storage, locale) per page; every
page fails its test at teardown if it logged a JS error, threw, or hit a Content-Security-Policy
violation, so each journey also proves the pages work under the strict CSP."""

import contextlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

from tests.personas import build_cast

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium phones home, and the network here is closed.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000
HERE = Path(__file__).resolve().parent

# Reports every CSP violation to the test, whatever the console says about it. Playwright injects
# init scripts through the DevTools protocol, so the page's own CSP does not block this one.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__ankeCspViolation(`${event.effectiveDirective} blocked ${event.blockedURI || "inline"}`
    + ` at ${event.sourceFile}:${event.lineNumber}`);
});
"""


def pytest_collection_modifyitems(items):
    # Each test module also sets ``pytestmark``; this keeps a forgotten one from escaping
    # ``-m browser``.
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.browser)


def _unavailable(reason: str):
    if os.environ.get("ANKE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, and ANKE_REQUIRE_BROWSER=1 forbids skipping browser tests",
                    pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")

    # Playwright's sync API keeps an asyncio loop running in this thread from start() to stop();
    # Django would then refuse the tests' own ORM calls with SynchronousOnlyOperation. This is
    # the documented workaround for Playwright with Django, set only while Playwright runs.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    # The running loop also moves Django's per-thread connections into context-local storage
    # (asgiref's thread-critical Local), so from now on the tests get fresh connection objects.
    # If the test databases were already set up (by tests that ran before), the snapshot that
    # serialized rollback restores stays behind on the old objects: hand it over.
    snapshots = {c.alias: c._test_serialized_contents for c in connections.all()
                 if hasattr(c, "_test_serialized_contents")}
    playwright = sync_playwright().start()
    for alias, contents in snapshots.items():
        connections[alias]._test_serialized_contents = contents
    try:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@dataclass
class BrowserProblems:
    """JS errors, uncaught exceptions, CSP violations and server errors seen by a test's pages."""

    seen: list[str] = field(default_factory=list)
    allowed: list[re.Pattern] = field(default_factory=list)

    def record(self, kind: str, text: str) -> None:
        self.seen.append(f"{kind}: {text}")

    def allow(self, pattern: str) -> None:
        """Expect one kind of message (a regex), e.g. Chromium's log line for a deliberate 404."""
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [p for p in self.seen if not any(a.search(p) for a in self.allowed)]


@pytest.fixture
def browser_problems():
    return BrowserProblems()


@pytest.fixture
def open_page(browser, live_server, browser_problems):
    """Opens a page in a new browser context (``open_page(locale="zh-CN")``) on the live server,
    watching it for problems; relative URLs resolve against the live server."""
    contexts, watched = [], []

    def watch(page):
        if page in watched:
            return
        watched.append(page)

        def on_console(message):
            text = message.text
            if message.type == "error" or "Content Security Policy" in text:
                where = message.location.get("url", "")
                browser_problems.record(f"console.{message.type}", f"{text} [{where}]")

        page.on("pageerror", lambda error: browser_problems.record(
            "pageerror", f"{error.name}: {error.message}"))

        def on_response(response):
            if response.status >= 500:
                browser_problems.record(
                    "http", f"{response.status} {response.request.method} {response.url}")

        page.on("console", on_console)
        page.on("response", on_response)

    def open_(locale: str = "en-US"):
        context = browser.new_context(base_url=live_server.url, locale=locale,
                                      viewport={"width": 1280, "height": 900})
        contexts.append(context)
        context.set_default_timeout(TIMEOUT_MS)
        context.expose_function("__ankeCspViolation",
                                lambda text: browser_problems.record("csp", text))
        context.add_init_script(CSP_LISTENER)
        context.on("page", watch)  # pop-ups too
        page = context.new_page()
        watch(page)
        return page

    yield open_
    for context in contexts:
        for page in context.pages:
            # Lets console and binding events still in flight arrive (unless the page is gone).
            with contextlib.suppress(PlaywrightError):
                page.evaluate("0")
        context.close()
    problems = browser_problems.unexpected()
    assert not problems, "the browser reported problems:\n" + "\n".join(problems)


@pytest.fixture
def page(open_page):
    """A page in an English (en-US) browser context."""
    return open_page()


@pytest.fixture
def cast(transactional_db, django_db_serialized_rollback):
    """The personas, committed for real: the live server reads them from its own thread.

    A transactional test ends by flushing every table, the roles and pipeline stages that the
    migrations ship included; serialized rollback puts them back before each browser test."""
    return build_cast()
