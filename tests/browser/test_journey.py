"""The whole journey in Chromium: register to log out, live prices, a fill, a reservation."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Visit, register

JOURNEY_LIMIT_SECONDS = 60

# Plain synchronous tests: pytest-trio runs only async ones and leaves these alone.
pytestmark = pytest.mark.browser


def test_journey_from_register_to_log_out(visit: Visit) -> None:
    started = time.monotonic()
    page = visit.page
    name = register(visit)

    # Deposit on the account page; the daily limit updates.
    visit.go("/account")
    page.get_by_label("Deposit amount").fill("5000")
    page.get_by_role("button", name="Deposit", exact=True).click()
    expect(page.get_by_text("Successfully deposited $5000.00")).to_be_visible()
    expect(page.get_by_text("$5,000.00 used today, $5,000.00 remaining")).to_be_visible()

    # A price cell on the market page changes within a few ticks.
    visit.go("/market")
    btc = page.get_by_role("row").filter(
        has=page.get_by_role("link", name="Bitcoin BTC", exact=True)
    )
    cell = btc.get_by_role("cell").nth(3)
    expect(cell).to_have_text(re.compile(r"^\$[\d,]+\.\d+$"))
    first = cell.inner_text()
    expect(cell).not_to_have_text(first, timeout=8_000)

    # Open BTC: the chart is drawn.
    btc.get_by_role("link").click()
    page.wait_for_url("**/assets/BTC")
    chart = page.get_by_role("img", name="Candlestick chart")
    expect(chart).to_have_attribute("data-candles", re.compile(r"^[1-9]\d*$"))
    expect(chart.locator("canvas").first).to_be_visible()

    # Preview, then a market buy, and its fill notice.
    page.get_by_label("Quantity").fill("0.01")
    preview = page.get_by_role("region", name="Order preview")
    expect(preview).to_contain_text(re.compile(r"Cost\s*\$\d"))
    expect(preview).to_contain_text(re.compile(r"Cash after\s*\$4,\d"))
    page.get_by_role("button", name="Place order").click()
    notice = page.locator("#notices").get_by_text(
        re.compile(r"Filled: market buy 0\.01 BTC at \$[\d,.]+ on tick #\d+")
    )
    expect(notice).to_be_visible()

    # The holding is on the portfolio page.
    page.get_by_role("link", name="Portfolio").click()
    holding = page.get_by_role("row").filter(has=page.get_by_role("link", name="BTC"))
    expect(holding).to_contain_text("0.01")

    # A resting limit buy reserves cash; cancelling releases it.
    page.get_by_role("link", name="Trade").click()
    page.get_by_label("Asset").fill("ETH")
    page.get_by_label("Asset").dispatch_event("change")
    page.get_by_label("Order type").select_option(label="Limit buy")
    page.get_by_label("Quantity").fill("0.5")
    page.get_by_label("Limit price").fill("100")
    expect(page.get_by_role("region", name="Order preview")).to_contain_text("$50.00")
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_text(re.compile(r"Order pending: limit buy 0\.5 ETH"))).to_be_visible()
    expect(page.locator("#ticket-cash")).to_contain_text("Reserved $50.00")
    cancel = page.get_by_role("button", name=re.compile(r"Cancel limit buy 0\.5 ETH"))
    expect(cancel).to_be_visible()
    cancel.click()
    expect(page.locator("#notices").get_by_text(re.compile("Cancelled: limit buy"))).to_be_visible()
    expect(cancel).to_have_count(0)
    expect(page.locator("#ticket-cash")).to_contain_text("Reserved $0.00")

    # Withdraw.
    page.get_by_role("link", name="Account").click()
    page.get_by_label("Withdrawal amount").fill("100")
    page.get_by_role("button", name="Withdraw", exact=True).click()
    expect(page.get_by_text("Successfully withdrew $100.00")).to_be_visible()

    # Edit the profile.
    page.get_by_role("link", name="Profile").click()
    expect(page.get_by_label("First name")).to_have_value("Alice")
    page.get_by_label("First name").fill("Alicia")
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_text("Profile updated successfully")).to_be_visible()
    expect(page.locator("#profile-view")).to_contain_text("Alicia Smith")

    # Log out: the session's cookie is refused afterwards.
    [cookie] = [c for c in visit.context.cookies() if c["name"] == "exchange_session"]
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
    assert not [c for c in visit.context.cookies() if c["name"] == "exchange_session"]
    replay = visit.context.request.get(
        "/api/v1/balance", headers={"Cookie": f"exchange_session={cookie['value']}"}
    )
    assert replay.status == 401
    visit.context.add_cookies(
        [{"name": cookie["name"], "value": cookie["value"], "url": visit.base}]
    )
    visit.go("/dashboard")
    page.wait_for_url(re.compile(r"/login\?next=/dashboard$"))

    elapsed = time.monotonic() - started
    print(f"\njourney for {name}: {elapsed:.1f} s")
    assert elapsed < JOURNEY_LIMIT_SECONDS
    assert visit.watch.errors == []
    assert visit.watch.foreign == []
