"""Portfolios for the insight tests: an app over a small catalogue, deposits and market buys."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from exchange.catalogue import DEFAULT_PATH
from exchange.engine import Exchange, open_exchange
from exchange.money import CENTS, PRICE_SCALE, QTY_SCALE, format_quantity
from tests.conftest import Client, engine_settings, web_settings
from web.app import create_app

INSIGHT = "/api/v1/insights/portfolio"
ASSETS = ("BTC", "ETH", "SOL")


def small_catalogue(directory: Path, asset_ids: tuple[str, ...] = ASSETS) -> str:
    """A catalogue file with a few of the shipped assets: cheap ticks over long virtual runs."""
    raw = json.loads(DEFAULT_PATH.read_text())
    raw["assets"] = [asset for asset in raw["assets"] if asset["asset_id"] in asset_ids]
    path = directory / "catalogue.json"
    path.write_text(json.dumps(raw))
    return str(path)


@asynccontextmanager
async def insight_app(
    tmp_path: Path, history_days: int = 0, web: dict[str, object] | None = None
) -> AsyncIterator[tuple[Exchange, Client]]:
    """An exchange over the small catalogue and a test client of its app (``web`` overrides
    the web settings).
    """
    settings = engine_settings(
        tmp_path, catalogue=small_catalogue(tmp_path), history_days=history_days
    )
    async with open_exchange(settings) as exchange:
        # Tokens outlive the long virtual sleeps of the cache tests.
        app = create_app(
            exchange, web_settings(**{"token_ttl_seconds": 30 * 86_400, **(web or {})})
        )
        app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = None
        async with app.test_app() as test_app:
            yield exchange, test_app.test_client()


async def deposit(client: Client, headers: dict[str, str], amount: str) -> None:
    """Deposit through the API, asserting success."""
    response = await client.post(
        "/api/v1/balance/deposit", headers=headers, json={"amount": amount}
    )
    assert response.status_code == 201, await response.get_data()


async def buy(
    client: Client, exchange: Exchange, headers: dict[str, str], asset_id: str, dollars: int
) -> None:
    """A market buy of about ``dollars`` worth of an asset, asserting it filled."""
    price = exchange.market(asset_id).price
    quantity = dollars * CENTS * (QTY_SCALE * PRICE_SCALE // CENTS) // price
    body = {"order_type": "market_buy", "asset_id": asset_id, "quantity": format_quantity(quantity)}
    response = await client.post("/api/v1/orders", headers=headers, json=body)
    assert response.status_code == 201, await response.get_data()
    assert (await response.get_json())["data"]["status"] == "completed"


async def insight(client: Client, headers: dict[str, str]) -> dict[str, Any]:
    """The insight's ``data``, asserting a 200."""
    response = await client.get(INSIGHT, headers=headers)
    assert response.status_code == 200, await response.get_data()
    data: dict[str, Any] = (await response.get_json())["data"]
    return data


async def portfolio(client: Client, headers: dict[str, str]) -> dict[str, Any]:
    """The portfolio as the API values it."""
    response = await client.get("/api/v1/portfolio", headers=headers)
    assert response.status_code == 200
    body: dict[str, Any] = await response.get_json()
    return body


def sentences(text: str) -> list[str]:
    """The sentences of a summary (amounts like 1,234.56 have no space after their point)."""
    return re.split(r"(?<=[.!?])\s+", text.strip())


def cents(text: str) -> int:
    """A wire decimal string in cents."""
    return int(Decimal(text) * 100)


def usd(amount: int) -> str:
    """Cents as the summaries show them, formatted independently of the code under test."""
    return f"-${abs(amount) / 100:,.2f}" if amount < 0 else f"${amount / 100:,.2f}"


def pct(part: int, whole: int) -> str:
    """A share as the summaries show it: rounded to 2 places, shown with 1."""
    return f"{round(part * 100 / whole, 2):.1f}%"
