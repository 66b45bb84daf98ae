"""Price impact and fills: every fill adds to the flow, and keeps the model price of its tick."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
import trio

from exchange.engine import Exchange, open_exchange
from exchange.impact import ImpactRule
from exchange.money import CENTS, PRICE_SCALE, QTY_SCALE, format_price
from exchange.orders import Order, OrderRequest
from exchange.schema import MIGRATIONS
from exchange.state import load_orders
from exchange.store import connect
from tests.conftest import engine_settings, signed_up
from tests.trading_helpers import DEPOSIT, DOLLAR, ORDERS, add_user, call, running_app, settle

ALICE = "alice_01"
# $1000 of net flow moves BTC by 1%; the flow halves every minute.
RULE = ImpactRule(1000.0, 60.0)


async def funded_exchange(exchange: Exchange) -> None:
    exchange.impact.set_rules({"BTC": RULE})
    await add_user(exchange, ALICE)
    await exchange.deposit(ALICE, 10_000 * DOLLAR)


def tick(exchange: Exchange, at: float) -> None:
    """A one-second tick at exchange time ``at``, taken and published at once (nothing else
    runs meanwhile)."""
    feed = exchange.feed
    feed.publish(feed.tick(at, 1.0))


def flow_move(usd: float) -> float:
    """The impact level a flow of ``usd`` makes at once (a fraction)."""
    return usd / RULE.usd_per_percent / 100


async def test_a_resting_fill_keeps_its_own_ticks_model_price_and_moves_the_next_tick(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    settings = engine_settings(tmp_path, feed_driven=True, tick_interval=1.0)
    async with open_exchange(settings) as exchange:
        await funded_exchange(exchange)
        start = exchange.feed.markets["BTC"].price
        limit = start * 90 // 100
        resting = await exchange.place_order(
            ALICE, OrderRequest("limit_buy", "BTC", QTY_SCALE // 10, price=limit)
        )
        assert resting.status == "pending"
        # Someone's -$20,000 of flow pulls the next tick 20% down, through the limit.
        t0 = exchange.clock.now()
        exchange.impact.record("BTC", -20_000.0, t0)
        tick(exchange, t0 + 1)
        crossing = exchange.feed.seq
        price = exchange.feed.markets["BTC"].price
        share = exchange.impact.share("BTC")
        assert price <= limit and share == pytest.approx(-0.2 * 0.5 ** (1 / 60), rel=1e-9)
        # Another tick before the account actor takes the fill: the impact part moves on.
        tick(exchange, t0 + 2)
        assert exchange.impact.share("BTC") != pytest.approx(share, rel=1e-6)
        await settle()
        await exchange.store.barrier()
        filled = exchange.order(ALICE, resting.order_id)
        assert (filled.status, filled.fill_seq, filled.filled_price) == (
            "completed",
            crossing,
            price,
        )
        # The stored model price explains the fill's own tick: price = model * (1 + share).
        assert filled.model_price == round(price / (1 + share))
        assert filled.total_amount is not None
        # The fill's own USD value joined the flow at its time, and decays from there.
        fill_time = max(t0, filled.updated_at / 1000)
        later = t0 + 30
        bought = flow_move(filled.total_amount / CENTS)
        expected = -0.2 * 0.5 ** ((later - t0) / 60) + bought * 0.5 ** ((later - fill_time) / 60)
        assert exchange.impact.level("BTC", later) == pytest.approx(expected, rel=1e-9)
        assert exchange.verify() == []


async def test_a_market_fill_keeps_the_model_price_of_the_tick_it_filled_at(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    settings = engine_settings(tmp_path, feed_driven=True, tick_interval=1.0)
    async with open_exchange(settings) as exchange:
        await funded_exchange(exchange)
        t0 = exchange.clock.now()
        exchange.impact.record("BTC", 3_000.0, t0)
        tick(exchange, t0 + 1)
        price = exchange.feed.markets["BTC"].price
        share = exchange.impact.share("BTC")
        assert share == pytest.approx(0.03 * 0.5 ** (1 / 60), rel=1e-9)
        bought = await exchange.place_order(
            ALICE, OrderRequest("market_buy", "BTC", QTY_SCALE // 10)
        )
        assert (bought.status, bought.filled_price) == ("completed", price)
        assert bought.model_price == round(price / (1 + share))
        assert exchange.order(ALICE, bought.order_id).model_price == bought.model_price
        # Impact off for ETH: nothing kept, and no flow.
        other = await exchange.place_order(
            ALICE, OrderRequest("market_buy", "ETH", QTY_SCALE // 10)
        )
        assert other.status == "completed" and other.model_price is None
        assert exchange.impact.level("ETH", exchange.clock.now()) == 0.0


async def test_a_retried_order_adds_its_fill_to_the_flow_once(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    settings = engine_settings(tmp_path, feed_driven=True, tick_interval=1.0)
    async with open_exchange(settings) as exchange:
        await funded_exchange(exchange)
        request = OrderRequest("market_buy", "BTC", QTY_SCALE // 10, client_order_id="once")
        first = await exchange.place_order(ALICE, request)
        again = await exchange.place_order(ALICE, request)
        assert again.order_id == first.order_id and first.total_amount is not None
        now = first.updated_at / 1000
        assert exchange.impact.level("BTC", now) == pytest.approx(
            flow_move(first.total_amount / CENTS), rel=1e-12
        )


EXPLANATION = re.compile(
    r"tick (\d+) at (\d+\.\d{2,8}): model price (\d+\.\d{2,8}) ([+-]) (\d+\.\d{2})% impact"
)


async def test_order_views_explain_a_fill_with_impact_and_show_nulls_without(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with running_app(tmp_path, tick_interval=1.0) as (exchange, client):
        exchange.impact.set_rules({"BTC": RULE})
        headers = await signed_up(client, ALICE)
        code, _ = await call(client, "POST", DEPOSIT, headers, {"amount": "10000"})
        assert code == 201
        exchange.impact.record("BTC", 2_500.0, exchange.clock.now())
        await trio.sleep(1.5)  # the next tick carries the impact
        share = exchange.impact.share("BTC")
        assert share > 0.02
        code, body = await call(
            client,
            "POST",
            ORDERS,
            headers,
            {"order_type": "market_buy", "asset_id": "BTC", "quantity": "0.01"},
        )
        assert code == 201, body
        placed = body["data"]
        order = exchange.order(ALICE, placed["order_id"])
        assert order.filled_price is not None and order.model_price is not None
        assert placed["filled_price"] == format_price(order.filled_price)
        assert placed["model_price"] == format_price(order.model_price)
        paid = order.filled_price / order.model_price - 1
        assert paid == pytest.approx(share, abs=1e-8)
        assert float(placed["impact_pct"]) == pytest.approx(paid * 100, abs=1e-4)
        assert re.fullmatch(r"\d+\.\d{4}", placed["impact_pct"])
        matched = EXPLANATION.fullmatch(placed["fill_explanation"])
        assert matched is not None, placed["fill_explanation"]
        seq, price, model, sign, pct = matched.groups()
        assert int(seq) == placed["filled_tick_seq"] == order.fill_seq
        assert float(price) * PRICE_SCALE == pytest.approx(order.filled_price, abs=1)
        assert float(model) * PRICE_SCALE == pytest.approx(order.model_price, abs=1)
        assert (sign, pct) == ("+", f"{paid * 100:.2f}")
        # The same fields on every view of the order.
        code, one = await call(client, "GET", f"{ORDERS}/{placed['order_id']}", headers)
        assert code == 200 and one["data"] == placed
        code, listing = await call(client, "GET", ORDERS, headers)
        assert code == 200 and listing["data"][0] == placed
        # Impact off for the asset, or not filled: the fields are there, null.
        code, body = await call(
            client,
            "POST",
            ORDERS,
            headers,
            {"order_type": "market_buy", "asset_id": "ETH", "quantity": "0.01"},
        )
        assert code == 201, body
        code, pending = await call(
            client,
            "POST",
            ORDERS,
            headers,
            {"order_type": "limit_buy", "asset_id": "BTC", "quantity": "0.01", "price": "1000"},
        )
        assert code == 201, pending
        for view in (body["data"], pending["data"]):
            assert (view["model_price"], view["impact_pct"], view["fill_explanation"]) == (
                None,
                None,
                None,
            )


def order_row(order_id: str) -> tuple[object, ...]:
    """An order row of schema 6 (before ``model_price``): a filled market buy."""
    return (
        order_id,
        ALICE,
        None,
        "market_buy",
        "BTC",
        QTY_SCALE,
        None,
        None,
        "gtc",
        None,
        "completed",
        0,
        0,
        0,
        64_250 * PRICE_SCALE,
        6_425_000,
        0,
        7,
        None,
        1,
        1,
        None,
    )


def old_database(path: str) -> None:
    """A database of schema 6 holding one filled order."""
    old = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:6]:
        old.executescript(script)
    old.execute("PRAGMA user_version = 6")
    old.execute(
        "INSERT INTO users (username, email, password_hash, first_name, last_name, created_at, "
        "updated_at) VALUES (?, 'a@example.com', 'x', 'A', 'B', 1, 1)",
        (ALICE,),
    )
    columns = (
        "order_id, username, client_order_id, order_type, asset_id, quantity, price, "
        "stop_price, time_in_force, expires_at, status, triggered, reserved_cash, "
        "reserved_quantity, filled_price, total_amount, fee, fill_seq, reason, created_at, "
        "updated_at, note"
    )
    old.execute(
        f"INSERT INTO orders ({columns}) VALUES ({', '.join('?' * 22)})",  # noqa: S608
        order_row("ord_before_impact"),
    )
    old.close()


def test_the_model_price_migration_keeps_the_orders_of_an_existing_database(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "old.db")
    old_database(path)
    conn = connect(path)
    assert conn.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),) == (7,)
    kept = conn.execute("SELECT order_id, filled_price, model_price FROM orders").fetchall()
    assert kept == [("ord_before_impact", 64_250 * PRICE_SCALE, None)]
    conn.close()


async def test_an_order_of_before_the_migration_loads_and_shows_no_impact(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    old_database(str(tmp_path / "old.db"))
    settings = engine_settings(tmp_path, db=str(tmp_path / "old.db"))
    async with open_exchange(settings) as exchange:
        (order,) = load_orders(exchange.store, "username = ?", (ALICE,))
        assert isinstance(order, Order) and order.model_price is None
        assert exchange.order(ALICE, "ord_before_impact").filled_price == 64_250 * PRICE_SCALE
