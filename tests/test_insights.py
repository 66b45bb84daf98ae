"""Portfolio insights: the built-in analyst through the API, the summary cache and the breaker."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing

from exchange.analyst import MODEL, write_summary
from exchange.breaker import CLOSED, HALF_OPEN, OPEN, Breaker
from exchange.clock import iso_ms
from exchange.engine import Exchange
from exchange.insights import (
    RECENT_ORDERS,
    TTL_SECONDS,
    AssetView,
    Summary,
    SummaryCache,
    portfolio_facts,
    state_key,
)
from exchange.money import QTY_SCALE, display_usd
from exchange.orders import OrderRequest
from exchange.users import NewUser
from tests.conftest import START_EPOCH, Client, signed_up, web_settings
from tests.portfolios import (
    INSIGHT,
    buy,
    cents,
    deposit,
    insight,
    insight_app,
    pct,
    portfolio,
    sentences,
    usd,
)
from web.app import create_app

# A moment between two price ticks (60 s apart), so no tick lands between two requests.
BETWEEN_TICKS = 3630.0


def check_shape(data: dict[str, str]) -> None:
    assert 2 <= len(sentences(data["summary"])) <= 4, data["summary"]
    assert data["model"] == MODEL
    assert data["generated_at"].endswith("Z")


def at(seconds: float) -> str:
    """The ISO time ``seconds`` after the exchange started."""
    return iso_ms(int((START_EPOCH + seconds) * 1000))


async def test_requires_a_token(client: Client) -> None:
    response = await client.get(INSIGHT)
    assert response.status_code == 401
    assert (await response.get_json())["code"] == "unauthorized"


async def test_empty_portfolio_is_encouraged(
    client: Client, autojump_clock: trio.abc.Clock
) -> None:
    headers = await signed_up(client)
    data = await insight(client, headers)
    check_shape(data)
    assert data["generated_at"] == at(0)
    text = data["summary"]
    assert "empty" in text
    assert "Deposit some USD" in text
    assert "first trade" in text


async def test_cash_only_portfolio(client: Client) -> None:
    headers = await signed_up(client)
    await deposit(client, headers, "2500")
    data = await insight(client, headers)
    check_shape(data)
    assert "You hold $2,500.00, all of it in cash" in data["summary"]
    assert "nothing invested" in data["summary"]


async def test_portfolios_read_differently(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    """Empty, cash-only, single-asset, concentrated and diversified: each its own reading."""
    async with insight_app(tmp_path, history_days=1) as (exchange, client):
        users = [await signed_up(client, f"user_{n:02d}") for n in range(5)]
        _, cash_only, single, concentrated, diversified = users
        await deposit(client, cash_only, "2500")
        for headers in (single, concentrated, diversified):
            await deposit(client, headers, "10000")
        await buy(client, exchange, single, "BTC", 4000)
        await buy(client, exchange, concentrated, "BTC", 7000)
        await buy(client, exchange, concentrated, "ETH", 1000)
        for asset_id in ("BTC", "ETH", "SOL"):
            await buy(client, exchange, diversified, asset_id, 3000)
        # Let prices move, so P&L and 24h moves are not zero.
        await trio.sleep(BETWEEN_TICKS)

        texts = [(await insight(client, headers))["summary"] for headers in users]
        assert len(set(texts)) == 5
        for headers in users:
            check_shape(await insight(client, headers))
        assert "empty" in texts[0]
        assert "all of it in cash" in texts[1]

        await check_single(client, single, texts[2])
        await check_concentrated(client, concentrated, texts[3])
        await check_diversified(client, exchange, diversified, texts[4])


async def check_single(client: Client, headers: dict[str, str], text: str) -> None:
    book = await portfolio(client, headers)
    total, cash = cents(book["total_value"]), cents(book["usd_balance"])
    assert (
        f"Your portfolio is worth {usd(total)}, with Bitcoin (BTC) as your only holding and "
        f"{usd(cash)} ({pct(cash, total)}) in cash." in text
    )
    assert "rides on one asset" in text
    assert "You placed 1 order in the last 7 days; your last trade was a buy of BTC." in text


async def check_concentrated(client: Client, headers: dict[str, str], text: str) -> None:
    book = await portfolio(client, headers)
    btc, eth = book["assets"]
    assert (btc["asset_id"], eth["asset_id"]) == ("BTC", "ETH")
    held = cents(book["total_asset_value"])
    assert f"across 2 assets, with {usd(cents(book['usd_balance']))}" in text
    assert (
        f"Bitcoin (BTC) makes up {pct(cents(btc['market_value']), held)} of your holdings" in text
    )
    assert "concentrated position" in text
    pnl = cents(btc["unrealized_pnl"]) + cents(eth["unrealized_pnl"])
    direction = "up" if pnl > 0 else "down"
    assert f"You are {direction} {usd(abs(pnl))}" in text
    assert f"against a cost basis of {usd(held - pnl)}" in text
    assert "You placed 2 orders in the last 7 days; your last trade was a buy of ETH." in text


async def check_diversified(
    client: Client, exchange: Exchange, headers: dict[str, str], text: str
) -> None:
    book = await portfolio(client, headers)
    largest = book["assets"][0]
    held = cents(book["total_asset_value"])
    name = exchange.market(largest["asset_id"]).asset.name
    assert f"Your portfolio is worth {usd(cents(book['total_value']))} across 3 assets" in text
    assert (
        f"No single asset dominates: the largest, {name} ({largest['asset_id']}), is "
        f"{pct(cents(largest['market_value']), held)} of your holdings, so your portfolio is "
        "well diversified." in text
    )
    # The 24h move is weighted by each holding's value.
    moves = {a["asset_id"]: exchange.market(a["asset_id"]).stats().pct_24h for a in book["assets"]}
    weighted = sum(cents(a["market_value"]) * (moves[a["asset_id"]] or 0) for a in book["assets"])
    assert f"your holdings moved {round(weighted / held, 2):+.1f}% over the last 24 hours" in text
    mover = max(moves, key=lambda asset_id: abs(moves[asset_id] or 0))
    assert f"({mover}) at {moves[mover]:+.1f}%" in text
    assert "You placed 3 orders in the last 7 days; your last trade was a buy of SOL." in text


async def test_same_state_same_text(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    """Two apps (two caches) over one exchange write the same text for the same state."""
    async with insight_app(tmp_path, history_days=1) as (exchange, client):
        headers = await signed_up(client)
        await deposit(client, headers, "10000")
        await buy(client, exchange, headers, "BTC", 5000)
        await buy(client, exchange, headers, "SOL", 2000)
        await trio.sleep(BETWEEN_TICKS)
        first = await insight(client, headers)
        other = create_app(exchange, web_settings())
        other.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = None
        async with other.test_app() as test_app:
            second = await insight(test_app.test_client(), headers)
        assert second == first
        snapshot = await exchange.portfolio("alice_01")
        orders, _ = exchange.orders("alice_01", RECENT_ORDERS, 0)
        assets = {
            h.asset_id: AssetView(m.asset.name, m.price, m.stats().pct_24h)
            for h in snapshot.holdings
            if (m := exchange.market(h.asset_id))
        }
        facts = portfolio_facts(snapshot, orders, assets, exchange.clock.now_ms())
        assert write_summary(facts) == first["summary"]


async def test_cache_hits_until_the_state_changes(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    async with insight_app(tmp_path) as (exchange, client):
        headers = await signed_up(client)
        await deposit(client, headers, "5000")
        first = await insight(client, headers)
        assert first["generated_at"] == at(0)

        await trio.sleep(BETWEEN_TICKS)
        assert await insight(client, headers) == first, "same state: a cache hit"

        await deposit(client, headers, "1")
        after_deposit = await insight(client, headers)
        assert after_deposit["generated_at"] == at(BETWEEN_TICKS)
        assert "$5,001.00" in after_deposit["summary"]

        await trio.sleep(60)
        await buy(client, exchange, headers, "ETH", 1000)
        after_trade = await insight(client, headers)
        assert after_trade["generated_at"] == at(BETWEEN_TICKS + 60)
        assert "Ethereum (ETH) as your only holding" in after_trade["summary"]
        assert await insight(client, headers) == after_trade


async def test_state_key_follows_balances_holdings_and_orders(exchange: Exchange) -> None:
    await exchange.register(NewUser("bob_01", "bob_01@example.com", "x", "Bob", "B"))

    async def key() -> str:
        snapshot = await exchange.portfolio("bob_01")
        orders, _ = exchange.orders("bob_01", RECENT_ORDERS, 0)
        return state_key(snapshot, orders)

    empty = await key()
    assert await key() == empty, "reading changes nothing"
    await exchange.deposit("bob_01", 100_00)
    funded = await key()
    assert funded != empty
    await exchange.place_order("bob_01", OrderRequest("market_buy", "ETH", QTY_SCALE // 100))
    assert await key() not in (empty, funded)


async def test_cache_expires_after_a_day(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    async with insight_app(tmp_path) as (_, client):
        headers = await signed_up(client)
        await deposit(client, headers, "100")
        first = await insight(client, headers)
        await trio.sleep(TTL_SECONDS - 30)
        assert await insight(client, headers) == first
        await trio.sleep(60)
        fresh = await insight(client, headers)
        assert fresh["generated_at"] == at(TTL_SECONDS + 30)
        assert fresh["summary"] == first["summary"]


def test_cache_is_bounded_least_recently_used_first() -> None:
    cache = SummaryCache(ttl=10.0, size=2)
    for name in ("a", "b"):
        cache.put(name, "k", Summary(name, MODEL, 0), now=0.0)
    assert cache.get("a", "k", now=1.0) is not None  # "a" is now the most recent
    cache.put("c", "k", Summary("c", MODEL, 0), now=1.0)
    assert len(cache) == 2
    assert cache.get("b", "k", now=1.0) is None
    assert cache.get("a", "k", now=1.0) is not None
    assert cache.get("a", "other state", now=1.0) is None
    assert cache.get("a", "k", now=10.0) is None


def test_display_usd() -> None:
    assert display_usd(0) == "$0.00"
    assert display_usd(123_456_789) == "$1,234,567.89"
    assert display_usd(-5) == "-$0.05"


async def test_breaker_opens_cools_down_and_closes(autojump_clock: trio.abc.Clock) -> None:
    breaker = Breaker(3, 60.0, trio.current_time)
    start = trio.current_time()
    for _ in range(2):
        assert breaker.allow()
        breaker.failed()
    assert breaker.state == CLOSED
    assert breaker.allow()
    breaker.failed()
    assert breaker.state == OPEN
    assert not breaker.allow()

    await trio.sleep(59.9)
    assert not breaker.allow()
    await trio.sleep(0.1)
    assert breaker.state == HALF_OPEN
    assert breaker.allow(), "one trial call"
    assert not breaker.allow(), "only one"
    breaker.succeeded()
    assert breaker.state == CLOSED
    assert breaker.allow() and breaker.allow()
    assert trio.current_time() - start == 60.0


async def test_breaker_trial_failure_reopens(autojump_clock: trio.abc.Clock) -> None:
    breaker = Breaker(2, 30.0, trio.current_time)
    breaker.failed()
    breaker.succeeded()
    breaker.failed()
    assert breaker.state == CLOSED, "failures must be consecutive"
    breaker.failed()
    assert breaker.state == OPEN
    await trio.sleep(30)
    assert breaker.allow()
    breaker.failed()
    assert breaker.state == OPEN, "a failed trial re-opens at once"
    await trio.sleep(29)
    assert not breaker.allow(), "and the cool-down starts again"
    await trio.sleep(1)
    assert breaker.allow()
    # A trial that never reports (its caller was cancelled) is given up after a cool-down.
    await trio.sleep(30)
    assert breaker.allow()
