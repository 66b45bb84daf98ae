"""Live mode on the autojump clock: events fire at their times while API calls go on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio
import trio.testing

from exchange.engine import Exchange, open_exchange
from exchange.passwords import hash_password
from exchange.users import NewUser
from scenarios.live import LiveScenario, live_settings
from scenarios.loader import load_text
from scenarios.model import Scenario
from tests.conftest import PASSWORD, engine_settings, web_settings
from tests.trading_helpers import call, small_catalogue
from web.app import create_app
from web.routes import scenario as scenario_routes

STORY = """
name = "live"
description = "d"
notes = "n"
duration = "2h"
assets = ["BTC", "ETH"]
seed = 3

[[timeline]]
at = 5
kind = "news"
headline = "first"

[[timeline]]
at = "1h"
kind = "shock"
asset = "BTC"
percent = 10
headline = "late"

[[bots]]
kind = "noise"
count = 2
params = { assets = ["BTC", "ETH"], rate = 0.5 }
"""
PATH = "/api/v1/scenario"


async def _token(client: Any, username: str) -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 200
    return {"Authorization": f"Bearer {(await response.get_json())['access_token']}"}


@dataclass
class Served:
    """A serving exchange with a teacher and a student signed in, ready for a story."""

    exchange: Exchange
    app: Any
    client: Any
    teacher: dict[str, str]
    alice: dict[str, str]
    nursery: trio.Nursery


@asynccontextmanager
async def serving(tmp_path: Path, scenario: Scenario, speed: float) -> AsyncIterator[Served]:
    """The scenario's settings at ``speed`` on a small catalogue, and the API in front."""
    catalogue = small_catalogue(tmp_path, "BTC", "ETH")
    base = engine_settings(tmp_path, tick_interval=1.0, catalogue=catalogue)
    settings = live_settings(base, scenario, speed, None)
    async with open_exchange(settings) as exchange:
        app = create_app(exchange, web_settings())
        app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = None
        async with app.test_app() as test_app, trio.open_nursery() as nursery:
            client = test_app.test_client()
            digest = hash_password(PASSWORD, 2**4)
            for name, role in (("teacher_01", "teacher"), ("alice_01", "customer")):
                await exchange.register(
                    NewUser(name, f"{name}@example.com", digest, "A", "B", role=role)
                )
            teacher = await _token(client, "teacher_01")
            alice = await _token(client, "alice_01")
            yield Served(exchange, app, client, teacher, alice, nursery)


