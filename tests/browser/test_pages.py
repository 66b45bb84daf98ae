"""Every page in Chromium: error placement, CSRF, cookies, origins, CSP, phone size, API docs."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import Visit, register
from tests.browser.harness import websocket_close_code

SIGNED_IN_PAGES = [
    "/class",
    "/dashboard",
    "/market",
    "/assets/BTC",
    "/trade",
    "/orders",
    "/portfolio",
    "/account",
    "/profile",
]
PUBLIC_PAGES = ["/", "/login", "/register", "/market", "/assets/ETH", "/docs/websockets"]

# Plain synchronous tests: pytest-trio runs only async ones and leaves these alone.
pytestmark = pytest.mark.browser


def error_of(page: Page, label: str) -> str:
    """The error message shown at the field a person knows by this label."""
    field = page.get_by_label(label, exact=True)
    expect(field).to_have_attribute("aria-invalid", "true")
    slot = field.get_attribute("aria-errormessage")
    assert slot
    return page.locator(f"#{slot}").inner_text()


def test_server_errors_are_placed_at_their_fields(visit: Visit) -> None:
    page = visit.go("/register")
    page.get_by_label("Username", exact=True).fill("ab")
    page.get_by_label("Email", exact=True).fill("not-an-email")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("First name", exact=True).fill("Al1ce")
    page.get_by_label("Last name", exact=True).fill("Smith")
    page.get_by_label("Phone (optional)").fill("12")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_label("Username", exact=True)).to_have_accessible_error_message(
        "Username must be 6-30 characters of letters, digits and underscore"
    )
    assert error_of(page, "Email") == "Invalid email address"
    assert error_of(page, "Password").startswith("Password must be 12-20 characters long")
    assert error_of(page, "First name") == (
        "May contain only letters, spaces, apostrophes and hyphens"
    )
    assert error_of(page, "Phone (optional)") == "Phone must have 10-15 digits"
    expect(page.get_by_label("Last name", exact=True)).not_to_have_attribute("aria-invalid", "true")
    # The rules are shown next to the fields before anything is sent.
    expect(page.get_by_label("Password", exact=True)).to_have_accessible_description(
        re.compile("12-20 characters")
    )

    page = visit.go("/login")
    page.get_by_label("Username", exact=True).fill("nobody_here")
    page.get_by_label("Password", exact=True).fill("Secret-Passw0rd")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("User not found")

    register(visit)
    page = visit.go("/account")
    page.get_by_label("Deposit amount").fill("1.234")
    page.get_by_role("button", name="Deposit", exact=True).click()
    expect(page.get_by_label("Deposit amount")).to_have_accessible_error_message(
        re.compile("decimal")
    )
    page.get_by_label("Withdrawal amount").fill("5")
    page.get_by_role("button", name="Withdraw", exact=True).click()
    expect(page.locator("#withdraw-form").get_by_role("alert")).to_contain_text(
        "Insufficient funds"
    )

    page = visit.go("/profile")
    page.get_by_label("Email", exact=True).fill("broken@")
    page.get_by_role("button", name="Save profile").click()
    assert error_of(page, "Email") == "Invalid email address"

    page = visit.go("/trade")
    page.get_by_label("Order type").select_option(label="Limit buy")
    page.get_by_label("Quantity").fill("0.0001")
    page.get_by_label("Limit price").fill("-3")
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_label("Quantity")).to_have_accessible_error_message(re.compile("0.001"))
    expect(page.get_by_label("Limit price")).to_have_accessible_error_message(
        re.compile("greater than 0")
    )
    # The cap and insufficient funds are shown in the preview, before anything is sent.
    page.get_by_label("Quantity").fill("1")
    page.get_by_label("Limit price").fill("20000")
    preview = page.get_by_role("region", name="Order preview")
    expect(preview).to_contain_text("Over the $10,000.00 limit on one order's value.")
    expect(preview).to_contain_text("Insufficient funds: $0.00 available.")

    page = visit.go("/dashboard")
    page.get_by_label("Lucky phrase").fill("<b>")
    page.get_by_role("button", name="Claim red pocket").click()
    expect(page.get_by_label("Lucky phrase")).to_have_accessible_error_message(
        re.compile("plain text")
    )
    assert visit.watch.errors == [] or all("status of 4" in e for e in visit.watch.errors)


def test_changes_without_the_csrf_token_are_refused(visit: Visit) -> None:
    register(visit)
    page = visit.go("/account")
    answer = page.evaluate(
        """async () => {
            const r = await fetch("/api/v1/balance/deposit", {method: "POST",
                headers: {"Content-Type": "application/json"}, body: '{"amount": "25"}'});
            const b = await fetch("/api/v1/balance");
            return [r.status, (await r.json()).code, (await b.json()).current_balance];
        }"""
    )
    assert answer == [403, "csrf_failed", "0.00"]
    page.get_by_label("Deposit amount").fill("25")
    page.get_by_role("button", name="Deposit", exact=True).click()
    expect(page.get_by_text("Successfully deposited $25.00")).to_be_visible()


def test_session_cookie_flags(visit: Visit) -> None:
    register(visit)
    [cookie] = [c for c in visit.context.cookies() if c["name"] == "exchange_session"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # plain http on loopback; https sets Secure
    assert cookie["path"] == "/"
    assert "exchange_session" not in visit.page.evaluate("document.cookie")


def test_account_stream_refuses_the_cookie_from_a_foreign_origin(visit: Visit) -> None:
    register(visit)
    [cookie] = [c for c in visit.context.cookies() if c["name"] == "exchange_session"]
    headers = {"Cookie": f"exchange_session={cookie['value']}"}
    assert websocket_close_code(visit.base, "/ws/account", headers) == 4003
    evil = {**headers, "Origin": "https://evil.example"}
    assert websocket_close_code(visit.base, "/ws/account", evil) == 4003
    # Our own page's socket is accepted: its notices work (a fill shows one).
    page = visit.go("/account")
    page.get_by_label("Deposit amount").fill("100")
    page.get_by_role("button", name="Deposit", exact=True).click()
    page = visit.go("/trade")
    page.get_by_label("Quantity").fill("0.01")
    page.get_by_label("Asset").fill("XRP")
    page.get_by_role("button", name="Place order").click()
    expect(page.locator("#notices")).to_contain_text("Filled: market buy 0.01 XRP")


def test_pages_load_only_from_this_origin_with_a_strict_policy_and_no_errors(
    visit: Visit,
) -> None:
    for path in PUBLIC_PAGES:
        response = visit.page.goto(visit.base + path)
        assert response is not None and response.status == 200, path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        visit.page.wait_for_load_state("networkidle")
    register(visit)
    for path in SIGNED_IN_PAGES:
        response = visit.page.goto(visit.base + path)
        assert response is not None and response.status == 200, path
        assert "style-src 'self';" in response.headers["content-security-policy"]
        visit.page.wait_for_timeout(600)  # a tick or so of live updates
    assert visit.watch.errors == []
    assert visit.watch.foreign == []
    assert visit.watch.failed == []


def test_phone_viewport(phone: Visit) -> None:
    register(phone)
    for path in ["/dashboard", "/market", "/assets/BTC", "/portfolio", "/account", "/orders"]:
        page = phone.go(path)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width}px wide"
        expect(page.get_by_role("heading", level=1)).to_be_in_viewport()
        expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    page = phone.go("/assets/BTC")
    expect(page.get_by_role("button", name="Place order")).to_be_visible()
    expect(
        page.get_by_role("img", name="Candlestick chart").locator("canvas").first
    ).to_be_visible()
    assert phone.watch.errors == []


def operation(page: Page, path: str) -> Locator:
    """An operation of the API viewer, opened by clicking its path."""
    link = page.get_by_role("link", name=path, exact=True)
    block = page.locator(".opblock").filter(has=link).first
    link.first.click()
    expect(block.get_by_role("button", name="Try it out")).to_be_visible()
    return block


def test_docs_page_renders_the_spec_offline(visit: Visit) -> None:
    page = visit.go("/docs")
    expect(page.get_by_role("heading", name=re.compile("Exchange API"))).to_be_visible()
    history = operation(page, "/api/v1/portfolio/history")
    expect(history).to_contain_text("holdings_value")  # the nested schema of each point
    assets = operation(page, "/api/v1/inventory/assets")
    assets.get_by_role("button", name="Try it out").click()
    assets.get_by_role("button", name="Execute").click()
    expect(assets.locator(".live-responses-table")).to_contain_text("200")
    expect(assets.locator(".live-responses-table")).to_contain_text("Bitcoin")
    page.get_by_role("link", name=re.compile("Websockets")).click()
    expect(page.get_by_role("heading", name="/ws/account")).to_be_visible()
    assert visit.watch.foreign == []
    assert visit.watch.errors == []


def test_order_notices_say_why_an_order_ended_where_it_did(visit: Visit) -> None:
    page = visit.go("/login")
    order = {
        "order_type": "stop_limit_buy",
        "quantity": "0.5",
        "asset_id": "ETH",
        "price": "2410",
        "stop_price": "2400",
        "filled_price": "2405.5",
        "filled_tick_seq": 812,
        "status": "filled",
        "reason": None,
    }
    said = page.evaluate(
        """async (order) => {
            const { orderNotice } = await import("/static/js/app.js");
            return ["fill", "expired", "rejected", "cancelled"].map((event) =>
                orderNotice({ event, order: { ...order,
                    reason: event === "rejected" ? "insufficient funds at the trigger" : null } }));
        }""",
        order,
    )
    assert said == [
        [
            "Filled: stop limit buy 0.5 ETH stop $2,400.00 limit $2,410.00 at $2,405.50 "
            "on tick #812.",
            "good",
        ],
        ["Expired: stop limit buy 0.5 ETH stop $2,400.00 limit $2,410.00.", "warn"],
        [
            "Rejected: stop limit buy 0.5 ETH stop $2,400.00 limit $2,410.00: "
            "insufficient funds at the trigger.",
            "bad",
        ],
        ["Cancelled: stop limit buy 0.5 ETH stop $2,400.00 limit $2,410.00.", "info"],
    ]
