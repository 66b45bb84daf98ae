"""Order routes through HTTP: every rule of placing, listing, reading and cancelling orders.

The conftest exchange ticks once a minute of real time, so prices stay at the catalogue's
reference prices for the length of these tests (BTC at 64,250, ETH at 2,480).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio

from exchange.engine import Exchange
from exchange.errors import Rejected
from exchange.money import PRICE_SCALE
from exchange.orders import OrderRequest
from tests.conftest import Client, login, signed_up
from tests.trading_helpers import DEPOSIT, ORDERS, PORTFOLIO, WITHDRAW, call, running_app

BTC_PRICE = "64250"
VIEW_FIELDS = {
    "order_id",
    "client_order_id",
    "order_type",
    "asset_id",
    "quantity",
    "price",
    "stop_price",
    "status",
    "total_amount",
    "filled_price",
    "created_at",
    "updated_at",
    "time_in_force",
    "expires_at",
    "fee",
    "filled_tick_seq",
    "reason",
    "note",
    "model_price",
    "impact_pct",
    "fill_explanation",
}


async def place(client: Client, headers: dict[str, str], **body: Any) -> tuple[int, Any]:
    return await call(client, "POST", ORDERS, headers, body)


async def deposit(client: Client, headers: dict[str, str], amount: str) -> None:
    status, body = await call(client, "POST", DEPOSIT, headers, {"amount": amount})
    assert status == 201, body


async def funded(
    client: Client, username: str = "alice_01", amount: str = "10000"
) -> dict[str, str]:
    headers = await signed_up(client, username)
    await deposit(client, headers, amount)
    return headers


async def portfolio(client: Client, headers: dict[str, str]) -> Any:
    return await get(client, PORTFOLIO, headers)


async def cash(client: Client, headers: dict[str, str]) -> str:
    body = await get(client, "/api/v1/balance", headers)
    return str(body["current_balance"])


async def get(client: Client, path: str, headers: dict[str, str]) -> Any:
    status, body = await call(client, "GET", path, headers)
    assert status == 200, body
    return body


def field_errors(body: Any) -> list[list[str]]:
    assert body["code"] == "validation_error", body
    return [error["loc"] for error in body["detail"]]


async def test_reference_price_is_what_these_tests_assume(exchange: Exchange) -> None:
    assert exchange.feed.seq == 0
    assert exchange.market("BTC").price == 64_250 * PRICE_SCALE
    assert exchange.market("ETH").price == 2_480 * PRICE_SCALE


# Placing: accepted types and shapes


ACCEPTED: list[tuple[str, dict[str, Any], str]] = [
    ("market_buy", {}, "completed"),
    ("market_sell", {}, "completed"),
    ("limit_buy", {"price": "60000"}, "pending"),
    ("limit_sell", {"price": "70000"}, "pending"),
    ("stop_buy", {"stop_price": "70000"}, "pending"),
    ("stop_sell", {"stop_price": "60000"}, "pending"),
    ("stop_limit_buy", {"stop_price": "70000", "price": "71000"}, "pending"),
    ("stop_limit_sell", {"stop_price": "60000", "price": "59000"}, "pending"),
]


@pytest.mark.parametrize(("order_type", "extra", "status"), ACCEPTED)
async def test_each_order_type_is_accepted(
    client: Client, order_type: str, extra: dict[str, Any], status: str
) -> None:
    headers = await funded(client)
    if order_type.endswith("_sell"):
        code, _ = await place(
            client, headers, order_type="market_buy", asset_id="BTC", quantity="0.02"
        )
        assert code == 201
    code, body = await place(
        client, headers, order_type=order_type, asset_id="btc", quantity="0.01", **extra
    )
    assert code == 201, body
    order = body["data"]
    assert set(order) == VIEW_FIELDS
    assert order["order_type"] == order_type
    assert order["asset_id"] == "BTC"
    assert order["quantity"] == "0.01"
    assert order["status"] == status
    assert order["time_in_force"] == "gtc"
    assert order["order_id"].startswith("ord_")
    assert order["created_at"].startswith("2026-03-14T12:00:")
    assert order["created_at"].endswith("Z")
    assert order["stop_price"] == extra.get("stop_price")
    if order_type.startswith(("limit", "stop_limit")):
        assert order["price"] == extra["price"]
    elif status == "completed":
        # No limit price: the execution price is shown as the price, as the seed did.
        assert order["price"] == order["filled_price"] == BTC_PRICE
    else:
        assert order["price"] is None
    if status == "pending":
        assert (order["filled_price"], order["total_amount"], order["filled_tick_seq"]) == (
            None,
            None,
            None,
        )


@pytest.mark.parametrize(
    "order_type", ["market", "MARKET_BUY", "limit", "buy", "", "stop", "stop_limit", "fok_buy"]
)
async def test_other_order_types_are_422(client: Client, order_type: str) -> None:
    headers = await funded(client)
    code, body = await place(
        client, headers, order_type=order_type, asset_id="BTC", quantity="0.01", price="60000"
    )
    assert code == 422
    assert ["body", "order_type"] in field_errors(body)


@pytest.mark.parametrize("asset_id", ["", "BTC-USD", "ABCDEFGHIJK", "bt c", "BTC!", "ÄBC"])
async def test_malformed_asset_ids_are_422(client: Client, asset_id: str) -> None:
    headers = await funded(client)
    code, body = await place(
        client, headers, order_type="market_buy", asset_id=asset_id, quantity="0.01"
    )
    assert code == 422
    assert field_errors(body) == [["body", "asset_id"]]


async def test_unknown_and_inactive_assets_are_422(client: Client, exchange: Exchange) -> None:
    headers = await funded(client)
    code, body = await place(
        client, headers, order_type="market_buy", asset_id="ZZZZ9", quantity="1"
    )
    assert (code, body["code"]) == (422, "unknown_asset")
    # The same switch an admin's halt flips: the market stops trading.
    exchange.feed.markets["XRP"].active = False
    code, body = await place(client, headers, order_type="market_buy", asset_id="xrp", quantity="1")
    assert (code, body["code"]) == (422, "asset_inactive")
    code, body = await place(
        client, headers, order_type="limit_buy", asset_id="XRP", quantity="1", price="1"
    )
    assert (code, body["code"]) == (422, "asset_inactive")
    assert (await cash(client, headers)) == "10000.00"


@pytest.mark.parametrize(
    "quantity",
    [0, "0", -1, "-0.01", "0.0009", "0.00099999", "0.123456789", "abc", "", None, True, [1], "NaN"],
)
async def test_bad_quantities_are_422(client: Client, quantity: object) -> None:
    headers = await funded(client)
    code, body = await place(
        client, headers, order_type="limit_buy", asset_id="BTC", quantity=quantity, price="60000"
    )
    assert code == 422, body
    assert field_errors(body) == [["body", "quantity"]]


@pytest.mark.parametrize("quantity", ["0.001", 0.001, "0.00100000", "0.12345678", 1])
async def test_quantity_bounds(client: Client, quantity: object) -> None:
    headers = await funded(client)
    code, body = await place(
        client, headers, order_type="limit_buy", asset_id="ETH", quantity=quantity, price="100"
    )
    assert code == 201, body
    assert Decimal(body["data"]["quantity"]) == Decimal(str(quantity))


@pytest.mark.parametrize(
    "price", [0, "0", "-1", -0.5, "1000000.00000001", 1_000_001, "1.123456789", "x", True]
)
async def test_bad_prices_are_422(client: Client, price: object) -> None:
    headers = await funded(client)
    for field, order_type in (("price", "limit_buy"), ("stop_price", "stop_buy")):
        code, body = await place(
            client,
            headers,
            order_type=order_type,
            asset_id="BTC",
            quantity="0.001",
            **{field: price},
        )
        assert code == 422, (field, body)
        assert ["body", field] in field_errors(body)


async def test_price_upper_bound_is_inclusive(client: Client) -> None:
    headers = await funded(client)
    # A limit buy at the maximum price is marketable: it fills at the current price.
    code, body = await place(
        client, headers, order_type="limit_buy", asset_id="BTC", quantity="0.001", price=1_000_000
    )
    assert code == 201, body
    order = body["data"]
    assert (order["price"], order["status"], order["filled_price"]) == (
        "1000000",
        "completed",
        BTC_PRICE,
    )
    assert order["total_amount"] == "64.25"


@pytest.mark.parametrize(
    ("order_type", "extra", "field"),
    [
        ("limit_buy", {}, "price"),
        ("limit_sell", {}, "price"),
        ("stop_limit_buy", {"stop_price": "70000"}, "price"),
        ("stop_limit_sell", {"stop_price": "60000"}, "price"),
        ("stop_buy", {}, "stop_price"),
        ("stop_sell", {}, "stop_price"),
        ("stop_limit_buy", {"price": "70000"}, "stop_price"),
        ("stop_limit_sell", {"price": "60000"}, "stop_price"),
        ("limit_buy", {"price": "60000", "stop_price": "61000"}, "stop_price"),
        ("limit_sell", {"price": "70000", "stop_price": "69000"}, "stop_price"),
        ("market_buy", {"stop_price": "61000"}, "stop_price"),
        ("market_sell", {"stop_price": "61000"}, "stop_price"),
    ],
)
async def test_required_and_forbidden_prices(
    client: Client, order_type: str, extra: dict[str, Any], field: str
) -> None:
    headers = await funded(client)
    code, body = await place(
        client, headers, order_type=order_type, asset_id="BTC", quantity="0.01", **extra
    )
    assert code == 422
    assert field_errors(body) == [["body", field]]


async def test_every_field_problem_is_listed_at_once(client: Client) -> None:
    headers = await funded(client)
    code, body = await place(
        client,
        headers,
        order_type="limit_buy",
        asset_id="BTC-USD",
        quantity="0.0001",
        stop_price="5",
        time_in_force="fok",
        client_order_id="no spaces",
    )
    assert code == 422
    assert sorted(field_errors(body)) == sorted(
        [
            ["body", "asset_id"],
            ["body", "quantity"],
            ["body", "price"],
            ["body", "stop_price"],
            ["body", "time_in_force"],
            ["body", "client_order_id"],
        ]
    )


@pytest.mark.parametrize("tif", ["GTC", "fok", "", "gtd", 1])
async def test_bad_time_in_force_is_422(client: Client, tif: object) -> None:
    headers = await funded(client)
    code, body = await place(
        client,
        headers,
        order_type="limit_buy",
        asset_id="BTC",
        quantity="0.01",
        price="60000",
        time_in_force=tif,
    )
    assert code == 422
    assert field_errors(body) == [["body", "time_in_force"]]


async def test_time_in_force_values(client: Client) -> None:
    headers = await funded(client)
    orders = {}
    for tif in ("gtc", "ioc", "day"):
        code, body = await place(
            client,
            headers,
            order_type="limit_buy",
            asset_id="BTC",
            quantity="0.01",
            price="60000",
            time_in_force=tif,
        )
        assert code == 201, body
        orders[tif] = body["data"]
    assert (orders["gtc"]["status"], orders["gtc"]["expires_at"]) == ("pending", None)
    assert orders["ioc"]["status"] == "cancelled"
    # A day order ends at the next UTC midnight of the exchange clock.
    assert orders["day"]["status"] == "pending"
    assert orders["day"]["expires_at"] == "2026-03-15T00:00:00.000Z"


@pytest.mark.parametrize(
    "expires_at", ["2026-03-15T00:00:00", "tomorrow", "2026-13-01T00:00:00Z", "", 1_773_500_000]
)
async def test_bad_expiry_is_422(client: Client, expires_at: object) -> None:
    headers = await funded(client)
    code, body = await place(
        client,
        headers,
        order_type="limit_buy",
        asset_id="BTC",
        quantity="0.01",
        price="60000",
        expires_at=expires_at,
    )
    assert code == 422, body
    assert field_errors(body) == [["body", "expires_at"]]


@pytest.mark.parametrize("expires_at", ["2026-03-14T11:59:59Z", "2026-03-14T12:00:00+00:00"])
async def test_expiry_in_the_past_is_422(client: Client, expires_at: str) -> None:
    headers = await funded(client)
    code, body = await place(
        client,
        headers,
        order_type="limit_buy",
        asset_id="BTC",
        quantity="0.01",
        price="60000",
        expires_at=expires_at,
    )
    assert (code, body["code"]) == (422, "invalid_expiry")
    assert (await portfolio(client, headers))["reserved_usd"] == "0.00"


async def test_expiry_with_any_zone_is_kept_in_utc(client: Client) -> None:
    headers = await funded(client)
    code, body = await place(
        client,
        headers,
        order_type="limit_buy",
        asset_id="BTC",
        quantity="0.01",
        price="60000",
        expires_at="2026-03-14T15:30:00+02:00",
    )
    assert code == 201, body
    assert body["data"]["expires_at"] == "2026-03-14T13:30:00.000Z"
    # A day order with a later expiry still ends at midnight; an earlier one keeps its own.
    for given, kept in (
        ("2026-03-16T00:00:00Z", "2026-03-15T00:00:00.000Z"),
        ("2026-03-14T18:00:00Z", "2026-03-14T18:00:00.000Z"),
    ):
        code, body = await place(
            client,
            headers,
            order_type="limit_buy",
            asset_id="BTC",
            quantity="0.001",
            price="60000",
            time_in_force="day",
            expires_at=given,
        )
        assert (code, body["data"]["expires_at"]) == (201, kept)


@pytest.mark.parametrize("client_order_id", ["", "has space", "x" * 65, "bad!", "ü", 7])
async def test_bad_client_order_ids_are_422(client: Client, client_order_id: object) -> None:
    headers = await funded(client)
    code, body = await place(
        client,
        headers,
        order_type="market_buy",
        asset_id="BTC",
        quantity="0.001",
        client_order_id=client_order_id,
    )
    assert code == 422
    assert field_errors(body) == [["body", "client_order_id"]]
    assert (await cash(client, headers)) == "10000.00"


@pytest.mark.parametrize("client_order_id", ["a", "x" * 64, "Abc_DEF-123"])
async def test_good_client_order_ids(client: Client, client_order_id: str) -> None:
    headers = await funded(client)
    code, body = await place(
        client,
        headers,
        order_type="market_buy",
        asset_id="BTC",
        quantity="0.001",
        client_order_id=client_order_id,
    )
    assert code == 201
    assert body["data"]["client_order_id"] == client_order_id


async def test_bodies_are_strict(client: Client) -> None:
    headers = await funded(client)
    code, body = await place(
        client, headers, order_type="market_buy", asset_id="BTC", quantity="0.01", side="buy"
    )
    assert code == 422
    assert field_errors(body) == [["body", "side"]]
    code, body = await call(client, "POST", ORDERS, headers, {"order_type": "market_buy"})
    assert code == 422
    assert ["body", "asset_id"] in field_errors(body)
    response = await client.post(
        ORDERS, data=b"order_type=market_buy", headers={**headers, "Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    response = await client.post(
        ORDERS, data=b"[1]", headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 422


# Business rules


async def test_max_order_value(client: Client) -> None:
    headers = await funded(client)
    code, body = await place(
        client, headers, order_type="market_buy", asset_id="BTC", quantity="0.2"
    )
    assert (code, body["code"]) == (422, "order_value_exceeded")
    assert body["detail"] == "Order value $12850.00 exceeds the maximum of $10000.00"
    code, body = await place(
        client, headers, order_type="market_buy", asset_id="BTC", quantity="0.1"
    )
    assert code == 201, body
    assert (body["data"]["status"], body["data"]["total_amount"]) == ("completed", "6425.00")
    assert (await cash(client, headers)) == "3575.00"


async def test_max_order_value_is_inclusive_at_the_limit_price(client: Client) -> None:
    headers = await funded(client)
    code, body = await place(
        client,
        headers,
        order_type="limit_buy",
        asset_id="BTC",
        quantity="0.2",
        price="50000.01",
    )
    assert (code, body["code"]) == (422, "order_value_exceeded")
    code, body = await place(
        client, headers, order_type="limit_buy", asset_id="BTC", quantity="0.2", price="50000"
    )
    assert (code, body["data"]["status"]) == (201, "pending")
    snapshot = await portfolio(client, headers)
    assert (snapshot["reserved_usd"], snapshot["available_usd"]) == ("10000.00", "0.00")


async def test_max_order_value_is_configurable(tmp_path: Path) -> None:
    async with running_app(tmp_path, max_order_value=100 * 100) as (_, client):
        headers = await funded(client)
        code, body = await place(
            client, headers, order_type="market_buy", asset_id="ETH", quantity="0.05"
        )
        assert (code, body["code"]) == (422, "order_value_exceeded")
        code, _ = await place(
            client, headers, order_type="market_buy", asset_id="ETH", quantity="0.04"
        )
        assert code == 201


async def test_buys_need_cash(client: Client) -> None:
    headers = await funded(client, amount="600")
    for extra in (
        {"order_type": "market_buy"},
        {"order_type": "limit_buy", "price": "60000.01"},
        {"order_type": "stop_buy", "stop_price": "70000"},
        {"order_type": "stop_limit_buy", "stop_price": "65000", "price": "66000"},
    ):
        code, body = await place(client, headers, asset_id="BTC", quantity="0.01", **extra)
        assert (code, body["code"]) == (422, "insufficient_funds"), extra
        assert body["detail"].startswith("Insufficient funds: available $600.00, required $")
    code, body = await place(
        client, headers, order_type="limit_buy", asset_id="BTC", quantity="0.01", price="60000"
    )
    assert (code, body["data"]["status"]) == (201, "pending")
    assert (await cash(client, headers)) == "600.00"
    listed = await get(client, ORDERS, headers)
    assert listed["total_count"] == 1


async def test_sells_need_holdings(client: Client) -> None:
    headers = await funded(client)
    sells: list[dict[str, Any]] = [
        {"order_type": "market_sell"},
        {"order_type": "limit_sell", "price": "70000"},
        {"order_type": "stop_sell", "stop_price": "60000"},
        {"order_type": "stop_limit_sell", "stop_price": "60000", "price": "59000"},
    ]
    for extra in sells:
        code, body = await place(client, headers, asset_id="BTC", quantity="0.01", **extra)
        assert (code, body["code"]) == (422, "insufficient_holdings"), extra
        assert body["detail"] == "Insufficient BTC: available 0, required 0.01"
    code, _ = await place(client, headers, order_type="market_buy", asset_id="BTC", quantity="0.01")
    assert code == 201
    for extra in sells:
        code, body = await place(client, headers, asset_id="BTC", quantity="0.011", **extra)
        assert (code, body["code"]) == (422, "insufficient_holdings"), extra
    code, body = await place(
        client, headers, order_type="market_sell", asset_id="BTC", quantity="0.01"
    )
    assert (code, body["data"]["status"]) == (201, "completed")
    code, body = await place(
        client, headers, order_type="market_sell", asset_id="BTC", quantity="0.001"
    )
    assert (code, body["code"]) == (422, "insufficient_holdings")
    # Holding one asset says nothing about another.
    code, body = await place(
        client, headers, order_type="market_sell", asset_id="ETH", quantity="0.01"
    )
    assert (code, body["code"]) == (422, "insufficient_holdings")


async def test_market_orders_fill_at_once(client: Client, exchange: Exchange) -> None:
    headers = await funded(client, amount="1000")
    code, body = await place(
        client, headers, order_type="market_buy", asset_id="BTC", quantity="0.01"
    )
    assert code == 201, body
    bought = body["data"]
    assert bought["status"] == "completed"
    assert bought["price"] == BTC_PRICE  # a filled market order shows where it executed
    assert (bought["filled_price"], bought["total_amount"], bought["fee"]) == (
        BTC_PRICE,
        "642.50",
        "0.00",
    )
    assert bought["filled_tick_seq"] == exchange.feed.seq
    assert bought["created_at"] == bought["updated_at"]
    assert (await cash(client, headers)) == "357.50"
    code, body = await place(
        client, headers, order_type="market_sell", asset_id="BTC", quantity="0.004"
    )
    sold = body["data"]
    assert (code, sold["status"], sold["filled_price"], sold["total_amount"]) == (
        201,
        "completed",
        BTC_PRICE,
        "257.00",
    )
    assert (await cash(client, headers)) == "614.50"
    holdings = (await portfolio(client, headers))["assets"]
    assert [(h["asset_id"], h["quantity"]) for h in holdings] == [("BTC", "0.006")]


async def test_odd_amounts_round_buys_up_and_sales_down(client: Client) -> None:
    headers = await funded(client, amount="100")
    # 0.00123457 x 2480 = 3.0617336: a buy costs 3.07, a sale pays 3.06.
    code, body = await place(
        client, headers, order_type="market_buy", asset_id="ETH", quantity="0.00123457"
    )
    assert (code, body["data"]["total_amount"]) == (201, "3.07")
    code, body = await place(
        client, headers, order_type="market_sell", asset_id="ETH", quantity="0.00123457"
    )
    assert (code, body["data"]["total_amount"]) == (201, "3.06")
    assert (await cash(client, headers)) == "99.99"


async def test_marketable_limits_fill_at_the_current_price(client: Client) -> None:
    headers = await funded(client, amount="1000")
    code, body = await place(
        client, headers, order_type="limit_buy", asset_id="BTC", quantity="0.01", price="70000"
    )
    bought = body["data"]
    assert (code, bought["status"], bought["price"], bought["filled_price"]) == (
        201,
        "completed",
        "70000",
        BTC_PRICE,
    )
    assert bought["total_amount"] == "642.50"
    # Exactly at the price is marketable too.
    code, body = await place(
        client, headers, order_type="limit_sell", asset_id="BTC", quantity="0.005", price=BTC_PRICE
    )
    assert (code, body["data"]["status"], body["data"]["filled_price"]) == (
        201,
        "completed",
        BTC_PRICE,
    )
    code, body = await place(
        client, headers, order_type="limit_sell", asset_id="BTC", quantity="0.005", price="1"
    )
    assert (code, body["data"]["status"], body["data"]["total_amount"]) == (
        201,
        "completed",
        "321.25",
    )
    snapshot = await portfolio(client, headers)
    assert (snapshot["usd_balance"], snapshot["reserved_usd"], snapshot["assets"]) == (
        "1000.00",
        "0.00",
        [],
    )


async def test_stops_already_reached_fill_at_once(client: Client) -> None:
    headers = await funded(client, amount="1000")
    code, body = await place(
        client, headers, order_type="stop_buy", asset_id="BTC", quantity="0.01", stop_price="60000"
    )
    assert (code, body["data"]["status"], body["data"]["filled_price"]) == (
        201,
        "completed",
        BTC_PRICE,
    )
    code, body = await place(
        client,
        headers,
        order_type="stop_limit_sell",
        asset_id="BTC",
        quantity="0.01",
        stop_price="70000",
        price="60000",
    )
    assert (code, body["data"]["status"], body["data"]["filled_price"]) == (
        201,
        "completed",
        BTC_PRICE,
    )
    # Triggered on arrival but not marketable: it rests as a limit order.
    code, body = await place(
        client,
        headers,
        order_type="stop_limit_buy",
        asset_id="BTC",
        quantity="0.01",
        stop_price="60000",
        price="63000",
    )
    assert (code, body["data"]["status"]) == (201, "pending")
    assert (await portfolio(client, headers))["reserved_usd"] == "630.00"


async def test_resting_buy_reserves_cash(client: Client) -> None:
    headers = await funded(client, amount="1000")
    code, body = await place(
        client, headers, order_type="limit_buy", asset_id="BTC", quantity="0.01", price="60000"
    )
    assert (code, body["data"]["status"]) == (201, "pending")
    snapshot = await portfolio(client, headers)
    assert (snapshot["usd_balance"], snapshot["reserved_usd"], snapshot["available_usd"]) == (
        "1000.00",
        "600.00",
        "400.00",
    )
    assert (await cash(client, headers)) == "1000.00"
    # Reserved cash can be neither withdrawn nor spent again.
    code, moved = await call(client, "POST", WITHDRAW, headers, {"amount": "400.01"})
    assert (code, moved["code"]) == (422, "insufficient_funds")
    assert "$600.00 reserved by open orders" in moved["detail"]
    code, again = await place(
        client, headers, order_type="limit_buy", asset_id="ETH", quantity="1", price="400.01"
    )
    assert (code, again["code"]) == (422, "insufficient_funds")
    code, again = await place(
        client, headers, order_type="market_buy", asset_id="ETH", quantity="0.17"
    )
    assert (code, again["code"]) == (422, "insufficient_funds")
    code, _ = await place(client, headers, order_type="market_buy", asset_id="ETH", quantity="0.16")
    assert code == 201  # 396.80 of the 400.00 available
    code, moved = await call(client, "POST", WITHDRAW, headers, {"amount": "3.20"})
    assert code == 201
    snapshot = await portfolio(client, headers)
    assert (snapshot["usd_balance"], snapshot["reserved_usd"], snapshot["available_usd"]) == (
        "600.00",
        "600.00",
        "0.00",
    )


async def test_resting_stop_buy_reserves_at_its_stop(client: Client) -> None:
    headers = await funded(client, amount="1000")
    code, body = await place(
        client, headers, order_type="stop_buy", asset_id="BTC", quantity="0.01", stop_price="70000"
    )
    assert (code, body["data"]["status"]) == (201, "pending")
    assert (await portfolio(client, headers))["reserved_usd"] == "700.00"


async def test_resting_sell_reserves_quantity(client: Client) -> None:
    headers = await funded(client, amount="2000")
    await place(client, headers, order_type="market_buy", asset_id="BTC", quantity="0.02")
    code, body = await place(
        client, headers, order_type="limit_sell", asset_id="BTC", quantity="0.015", price="70000"
    )
    assert (code, body["data"]["status"]) == (201, "pending")
    snapshot = await portfolio(client, headers)
    assert snapshot["reserved_usd"] == "0.00"
    [btc] = snapshot["assets"]
    assert (btc["quantity"], btc["reserved_quantity"]) == ("0.02", "0.015")
    holding = await get(client, "/api/v1/balance/asset/BTC", headers)
    assert (holding["quantity"], holding["reserved_quantity"]) == ("0.02", "0.015")
    holdings = await get(client, "/api/v1/assets/balances", headers)
    assert [h["reserved_quantity"] for h in holdings["data"]] == ["0.015"]
    code, again = await place(
        client, headers, order_type="market_sell", asset_id="BTC", quantity="0.0051"
    )
    assert (code, again["code"]) == (422, "insufficient_holdings")
    assert again["detail"] == "Insufficient BTC: available 0.005, required 0.0051"
    code, again = await place(
        client, headers, order_type="stop_sell", asset_id="BTC", quantity="0.006", stop_price="1"
    )
    assert (code, again["code"]) == (422, "insufficient_holdings")
    code, _ = await place(
        client, headers, order_type="market_sell", asset_id="BTC", quantity="0.005"
    )
    assert code == 201
    [btc] = (await portfolio(client, headers))["assets"]
    assert (btc["quantity"], btc["reserved_quantity"]) == ("0.015", "0.015")


async def test_ioc_that_cannot_fill_is_cancelled(client: Client) -> None:
    headers = await funded(client, amount="1000")
    code, body = await place(
        client,
        headers,
        order_type="limit_buy",
        asset_id="BTC",
        quantity="0.01",
        price="60000",
        time_in_force="ioc",
    )
    order = body["data"]
    assert (code, order["status"], order["filled_price"]) == (201, "cancelled", None)
    assert order["reason"] == "immediate-or-cancel: not marketable on arrival"
    snapshot = await portfolio(client, headers)
    assert (snapshot["reserved_usd"], snapshot["available_usd"]) == ("0.00", "1000.00")
    code, body = await place(
        client,
        headers,
        order_type="stop_buy",
        asset_id="BTC",
        quantity="0.01",
        stop_price="70000",
        time_in_force="ioc",
    )
    assert (code, body["data"]["status"]) == (201, "cancelled")
    code, body = await place(
        client,
        headers,
        order_type="limit_buy",
        asset_id="BTC",
        quantity="0.01",
        price="65000",
        time_in_force="ioc",
    )
    assert (code, body["data"]["status"], body["data"]["total_amount"]) == (
        201,
        "completed",
        "642.50",
    )
    listed = await get(client, f"{ORDERS}?status=cancelled", headers)
    assert listed["total_count"] == 2


async def test_client_order_id_makes_placement_idempotent(client: Client) -> None:
    headers = await funded(client, amount="1000")
    body = {
        "order_type": "market_buy",
        "asset_id": "BTC",
        "quantity": "0.01",
        "client_order_id": "retry-1",
    }
    code, first = await call(client, "POST", ORDERS, headers, body)
    code2, second = await call(client, "POST", ORDERS, headers, {**body, "asset_id": "btc"})
    assert (code, code2) == (201, 201)
    assert second["data"] == first["data"]
    assert (await cash(client, headers)) == "357.50"  # bought once
    code, clash = await call(client, "POST", ORDERS, headers, {**body, "quantity": "0.02"})
    assert (code, clash["code"]) == (409, "duplicate_client_order_id")
    code, clash = await call(client, "POST", ORDERS, headers, {**body, "asset_id": "ETH"})
    assert code == 409
    # A resting order retried: still one order, one reservation.
    resting = {
        "order_type": "limit_buy",
        "asset_id": "BTC",
        "quantity": "0.005",
        "price": "60000",
        "client_order_id": "retry-2",
    }
    first_id = (await call(client, "POST", ORDERS, headers, resting))[1]["data"]["order_id"]
    assert (await call(client, "POST", ORDERS, headers, resting))[1]["data"]["order_id"] == first_id
    code, clash = await call(client, "POST", ORDERS, headers, {**resting, "price": "60001"})
    assert code == 409
    assert (await portfolio(client, headers))["reserved_usd"] == "300.00"
    listed = await get(client, ORDERS, headers)
    assert listed["total_count"] == 2
    # Another user may use the same id.
    other = await funded(client, "bob_0001", "1000")
    code, theirs = await call(client, "POST", ORDERS, other, body)
    assert code == 201
    assert theirs["data"]["order_id"] != first["data"]["order_id"]


async def test_concurrent_retries_place_one_order(client: Client) -> None:
    headers = await funded(client, amount="1000")
    body = {
        "order_type": "limit_buy",
        "asset_id": "BTC",
        "quantity": "0.01",
        "price": "60000",
        "client_order_id": "burst-1",
    }
    answers: list[tuple[int, Any]] = []

    async def send() -> None:
        answers.append(await call(client, "POST", ORDERS, headers, body))

    async with trio.open_nursery() as nursery:
        for _ in range(10):
            nursery.start_soon(send)
    assert {code for code, _ in answers} == {201}
    assert len({answer["data"]["order_id"] for _, answer in answers}) == 1
    assert (await get(client, ORDERS, headers))["total_count"] == 1
    assert (await portfolio(client, headers))["reserved_usd"] == "600.00"


async def test_idempotent_retry_sees_the_order_as_it_is_now(client: Client) -> None:
    headers = await funded(client, amount="1000")
    body = {
        "order_type": "limit_buy",
        "asset_id": "BTC",
        "quantity": "0.01",
        "price": "60000",
        "client_order_id": "c-1",
    }
    code, first = await call(client, "POST", ORDERS, headers, body)
    order_id = first["data"]["order_id"]
    code, _ = await call(client, "DELETE", f"{ORDERS}/{order_id}", headers)
    assert code == 200
    code, again = await call(client, "POST", ORDERS, headers, body)
    assert (code, again["data"]["order_id"], again["data"]["status"]) == (
        201,
        order_id,
        "cancelled",
    )
    assert (await portfolio(client, headers))["reserved_usd"] == "0.00"


# Every field each type does not take, with a valid value: refused, never silently ignored.
NOT_TAKEN = {
    "market_buy": {"price": "60000", "stop_price": "61000", "expires_at": "2030-01-01T00:00:00Z"},
    "market_sell": {"price": "60000", "stop_price": "61000", "expires_at": "2030-01-01T00:00:00Z"},
    "limit_buy": {"stop_price": "61000"},
    "limit_sell": {"stop_price": "69000"},
    "stop_buy": {"price": "71000"},
    "stop_sell": {"price": "59000"},
    "stop_limit_buy": {},
    "stop_limit_sell": {},
}
# What each type needs to be placed at all.
NEEDED = {
    "market_buy": {},
    "market_sell": {},
    "limit_buy": {"price": "60000"},
    "limit_sell": {"price": "70000"},
    "stop_buy": {"stop_price": "70000"},
    "stop_sell": {"stop_price": "60000"},
    "stop_limit_buy": {"stop_price": "70000", "price": "71000"},
    "stop_limit_sell": {"stop_price": "60000", "price": "59000"},
}


@pytest.mark.parametrize("order_type", list(NOT_TAKEN))
async def test_fields_a_type_does_not_take_are_refused_by_name(
    client: Client, order_type: str
) -> None:
    headers = await funded(client)
    await place(client, headers, order_type="market_buy", asset_id="BTC", quantity="0.01")
    base = {"order_type": order_type, "asset_id": "BTC", "quantity": "0.001", **NEEDED[order_type]}
    for name, value in NOT_TAKEN[order_type].items():
        code, body = await call(client, "POST", ORDERS, headers, {**base, name: value})
        assert code == 422, (name, body)
        assert field_errors(body) == [["body", name]]
        assert body["detail"][0]["type"] == "extra_forbidden"
    # All at once, each named; a malformed value of a field not taken is still only "not taken".
    refused = {name: "x" for name in NOT_TAKEN[order_type]}
    if refused:
        code, body = await call(client, "POST", ORDERS, headers, {**base, **refused})
        assert code == 422
        assert sorted(field_errors(body)) == sorted(["body", name] for name in refused)
    # null is the same as leaving a field out.
    nulls = dict.fromkeys(NOT_TAKEN[order_type])
    code, body = await call(client, "POST", ORDERS, headers, {**base, **nulls})
    assert code == 201, body
    # Only that order and the first were placed.
    assert (await call(client, "GET", ORDERS, headers))[1]["total_count"] == 2


# Listing and reading


async def test_list_is_newest_first_with_filters_and_pages(client: Client) -> None:
    headers = await funded(client)
    placed = []
    for asset_id, order_type, extra in [
        ("BTC", "market_buy", {}),
        ("ETH", "market_buy", {}),
        ("BTC", "limit_buy", {"price": "50000"}),
        ("ETH", "limit_buy", {"price": "2000"}),
        ("BTC", "limit_sell", {"price": "90000"}),
        ("ETH", "stop_sell", {"stop_price": "2000"}),
        ("BTC", "limit_buy", {"price": "40000"}),
    ]:
        code, body = await place(
            client, headers, order_type=order_type, asset_id=asset_id, quantity="0.01", **extra
        )
        assert code == 201, body
        placed.append(body["data"])
    await call(client, "DELETE", f"{ORDERS}/{placed[2]['order_id']}", headers)
    newest_first = [order["order_id"] for order in reversed(placed)]

    async def listed(query: str = "") -> Any:
        body = await get(client, f"{ORDERS}{query}", headers)
        assert set(body) == {"data", "has_more", "total_count"}
        return body

    everything = await listed()
    assert [o["order_id"] for o in everything["data"]] == newest_first
    assert (everything["total_count"], everything["has_more"]) == (7, False)
    assert everything["data"][-1] == placed[0]
    assert everything["data"][4]["status"] == "cancelled"
    btc = await listed("?asset_id=btc")
    assert [o["order_id"] for o in btc["data"]] == [placed[i]["order_id"] for i in (6, 4, 2, 0)]
    limit_buys = await listed("?order_type=limit_buy")
    assert [o["order_id"] for o in limit_buys["data"]] == [placed[i]["order_id"] for i in (6, 3, 2)]
    pending = await listed("?status=pending")
    assert [o["order_id"] for o in pending["data"]] == [placed[i]["order_id"] for i in (6, 5, 4, 3)]
    combined = await listed("?asset_id=BTC&order_type=limit_buy&status=pending")
    assert [o["order_id"] for o in combined["data"]] == [placed[6]["order_id"]]
    assert (await listed("?asset_id=SOL"))["data"] == []
    assert (await listed("?status=expired"))["total_count"] == 0
    page = await listed("?limit=3")
    assert [o["order_id"] for o in page["data"]] == newest_first[:3]
    assert (page["has_more"], page["total_count"]) == (True, 7)
    page = await listed("?limit=3&offset=3")
    assert [o["order_id"] for o in page["data"]] == newest_first[3:6]
    assert page["has_more"] is True
    page = await listed("?limit=3&offset=6")
    assert [o["order_id"] for o in page["data"]] == newest_first[6:]
    assert page["has_more"] is False
    page = await listed("?offset=50")
    assert (page["data"], page["has_more"], page["total_count"]) == ([], False, 7)
    page = await listed("?status=pending&limit=2&offset=1")
    assert [o["order_id"] for o in page["data"]] == [placed[5]["order_id"], placed[4]["order_id"]]
    assert (page["has_more"], page["total_count"]) == (True, 4)


async def test_list_pages_past_fifty(client: Client) -> None:
    headers = await funded(client)
    for _ in range(55):
        code, _ = await place(
            client, headers, order_type="limit_buy", asset_id="ETH", quantity="0.01", price="1"
        )
        assert code == 201
    page = await get(client, ORDERS, headers)
    assert (len(page["data"]), page["has_more"], page["total_count"]) == (50, True, 55)
    page = await get(client, f"{ORDERS}?limit=100", headers)
    assert (len(page["data"]), page["has_more"]) == (55, False)


@pytest.mark.parametrize(
    "query",
    [
        "asset_id=BTC-USD",
        "asset_id=ABCDEFGHIJK",
        "order_type=bogus",
        "order_type=LIMIT_BUY",
        "status=open",
        "status=PENDING",
        "limit=0",
        "limit=101",
        "limit=x",
        "offset=-1",
        "offset=1.5",
        "offset=99999999999999999999",
    ],
)
async def test_bad_list_filters_are_422(client: Client, query: str) -> None:
    headers = await signed_up(client)
    status, body = await call(client, "GET", f"{ORDERS}?{query}", headers)
    assert status == 422
    [loc] = field_errors(body)
    assert loc == ["query", query.split("=")[0]]


async def test_orders_are_private(client: Client) -> None:
    alice = await funded(client)
    bob = await funded(client, "bob_0001")
    code, body = await place(
        client, alice, order_type="limit_buy", asset_id="BTC", quantity="0.01", price="60000"
    )
    assert code == 201
    order = body["data"]
    order_id = order["order_id"]
    status, mine = await call(client, "GET", f"{ORDERS}/{order_id}", alice)
    assert (status, mine) == (200, {"data": order})
    status, theirs = await call(client, "GET", f"{ORDERS}/{order_id}", bob)
    assert (status, theirs["code"]) == (404, "order_not_found")
    status, listed = await call(client, "GET", ORDERS, bob)
    assert listed["total_count"] == 0
    status, cancelled = await call(client, "DELETE", f"{ORDERS}/{order_id}", bob)
    assert (status, cancelled["code"]) == (404, "order_not_found")
    status, mine = await call(client, "GET", f"{ORDERS}/{order_id}", alice)
    assert mine["data"]["status"] == "pending"
    assert (await portfolio(client, alice))["reserved_usd"] == "600.00"


@pytest.mark.parametrize("order_id", ["short", "ord_123456789!", "x" * 65, "ord_%20abcdefgh"])
async def test_malformed_order_ids_are_422(client: Client, order_id: str) -> None:
    headers = await signed_up(client)
    for method in ("GET", "DELETE"):
        status, body = await call(client, method, f"{ORDERS}/{order_id}", headers)
        assert status == 422, (method, body)
        assert field_errors(body) == [["path", "order_id"]]


async def test_unknown_order_is_404(client: Client) -> None:
    headers = await signed_up(client)
    for method in ("GET", "DELETE"):
        status, body = await call(client, method, f"{ORDERS}/ord_{'0' * 32}", headers)
        assert (status, body["code"]) == (404, "order_not_found")


# Cancelling


async def test_cancel_releases_the_reservation(client: Client) -> None:
    headers = await funded(client, amount="1000")
    await place(client, headers, order_type="market_buy", asset_id="BTC", quantity="0.01")
    code, buy = await place(
        client, headers, order_type="limit_buy", asset_id="ETH", quantity="0.1", price="2000"
    )
    code, sell = await place(
        client, headers, order_type="stop_sell", asset_id="BTC", quantity="0.01", stop_price="60000"
    )
    snapshot = await portfolio(client, headers)
    assert (snapshot["reserved_usd"], snapshot["assets"][0]["reserved_quantity"]) == (
        "200.00",
        "0.01",
    )
    status, body = await call(client, "DELETE", f"{ORDERS}/{buy['data']['order_id']}", headers)
    cancelled = body["data"]
    assert (status, cancelled["status"], cancelled["order_id"]) == (
        200,
        "cancelled",
        buy["data"]["order_id"],
    )
    assert cancelled["reason"] == "cancelled by the user"
    assert (await portfolio(client, headers))["reserved_usd"] == "0.00"
    status, body = await call(client, "DELETE", f"{ORDERS}/{sell['data']['order_id']}", headers)
    assert (status, body["data"]["status"]) == (200, "cancelled")
    snapshot = await portfolio(client, headers)
    assert (snapshot["available_usd"], snapshot["assets"][0]["reserved_quantity"]) == (
        "357.50",
        "0",
    )
    # The released quantity can be sold again.
    code, _ = await place(
        client, headers, order_type="market_sell", asset_id="BTC", quantity="0.01"
    )
    assert code == 201
    body = await get(client, f"{ORDERS}/{buy['data']['order_id']}", headers)
    assert body["data"]["status"] == "cancelled"


async def test_only_pending_orders_can_be_cancelled(client: Client) -> None:
    headers = await funded(client, amount="1000")
    code, body = await place(
        client, headers, order_type="limit_buy", asset_id="BTC", quantity="0.01", price="60000"
    )
    order_id = body["data"]["order_id"]
    status, _ = await call(client, "DELETE", f"{ORDERS}/{order_id}", headers)
    assert status == 200
    status, again = await call(client, "DELETE", f"{ORDERS}/{order_id}", headers)
    assert (status, again["code"]) == (409, "order_not_pending")
    code, body = await place(
        client, headers, order_type="market_buy", asset_id="BTC", quantity="0.01"
    )
    assert code == 201
    status, filled = await call(client, "DELETE", f"{ORDERS}/{body['data']['order_id']}", headers)
    assert (status, filled["code"]) == (409, "order_not_pending")
    assert (await cash(client, headers)) == "357.50"


# Cash movements and fees


async def test_trades_appear_in_the_cash_ledger(client: Client) -> None:
    headers = await funded(client, amount="1000")
    code, buy = await place(
        client, headers, order_type="market_buy", asset_id="BTC", quantity="0.01"
    )
    code, sell = await place(
        client, headers, order_type="market_sell", asset_id="BTC", quantity="0.004"
    )
    assert code == 201
    page = await get(client, "/api/v1/balance/transactions", headers)
    rows = [(r["transaction_type"], r["amount"], r["reference_id"]) for r in page["transactions"]]
    assert rows == [
        ("order_sale", "257.00", sell["data"]["order_id"]),
        ("order_payment", "-642.50", buy["data"]["order_id"]),
        ("deposit", "1000.00", None),
    ]
    assert page["transactions"][0]["description"] == "Sell 0.004 BTC"
    assert page["transactions"][1]["description"] == "Buy 0.01 BTC"
    page = await get(client, "/api/v1/balance/transactions?transaction_type=order_payment", headers)
    assert [r["amount"] for r in page["transactions"]] == ["-642.50"]
    # A resting order moves no cash until it fills: reservations are not ledger rows.
    await place(
        client, headers, order_type="limit_buy", asset_id="BTC", quantity="0.001", price="1000"
    )
    page = await get(client, "/api/v1/balance/transactions", headers)
    assert page["total_count"] == 3


async def test_fees_are_charged_as_their_own_ledger_rows(tmp_path: Path) -> None:
    async with running_app(tmp_path, fee_bps=25) as (exchange, client):
        headers = await funded(client, amount="1000")
        # 642.50 x 0.25% = 1.60625, rounded up to 1.61.
        code, buy = await place(
            client, headers, order_type="market_buy", asset_id="BTC", quantity="0.01"
        )
        assert (code, buy["data"]["total_amount"], buy["data"]["fee"]) == (201, "642.50", "1.61")
        code, sell = await place(
            client, headers, order_type="market_sell", asset_id="BTC", quantity="0.01"
        )
        assert (code, sell["data"]["total_amount"], sell["data"]["fee"]) == (
            201,
            "642.50",
            "1.61",
        )
        page = await get(client, "/api/v1/balance/transactions", headers)
        rows = [
            (r["transaction_type"], r["amount"], r["reference_id"]) for r in page["transactions"]
        ]
        assert rows == [
            ("fee", "-1.61", sell["data"]["order_id"]),
            ("order_sale", "642.50", sell["data"]["order_id"]),
            ("fee", "-1.61", buy["data"]["order_id"]),
            ("order_payment", "-642.50", buy["data"]["order_id"]),
            ("deposit", "1000.00", None),
        ]
        fees = await get(client, "/api/v1/balance/transactions?transaction_type=fee", headers)
        assert fees["total_count"] == 2
        assert (await cash(client, headers)) == "996.78"
        # A resting buy reserves its fee too.
        code, body = await place(
            client, headers, order_type="limit_buy", asset_id="BTC", quantity="0.01", price="60000"
        )
        assert (await portfolio(client, headers))["reserved_usd"] == "601.50"
        # Cash must cover cost and fee: 642.50 alone is not enough for 0.01 BTC.
        other = await funded(client, "bob_0001", "642.50")
        code, body = await place(
            client, other, order_type="market_buy", asset_id="BTC", quantity="0.01"
        )
        assert (code, body["code"]) == (422, "insufficient_funds")
        assert body["detail"] == "Insufficient funds: available $642.50, required $644.11"
        await deposit(client, other, "1.61")
        code, body = await place(
            client, other, order_type="market_buy", asset_id="BTC", quantity="0.01"
        )
        assert code == 201
        assert (await cash(client, other)) == "0.00"
        assert exchange.verify() == []


# Auth


PROTECTED = [
    ("POST", ORDERS, {"order_type": "nonsense"}),
    ("POST", ORDERS, None),
    ("GET", f"{ORDERS}?limit=0&status=bogus", None),
    ("GET", f"{ORDERS}/bad", None),
    ("GET", f"{ORDERS}/ord_{'0' * 32}", None),
    ("DELETE", f"{ORDERS}/bad", None),
    ("DELETE", f"{ORDERS}/ord_{'0' * 32}", None),
    ("GET", PORTFOLIO, None),
    ("GET", "/api/v1/balance/asset/BTC-USD", None),
    ("GET", "/api/v1/balance/asset/ZZZZ", None),
    ("GET", "/api/v1/assets/balances", None),
    ("GET", "/api/v1/assets/BTC-USD/transactions?limit=0", None),
    ("GET", "/api/v1/assets/ZZZZ/transactions", None),
]


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
async def test_auth_is_decided_before_validation(
    client: Client, method: str, path: str, body: Any
) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer not.a.token"},
    ):
        status, answer = await call(client, method, path, headers, body)
        assert status == 401, (headers, answer)
        assert answer["code"] == "unauthorized"


async def test_revoked_token_cannot_trade(client: Client) -> None:
    headers = await funded(client, amount="1000")
    status, _ = await call(client, "POST", "/api/v1/auth/logout", headers, {})
    assert status == 200
    code, _ = await place(client, headers, order_type="market_buy", asset_id="BTC", quantity="0.01")
    assert code == 401
    assert (await cash(client, await login(client))) == "1000.00"


async def test_huge_quantities_are_refused_and_the_exchange_lives_on(
    client: Client, exchange: Exchange
) -> None:
    headers = await funded(client, amount="1000")
    # At the smallest price, a hundred billion units is worth only $1,000: within every limit
    # but the quantity itself, which no account could ever hold.
    for order_type, extra in (
        ("limit_buy", {"price": "0.00000001"}),
        ("stop_limit_buy", {"price": "0.00000001", "stop_price": "70000"}),
    ):
        code, body = await place(
            client, headers, order_type=order_type, asset_id="BTC", quantity="100000000000", **extra
        )
        assert code == 422, body
        assert field_errors(body) == [["body", "quantity"]]
    # The engine refuses it too, whoever asks.
    with pytest.raises(Rejected) as refused:
        await exchange.place_order("alice_01", OrderRequest("limit_buy", "BTC", 10**19, price=1))
    assert refused.value.code == "invalid_quantity"
    code, body = await place(
        client, headers, order_type="market_buy", asset_id="BTC", quantity="0.01"
    )
    assert (code, body["data"]["status"]) == (201, "completed")
    assert exchange.verify() == []


@pytest.mark.parametrize(
    "raw",
    [
        b"1e999990",
        b'"1e999990"',
        b"1e999999999",
        b"-1e999999999",
        b'"-1e999999999"',
        b"1E+9999999999999999999999999999",
        b"9" * 20_000,
        b'"\\uff11"',
        b'"1_0"',
        b'" 1"',
        b"true",
        b"[1]",
    ],
)
async def test_hostile_numbers_in_every_order_field_are_422_at_once(
    client: Client, exchange: Exchange, raw: bytes
) -> None:
    headers = {**await funded(client), "Content-Type": "application/json"}
    body = (
        b'{"order_type": "stop_limit_buy", "asset_id": "BTC", "quantity": %s, "price": %s,'
        b' "stop_price": %s}'
    )
    # All three at once used to freeze the event loop for about 70 s.
    with trio.fail_after(10):
        response = await client.post(ORDERS, data=body % (raw, raw, raw), headers=headers)
    answer = await response.get_json()
    assert response.status_code == 422, answer
    assert sorted(field_errors(answer)) == [
        ["body", "price"],
        ["body", "quantity"],
        ["body", "stop_price"],
    ]
    assert exchange.verify() == []
    assert (await cash(client, headers)) == "10000.00"


async def test_stop_orders_already_reached_are_valued_at_the_current_price(
    tmp_path: Path,
) -> None:
    async with running_app(tmp_path, daily_deposit_limit=50_000 * 100) as (exchange, client):
        headers = await funded(client, amount="20000")
        # Reached on arrival, a stop order is a market order: 0.2 BTC is $12,850 however low
        # its stop, and over the cap.
        code, body = await place(
            client, headers, order_type="stop_buy", asset_id="BTC", quantity="0.2", stop_price="1"
        )
        assert (code, body["code"]) == (422, "order_value_exceeded")
        assert body["detail"] == "Order value $12850.00 exceeds the maximum of $10000.00"
        assert (await cash(client, headers)) == "20000.00"
        # A stop sell reached on arrival sells at the current price, whatever its stop says.
        code, body = await place(
            client, headers, order_type="market_buy", asset_id="BTC", quantity="0.1"
        )
        assert code == 201
        code, body = await place(
            client,
            headers,
            order_type="stop_sell",
            asset_id="BTC",
            quantity="0.1",
            stop_price="200000",
        )
        assert (code, body["data"]["status"], body["data"]["total_amount"]) == (
            201,
            "completed",
            "6425.00",
        )
        # Not reached yet, a stop order is valued at its stop.
        code, body = await place(
            client,
            headers,
            order_type="stop_buy",
            asset_id="BTC",
            quantity="0.16",
            stop_price="65000",
        )
        assert (code, body["code"]) == (422, "order_value_exceeded")
        code, body = await place(
            client,
            headers,
            order_type="stop_buy",
            asset_id="BTC",
            quantity="0.15",
            stop_price="65000",
        )
        assert (code, body["data"]["status"]) == (201, "pending")
        assert (await portfolio(client, headers))["reserved_usd"] == "9750.00"
        assert exchange.verify() == []


async def test_trading_rules_are_public(client: Client) -> None:
    response = await client.get("/api/v1/trading/rules")
    assert response.status_code == 200
    assert await response.get_json() == {
        "max_order_value": "10000.00",
        "fee_bps": 0,
        "min_quantity": "0.001",
        "daily_deposit_limit": "10000.00",
        "daily_withdraw_limit": "5000.00",
    }
