"""Headless Chromium (Playwright) against pytest-django's live server, for every e2e test.

Needs Debian's chromium at /usr/bin/chromium (Playwright cannot download browsers here). Without
it the tests skip, unless QUORUM_REQUIRE_BROWSER=1 (CI), where they fail. Screenshots land
in test-results/.
"""

import os
from pathlib import Path

import pytest

from tests.factories import PASSWORD

CHROMIUM = "/usr/bin/chromium"
RESULTS = Path(__file__).resolve().parents[2] / "test-results"


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)"
        if os.environ.get("QUORUM_REQUIRE_BROWSER") == "1":
            pytest.fail(f"QUORUM_REQUIRE_BROWSER=1 but {message}")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()
        # While Playwright's loop runs in this thread, Django keeps the test's database
        # connection per async context: close it here, or it outlives the test and keeps
        # PostgreSQL from dropping the test database.
        from django.db import connections

        connections.close_all()


@pytest.fixture
def page(browser, live_server):
    """A fresh page that records every request leaving the live server, and JS errors."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.external_requests = []
    page.errors = []
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith((live_server.url, "data:", "blob:"))
            else page.external_requests.append(request.url)
        ),
    )
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    # Whatever the Content-Security-Policy refused ("Refused to load…", "Applying inline style
    # violates…"): a page the policy breaks fails every test that checks page.errors.
    page.on(
        "console",
        lambda message: (
            page.errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield page
    context.close()


def shot(page, name: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / f"{name}.png"), full_page=True)


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
