"""The seed platform's own React front end: each request it sends and the field it then reads.

Each test sends the body that front end sends (or the query it makes) and checks the field its
page reads, the way that page reads it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
import trio

from tests.conftest import Client, signed_up
from tests.live import open_server
from tests.trading_helpers import DEPOSIT, ORDERS, WITHDRAW, call, running_app

ASSETS = "/api/v1/inventory/assets"
TRANSACTIONS = "/api/v1/balance/transactions"
PROFILE = "/api/v1/auth/profile"


async def get(
    client: Client, path: str, headers: dict[str, str] | None = None, **query: object
) -> tuple[int, Any]:
    """A GET with query parameters; its status and JSON body."""
    response = await client.get(
        path, headers=headers or {}, query_string={k: str(v) for k, v in query.items()}
    )
    return response.status_code, await response.get_json()


def parse_float(text: Any) -> float:
    """JavaScript's ``parseFloat`` for what these pages pass it: NaN for null or junk."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


# Account page: deposit and withdraw with a description, then the transaction history.


async def test_account_page_deposit_and_withdraw_with_a_description(client: Client) -> None:
    headers = await signed_up(client)
    status, body = await call(
        client, "POST", DEPOSIT, headers, {"amount": 100, "description": "Manual deposit"}
    )
    assert (status, body["success"]) == (201, True), body
    status, body = await call(
        client, "POST", WITHDRAW, headers, {"amount": 40, "description": "Manual withdrawal"}
    )
    assert (status, body["success"]) == (201, True), body
    status, page = await call(client, "GET", TRANSACTIONS, headers)
    assert status == 200
    rows = [(t["transaction_type"], t["amount"], t["description"]) for t in page["transactions"]]
    assert rows == [
        ("withdraw", "-40.00", "Manual withdrawal"),
        ("deposit", "100.00", "Manual deposit"),
    ]


async def test_without_a_description_the_row_describes_itself(client: Client) -> None:
    headers = await signed_up(client)
    for body in ({"amount": 100}, {"amount": 5, "description": None}):
        assert (await call(client, "POST", DEPOSIT, headers, body))[0] == 201
    # Blank is none too; surrounding spaces are trimmed.
    status, _ = await call(client, "POST", WITHDRAW, headers, {"amount": 1, "description": "  "})
    assert status == 201
    status, _ = await call(client, "POST", WITHDRAW, headers, {"amount": 2, "description": " x "})
    assert status == 201
    _, page = await call(client, "GET", TRANSACTIONS, headers)
    assert [t["description"] for t in page["transactions"]] == [
        "x",
        "Withdrawal of $1.00",
        "Deposit of $5.00",
        "Deposit of $100.00",
    ]


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ({"amount": 1, "description": "<script>x</script>"}, "description", "markup"),
        ({"amount": 1, "description": "a" * 256}, "description", "string_too_long"),
        ({"amount": 1, "description": 7}, "description", "type_error"),
        ({"amount": 1, "description": "ok", "memo": "x"}, "memo", "extra_forbidden"),
    ],
)
async def test_descriptions_follow_the_text_rules(
    client: Client, body: dict[str, Any], loc: str, kind: str
) -> None:
    headers = await signed_up(client)
    for path in (DEPOSIT, WITHDRAW):
        status, answer = await call(client, "POST", path, headers, body)
        assert status == 422, answer
        assert [(e["loc"], e["type"]) for e in answer["detail"]] == [(["body", loc], kind)]
    _, page = await call(client, "GET", TRANSACTIONS, headers)
    assert page["transactions"] == []


async def test_a_description_at_the_limit_is_kept_whole(client: Client) -> None:
    headers = await signed_up(client)
    text = "é" * 255
    assert (await call(client, "POST", DEPOSIT, headers, {"amount": 1, "description": text}))[
        0
    ] == 201
    _, page = await call(client, "GET", TRANSACTIONS, headers)
    assert page["transactions"][0]["description"] == text


async def test_amount_and_description_problems_come_in_one_answer(client: Client) -> None:
    headers = await signed_up(client)
    status, answer = await call(
        client, "POST", DEPOSIT, headers, {"amount": 0, "description": "<b>"}
    )
    assert status == 422
    assert [e["loc"] for e in answer["detail"]] == [["body", "amount"], ["body", "description"]]


# Portfolio page: the order history shows "@$" + parseFloat(order.price).toFixed(2).


async def test_order_history_shows_the_execution_price_of_market_orders(client: Client) -> None:
    headers = await signed_up(client)
    assert (await call(client, "POST", DEPOSIT, headers, {"amount": 1000}))[0] == 201
    placed = []
    # A stop already reached fills at once too, as a market order does.
    bodies: list[dict[str, Any]] = [
        {"order_type": "market_buy", "asset_id": "BTC", "quantity": 0.001},
        {"order_type": "market_sell", "asset_id": "BTC", "quantity": 0.001},
        {"order_type": "stop_buy", "asset_id": "BTC", "quantity": 0.001, "stop_price": 60000},
    ]
    for body in bodies:
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


