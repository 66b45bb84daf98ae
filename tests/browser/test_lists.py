"""Lists in Chromium: the market's sorting, filters and pages; order and ledger filters."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Visit, register

# Plain synchronous tests: pytest-trio runs only async ones and leaves these alone.
pytestmark = pytest.mark.browser


def prices_of(visit: Visit) -> list[float]:
    cells = visit.page.locator("#market tbody tr td:nth-child(4)").all_inner_texts()
    return [float(text.strip("$").replace(",", "")) for text in cells]


def test_market_sorts_filters_and_pages_all_assets(visit: Visit) -> None:
    page = visit.go("/market")
    rows = page.locator("#market tbody tr")
    expect(rows).to_have_count(25)
    expect(page.get_by_text("Page 1 of 5 (112 assets)")).to_be_visible()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("Page 2 of 5 (112 assets)")).to_be_visible()
    expect(rows.first.get_by_role("cell").first).to_have_text("26")
    page.get_by_role("button", name="Price").click()
    expect(page.get_by_role("columnheader", name="Price")).to_have_attribute(
        "aria-sort", "descending"
    )
    page.get_by_role("button", name="Previous").click()
    shown = prices_of(visit)
    assert shown == sorted(shown, reverse=True)
    page.get_by_role("searchbox", name="Filter by name or symbol").fill("bitcoin")
    expect(rows).to_have_count(3)  # Bitcoin, Bitcoin Cash, Wrapped Bitcoin
    page.get_by_role("searchbox", name="Filter by name or symbol").fill("")
    page.get_by_label("Category").select_option("stablecoin")
    expect(page.get_by_text(re.compile(r"Page 1 of 1 \(\d+ assets\)"))).to_be_visible()
    for category in page.locator("#market tbody tr td:nth-child(3)").all_inner_texts():
        assert category == "stablecoin"
    sparkline = page.get_by_role("img", name="Tether over 7 days")
    expect(sparkline.locator("polyline")).to_have_count(1)
    # A changed price cell flashes.
    expect(page.locator("#market tbody td.num[class*='flash-']").first).to_be_attached()


def test_landing_ticker_and_the_open_candle_follow_ticks(visit: Visit) -> None:
    page = visit.go("/")
    ticker = page.get_by_role("table").locator("tbody tr")
    expect(ticker).to_have_count(10)
    first = ticker.first.get_by_role("cell").nth(1)
    expect(first).to_have_text(re.compile(r"^\$[\d,.]+$"))
    expect(first).not_to_have_text(first.inner_text(), timeout=8_000)
    page = visit.go("/assets/ETH")
    chart = page.get_by_role("img", name="Candlestick chart")
    expect(chart).to_have_attribute("data-last-candle", re.compile(r"^\d+ [\d.]+$"))
    seen = chart.get_attribute("data-last-candle")
    expect(chart).not_to_have_attribute("data-last-candle", seen or "", timeout=8_000)
    page.get_by_role("button", name="1m", exact=True).click()
    expect(chart).to_have_attribute("data-candles", re.compile(r"^[1-9]\d*$"))


def test_order_history_and_ledger_filters(visit: Visit) -> None:
    register(visit)
    page = visit.go("/account")
    page.get_by_label("Deposit amount").fill("1000")
    page.get_by_role("button", name="Deposit", exact=True).click()
    expect(page.get_by_text("Successfully deposited $1000.00")).to_be_visible()
    page = visit.go("/trade?asset=XRP")
    page.get_by_label("Quantity").fill("2")
    page.get_by_role("button", name="Place order").click()
    expect(
        page.get_by_text(re.compile(r"Order completed: market buy 2 XRP at \$[\d.]+ on tick #\d+"))
    ).to_be_visible()
    page.get_by_label("Order type").select_option(label="Limit buy")
    page.get_by_label("Limit price").fill("0.5")
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_text(re.compile("Order pending: limit buy 2 XRP"))).to_be_visible()

    page = visit.go("/orders")
    history = page.locator("#order-history tbody tr")
    expect(history).to_have_count(2)
    page.get_by_label("Status").select_option("completed")
    expect(history).to_have_count(1)
    expect(history.first).to_contain_text(re.compile(r"market buy 2 XRP.*tick #\d+"))
    page.get_by_label("Status").select_option("")
    page.get_by_placeholder("Asset, e.g. BTC").fill("BTC")
    page.get_by_placeholder("Asset, e.g. BTC").dispatch_event("change")
    expect(history.first).to_have_text("No orders match.")
    page.get_by_placeholder("Asset, e.g. BTC").fill("B-T")
    page.get_by_placeholder("Asset, e.g. BTC").dispatch_event("change")
    expect(page.get_by_role("alert")).to_have_text("Must be 1-10 letters or digits")

    page = visit.go("/account")
    ledger = page.locator("#transactions tbody tr")
    expect(ledger).to_have_count(2)  # the deposit and the buy's payment
    page.get_by_label("Transaction type").select_option("deposit")
    expect(ledger).to_have_count(1)
    expect(ledger.first).to_contain_text("$1,000.00")

    # The dashboard's 24h change leaves the deposit out: only the holding's move is a gain.
    page = visit.go("/dashboard")
    expect(page.locator('[data-figure="total"]')).to_have_text(re.compile(r"^\$(999|1,000)\.\d\d$"))
    expect(page.locator('[data-figure="change"]')).to_have_text(re.compile(r"^-?\$0\.\d\d in 24h$"))
    expect(page.get_by_role("img", name="Total value over time")).to_have_attribute(
        "data-points", re.compile(r"^\d{2,}$")
    )
