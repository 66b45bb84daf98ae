"""Resting orders through the engine: exact fills on the crossing tick, expiry, restarts, load.

Every test runs on the autojump clock with one tick per virtual second. Levels sit a few basis
points from the current price, so the seeded walk crosses them within some ticks; each test
watches the feed itself and asserts on the first frame that crosses.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
import trio

from exchange.engine import Exchange, open_exchange
from exchange.errors import DomainError, NotPending
from exchange.money import QTY_SCALE, cost_cents, proceeds_cents
from exchange.orders import Order, OrderRequest
from exchange.pricefeed import Frame
from tests.conftest import START_EPOCH, engine_settings, signed_up
from tests.trading_helpers import (
    DOLLAR,
    ORDERS,
    add_user,
    call,
    first_crossing,
    price_at,
    price_text,
    running_app,
    settle,
    small_catalogue,
)

ALICE = "alice_01"
# How far from the current price resting orders are placed: a few ticks' moves of ETH.
BPS = 3.0
TENTH = QTY_SCALE // 10


def pending_orders(exchange: Exchange) -> int:
    row = exchange.store.read_one("SELECT COUNT(*) FROM orders WHERE status = 'pending'")
    assert row is not None
    return int(row[0])


def check_books(exchange: Exchange) -> None:
    """The ledgers agree with the balances, and the index holds exactly the open orders."""
    assert exchange.verify() == []
    assert len(exchange.triggers) == pending_orders(exchange)


async def started(exchange: Exchange, username: str = ALICE, dollars: int = 10_000) -> None:
    await add_user(exchange, username)
    await exchange.deposit(username, dollars * DOLLAR)


def stays_pending(exchange: Exchange, username: str, order_id: str) -> Callable[[Frame], None]:
    def check(frame: Frame) -> None:
        order = exchange.order(username, order_id)
        assert order.status == "pending", (frame.seq, order)

    return check


async def rest_then_fill(
    exchange: Exchange, request: OrderRequest, crosses: Callable[[int], bool]
) -> tuple[Order, Frame]:
    """Place a resting order, watch the feed, and check it fills on the first crossing frame."""
    subscription = exchange.feed.subscribe(16)
    before = exchange.feed.seq
    order = await exchange.place_order(ALICE, request)
    assert order.status == "pending", order
    assert exchange.feed.seq == before  # placing took no time: the next frame is the first
    frame = await first_crossing(
        subscription, request.asset_id, crosses, stays_pending(exchange, ALICE, order.order_id)
    )
    exchange.feed.unsubscribe(subscription)
    assert frame.seq > before
    filled = exchange.order(ALICE, order.order_id)
    assert filled.status == "completed", (frame.seq, filled)
    assert filled.fill_seq == frame.seq
    assert filled.filled_price == frame.prices[request.asset_id]
    assert (filled.reserved_cash, filled.reserved_quantity) == (0, 0)
    check_books(exchange)
    return filled, frame


def scenario(kind: str, price: int) -> tuple[OrderRequest, Callable[[int], bool]]:
    """A resting order of ``kind`` a few basis points from ``price``, and what crosses it."""
    up, down = price_at(price, BPS), price_at(price, -BPS)
    if kind == "limit_buy":
        return OrderRequest(kind, "ETH", TENTH, price=down), lambda p: p <= down
    if kind == "limit_sell":
        return OrderRequest(kind, "ETH", TENTH, price=up), lambda p: p >= up
    if kind == "stop_buy":
        return OrderRequest(kind, "ETH", TENTH, stop_price=up), lambda p: p >= up
    if kind == "stop_sell":
        return OrderRequest(kind, "ETH", TENTH, stop_price=down), lambda p: p <= down
    far_up, far_down = price_at(price, 100), price_at(price, -100)
    if kind == "stop_limit_buy":
        request = OrderRequest(kind, "ETH", TENTH, price=far_up, stop_price=up)
        return request, lambda p: p >= up
    assert kind == "stop_limit_sell"
    request = OrderRequest(kind, "ETH", TENTH, price=far_down, stop_price=down)
    return request, lambda p: p <= down


@pytest.mark.parametrize(
    "kind",
    ["limit_buy", "limit_sell", "stop_buy", "stop_sell", "stop_limit_buy", "stop_limit_sell"],
)
async def test_resting_orders_fill_on_the_first_crossing_tick(
    tmp_path: Path, autojump_clock: object, kind: str
) -> None:
    async with open_exchange(engine_settings(tmp_path, tick_interval=1.0)) as exchange:
        await started(exchange)
        if kind.endswith("_sell"):
            await exchange.place_order(ALICE, OrderRequest("market_buy", "ETH", 3 * TENTH))
        await trio.sleep(10.5)  # start between ticks, from a price that has moved
        before = await exchange.balance(ALICE)
        holdings_before = (await exchange.portfolio(ALICE)).holdings
        held_before = sum(h.quantity for h in holdings_before if h.asset_id == "ETH")
        request, crosses = scenario(kind, exchange.market("ETH").price)
        filled, frame = await rest_then_fill(exchange, request, crosses)
        price = frame.prices["ETH"]
        after = await exchange.portfolio(ALICE)
        [eth] = [h for h in after.holdings if h.asset_id == "ETH"]
        if kind.endswith("_buy"):
            assert filled.total_amount == cost_cents(TENTH, price)
            assert after.cash == before.cash - filled.total_amount
            assert eth.quantity == held_before + TENTH
        else:
            assert filled.total_amount == proceeds_cents(TENTH, price)
            assert after.cash == before.cash + filled.total_amount
            assert eth.quantity == held_before - TENTH
        assert (after.reserved, eth.reserved) == (0, 0)
        assert len(exchange.triggers) == 0


async def test_fill_is_visible_through_http_with_its_tick(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with running_app(tmp_path, tick_interval=1.0) as (exchange, client):
        headers = await signed_up(client)
        await call(client, "POST", "/api/v1/balance/deposit", headers, {"amount": "1000"})
        subscription = exchange.feed.subscribe(16)
        level = price_at(exchange.market("ETH").price, -BPS)
        status, body = await call(
            client,
            "POST",
            ORDERS,
            headers,
            {
                "order_type": "limit_buy",
                "asset_id": "ETH",
                "quantity": "0.1",
                "price": price_text(level),
            },
        )
        assert (status, body["data"]["status"]) == (201, "pending")
        order_id = body["data"]["order_id"]
        frame = await first_crossing(subscription, "ETH", lambda p: p <= level)
        status, body = await call(client, "GET", f"{ORDERS}/{order_id}", headers)
        order = body["data"]
        assert (order["status"], order["filled_tick_seq"]) == ("completed", frame.seq)
        assert order["filled_price"] == price_text(frame.prices["ETH"])
        status, portfolio = await call(client, "GET", "/api/v1/portfolio", headers)
        assert portfolio["reserved_usd"] == "0.00"


async def test_triggered_stop_limit_that_cannot_fill_rests_as_a_limit(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with open_exchange(engine_settings(tmp_path, tick_interval=1.0)) as exchange:
        await started(exchange)
        price = exchange.market("ETH").price
        stop, limit = price_at(price, BPS), price_at(price, -BPS)
        subscription = exchange.feed.subscribe(16)
        order = await exchange.place_order(
            ALICE, OrderRequest("stop_limit_buy", "ETH", TENTH, price=limit, stop_price=stop)
        )
        reserved = cost_cents(TENTH, limit)
        assert (order.status, order.triggered, order.reserved_cash) == ("pending", False, reserved)
        waiting = stays_pending(exchange, ALICE, order.order_id)
        triggered_at = await first_crossing(subscription, "ETH", lambda p: p >= stop, waiting)
        resting = exchange.order(ALICE, order.order_id)
        assert (resting.status, resting.triggered, resting.reserved_cash) == (
            "pending",
            True,
            reserved,
        )
        assert resting.updated_at == pytest.approx(triggered_at.time * 1000, abs=1)
        check_books(exchange)
        assert len(exchange.triggers) == 1
        # Now a limit buy: it fills when the price comes back down to the limit, not the stop.
        frame = await first_crossing(subscription, "ETH", lambda p: p <= limit, waiting)
        filled = exchange.order(ALICE, order.order_id)
        assert (filled.status, filled.fill_seq, filled.filled_price) == (
            "completed",
            frame.seq,
            frame.prices["ETH"],
        )
        assert (await exchange.balance(ALICE)).reserved == 0
        check_books(exchange)


async def test_a_stop_that_gaps_past_the_cash_is_rejected(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with open_exchange(engine_settings(tmp_path, tick_interval=1.0)) as exchange:
        await add_user(exchange, ALICE)
        quantity = 4 * QTY_SCALE
        stop = price_at(exchange.market("ETH").price, BPS)
        reserved = cost_cents(quantity, stop)
        # Exactly enough for the stop price; a fill above it needs more than there is.
        await exchange.deposit(ALICE, reserved)
        subscription = exchange.feed.subscribe(16)
        order = await exchange.place_order(
            ALICE, OrderRequest("stop_buy", "ETH", quantity, stop_price=stop)
        )
        assert (await exchange.balance(ALICE)).reserved == reserved
        frame = await first_crossing(subscription, "ETH", lambda p: p >= stop)
        ended = exchange.order(ALICE, order.order_id)
        if cost_cents(quantity, frame.prices["ETH"]) > reserved:
            assert (ended.status, ended.filled_price) == ("rejected", None)
            assert ended.reason is not None
            assert ended.reason.startswith("Insufficient funds")
            assert (await exchange.balance(ALICE)).cash == reserved
        else:
            assert ended.status == "completed"
        assert (await exchange.balance(ALICE)).reserved == 0
        check_books(exchange)


async def test_cancel_releases_reservations_and_leaves_the_index(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with open_exchange(engine_settings(tmp_path, tick_interval=1.0)) as exchange:
        await started(exchange)
        await exchange.place_order(ALICE, OrderRequest("market_buy", "BTC", 5 * QTY_SCALE // 100))
        btc = exchange.market("BTC").price
        buy = await exchange.place_order(
            ALICE, OrderRequest("limit_buy", "BTC", QTY_SCALE // 100, price=btc // 2)
        )
        sell = await exchange.place_order(
            ALICE, OrderRequest("limit_sell", "BTC", 3 * QTY_SCALE // 100, price=btc * 2)
        )
        stop = await exchange.place_order(
            ALICE, OrderRequest("stop_sell", "BTC", QTY_SCALE // 100, stop_price=btc // 2)
        )
        snapshot = await exchange.portfolio(ALICE)
        assert snapshot.reserved == cost_cents(QTY_SCALE // 100, btc // 2)
        assert snapshot.holdings[0].reserved == 4 * QTY_SCALE // 100
        assert len(exchange.triggers) == 3
        await trio.sleep(5)
        cancelled = await exchange.cancel_order(ALICE, buy.order_id)
        assert (cancelled.status, cancelled.reserved_cash) == ("cancelled", 0)
        assert (await exchange.balance(ALICE)).reserved == 0
        assert len(exchange.triggers) == 2
        await exchange.cancel_order(ALICE, sell.order_id)
        assert (await exchange.portfolio(ALICE)).holdings[0].reserved == QTY_SCALE // 100
        await exchange.cancel_order(ALICE, stop.order_id)
        assert (await exchange.portfolio(ALICE)).holdings[0].reserved == 0
        assert len(exchange.triggers) == 0
        with pytest.raises(NotPending):
            await exchange.cancel_order(ALICE, stop.order_id)
        await trio.sleep(5)
        check_books(exchange)


@pytest.mark.parametrize("offset_ms", [5_500, 5_000])
async def test_expiry_at_the_first_tick_at_or_after_it(
    tmp_path: Path, autojump_clock: object, offset_ms: int
) -> None:
    async with open_exchange(engine_settings(tmp_path, tick_interval=1.0)) as exchange:
        await started(exchange)
        await exchange.place_order(ALICE, OrderRequest("market_buy", "ETH", TENTH))
        await trio.sleep(3)
        eth = exchange.market("ETH").price
        expires_at = exchange.clock.now_ms() + offset_ms
        buy = await exchange.place_order(
            ALICE, OrderRequest("limit_buy", "ETH", TENTH, price=eth // 2, expires_at=expires_at)
        )
        sell = await exchange.place_order(
            ALICE,
            OrderRequest("stop_sell", "ETH", TENTH, stop_price=eth // 2, expires_at=expires_at),
        )
        assert (await exchange.portfolio(ALICE)).reserved == cost_cents(TENTH, eth // 2)
        subscription = exchange.feed.subscribe(16)
        while True:
            frame = await subscription.items.receive()
            await settle()
            frame_ms = round(frame.time * 1000)
            statuses = {exchange.order(ALICE, o.order_id).status for o in (buy, sell)}
            if frame_ms < expires_at:
                assert statuses == {"pending"}, frame_ms - expires_at
                continue
            assert statuses == {"expired"}
            assert frame_ms - expires_at < 1000
            break
        ended = exchange.order(ALICE, buy.order_id)
        assert ended.reason == "expired"
        assert ended.updated_at == pytest.approx(frame_ms, abs=1)
        snapshot = await exchange.portfolio(ALICE)
        assert (snapshot.reserved, snapshot.holdings[0].reserved) == (0, 0)
        check_books(exchange)
        assert len(exchange.triggers) == 0
        with pytest.raises(NotPending):
            await exchange.cancel_order(ALICE, buy.order_id)


async def test_expiry_in_the_past_is_rejected(exchange: Exchange) -> None:
    await started(exchange)
    with pytest.raises(DomainError, match="expires_at must be in the future"):
        await exchange.place_order(
            ALICE,
            OrderRequest("limit_buy", "ETH", TENTH, price=1, expires_at=exchange.clock.now_ms()),
        )
    assert pending_orders(exchange) == 0


async def test_day_orders_end_at_utc_midnight(tmp_path: Path, autojump_clock: object) -> None:
    # Half a day of one-minute ticks: a catalogue of one asset keeps it cheap.
    settings = engine_settings(tmp_path, catalogue=small_catalogue(tmp_path, "BTC"))
    async with open_exchange(settings) as exchange:
        await day_orders_end_at_utc_midnight(exchange)


async def day_orders_end_at_utc_midnight(exchange: Exchange) -> None:
    assert exchange.settings.tick_interval == 60
    await started(exchange)
    btc = exchange.market("BTC").price
    day = await exchange.place_order(
        ALICE,
        OrderRequest("limit_buy", "BTC", QTY_SCALE // 100, price=btc // 2, time_in_force="day"),
    )
    gtc = await exchange.place_order(
        ALICE, OrderRequest("limit_buy", "BTC", QTY_SCALE // 100, price=btc // 3)
    )
    midnight_ms = int(START_EPOCH + 12 * 3600) * 1000
    assert day.expires_at == midnight_ms
    reserved = cost_cents(QTY_SCALE // 100, btc // 2) + cost_cents(QTY_SCALE // 100, btc // 3)
    assert (await exchange.balance(ALICE)).reserved == reserved
    await trio.sleep(12 * 3600 - 30)  # 23:59:30; the last tick was 23:59:00
    assert exchange.order(ALICE, day.order_id).status == "pending"
    await trio.sleep(29)
    assert exchange.order(ALICE, day.order_id).status == "pending"
    await trio.sleep(2)  # the 00:00:00 tick
    ended = exchange.order(ALICE, day.order_id)
    assert (ended.status, ended.reason) == ("expired", "day order ended")
    assert ended.updated_at == pytest.approx(midnight_ms, abs=1)
    assert exchange.order(ALICE, gtc.order_id).status == "pending"
    assert (await exchange.balance(ALICE)).reserved == cost_cents(QTY_SCALE // 100, btc // 3)
    check_books(exchange)
    # A day order placed after midnight lasts until the next one.
    later = await exchange.place_order(
        ALICE,
        OrderRequest("limit_buy", "BTC", QTY_SCALE // 100, price=btc // 2, time_in_force="day"),
    )
    assert later.expires_at == midnight_ms + 86_400_000


async def test_resting_orders_survive_a_restart(tmp_path: Path, autojump_clock: object) -> None:
    async with open_exchange(engine_settings(tmp_path, tick_interval=1.0)) as exchange:
        await started(exchange)
        await exchange.place_order(ALICE, OrderRequest("market_buy", "ETH", 2 * TENTH))
        await trio.sleep(90)  # long enough for the feed to save its state
        eth = exchange.market("ETH").price
        far = await exchange.place_order(
            ALICE, OrderRequest("limit_sell", "ETH", TENTH, price=eth * 2)
        )
        expiring = await exchange.place_order(
            ALICE,
            OrderRequest(
                "limit_buy",
                "ETH",
                TENTH,
                price=eth // 2,
                expires_at=exchange.clock.now_ms() + 30_000,
            ),
        )
        reserved = (await exchange.portfolio(ALICE)).reserved
        check_books(exchange)
    # Back ten minutes later: the expiring order's time has passed while the exchange was down.
    later = engine_settings(tmp_path, tick_interval=1.0, start_epoch=START_EPOCH + 600)
    async with open_exchange(later) as exchange:
        assert exchange.order(ALICE, far.order_id).status == "pending"
        assert exchange.order(ALICE, expiring.order_id).status == "pending"
        assert len(exchange.triggers) == 2
        snapshot = await exchange.portfolio(ALICE)
        assert snapshot.reserved == reserved
        assert snapshot.holdings[0].reserved == TENTH
        check_books(exchange)
        await trio.sleep(1.5)  # the first tick expires it
        assert exchange.order(ALICE, expiring.order_id).status == "expired"
        assert (await exchange.portfolio(ALICE)).reserved == 0
        request, crosses = scenario("limit_buy", exchange.market("ETH").price)
        await rest_then_fill(exchange, request, crosses)
        assert exchange.order(ALICE, far.order_id).status == "pending"
        check_books(exchange)
    # And once more: the order placed after the first restart, and its fill, were kept.
    async with open_exchange(later) as exchange:
        assert len(exchange.triggers) == 1
        check_books(exchange)
        await exchange.cancel_order(ALICE, far.order_id)
        assert (await exchange.portfolio(ALICE)).holdings[0].reserved == 0


async def test_client_order_ids_and_event_numbers_survive_a_restart(tmp_path: Path) -> None:
    request = OrderRequest("limit_buy", "BTC", QTY_SCALE // 100, price=10_000 * 10**8)
    keyed = msgspec.structs.replace(request, client_order_id="keep-me")
    async with open_exchange(engine_settings(tmp_path)) as exchange:
        await started(exchange)
        first = await exchange.place_order(ALICE, keyed)
        events = exchange.events.latest(ALICE)
        assert events == 3  # deposit; order new and its reservation
    later = engine_settings(tmp_path, start_epoch=START_EPOCH + 60)
    async with open_exchange(later) as exchange:
        assert exchange.events.latest(ALICE) == events
        again = await exchange.place_order(ALICE, keyed)
        assert again.order_id == first.order_id
        assert (await exchange.balance(ALICE)).reserved == first.reserved_cash
        with pytest.raises(DomainError) as clash:
            await exchange.place_order(
                ALICE, msgspec.structs.replace(keyed, quantity=2 * QTY_SCALE // 100)
            )
        assert clash.value.code == "duplicate_client_order_id"
        await exchange.withdraw(ALICE, DOLLAR)
        assert exchange.events.latest(ALICE) == events + 1
        check_books(exchange)


async def test_resting_order_placed_before_a_restart_fills_after_it(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with open_exchange(engine_settings(tmp_path, tick_interval=1.0)) as exchange:
        await started(exchange)
        level = price_at(exchange.market("ETH").price, -BPS)
        order = await exchange.place_order(
            ALICE, OrderRequest("limit_buy", "ETH", TENTH, price=level)
        )
        assert order.status == "pending"
    later = engine_settings(tmp_path, tick_interval=1.0, start_epoch=START_EPOCH + 60)
    async with open_exchange(later) as exchange:
        assert exchange.order(ALICE, order.order_id).status == "pending"
        assert exchange.market("ETH").price > level
        subscription = exchange.feed.subscribe(16)
        frame = await first_crossing(
            subscription,
            "ETH",
            lambda p: p <= level,
            stays_pending(exchange, ALICE, order.order_id),
        )
        filled = exchange.order(ALICE, order.order_id)
        assert (filled.status, filled.fill_seq, filled.filled_price) == (
            "completed",
            frame.seq,
            frame.prices["ETH"],
        )
        assert (await exchange.balance(ALICE)).reserved == 0
        check_books(exchange)


ASSETS = {"BTC": QTY_SCALE // 100, "ETH": TENTH, "SOL": QTY_SCALE, "DOGE": 500 * QTY_SCALE}


async def trader(exchange: Exchange, username: str, seed: int, outcomes: dict[str, int]) -> None:
    rng = random.Random(seed)
    await exchange.deposit(username, 5_000 * DOLLAR)
    open_ids: list[str] = []
    for _ in range(25):
        asset = rng.choice(list(ASSETS))
        quantity = ASSETS[asset] * rng.choice((1, 2, 3))
        price = exchange.market(asset).price
        bps = rng.choice((0.5, 1, 3))
        kind = rng.choice(
            (
                "market_buy",
                "market_buy",
                "market_sell",
                "limit_buy",
                "limit_sell",
                "stop_buy",
                "stop_sell",
                "cancel",
                "withdraw",
            )
        )
        try:
            if kind == "cancel":
                if open_ids:
                    await exchange.cancel_order(
                        username, open_ids.pop(rng.randrange(len(open_ids)))
                    )
            elif kind == "withdraw":
                await exchange.withdraw(username, rng.randrange(1, 500) * DOLLAR)
            else:
                request = OrderRequest(kind, asset, quantity)
                if kind == "limit_buy":
                    request = OrderRequest(kind, asset, quantity, price=price_at(price, -bps))
                elif kind == "limit_sell":
                    request = OrderRequest(kind, asset, quantity, price=price_at(price, bps))
                elif kind == "stop_buy":
                    request = OrderRequest(kind, asset, quantity, stop_price=price_at(price, bps))
                elif kind == "stop_sell":
                    request = OrderRequest(kind, asset, quantity, stop_price=price_at(price, -bps))
                order = await exchange.place_order(username, request)
                if order.is_open:
                    open_ids.append(order.order_id)
            outcomes["done"] += 1
        except DomainError as rejection:
            outcomes[rejection.code] = outcomes.get(rejection.code, 0) + 1
        await trio.sleep(rng.choice((0, 0, 0.5, 1, 2.5)))


async def test_many_users_trading_at_once_keep_the_books(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with open_exchange(engine_settings(tmp_path, tick_interval=1.0)) as exchange:
        users = [f"trader_{i:02d}" for i in range(20)]
        for user in users:
            await add_user(exchange, user)
        outcomes = {"done": 0}
        checks = 0
        subscription = exchange.feed.subscribe(16)

        async def check_every_tick() -> None:
            nonlocal checks
            async for _ in subscription.items:
                await settle()
                check_books(exchange)
                checks += 1

        async with trio.open_nursery() as watchers:
            watchers.start_soon(check_every_tick)
            async with trio.open_nursery() as traders:
                for seed, user in enumerate(users):
                    traders.start_soon(trader, exchange, user, seed, outcomes)
            watchers.cancel_scope.cancel()
        await settle()
        check_books(exchange)
        assert checks >= 20
        assert outcomes["done"] >= 250
        assert outcomes.get("insufficient_holdings", 0) > 0  # sells were attempted blindly
        filled = exchange.store.read_one(
            "SELECT COUNT(*) FROM orders "
            "WHERE status = 'completed' AND order_type NOT LIKE 'market%'"
        )
        assert filled is not None and filled[0] > 0  # some resting orders did fill
        for user in users:
            snapshot = await exchange.portfolio(user)
            assert 0 <= snapshot.reserved <= snapshot.cash
            for holding in snapshot.holdings:
                assert 0 <= holding.reserved <= holding.quantity
        # Everything is still open or accounted for: cancel the rest and nothing stays reserved.
        for user in users:
            for order in exchange.orders(user, 100, 0, status="pending")[0]:
                await exchange.cancel_order(user, order.order_id)
            snapshot = await exchange.portfolio(user)
            assert snapshot.reserved == 0
            assert all(holding.reserved == 0 for holding in snapshot.holdings)
        assert len(exchange.triggers) == 0
        check_books(exchange)