async def test_resting_orders_keep_their_limit_price_or_none(client: Client) -> None:
    headers = await signed_up(client)
    assert (await call(client, "POST", DEPOSIT, headers, {"amount": 1000}))[0] == 201
    body = {"order_type": "limit_buy", "asset_id": "BTC", "quantity": 0.001, "price": 60000}
    status, answer = await call(client, "POST", ORDERS, headers, body)
    assert status == 201
    assert (answer["data"]["price"], answer["data"]["filled_price"]) == ("60000", None)
    # A stop order waiting for its stop has no price yet; cancelled, it never gets one.
    body = {"order_type": "stop_buy", "asset_id": "BTC", "quantity": 0.001, "stop_price": 70000}
    status, answer = await call(client, "POST", ORDERS, headers, body)
    assert (status, answer["data"]["price"]) == (201, None)
    path = f"{ORDERS}/{answer['data']['order_id']}"
    status, answer = await call(client, "DELETE", path, headers)
    assert (status, answer["data"]["status"], answer["data"]["price"]) == (200, "cancelled", None)


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


# Market page: <img src={asset.image}> on the front end's own origin, and sorting by market cap.


async def test_market_page_images_load_from_the_exchange(client: Client) -> None:
    page = "http://127.0.0.1:5173/market"
    exchange_host = {"Host": "127.0.0.1:8080"}
    status, body = await get(client, ASSETS, exchange_host)
    assert status == 200
    assert len(body["data"]) == 50
    for asset in body["data"]:
        # The browser resolves the src against the page: it must land on the exchange.
        src = urlsplit(urljoin(page, asset["image"]))
        assert (src.scheme, src.netloc) == ("http", "127.0.0.1:8080"), asset["image"]
        response = await client.get(src.path, headers=exchange_host)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("image/svg+xml")
    detail = (await get(client, f"{ASSETS}/ETH", exchange_host))[1]["data"]
    assert detail["image"] == f"http://127.0.0.1:8080{ASSETS}/ETH/image.svg"


async def test_images_are_absolute_from_a_real_server(tmp_path: Path) -> None:
    async with (
        open_server(tmp_path / "exchange.db", EXCHANGE_HISTORY_DAYS="0") as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        response = await http.get(ASSETS, params={"limit": "1"})
        assert response.status_code == 200
        image = response.json()["data"][0]["image"]
        assert image == f"{server.url}{ASSETS}/BTC/image.svg"
        assert (await http.get(image)).headers["Content-Type"].startswith("image/svg+xml")


async def test_ranks_are_the_order_of_market_caps(tmp_path: Path) -> None:
    # Two days of history move every price away from the catalogue's snapshot.
    async with running_app(tmp_path, history_days=2, tick_interval=3600.0) as (exchange, client):
        status, body = await get(client, ASSETS, limit=250, active_only=0)
        assert status == 200
        assets = body["data"]
        assert [a["market_cap_rank"] for a in assets] == list(range(1, len(assets) + 1))
        caps = [a["market_cap"] for a in assets]
        assert caps == sorted(caps, reverse=True)
        rank = {a["asset_id"]: a["market_cap_rank"] for a in assets}
        snapshot = {
            m.asset.asset_id: m.asset.market_cap_rank for m in exchange.feed.markets.values()
        }
        moved = [asset_id for asset_id in rank if rank[asset_id] != snapshot[asset_id]]
        assert moved  # the catalogue's own ranks would disagree with these caps
        for asset_id in ("BTC", *moved[:3]):
            one = (await get(client, f"{ASSETS}/{asset_id}"))[1]["data"]
            assert one["market_cap_rank"] == rank[asset_id]


async def test_ranks_follow_moving_prices(tmp_path: Path, autojump_clock: object) -> None:
    swaps = 0
    async with running_app(tmp_path, tick_interval=60.0) as (exchange, client):
        previous: list[str] = []
        await trio.sleep(30)  # between ticks, so none falls inside a request
        for _ in range(120):
            await trio.sleep(60)
            seq = exchange.feed.seq
            status, body = await get(client, ASSETS, limit=250)
            assert status == 200
            assert exchange.feed.seq == seq  # no tick in between: one ranking
            caps = [a["market_cap"] for a in body["data"]]
            assert caps == sorted(caps, reverse=True)
            assert [a["market_cap_rank"] for a in body["data"]] == list(range(1, len(caps) + 1))
            order = [a["asset_id"] for a in body["data"]]
            swaps += previous != order and bool(previous)
            previous = order
    # Near-equal caps trade places as prices move: the ranks were recomputed.
    assert swaps > 0


async def test_ranking_is_sorted_at_most_once_per_tick(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with running_app(tmp_path, tick_interval=60.0) as (exchange, _):
        feed = exchange.feed
        await trio.sleep(30)
        first = feed.ranking()
        assert feed.ranking() is first
        await trio.sleep(60)
        assert feed.seq == first.seq + 1
        second = feed.ranking()
        assert second is not first and second.seq == feed.seq
        assert feed.ranking() is second


# Asset detail page: the 7-day trend block reads sparkline_7d?.price.


async def test_detail_page_reads_the_sparkline_prices(tmp_path: Path) -> None:
    async with running_app(tmp_path, history_days=8, tick_interval=3600.0) as (_, client):
        detail = (await get(client, f"{ASSETS}/BTC"))[1]["data"]
        prices = detail["sparkline_7d"]["price"]
        assert len(prices) == 168
        assert all(isinstance(p, float) and p > 0 for p in prices)
        assert prices[-1] == detail["price_usd"]
        listed = (await get(client, ASSETS, limit=1))[1]["data"][0]
        assert listed["asset_id"] == "BTC"
        assert listed["sparkline_7d"] == detail["sparkline_7d"]
