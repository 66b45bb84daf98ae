"""The pages in Chromium under a path prefix: a second server with ``EXCHANGE_ROOT_PATH``."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, WebSocket, expect

from tests.browser.conftest import DESKTOP, Visit, Watch, register
from tests.browser.harness import LiveServer, start_server
from tests.browser.test_pages import operation
from tests.conftest import PASSWORD

PREFIX = "/class-7b"

# Plain synchronous tests: pytest-trio runs only async ones and leaves these alone.
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def prefixed_server() -> Iterator[LiveServer]:
    """An ``exchange serve`` whose every page, API route and websocket lives under PREFIX."""
    directory = Path(tempfile.mkdtemp(prefix="exchange-browser-prefix-"))
    running = start_server(
        directory,
        EXCHANGE_ROOT_PATH=PREFIX,
        EXCHANGE_TICK_INTERVAL="0.5",
        EXCHANGE_HISTORY_DAYS="1",
        EXCHANGE_RATE_LIMIT_PER_MINUTE="100000",
    )
    yield running
    running.stop()


@pytest.fixture
def inside(
    browser: Browser, prefixed_server: LiveServer, request: pytest.FixtureRequest
) -> Iterator[Visit]:
    """A fresh context whose watch refuses any request (or websocket) outside the prefix."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    watch = Watch(prefixed_server.url + PREFIX + "/")
    watch.attach(page)
    opened = Visit(context, page, watch, prefixed_server.url + PREFIX)
    request.node.visit = opened
    yield opened
    context.close()


def test_sign_in_dashboard_and_live_market_under_the_prefix(inside: Visit) -> None:
    page = inside.page
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(_url(ws)))
    name = register(inside)
    session = [c for c in inside.context.cookies() if c["name"] == "exchange_session"]
    assert [c["path"] for c in session] == [PREFIX + "/"]

    # Log out, then a signed-in page sends us to the prefixed login and back after signing in.
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"**{PREFIX}/login")
    inside.go("/orders?status=filled")
    page.wait_for_url(re.compile(rf"{PREFIX}/login\?next={PREFIX}/orders%3Fstatus%3Dfilled$"))
    page.get_by_label("Username", exact=True).fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(rf"{PREFIX}/orders\?status=filled$"))

    page.get_by_role("link", name="Dashboard").click()
    page.wait_for_url(f"**{PREFIX}/dashboard")
    expect(page.locator('[data-figure="total"]')).to_have_text(re.compile(r"^\$[\d,]+\.\d\d$"))

    page.get_by_role("link", name="Market").click()
    page.wait_for_url(f"**{PREFIX}/market")
    btc = page.get_by_role("row").filter(
        has=page.get_by_role("link", name="Bitcoin BTC", exact=True)
    )
    cell = btc.get_by_role("cell").nth(3)
    expect(cell).to_have_text(re.compile(r"^\$[\d,]+\.\d+$"))
    first = cell.inner_text()
    expect(cell).not_to_have_text(first, timeout=8_000)
    assert btc.get_by_role("link").get_attribute("href") == f"{PREFIX}/assets/BTC"

    ws_root = inside.base.replace("http", "ws", 1)
    assert all(url.startswith(ws_root + "/") for url in sockets), sockets
    assert f"{ws_root}/ws/prices" in sockets and f"{ws_root}/ws/account" in sockets, sockets
    assert inside.watch.foreign == []
    assert inside.watch.failed == []
    assert inside.watch.errors == []


def _url(socket: WebSocket) -> str:
    # Resumed sockets carry ``?since=``; the path is what must be under the prefix.
    url: str = socket.url
    return url.split("?", 1)[0]


def test_api_docs_under_the_prefix_load_and_try_its_spec(inside: Visit) -> None:
    page = inside.go("/docs")
    expect(page.get_by_role("heading", name=re.compile("Exchange API"))).to_be_visible()
    assets = operation(page, "/api/v1/inventory/assets")
    assets.get_by_role("button", name="Try it out").click()
    assets.get_by_role("button", name="Execute").click()
    expect(assets.locator(".live-responses-table")).to_contain_text("Bitcoin")
    page.get_by_role("link", name=re.compile("Websockets")).click()
    page.wait_for_url(f"**{PREFIX}/docs/websockets")
    assert inside.watch.foreign == []
    assert inside.watch.errors == []
