"""Helpers shared by the trading tests: users, apps over custom exchanges, ticks and levels."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio
import trio.testing

from exchange.catalogue import DEFAULT_PATH
from exchange.engine import Exchange, open_exchange
from exchange.fanout import Subscription
from exchange.money import PRICE_SCALE
from exchange.pricefeed import Frame
from exchange.users import NewUser
from tests.conftest import Client, engine_settings, web_settings
from web.app import create_app

DOLLAR = 100
ORDERS = "/api/v1/orders"
DEPOSIT = "/api/v1/balance/deposit"
WITHDRAW = "/api/v1/balance/withdraw"
PORTFOLIO = "/api/v1/portfolio"
# How many ticks a test waits at most for a price to cross a level a hair away from it.
MAX_TICKS = 3000


async def add_user(exchange: Exchange, username: str) -> None:
    """Register a user straight through the engine."""
    await exchange.register(NewUser(username, f"{username}@example.com", "x", "A", "B"))


async def settle() -> None:
    """Let every task run until all are blocked: fired orders are filled and committed.

    Under the autojump clock, waiters here are woken before the clock jumps.
    """
    await trio.testing.wait_all_tasks_blocked()


def small_catalogue(directory: Path, *asset_ids: str) -> str:
    """A catalogue file with only some of the shipped assets: cheaper ticks for long runs."""
    raw = json.loads(DEFAULT_PATH.read_text())
    raw["assets"] = [asset for asset in raw["assets"] if asset["asset_id"] in asset_ids]
    assert len(raw["assets"]) == len(asset_ids)
    path = directory / "catalogue.json"
    path.write_text(json.dumps(raw))
    return str(path)


def price_at(price: int, bps: float) -> int:
    """A price ``bps`` basis points away from ``price`` (negative is below)."""
    return round(price * (1 + bps / 10_000))


def price_text(units: int) -> str:
    """A price in 1e-8 USD as a wire decimal string."""
    return str(Decimal(units) / PRICE_SCALE)


@asynccontextmanager
async def running_app(
    tmp_path: Path, **overrides: object
) -> AsyncIterator[tuple[Exchange, Client]]:
    """An exchange with custom engine settings and a test client of its app."""
    async with open_exchange(engine_settings(tmp_path, **overrides)) as exchange:
        app = create_app(exchange, web_settings())
        app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = None
        async with app.test_app() as test_app:
            yield exchange, test_app.test_client()


async def call(
    client: Client, method: str, path: str, headers: dict[str, str], body: Any = None
) -> tuple[int, Any]:
    """One request; its status and JSON body."""
    senders = {"GET": client.get, "POST": client.post, "PUT": client.put, "DELETE": client.delete}
    send = senders[method]
    if body is None:
        response = await send(path, headers=headers)
    else:
        response = await send(path, headers=headers, json=body)
    return response.status_code, await response.get_json()


async def first_crossing(
    subscription: Subscription[Frame],
    asset_id: str,
    crosses: Callable[[int], bool],
    before: Callable[[Frame], None] | None = None,
) -> Frame:
    """The next frame whose price of ``asset_id`` crosses, settling after every frame.

    ``before`` is called (after settling) with each frame that does not cross.
    """
    for _ in range(MAX_TICKS):
        frame = await subscription.items.receive()
        await settle()
        price = frame.prices.get(asset_id)
        if price is not None and crosses(price):
            return frame
        if before is not None:
            before(frame)
    raise AssertionError(f"{asset_id} did not cross within {MAX_TICKS} ticks")
