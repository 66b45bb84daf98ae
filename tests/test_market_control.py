"""Market control through the API, on real actors in virtual time (``autojump_clock``).

Roles on every route; pause and halt semantics (orders refused with the reason, cancels work,
resting orders do not trigger and are checked at the first tick after the resume); shocks
moving the next ticks by exactly the stated amount (at once, spread, decaying back); scheduled
actions at exact times and their cancellation; headlines on ``/ws/prices`` and ``GET /news``;
the state and the schedule across a restart; strict bodies.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from exchange.clock import iso_ms
from exchange.control import Halt, Pause, Resume
from exchange.engine import Exchange, open_exchange
from exchange.fanout import Subscription
from exchange.passwords import hash_password
from exchange.pricefeed import Frame
from exchange.pricemodel import Regime
from exchange.users import NewUser
from tests.conftest import PASSWORD, Client, engine_settings, web_settings
from tests.trading_helpers import DOLLAR, call, price_at, price_text, settle, small_catalogue
from web.app import create_app

MARKET = "/api/v1/market"
ORDERS = "/api/v1/orders"
NEWS = "/api/v1/news"
ADMIN, TEACHER, ALICE, BOB = "admin_01", "teacher_01", "alice_01", "bob_01"
ASSETS = ("BTC", "ETH", "XRP", "DOGE", "USDT")
Headers = dict[str, str]


class Desk:
    """A running exchange, its test client, and the tokens of each role."""

    def __init__(self, exchange: Exchange, client: Client, tokens: dict[str, Headers]) -> None:
        self.exchange = exchange
        self.client = client
        self.tokens = tokens

    @property
    def teacher(self) -> Headers:
        return self.tokens[TEACHER]

    async def act(self, path: str, body: Any, who: str = TEACHER) -> tuple[int, Any]:
        return await call(self.client, "POST", f"{MARKET}{path}", self.tokens[who], body)

    async def ok(self, path: str, body: Any, who: str = TEACHER) -> dict[str, Any]:
        status, reply = await self.act(path, body, who)
        assert status == 201, reply
        assert isinstance(reply, dict)
        return reply

    async def order(self, who: str, body: dict[str, object]) -> tuple[int, Any]:
        return await call(self.client, "POST", ORDERS, self.tokens[who], body)

    def market(self, asset_id: str) -> Any:
        return self.exchange.feed.markets[asset_id]


async def _login(client: Client, username: str) -> Headers:
    response = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 200, await response.get_data()
    return {"Authorization": f"Bearer {(await response.get_json())['access_token']}"}


async def _users(exchange: Exchange, client: Client) -> dict[str, Headers]:
    digest = hash_password(PASSWORD, 2**4)
    roles = {ADMIN: "admin", TEACHER: "teacher", ALICE: "customer", BOB: "customer"}
    for username, role in roles.items():
        await exchange.register(
            NewUser(username, f"{username}@example.com", digest, "A", "B", role=role)
        )
    for username in (ALICE, BOB):
        await exchange.deposit(username, 10_000 * DOLLAR)
    return {username: await _login(client, username) for username in roles}


@asynccontextmanager
async def desk_app(tmp_path: Path, fresh: bool = True) -> AsyncIterator[Desk]:
    """One tick per second over a small catalogue, with an admin, a teacher and two students."""
    catalogue = small_catalogue(tmp_path, *ASSETS) if fresh else str(tmp_path / "catalogue.json")
    settings = engine_settings(tmp_path, tick_interval=1.0, catalogue=catalogue)
    async with open_exchange(settings) as exchange:
        app = create_app(exchange, web_settings())
        app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = None
        async with app.test_app() as test_app:
            client = test_app.test_client()
            if fresh:
                tokens = await _users(exchange, client)
            else:
                names = (ADMIN, TEACHER, ALICE, BOB)
                tokens = {name: await _login(client, name) for name in names}
            yield Desk(exchange, client, tokens)


async def next_frame(subscription: Subscription[Frame]) -> Frame:
    """The next tick, once every order it fired is settled."""
    frame = await subscription.items.receive()
    await settle()
    return frame


def drain(subscription: Subscription[Frame]) -> None:
    while True:
        try:
            subscription.items.receive_nowait()
        except trio.WouldBlock:
            return


def resting_buy(desk: Desk, asset_id: str, bps: float) -> dict[str, object]:
    """A limit buy ``bps`` below the current price (it rests)."""
    level = price_at(desk.market(asset_id).price, bps)
    return {
        "order_type": "limit_buy",
        "asset_id": asset_id,
        "quantity": "0.01",
        "price": price_text(level),
    }


def market_buy(asset_id: str = "BTC") -> dict[str, object]:
    return {"order_type": "market_buy", "asset_id": asset_id, "quantity": "0.001"}


async def order_status(desk: Desk, who: str, order_id: str) -> dict[str, Any]:
    status, body = await call(desk.client, "GET", f"{ORDERS}/{order_id}", desk.tokens[who])
    assert status == 200
    data: dict[str, Any] = body["data"]
    return data


# Roles

ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/pause", {"reason": "Quiz"}),
    ("POST", "/resume", {}),
    ("POST", "/assets/BTC/halt", {"reason": "News pending"}),
    ("POST", "/assets/BTC/resume", {}),
    ("POST", "/shock", {"percent": 5, "headline": "Rally", "asset_id": "BTC"}),
    ("POST", "/news", {"headline": "Markets open"}),
    ("POST", "/regime", {"regime": "bull"}),
    ("GET", "/status", None),
    ("GET", "/actions", None),
    ("GET", "/schedule", None),
    ("GET", "/actions/0123456789abcdef", None),
    ("DELETE", "/actions/0123456789abcdef", None),
]


async def test_market_routes_are_for_teachers_and_admins(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with desk_app(tmp_path) as desk:
        for method, path, body in ROUTES:
            url = f"{MARKET}{path}"
            # No token: 401 before the body is even looked at.
            response = await desk.client.open(  # type: ignore[call-arg]
                url, method=method, data=b"not json"
            )
            assert response.status_code == 401, (method, path)
            assert (await response.get_json())["code"] == "unauthorized"
            assert response.headers["WWW-Authenticate"] == "Bearer"
            status, reply = await call(desk.client, method, url, desk.tokens[ALICE], body)
            assert (status, reply["code"]) == (403, "forbidden"), (method, path)
            assert "Teacher or admin" in reply["detail"]
        # Nothing a customer asked for happened.
        assert desk.exchange.desk.actions(10, 0)[1] == 0
        # Teachers and admins pass the role check.
        for who in (TEACHER, ADMIN):
            for method, path, body in ROUTES:
                status, _ = await call(
                    desk.client, method, f"{MARKET}{path}", desk.tokens[who], body
                )
                assert status not in (401, 403), (who, method, path, status)
        # Headlines are public, like prices.
        response = await desk.client.get(NEWS)
        assert response.status_code == 200


# Pause


async def test_pause_refuses_orders_with_the_reason_but_cancels_work(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with desk_app(tmp_path) as desk:
        status, resting = await desk.order(ALICE, resting_buy(desk, "BTC", -500))
        assert status == 201 and resting["data"]["status"] == "pending"
        paused = await desk.ok("/pause", {"reason": "Quiz time: hands off keyboards"})
        assert paused["kind"] == "pause" and paused["status"] == "done"
        assert paused["created_by"] == TEACHER and paused["run_at"] is None
        assert paused["params"] == {
            "reason": "Quiz time: hands off keyboards",
            "freeze_prices": False,
            "headline": None,
        }
        for body in (market_buy(), resting_buy(desk, "ETH", -100)):
            status, refused = await desk.order(BOB, body)
            assert (status, refused["code"]) == (409, "market_paused")
            assert "Quiz time: hands off keyboards" in refused["detail"]
            assert set(refused) == {"detail", "code", "request_id"}
        # A cancel still works and releases the reservation.
        order_id = resting["data"]["order_id"]
        status, cancelled = await call(
            desk.client, "DELETE", f"{ORDERS}/{order_id}", desk.tokens[ALICE]
        )
        assert status == 200 and cancelled["data"]["status"] == "cancelled"
        # Pausing twice is refused; the status shows who paused and why.
        status, again = await desk.act("/pause", {"reason": "again"})
        assert (status, again["code"]) == (409, "market_already_paused")
        status, state = await call(desk.client, "GET", f"{MARKET}/status", desk.teacher)
        assert state["paused"] is True
        assert state["pause"]["by"] == TEACHER
        assert state["pause"]["reason"] == "Quiz time: hands off keyboards"
        resumed = await desk.ok("/resume", {}, who=ADMIN)
        assert resumed["created_by"] == ADMIN
        status, _ = await desk.order(BOB, market_buy())
        assert status == 201
        status, again = await desk.act("/resume", {})
        assert (status, again["code"]) == (409, "market_not_paused")
        assert desk.exchange.verify() == []


async def test_resting_orders_do_not_trigger_while_paused_and_fill_on_the_next_tick_after(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with desk_app(tmp_path) as desk:
        feed = desk.exchange.feed
        ticks = feed.subscribe(256)
        await next_frame(ticks)
        status, placed = await desk.order(ALICE, resting_buy(desk, "BTC", -500))
        assert status == 201
        order_id = placed["data"]["order_id"]
        await desk.ok("/pause", {"reason": "Break"})
        # Crash BTC 10% under the order's level: the tick crosses it, but nothing triggers.
        await desk.ok("/shock", {"asset_id": "BTC", "percent": -10, "headline": "BTC slides"})
        crossed = await next_frame(ticks)
        level = int(float(placed["data"]["price"]) * 1e8)
        assert crossed.prices["BTC"] < level
        for _ in range(3):
            await next_frame(ticks)
        assert (await order_status(desk, ALICE, order_id))["status"] == "pending"
        # Resume between ticks: the first tick after it fills the order at its price, even if
        # that tick did not change BTC's price.
        await desk.ok("/resume", {})
        frame = await next_frame(ticks)
        filled = await order_status(desk, ALICE, order_id)
        assert filled["status"] == "completed"
        assert filled["filled_tick_seq"] == frame.seq == feed.seq
        assert desk.exchange.verify() == []


async def test_the_triggers_see_nothing_while_paused_and_every_price_after_the_resume(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with desk_app(tmp_path) as desk:
        control = desk.exchange.desk
        order = list(ASSETS)
        empty = Frame(1, 0.0, {})
        await control.submit(Pause("Break"), TEACHER, None)
        frame, tradable = control.trigger_view(empty, order)
        assert tradable == [] and frame.prices == {}
        await control.submit(Halt("ETH", "Fork"), TEACHER, None)
        await control.submit(Resume(), TEACHER, None)
        # The first tick after the resume shows the triggers every price, changed or not.
        frame, tradable = control.trigger_view(empty, order)
        assert tradable == ["BTC", "XRP", "DOGE", "USDT"], "ETH is still halted"
        assert frame.prices == {a: desk.market(a).price for a in tradable}
        frame, _ = control.trigger_view(empty, order)
        assert frame.prices == {}, "only once"


async def test_orders_still_expire_while_paused(tmp_path: Path, autojump_clock: object) -> None:
    async with desk_app(tmp_path) as desk:
        body = resting_buy(desk, "BTC", -500)
        body["expires_at"] = iso_ms(desk.exchange.clock.now_ms() + 3_000)
        status, placed = await desk.order(ALICE, body)
        assert status == 201
        await desk.ok("/pause", {"reason": "Break", "freeze_prices": True})
        await trio.sleep(5)
        await settle()
        expired = await order_status(desk, ALICE, placed["data"]["order_id"])
        assert expired["status"] == "expired"
        assert desk.exchange.verify() == []


async def test_pause_can_freeze_prices(tmp_path: Path, autojump_clock: object) -> None:
    async with desk_app(tmp_path) as desk:
        ticks = desk.exchange.feed.subscribe(256)
        await next_frame(ticks)
        await desk.ok("/pause", {"reason": "Frozen", "freeze_prices": True})
        before = {a: desk.market(a).price for a in ASSETS}
        for _ in range(5):
            frame = await next_frame(ticks)
            assert frame.prices == {}, "nothing moves"
        assert {a: desk.market(a).price for a in ASSETS} == before
        # A shock still moves a frozen market, and only the shocked asset.
        deviation = desk.market("DOGE").state.deviation
        await desk.ok("/shock", {"asset_id": "DOGE", "percent": -40, "headline": "Rug pull"})
        frame = await next_frame(ticks)
        assert set(frame.prices) == {"DOGE"}
        assert desk.market("DOGE").state.deviation == pytest.approx(deviation + math.log1p(-0.4))
        await desk.ok("/resume", {})
        moved = set()
        for _ in range(5):
            moved |= set((await next_frame(ticks)).prices)
        assert moved, "prices move again after the resume"


# Halts


async def test_a_halt_stops_one_asset_only(tmp_path: Path, autojump_clock: object) -> None:
    async with desk_app(tmp_path) as desk:
        ticks = desk.exchange.feed.subscribe(256)
        await next_frame(ticks)
        status, placed = await desk.order(ALICE, resting_buy(desk, "BTC", -500))
        order_id = placed["data"]["order_id"]
        halted = await desk.ok("/assets/btc/halt", {"reason": "Pending announcement"})
        assert halted["params"]["asset_id"] == "BTC"
        status, refused = await desk.order(BOB, market_buy("BTC"))
        assert (status, refused["code"]) == (409, "asset_halted")
        assert "BTC" in refused["detail"] and "Pending announcement" in refused["detail"]
        status, _ = await desk.order(BOB, market_buy("ETH"))
        assert status == 201, "other assets trade"
        status, again = await desk.act("/assets/BTC/halt", {"reason": "x"})
        assert (status, again["code"]) == (409, "asset_already_halted")
        # Crossed while halted: no trigger.
        await desk.ok("/shock", {"asset_id": "BTC", "percent": -10, "headline": "BTC drops"})
        await next_frame(ticks)
        await next_frame(ticks)
        assert (await order_status(desk, ALICE, order_id))["status"] == "pending"
        status, state = await call(desk.client, "GET", f"{MARKET}/status", desk.teacher)
        assert [h["asset_id"] for h in state["halts"]] == ["BTC"]
        assert state["paused"] is False
        # Resumed: the next tick fills it.
        await desk.ok("/assets/BTC/resume", {})
        frame = await next_frame(ticks)
        filled = await order_status(desk, ALICE, order_id)
        assert filled["status"] == "completed" and filled["filled_tick_seq"] == frame.seq
        status, again = await desk.act("/assets/BTC/resume", {})
        assert (status, again["code"]) == (409, "asset_not_halted")
        status, missing = await desk.act("/assets/NOPE/halt", {"reason": "x"})
        assert (status, missing["code"]) == (404, "asset_not_found")
        assert desk.exchange.verify() == []


# Shocks


async def test_an_instant_shock_moves_the_next_tick_by_exactly_the_percentage(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with desk_app(tmp_path) as desk:
        ticks = desk.exchange.feed.subscribe(256)
        await next_frame(ticks)
        btc = desk.market("BTC")
        deviation, price = btc.state.deviation, btc.price
        shock = await desk.ok(
            "/shock", {"asset_id": "BTC", "percent": 10, "headline": "ETF approved"}
        )
        assert shock["params"]["percent"] == 10
        frame = await next_frame(ticks)
        expected = round(btc.params.reference * math.exp(deviation + math.log1p(0.10)))
        assert frame.prices["BTC"] == btc.price == expected
        assert abs(expected - round(price * 1.1)) <= 1
        # One tick later the random walk is back.
        deviation = btc.state.deviation
        await next_frame(ticks)
        assert btc.state.deviation != deviation


async def test_a_category_and_a_whole_market_shock(tmp_path: Path, autojump_clock: object) -> None:
    async with desk_app(tmp_path) as desk:
        ticks = desk.exchange.feed.subscribe(256)
        await next_frame(ticks)
        before = {a: desk.market(a).state.deviation for a in ASSETS}
        await desk.ok("/shock", {"category": "layer-1", "percent": -25, "headline": "L1 sell-off"})
        await next_frame(ticks)
        for asset_id in ("BTC", "ETH"):
            market = desk.market(asset_id)
            assert market.state.deviation == pytest.approx(before[asset_id] + math.log1p(-0.25))
        for asset_id in ("XRP", "DOGE"):
            drift = desk.market(asset_id).state.deviation - before[asset_id]
            assert abs(drift) < 0.01, "other categories only walk"
        before = {a: desk.market(a).state.deviation for a in ASSETS}
        await desk.ok("/shock", {"percent": 50, "headline": "Everything rallies"})
        await next_frame(ticks)
        for asset_id in ("BTC", "ETH", "XRP", "DOGE"):
            moved = desk.market(asset_id).state.deviation - before[asset_id]
            assert moved == pytest.approx(math.log1p(0.5))
        usdt = desk.market("USDT")
        band = usdt.params.peg_band
        assert usdt.price <= round(usdt.params.reference * (1 + band)), "a peg keeps its band"


async def test_a_spread_shock_moves_evenly_and_lands_on_the_total(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with desk_app(tmp_path) as desk:
        ticks = desk.exchange.feed.subscribe(256)
        await next_frame(ticks)
        eth = desk.market("ETH")
        start = eth.state.deviation
        await desk.ok(
            "/shock",
            {"asset_id": "ETH", "percent": -20, "spread_seconds": 5, "headline": "ETH bleeds"},
        )
        share = math.log1p(-0.2) / 5
        for _ in range(5):
            previous = eth.state.deviation
            await next_frame(ticks)
            assert eth.state.deviation - previous == pytest.approx(share, abs=1e-12)
        total = round(eth.params.reference * math.exp(start + math.log1p(-0.2)))
        assert abs(eth.price - total) <= 1
        previous = eth.state.deviation
        await next_frame(ticks)
        assert eth.state.deviation - previous != pytest.approx(share, abs=1e-9), "walking again"


async def test_a_decaying_shock_returns_to_where_it_started(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with desk_app(tmp_path) as desk:
        ticks = desk.exchange.feed.subscribe(256)
        await next_frame(ticks)
        xrp = desk.market("XRP")
        start, price = xrp.state.deviation, xrp.price
        await desk.ok(
            "/shock",
            {"asset_id": "XRP", "percent": 30, "decay_seconds": 4, "headline": "XRP squeeze"},
        )
        await next_frame(ticks)
        assert xrp.state.deviation == pytest.approx(start + math.log1p(0.3), abs=1e-12)
        for _ in range(4):
            previous = xrp.state.deviation
            await next_frame(ticks)
            assert xrp.state.deviation - previous == pytest.approx(-math.log1p(0.3) / 4, abs=1e-12)
        assert xrp.state.deviation == pytest.approx(start, abs=1e-12)
        assert abs(xrp.price - price) <= 1


# Scheduling


async def test_scheduled_actions_run_at_their_exact_time_and_can_be_cancelled(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with desk_app(tmp_path) as desk:
        exchange = desk.exchange
        now = exchange.clock.now_ms()
        pause_at, news_at = now + 30_500, now + 10_000
        pause = await desk.ok("/pause", {"reason": "Lunch", "at": iso_ms(pause_at)})
        assert pause["status"] == "scheduled" and pause["run_at"] == iso_ms(pause_at)
        news = await desk.ok("/news", {"headline": "Never shown", "at": iso_ms(news_at)})
        status, listed = await call(desk.client, "GET", f"{MARKET}/schedule", desk.teacher)
        assert [a["action_id"] for a in listed["data"]] == [news["action_id"], pause["action_id"]]
        # Cancel the news before it runs; a second cancel is refused.
        path = f"{MARKET}/actions/{news['action_id']}"
        status, cancelled = await call(desk.client, "DELETE", path, desk.teacher)
        assert status == 200 and cancelled["status"] == "cancelled"
        assert cancelled["cancelled_by"] == TEACHER
        status, again = await call(desk.client, "DELETE", path, desk.teacher)
        assert (status, again["code"]) == (409, "action_not_scheduled")
        status, unknown = await call(
            desk.client, "DELETE", f"{MARKET}/actions/0123456789abcdef", desk.teacher
        )
        assert (status, unknown["code"]) == (404, "action_not_found")
        # Just before its time: orders still go through.
        await trio.sleep((pause_at - 1) / 1000 - exchange.clock.now())
        assert (await desk.order(BOB, market_buy()))[0] == 201
        await trio.sleep((pause_at + 1) / 1000 - exchange.clock.now())
        status, ran = await call(
            desk.client, "GET", f"{MARKET}/actions/{pause['action_id']}", desk.teacher
        )
        assert ran["status"] == "done" and ran["applied_at"] == iso_ms(pause_at)
        status, refused = await desk.order(BOB, market_buy())
        assert (status, refused["code"]) == (409, "market_paused") and "Lunch" in refused["detail"]
        assert exchange.desk.news(10, 0)[1] == 0, "the cancelled headline never ran"
        # A scheduled action that no longer applies when due is kept, marked failed.
        failing = await desk.ok("/pause", {"reason": "twice", "at": iso_ms(pause_at + 5_000)})
        await trio.sleep(6)
        failed = exchange.desk.action(failing["action_id"])
        assert failed.status == "failed" and failed.failure == "The market is already paused"
        status, page = await call(
            desk.client, "GET", f"{MARKET}/actions?status=failed", desk.teacher
        )
        assert [a["action_id"] for a in page["data"]] == [failing["action_id"]]
        status, listed = await call(desk.client, "GET", f"{MARKET}/schedule", desk.teacher)
        assert listed["data"] == []


async def test_a_scheduled_shock_moves_the_first_tick_after_its_time(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with desk_app(tmp_path) as desk:
        exchange = desk.exchange
        ticks = exchange.feed.subscribe(256)
        run_at = exchange.clock.now_ms() + 3_500
        await desk.ok(
            "/shock",
            {"asset_id": "BTC", "percent": -5, "headline": "Later", "at": iso_ms(run_at)},
        )
        btc = desk.market("BTC")
        while True:
            deviation = btc.state.deviation
            frame = await next_frame(ticks)
            if frame.time * 1000 > run_at:
                break
        assert btc.state.deviation - deviation == pytest.approx(math.log1p(-0.05), abs=1e-12)
        assert frame.time * 1000 - run_at == 500, "the first tick after its time"


# Headlines


async def test_headlines_reach_every_price_stream_at_once_and_are_listed(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with desk_app(tmp_path) as desk:
        client = desk.client
        async with (
            client.websocket("/ws/prices") as first,
            client.websocket("/ws/prices") as second,
        ):
            for ws in (first, second):
                assert json.loads(await ws.receive())["type"] == "snapshot"
            seq = desk.exchange.feed.seq
            posted = await desk.ok("/news", {"headline": "  Rates cut by 0.5%  "})
            for ws in (first, second):
                while True:
                    frame = json.loads(await ws.receive())
                    if frame["type"] == "news":
                        break
                assert frame["headline"] == "Rates cut by 0.5%"
                assert frame["source"] == "news"
                assert frame["action_id"] == posted["action_id"]
            assert desk.exchange.feed.seq == seq, "before the next tick"
            await desk.ok("/shock", {"asset_id": "BTC", "percent": 3, "headline": "BTC pops"})
            while (frame := json.loads(await first.receive()))["type"] != "news":
                pass
            assert (frame["headline"], frame["source"]) == ("BTC pops", "shock")
        await desk.ok("/pause", {"reason": "x"})  # no headline: nothing listed
        response = await client.get(f"{NEWS}?limit=1")
        page = await response.get_json()
        assert page["total_count"] == 2 and page["has_more"] is True
        assert [n["headline"] for n in page["data"]] == ["BTC pops"]
        page = await (await client.get(f"{NEWS}?limit=1&offset=1")).get_json()
        assert [n["headline"] for n in page["data"]] == ["Rates cut by 0.5%"]
        assert page["has_more"] is False
        bad = await client.get(f"{NEWS}?limit=0")
        assert bad.status_code == 422


# Regime, audit and durability


async def test_regime_switch_is_recorded_and_applied(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with desk_app(tmp_path) as desk:
        await desk.ok("/regime", {"regime": "crash", "headline": "Panic"})
        assert desk.exchange.feed.regime is Regime.CRASH
        status, state = await call(desk.client, "GET", f"{MARKET}/status", desk.teacher)
        assert status == 200 and state["regime"] == "crash"


async def test_actions_survive_a_restart_and_are_in_the_audit_log(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with desk_app(tmp_path) as desk:
        await desk.ok("/pause", {"reason": "Overnight", "freeze_prices": True})
        await desk.ok("/assets/ETH/halt", {"reason": "Fork"})
        run_at = desk.exchange.clock.now_ms() + 120_000
        scheduled = await desk.ok("/resume", {"at": iso_ms(run_at)})
        await desk.ok("/shock", {"asset_id": "BTC", "percent": 1, "headline": "Drift"})
        audit, total = desk.exchange.audit_log(20, 0, event="market_action")
        assert total == 3 and all(e.username == TEACHER for e in audit)
        assert desk.exchange.audit_log(20, 0, event="market_action_scheduled")[1] == 1
    async with desk_app(tmp_path, fresh=False) as desk:
        status, refused = await desk.order(ALICE, market_buy("BTC"))
        assert (status, refused["code"]) == (409, "market_paused")
        assert "Overnight" in refused["detail"]
        status, state = await call(desk.client, "GET", f"{MARKET}/status", desk.teacher)
        assert state["paused"] is True and state["pause"]["freeze_prices"] is True
        assert [h["asset_id"] for h in state["halts"]] == ["ETH"]
        assert [a["action_id"] for a in state["scheduled"]] == [scheduled["action_id"]]
        status, page = await call(desk.client, "GET", f"{MARKET}/actions", desk.teacher)
        assert [a["kind"] for a in page["data"]] == ["shock", "resume", "halt", "pause"]
        assert all(a["created_by"] == TEACHER for a in page["data"])
        # The scheduled resume still runs at its time: BTC trades, ETH stays halted.
        await trio.sleep(run_at / 1000 - desk.exchange.clock.now() + 0.001)
        assert desk.exchange.desk.action(scheduled["action_id"]).applied_at == run_at
        assert (await desk.order(ALICE, market_buy("BTC")))[0] == 201
        status, refused = await desk.order(ALICE, market_buy("ETH"))
        assert (status, refused["code"]) == (409, "asset_halted")
        assert desk.exchange.verify() == []


# Bodies


async def test_market_bodies_are_validated_strictly(tmp_path: Path, autojump_clock: object) -> None:
    async with desk_app(tmp_path) as desk:
        past = iso_ms(desk.exchange.clock.now_ms() - 1_000)
        cases: list[tuple[str, Any, str]] = [
            ("/pause", {"reason": "x", "extra": 1}, "extra"),
            ("/pause", {"reason": "   "}, "reason"),
            ("/pause", {"reason": "<script>"}, "reason"),
            ("/pause", {"reason": "x" * 201}, "reason"),
            ("/pause", {"reason": "x", "freeze_prices": "yes"}, "freeze_prices"),
            ("/pause", {}, "reason"),
            ("/pause", {"reason": "x", "at": past}, "at"),
            ("/pause", {"reason": "x", "at": "2026-03-15T10:00:00"}, "at"),
            ("/pause", {"reason": "x", "at": "tomorrow"}, "at"),
            ("/resume", {"headline": "<b>hi</b>"}, "headline"),
            ("/news", {"headline": ""}, "headline"),
            ("/shock", {"percent": 0, "headline": "x", "asset_id": "BTC"}, "percent"),
            ("/shock", {"percent": -100, "headline": "x"}, "percent"),
            ("/shock", {"percent": "5", "headline": "x"}, "percent"),
            ("/shock", {"percent": 5, "headline": "x", "asset_id": "NOPE"}, "asset_id"),
            ("/shock", {"percent": 5, "headline": "x", "category": "pets"}, "category"),
            (
                "/shock",
                {"percent": 5, "headline": "x", "asset_id": "BTC", "category": "meme"},
                "category",
            ),
            ("/shock", {"percent": 5, "headline": "x", "spread_seconds": -1}, "spread_seconds"),
            ("/shock", {"percent": 5, "headline": "x", "decay_seconds": 0}, "decay_seconds"),
            ("/shock", {"percent": 5}, "headline"),
            ("/regime", {"regime": "sideways"}, "regime"),
        ]
        for path, body, field in cases:
            status, reply = await desk.act(path, body)
            assert (status, reply["code"]) == (422, "validation_error"), (path, body, reply)
            assert field in [entry["loc"][-1] for entry in reply["detail"]], (path, body, reply)
        status, reply = await desk.act("/shock", {"percent": 0, "headline": ""})
        assert {e["loc"][-1] for e in reply["detail"]} == {"percent", "headline"}, "all at once"
        response = await desk.client.post(
            f"{MARKET}/pause",
            data=b"reason=x",
            headers={**desk.teacher, "Content-Type": "text/plain"},
        )
        assert response.status_code == 415
        status, reply = await call(desk.client, "GET", f"{MARKET}/actions/bad!", desk.teacher)
        assert status == 422
        status, reply = await call(desk.client, "GET", f"{MARKET}/actions?status=odd", desk.teacher)
        assert status == 422
        assert desk.exchange.desk.actions(10, 0)[1] == 0, "nothing ran"


async def test_every_market_route_is_documented(tmp_path: Path, autojump_clock: object) -> None:
    async with desk_app(tmp_path) as desk:
        spec = await (await desk.client.get("/openapi.json")).get_json()
        paths = spec["paths"]
        for method, path, _ in ROUTES:
            template = path.replace("BTC", "{asset_id}").replace("0123456789abcdef", "{action_id}")
            operation = paths[f"{MARKET}{template}"][method.lower()]
            assert operation.get("summary") or operation.get("description"), path
            if method == "POST":
                assert "requestBody" in operation, path
        assert "get" in paths[NEWS]
        schemas = spec["components"]["schemas"]
        for name in ("ActionResponse", "MarketStatusResponse", "HaltView", "NewsListResponse"):
            assert name in schemas


async def test_every_market_action_is_in_the_audit_log_by_event(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with desk_app(tmp_path) as desk:
        now = desk.exchange.clock.now_ms()
        ran = [
            await desk.ok("/pause", {"reason": "Quiz"}),
            await desk.ok("/resume", {}, who=ADMIN),
            await desk.ok("/assets/BTC/halt", {"reason": "Fork"}),
            await desk.ok("/assets/BTC/resume", {}),
            await desk.ok("/shock", {"percent": 5, "headline": "Rally", "asset_id": "ETH"}),
            await desk.ok("/news", {"headline": "Markets open"}),
            await desk.ok("/regime", {"regime": "bull"}),
        ]
        later = await desk.ok("/news", {"headline": "Lunch", "at": iso_ms(now + 10_000)})
        cancelled = await desk.ok("/news", {"headline": "Never", "at": iso_ms(now + 20_000)})
        failing = await desk.ok("/resume", {"at": iso_ms(now + 30_000)}, who=ADMIN)
        status, _ = await call(
            desk.client, "DELETE", f"{MARKET}/actions/{cancelled['action_id']}", desk.teacher
        )
        assert status == 200
        await trio.sleep(31)
        assert desk.exchange.desk.action(failing["action_id"]).status == "failed"
        # A refused action changes nothing and is not logged as run.
        status, _ = await desk.act("/resume", {})
        assert status == 409

        async def audited(event: str) -> list[tuple[str, str | None]]:
            status, page = await call(
                desk.client,
                "GET",
                f"/api/v1/admin/audit?event={event}&limit=500",
                desk.tokens[ADMIN],
            )
            assert status == 200, page
            return [(e["detail"], e["username"]) for e in reversed(page["data"])]

        assert await audited("market_action") == [
            (f"{a['kind']} {a['action_id']}", a["created_by"]) for a in [*ran, later]
        ]
        scheduled = await audited("market_action_scheduled")
        assert [(d.split(" at ")[0], who) for d, who in scheduled] == [
            (f"{a['kind']} {a['action_id']}", a["created_by"]) for a in (later, cancelled, failing)
        ]
        assert await audited("market_action_cancelled") == [
            (f"news {cancelled['action_id']}", TEACHER)
        ]
        assert await audited("market_action_failed") == [(f"resume {failing['action_id']}", ADMIN)]
        # Every action the desk holds is accounted for in the log.
        _, total = desk.exchange.desk.actions(100, 0)
        assert total == len(ran) + 3