async def test_the_story_plays_while_the_api_serves_and_obeys_the_teacher(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    scenario = load_text(STORY, "live.toml")
    assert live_settings(engine_settings(tmp_path), scenario, 2.0, None).tick_interval == 0.5
    async with serving(tmp_path, scenario, 2.0) as served:
        exchange, client, nursery = served.exchange, served.client, served.nursery
        teacher, alice = served.teacher, served.alice
        assert exchange.settings.seed == 3
        await exchange.deposit("alice_01", 100_000)
        status, _ = await call(client, "GET", PATH, teacher)
        assert status == 404  # no story yet
        live = LiveScenario(exchange, scenario, 2.0)
        scenario_routes.install(served.app, live)
        nursery.start_soon(live.run)
        start = trio.current_time()

        # Five story seconds are ten ticks of half a second.
        await trio.sleep(2.6)
        status, state = await call(client, "GET", PATH, teacher)
        assert status == 200 and state["state"] == "running"
        assert state["tick"] == 5 and state["bots"] == 2
        assert [(e["tick"], e["kind"], e["detail"]) for e in state["events"]] == [
            (5, "news", "first")
        ]
        assert state["next_event"] == {"at_s": 3600.0, "label": "shock at 1:00:00"}
        news, _ = exchange.desk.news(5, 0)
        assert [item.headline for item in news] == ["first"]
        # A student trades meanwhile.
        order = {"order_type": "market_buy", "asset_id": "ETH", "quantity": "0.01"}
        status, placed = await call(client, "POST", "/api/v1/orders", alice, order)
        assert status == 201, placed
        status, refused = await call(client, "POST", f"{PATH}/stop", alice)
        assert status == 403 and refused["code"] == "forbidden"

        status, state = await call(client, "POST", f"{PATH}/pause", teacher)
        assert status == 200 and state["state"] == "paused"
        status, refused = await call(client, "POST", f"{PATH}/pause", teacher)
        assert status == 409 and refused["code"] == "scenario_paused"
        held = state["tick"]
        await trio.sleep(10)
        status, state = await call(client, "GET", PATH, teacher)
        assert state["tick"] == held
        status, state = await call(client, "POST", f"{PATH}/resume", teacher)
        assert status == 200 and state["state"] == "running"

        price = exchange.feed.markets["BTC"].price
        status, state = await call(client, "POST", f"{PATH}/skip", teacher)
        assert status == 200
        await trio.sleep(1.6)
        status, state = await call(client, "GET", PATH, teacher)
        assert [e["detail"] for e in state["events"]] == ["first", "late"]
        assert state["events"][1]["tick"] == 3600
        assert state["next_event"] is None
        assert exchange.feed.markets["BTC"].price > price * 1.05

        status, state = await call(client, "POST", f"{PATH}/stop", teacher)
        assert status == 200 and state["state"] == "stopped"
        status, refused = await call(client, "POST", f"{PATH}/resume", teacher)
        assert status == 409 and refused["code"] == "scenario_finished"
        _, total = exchange.orders("bot_noise_000", 5, 0)
        assert total > 0
        assert trio.current_time() - start < 20
        # The stopped story's task ends at the next tick, and the nursery with it.


async def test_seats_are_funded_ranked_and_get_logins_from_the_teacher(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    scenario = load_text("seats = 2\nstarting_cash = 5000\n" + STORY, "live.toml")
    async with serving(tmp_path, scenario, 1.0) as served:
        exchange, client, nursery = served.exchange, served.client, served.nursery
        teacher, alice = served.teacher, served.alice
        live = LiveScenario(exchange, scenario, 1.0)
        scenario_routes.install(served.app, live)
        nursery.start_soon(live.run)
        await trio.sleep(3.5)

        status, state = await call(client, "GET", PATH, teacher)
        assert status == 200 and state["seats"] == 2 and state["bots"] == 2
        seats = [s for s in state["standings"] if s["kind"] == "seat"]
        assert [(s["participant"], s["label"], s["equity"]) for s in seats] == [
            ("seat_001", "Seat 1", 5000.0),
            ("seat_002", "Seat 2", 5000.0),
        ]
        assert [s["rank"] for s in state["standings"]] == [1, 2, 3, 4]
        equities = [s["equity"] for s in state["standings"]]
        assert equities == sorted(equities, reverse=True)
        # A seat cannot log in until the teacher issues the logins.
        login = {"username": "seat_001", "password": PASSWORD}
        response = await client.post("/api/v1/auth/login", json=login)
        assert response.status_code == 401

        response = await client.post(f"{PATH}/seats/logins", headers=alice)
        assert response.status_code == 403
        response = await client.post(f"{PATH}/seats/logins", headers=teacher)
        assert response.status_code == 201
        assert response.headers["Cache-Control"] == "no-store"
        lines = (await response.get_data(as_text=True)).lstrip("\ufeff").splitlines()
        assert lines[0] == "username,password"
        logins = dict(line.split(",", 1) for line in lines[1:])
        assert sorted(logins) == ["seat_001", "seat_002"]

        # The seat trades as a person: its equity moves in the standings at once.
        response = await client.post(
            "/api/v1/auth/login",
            json={"username": "seat_002", "password": logins["seat_002"]},
        )
        assert response.status_code == 200
        seat = {"Authorization": f"Bearer {(await response.get_json())['access_token']}"}
        order = {"order_type": "market_buy", "asset_id": "BTC", "quantity": "0.01"}
        status, placed = await call(client, "POST", "/api/v1/orders", seat, order)
        assert status == 201, placed
        status, state = await call(client, "GET", PATH, teacher)
        line = next(s for s in state["standings"] if s["participant"] == "seat_002")
        portfolio = await exchange.portfolio("seat_002")
        assert portfolio.cash < 500_000 and [h.asset_id for h in portfolio.holdings] == ["BTC"]
        held = portfolio.holdings[0].quantity / 10**8
        worth = portfolio.cash / 100 + held * exchange.feed.markets["BTC"].price / 10**8
        assert line["equity"] == round(worth, 2)

        # Issuing again replaces the passwords.
        response = await client.post(f"{PATH}/seats/logins", headers=teacher)
        fresh = dict(
            line.split(",", 1) for line in (await response.get_data(as_text=True)).splitlines()[1:]
        )
        response = await client.post(
            "/api/v1/auth/login",
            json={"username": "seat_002", "password": logins["seat_002"]},
        )
        assert response.status_code == 401
        assert fresh["seat_002"] != logins["seat_002"]
        live.stop()
        nursery.cancel_scope.cancel()
