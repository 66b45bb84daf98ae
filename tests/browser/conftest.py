"""Fixtures for the browser tests: one server and one Chromium shared by all of them.

These are plain synchronous tests (Playwright's sync API); pytest-trio only runs async tests,
so it leaves them alone, and the server is a subprocess, never inside a trio loop.
"""

from __future__ import annotations

import itertools
import os
import re
import tempfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)

from tests.browser.harness import CHROMIUM, LiveServer, chromium_args, start_server
from tests.conftest import PASSWORD

ARTIFACTS = Path(os.environ.get("EXCHANGE_TEST_ARTIFACTS", "test-artifacts")).resolve()
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
ADMIN_USERNAME = "browser_admin"
ADMIN_PASSWORD = "Admin-Passw0rd!"
_names = itertools.count(1)

expect.set_options(timeout=10_000)


@pytest.fixture(scope="session")
def server() -> Iterator[LiveServer]:
    """One ``exchange serve`` with fast ticks, two days of history and an admin."""
    directory = Path(tempfile.mkdtemp(prefix="exchange-browser-"))
    running = start_server(
        directory,
        EXCHANGE_TICK_INTERVAL="0.5",
        EXCHANGE_HISTORY_DAYS="2",
        EXCHANGE_RATE_LIMIT_PER_MINUTE="100000",
        EXCHANGE_LOGIN_MAX_FAILURES="1000",
        ADMIN_USERNAME=ADMIN_USERNAME,
        ADMIN_PASSWORD=ADMIN_PASSWORD,
    )
    yield running
    running.stop()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """The machine's Chromium: Playwright never downloads a browser here."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=chromium_args())
    yield launched
    launched.close()


@dataclass
class Watch:
    """What a page did that a test may want to refuse: console errors, foreign loads."""

    origin: str
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on(
            "console",
            lambda m: self.errors.append(f"{page.url}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: self.errors.append(f"{page.url}: {e}"))
        page.on("request", self._request)
        page.on("requestfailed", self._failed)

    def _failed(self, request: Any) -> None:
        # Leaving a page aborts what it still had in flight: that is not a failure.
        if request.failure != "net::ERR_ABORTED":
            self.failed.append(f"{request.url} {request.failure}")

    def _request(self, request: Any) -> None:
        url: str = request.url
        if not (url.startswith(self.origin) or url.startswith(("data:", "blob:"))):
            self.foreign.append(url)
        ws_origin = self.origin.replace("http", "ws", 1)
        if url.startswith("ws") and not url.startswith(ws_origin):
            self.foreign.append(url)


@dataclass
class Visit:
    """A browser context on the server with its page and what it saw."""

    context: BrowserContext
    page: Page
    watch: Watch
    base: str

    def go(self, path: str) -> Page:
        self.page.goto(self.base + path)
        return self.page


def open_visit(browser: Browser, server: LiveServer, viewport: ViewportSize) -> Visit:
    """A new browser context on the server at this size, watched."""
    context = browser.new_context(viewport=viewport, base_url=server.url)
    page = context.new_page()
    watch = Watch(server.url)
    watch.attach(page)
    return Visit(context, page, watch, server.url)


@pytest.fixture
def visit(
    browser: Browser, server: LiveServer, request: pytest.FixtureRequest
) -> Generator[Visit, None, None]:
    """A fresh context (no cookies) at the desktop size."""
    opened = open_visit(browser, server, DESKTOP)
    request.node.visit = opened
    yield opened
    opened.context.close()


@pytest.fixture
def phone(
    browser: Browser, server: LiveServer, request: pytest.FixtureRequest
) -> Generator[Visit, None, None]:
    """A fresh context at a phone's size."""
    opened = open_visit(browser, server, PHONE)
    request.node.visit = opened
    yield opened
    opened.context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """On a failure, save a screenshot and name its path in the report."""
    outcome = yield
    report = outcome.get_result()
    opened: Visit | None = getattr(item, "visit", None)
    if report.when == "call" and report.failed and opened is not None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', item.name)}.png"
        try:
            opened.page.screenshot(path=str(path), full_page=True)
            report.sections.append(("screenshot", f"saved to {path}"))
            print(f"\nscreenshot of the failure: {path}")
        except Exception as exc:  # the page may be gone; the failure itself matters more
            report.sections.append(("screenshot", f"could not be taken: {exc}"))


def new_username() -> str:
    """A username no other test has used on the shared server."""
    return f"user_{os.getpid() % 10_000}_{next(_names):03d}"


def register(visit: Visit, username: str | None = None) -> str:
    """Register through the page (which signs in); the username."""
    name = username or new_username()
    page = visit.go("/register")
    page.get_by_label("Username", exact=True).fill(name)
    page.get_by_label("Email", exact=True).fill(f"{name}@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("First name", exact=True).fill("Alice")
    page.get_by_label("Last name", exact=True).fill("Smith")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/dashboard")
    return name


def sign_in(visit: Visit, username: str, password: str = PASSWORD) -> None:
    """Sign in through the login page."""
    page = visit.go("/login")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/dashboard")


def admin_token(visit: Visit) -> str:
    """An access token of the bootstrapped admin."""
    login = visit.context.request.post(
        "/api/v1/auth/login", data={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}
    )
    assert login.ok, login.text()
    token: str = login.json()["access_token"]
    return token


def create_teacher(visit: Visit) -> str:
    """A new teacher account, made as the admin does (POST /api/v1/admin/teachers)."""
    api = visit.context.request
    token = admin_token(visit)
    name = new_username()
    made = api.post(
        "/api/v1/admin/teachers",
        headers={"Authorization": f"Bearer {token}"},
        data={
            "username": name,
            "email": f"{name}@example.com",
            "password": PASSWORD,
            "first_name": "Terry",
            "last_name": "Teacher",
        },
    )
    assert made.status == 201, made.text()
    return name
