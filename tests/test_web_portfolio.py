"""Portfolio and holdings routes through HTTP: valuation, holdings and per-asset trades."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import trio

from exchange.engine import Exchange
from exchange.money import PRICE_SCALE
from tests.conftest import Client, login, signed_up
from tests.trading_helpers import DEPOSIT, ORDERS, PORTFOLIO, call, running_app, small_catalogue

CENT = Decimal("0.01")


async def get(client: Client, path: str, headers: dict[str, str]) -> Any:
    status, body = await call(client, "GET", path, headers)
    assert status == 200, body
    return body


async def funded(
    client: Client, username: str = "alice_01", amount: str = "10000"
) -> dict[str, str]:
    headers = await signed_up(client, username)
    status, body = await call(client, "POST", DEPOSIT, headers, {"amount": amount})
    assert status == 201, body
    return headers


async def order(client: Client, headers: dict[str, str], **body: Any) -> Any:
    status, answer = await call(client, "POST", ORDERS, headers, body)
    assert status == 201, answer
    return answer["data"]


def price_of(exchange: Exchange, asset_id: str) -> Decimal:
    return Decimal(exchange.market(asset_id).price) / PRICE_SCALE


def check_sums(portfolio: Any) -> None:
    """Every total in the portfolio adds up exactly, as decimals."""
    usd = Decimal(portfolio["usd_balance"])
    reserved = Decimal(portfolio["reserved_usd"])
    assets = Decimal(portfolio["total_asset_value"])
    assert Decimal(portfolio["available_usd"]) == usd - reserved
    assert Decimal(portfolio["total_value"]) == usd + assets
    assert sum((Decimal(a["market_value"]) for a in portfolio["assets"]), Decimal(0)) == assets
    total = usd + assets
    for asset in portfolio["assets"]:
        value = Decimal(asset["market_value"])
        worth = Decimal(asset["quantity"]) * Decimal(asset["current_price"])
        assert value == worth.quantize(CENT, rounding=ROUND_FLOOR)
        assert asset["percentage"] == pytest.approx(float(value * 100 / total), abs=0.005)
    values = [Decimal(a["market_value"]) for a in portfolio["assets"]]
    assert values == sorted(values, reverse=True)
    shares = sum(a["percentage"] for a in portfolio["assets"]) + float(usd * 100 / total)
    assert shares == pytest.approx(100, abs=0.01 * (len(values) + 1))


async def test_empty_portfolio(client: Client) -> None:
    headers = await signed_up(client)
    portfolio = await get(client, PORTFOLIO, headers)
    assert portfolio == {
        "assets": [],
        "usd_balance": "0.00",
        "reserved_usd": "0.00",
        "available_usd": "0.00",
        "total_asset_value": "0.00",
        "total_value": "0.00",
    }
    await call(client, "POST", DEPOSIT, headers, {"amount": "12.34"})
    portfolio = await get(client, PORTFOLIO, headers)
    assert (portfolio["usd_balance"], portfolio["total_value"]) == ("12.34", "12.34")


async def test_portfolio_values_holdings_with_cash(client: Client) -> None:
    headers = await funded(client)
    await order(client, headers, order_type="market_buy", asset_id="BTC", quantity="0.1")
    await order(client, headers, order_type="market_buy", asset_id="ETH", quantity="1")
    await order(client, headers, order_type="market_buy", asset_id="DOGE", quantity="1000")
    portfolio = await get(client, PORTFOLIO, headers)
    assert [a["asset_id"] for a in portfolio["assets"]] == ["BTC", "ETH", "DOGE"]
    btc, eth, doge = portfolio["assets"]
    assert set(btc) == {
        "asset_id",
        "quantity",
        "current_price",
        "market_value",
        "percentage",
        "average_cost",
        "unrealized_pnl",
        "reserved_quantity",
    }
    assert btc == {
        "asset_id": "BTC",
        "quantity": "0.1",
        "current_price": "64250",
        "market_value": "6425.00",
        "percentage": 64.25,
        "average_cost": "64250",
        "unrealized_pnl": "0.00",
        "reserved_quantity": "0",
    }
    assert (eth["market_value"], eth["percentage"]) == ("2480.00", 24.8)
    assert (doge["market_value"], doge["percentage"], doge["average_cost"]) == (
        "162.00",
        1.62,
        "0.162",
    )
    assert portfolio["usd_balance"] == "933.00"
    assert portfolio["total_asset_value"] == "9067.00"
    assert portfolio["total_value"] == "10000.00"
    check_sums(portfolio)


async def test_reserved_cash_stays_in_the_balance(client: Client) -> None:
    headers = await funded(client, amount="1000")
    await order(client, headers, order_type="market_buy", asset_id="ETH", quantity="0.1")
    await order(
        client, headers, order_type="limit_buy", asset_id="BTC", quantity="0.01", price="50000"
    )
    await order(
        client, headers, order_type="limit_sell", asset_id="ETH", quantity="0.04", price="3000"
    )
    portfolio = await get(client, PORTFOLIO, headers)
    assert (
        portfolio["usd_balance"],
        portfolio["reserved_usd"],
        portfolio["available_usd"],
        portfolio["total_value"],
    ) == ("752.00", "500.00", "252.00", "1000.00")
    [eth] = portfolio["assets"]
    assert (eth["quantity"], eth["reserved_quantity"]) == ("0.1", "0.04")
    check_sums(portfolio)


async def test_valuation_follows_prices(tmp_path: Path, autojump_clock: object) -> None:
    async with running_app(tmp_path, tick_interval=1.0) as (exchange, client):
        headers = await funded(client)
        first_btc = await order(
            client, headers, order_type="market_buy", asset_id="BTC", quantity="0.05"
        )
        await order(client, headers, order_type="market_buy", asset_id="SOL", quantity="3.5")
        await trio.sleep(30)
        second_btc = await order(
            client, headers, order_type="market_buy", asset_id="BTC", quantity="0.03"
        )
        assert first_btc["filled_price"] != second_btc["filled_price"]
        await order(client, headers, order_type="market_sell", asset_id="BTC", quantity="0.02")
        await trio.sleep(45)
        portfolio = await get(client, PORTFOLIO, headers)
        check_sums(portfolio)
        by_id = {a["asset_id"]: a for a in portfolio["assets"]}
        btc = by_id["BTC"]
        assert btc["quantity"] == "0.06"
        assert Decimal(btc["current_price"]) == price_of(exchange, "BTC")
        assert Decimal(btc["market_value"]) == (
            Decimal("0.06") * price_of(exchange, "BTC")
        ).quantize(CENT, rounding=ROUND_FLOOR)
        # Cost basis: both buys, less the sold share of it (0.02 of 0.08), in cents.
        cost = Decimal(first_btc["total_amount"]) + Decimal(second_btc["total_amount"])
        cost_cents = int(cost * 100)
        kept_cents = cost_cents - cost_cents * 2 // 8
        kept = Decimal(kept_cents) / 100
        assert Decimal(btc["unrealized_pnl"]) == Decimal(btc["market_value"]) - kept
        average = Decimal(btc["average_cost"])
        assert average == (kept / Decimal("0.06")).quantize(Decimal("1e-8"), rounding=ROUND_FLOOR)
        assert Decimal(btc["unrealized_pnl"]) != 0
        sol = by_id["SOL"]
        assert Decimal(sol["current_price"]) == price_of(exchange, "SOL")
        assert exchange.verify() == []


async def test_asset_balance(client: Client) -> None:
    headers = await funded(client, amount="1000")
    status, body = await call(client, "GET", "/api/v1/balance/asset/BTC", headers)
    assert (status, body["code"]) == (404, "holding_not_found")
    # A resting buy is not a holding yet.
    await order(
        client, headers, order_type="limit_buy", asset_id="BTC", quantity="0.01", price="50000"
    )
    status, body = await call(client, "GET", "/api/v1/balance/asset/btc", headers)
    assert status == 404
    bought = await order(client, headers, order_type="market_buy", asset_id="BTC", quantity="0.005")
    for asset_id in ("BTC", "btc", "Btc"):
        holding = await get(client, f"/api/v1/balance/asset/{asset_id}", headers)
        assert holding == {
            "asset_id": "BTC",
            "asset_name": "Bitcoin",
            "quantity": "0.005",
            "reserved_quantity": "0",
            "current_price": "64250",
            "total_value": "321.25",
            "created_at": bought["created_at"],
            "updated_at": bought["updated_at"],
        }
    sold = await order(client, headers, order_type="market_sell", asset_id="BTC", quantity="0.005")
    holding = await get(client, "/api/v1/balance/asset/BTC", headers)
    assert (holding["quantity"], holding["total_value"], holding["reserved_quantity"]) == (
        "0",
        "0.00",
        "0",
    )
    assert (holding["created_at"], holding["updated_at"]) == (
        bought["created_at"],
        sold["updated_at"],
    )
    # Another user never held it.
    other = await signed_up(client, "bob_0001")
    status, body = await call(client, "GET", "/api/v1/balance/asset/BTC", other)
    assert status == 404


async def test_asset_balance_ids(client: Client) -> None:
    headers = await signed_up(client)
    status, body = await call(client, "GET", "/api/v1/balance/asset/BTC-USD", headers)
    assert (status, body["detail"][0]["loc"]) == (422, ["path", "asset_id"])
    status, body = await call(client, "GET", "/api/v1/balance/asset/ABCDEFGHIJK", headers)
    assert status == 422
    status, body = await call(client, "GET", "/api/v1/balance/asset/ZZZZ9", headers)
    assert (status, body["code"]) == (404, "asset_not_found")


async def test_asset_balances(client: Client) -> None:
    headers = await funded(client, amount="1000")
    assert await get(client, "/api/v1/assets/balances", headers) == {"data": []}
    await order(client, headers, order_type="market_buy", asset_id="ETH", quantity="0.1")
    await order(client, headers, order_type="market_buy", asset_id="BTC", quantity="0.001")
    await order(
        client, headers, order_type="limit_sell", asset_id="ETH", quantity="0.05", price="9000"
    )
    rows = (await get(client, "/api/v1/assets/balances", headers))["data"]
    assert sorted((r["asset_id"], r["quantity"], r["reserved_quantity"]) for r in rows) == [
        ("BTC", "0.001", "0"),
        ("ETH", "0.1", "0.05"),
    ]
    eth = next(r for r in rows if r["asset_id"] == "ETH")
    assert (eth["asset_name"], eth["current_price"], eth["total_value"]) == (
        "Ethereum",
        "2480",
        "248.00",
    )
    assert eth == await get(client, "/api/v1/balance/asset/eth", headers)
    # Sold out: gone from the list, though its balance still answers.
    await order(client, headers, order_type="market_sell", asset_id="BTC", quantity="0.001")
    rows = (await get(client, "/api/v1/assets/balances", headers))["data"]
    assert [r["asset_id"] for r in rows] == ["ETH"]
    other = await signed_up(client, "bob_0001")
    assert await get(client, "/api/v1/assets/balances", other) == {"data": []}


async def test_asset_transactions(client: Client) -> None:
    headers = await funded(client, amount="1000")
    assert await get(client, "/api/v1/assets/btc/transactions", headers) == {
        "data": [],
        "has_more": False,
    }
    status, body = await call(client, "GET", "/api/v1/assets/ZZZZ9/transactions", headers)
    assert (status, body["code"]) == (404, "asset_not_found")
    status, body = await call(client, "GET", "/api/v1/assets/BTC-USD/transactions", headers)
    assert (status, body["detail"][0]["loc"]) == (422, ["path", "asset_id"])
    first = await order(client, headers, order_type="market_buy", asset_id="BTC", quantity="0.004")
    await order(client, headers, order_type="market_buy", asset_id="ETH", quantity="0.01")
    second = await order(
        client, headers, order_type="limit_buy", asset_id="BTC", quantity="0.002", price="70000"
    )
    sale = await order(client, headers, order_type="market_sell", asset_id="BTC", quantity="0.005")
    await order(
        client, headers, order_type="limit_buy", asset_id="BTC", quantity="0.001", price="1000"
    )
    page = await get(client, "/api/v1/assets/BTC/transactions", headers)
    assert page["has_more"] is False
    rows = page["data"]
    assert [(r["transaction_type"], r["quantity"], r["order_id"]) for r in rows] == [
        ("SELL", "0.005", sale["order_id"]),
        ("BUY", "0.002", second["order_id"]),
        ("BUY", "0.004", first["order_id"]),
    ]
    assert rows[0] == {
        "asset_id": "BTC",
        "transaction_type": "SELL",
        "quantity": "0.005",
        "price": "64250",
        "total": "321.25",
        "order_id": sale["order_id"],
        "status": "completed",
        "timestamp": sale["updated_at"],
    }
    assert (rows[1]["price"], rows[1]["total"]) == ("64250", "128.50")
    eth = await get(client, "/api/v1/assets/Eth/transactions", headers)
    assert [r["total"] for r in eth["data"]] == ["24.80"]
    page = await get(client, "/api/v1/assets/BTC/transactions?limit=2", headers)
    assert [r["order_id"] for r in page["data"]] == [sale["order_id"], second["order_id"]]
    assert page["has_more"] is True
    page = await get(client, "/api/v1/assets/BTC/transactions?limit=2&offset=2", headers)
    assert [r["order_id"] for r in page["data"]] == [first["order_id"]]
    assert page["has_more"] is False
    page = await get(client, "/api/v1/assets/BTC/transactions?limit=3", headers)
    assert page["has_more"] is False
    # Trades are private.
    other = await signed_up(client, "bob_0001")
    assert (await get(client, "/api/v1/assets/BTC/transactions", other))["data"] == []


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=x", "offset=-1", "offset=99999999999999999999"]
)
async def test_asset_transactions_query_validation(client: Client, query: str) -> None:
    headers = await signed_up(client)
    status, body = await call(client, "GET", f"/api/v1/assets/BTC/transactions?{query}", headers)
    assert status == 422
    assert body["detail"][0]["loc"] == ["query", query.split("=")[0]]


async def test_portfolio_history_replays_ledgers_at_candle_closes(
    tmp_path: Path, autojump_clock: object
) -> None:
    catalogue = small_catalogue(tmp_path, "BTC", "ETH")
    async with running_app(tmp_path, tick_interval=60.0, catalogue=catalogue) as (
        exchange,
        client,
    ):
        await trio.sleep(600)
        headers = await funded(client)
        bought = await order(
            client, headers, order_type="market_buy", asset_id="BTC", quantity="0.05"
        )
        started = exchange.clock.now()
        await trio.sleep(3 * 3600)
        headers = await login(client)  # the first token expired meanwhile
        body = await get(client, "/api/v1/portfolio/history?period=1d", headers)
        assert (body["period"], body["step_seconds"]) == ("1d", 300)
        points = body["data"]
        # A day of 5-minute steps after now - 24h, the last one now.
        assert len(points) in (288, 289)
        steps = {
            datetime.fromisoformat(b["time"]) - datetime.fromisoformat(a["time"])
            for a, b in pairwise(points[:-1])
        }
        assert steps == {timedelta(minutes=5)}
        assert datetime.fromisoformat(points[-1]["time"]).timestamp() == pytest.approx(
            exchange.clock.now(), abs=0.001
        )
        portfolio = await get(client, PORTFOLIO, headers)
        last = points[-1]
        assert last["total_value"] == portfolio["total_value"]
        # The deposit is not a gain: profit and loss is what the holding made or lost.
        assert body["base_value"] == "0.00"
        assert Decimal(last["profit_loss"]) == Decimal(last["total_value"]) - 10000
        assert all(p["profit_loss"] == "0.00" for p in points if p["holdings_value"] == "0.00")
        assert last["cash"] == portfolio["usd_balance"]
        before = [p for p in points if p["time"] < "2026-03-14T12:10:00"]
        assert before and all(p["total_value"] == "0.00" for p in before)
        cash_after = Decimal("10000") - Decimal(bought["total_amount"])
        candles = exchange.market("BTC").series["5m"]
        checked = 0
        for point in points[:-1]:
            at = datetime.fromisoformat(point["time"]).timestamp()
            if at <= started:
                continue
            close = Decimal(candles.close_at(at - 300) or 0) / PRICE_SCALE
            value = (Decimal("0.05") * close).quantize(CENT, rounding=ROUND_FLOOR)
            assert Decimal(point["cash"]) == cash_after
            assert Decimal(point["holdings_value"]) == value
            assert Decimal(point["total_value"]) == cash_after + value
            checked += 1
        assert checked >= 30
        week = await get(client, "/api/v1/portfolio/history?period=7d", headers)
        assert week["step_seconds"] == 3600
        status, refused = await call(client, "GET", "/api/v1/portfolio/history?period=1y", headers)
        assert status == 422
        assert refused["detail"][0]["loc"] == ["query", "period"]
        status, _ = await call(client, "GET", "/api/v1/portfolio/history", {})
        assert status == 401
