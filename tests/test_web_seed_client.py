"""The seed platform's own React front end: each request it sends and the field it then reads.

Each test sends the body that front end sends (or the query it makes) and checks the field its
page reads, the way that page reads it.
"""

from __future__ import annotations

import math
from typing import Any

from tests.conftest import Client, signed_up
from tests.trading_helpers import DEPOSIT, ORDERS, call

PROFILE = "/api/v1/auth/profile"


def parse_float(text: Any) -> float:
    """JavaScript's ``parseFloat`` for what these pages pass it: NaN for null or junk."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


# Portfolio page: the order history shows "@$" + parseFloat(order.price).toFixed(2).


async def test_order_history_shows_the_execution_price_of_market_orders(client: Client) -> None:
    headers = await signed_up(client)
    assert (await call(client, "POST", DEPOSIT, headers, {"amount": 1000}))[0] == 201
    placed = []
    for order_type in ("market_buy", "market_sell"):
        body = {"order_type": order_type, "asset_id": "BTC", "quantity": 0.001}
        status, answer = await call(client, "POST", ORDERS, headers, body)
        assert status == 201, answer
        placed.append(answer["data"])
    status, listing = await call(client, "GET", ORDERS, headers)
    assert status == 200
    for order in [*placed, *listing["data"]]:
        assert f"{parse_float(order['price']):.2f}" == "64250.00", order
        assert order["price"] == order["filled_price"]
    one = (await call(client, "GET", f"{ORDERS}/{placed[0]['order_id']}", headers))[1]["data"]
    assert (one["price"], one["filled_price"]) == ("64250", "64250")


async def test_a_resting_order_keeps_its_limit_price(client: Client) -> None:
    headers = await signed_up(client)
    assert (await call(client, "POST", DEPOSIT, headers, {"amount": 1000}))[0] == 201
    body = {"order_type": "limit_buy", "asset_id": "BTC", "quantity": 0.001, "price": 60000}
    status, answer = await call(client, "POST", ORDERS, headers, body)
    assert status == 201
    assert (answer["data"]["price"], answer["data"]["filled_price"]) == ("60000", None)


# Profile page: the edit form sends every field and requires result.success.


async def test_profile_edit_reports_success(client: Client) -> None:
    headers = await signed_up(client)
    body = {
        "first_name": "Alicia",
        "last_name": "Smith",
        "email": "alicia@example.com",
        "phone": "5551234567",
        "date_of_birth": "1990-05-17",
    }
    status, result = await call(client, "PUT", PROFILE, headers, body)
    assert status == 200, result
    assert result["success"] is True
    assert result["user"]["first_name"] == "Alicia"
