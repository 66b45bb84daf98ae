"""The /ws/account stream: authentication, numbered events, resuming, and closing on logout."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trio
from quart.testing.connections import WebsocketDisconnectError

from exchange.engine import Exchange
from exchange.events import EVENTS_KEPT
from exchange.money import cost_cents
from exchange.orders import OrderRequest
from tests.conftest import Client, login, signed_up
from tests.trading_helpers import (
    DEPOSIT,
    ORDERS,
    call,
    price_at,
    price_text,
    running_app,
)
from web.tokens import issue

STREAM = "/ws/account"
UNAUTHORIZED = 4001


def token_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def next_message(ws: Any) -> dict[str, Any]:
    with trio.fail_after(5_000):  # virtual seconds under the autojump clock; never reached
        message: dict[str, Any] = json.loads(await ws.receive())
    return message


async def closed_with(ws: Any) -> int:
    with pytest.raises(WebsocketDisconnectError) as closed:
        await next_message(ws)
    code: int = closed.value.args[0]
    return code


async def deposit(client: Client, headers: dict[str, str], amount: str) -> None:
    status, body = await call(client, "POST", DEPOSIT, headers, {"amount": amount})
    assert status == 201, body


async def place(client: Client, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    status, answer = await call(client, "POST", ORDERS, headers, body)
    assert status == 201, answer
    order: dict[str, Any] = answer["data"]
    return order


class Events:
    """Read events off a stream, checking that each is numbered one after the last."""

    def __init__(self, ws: Any, after: int) -> None:
        self.ws = ws
        self.seq = after

    async def next(self) -> dict[str, Any]:
        event = await next_message(self.ws)
        assert event["seq"] == self.seq + 1, event
        assert event["time"].endswith("Z")
        self.seq = event["seq"]
        return event

    async def take(self, count: int) -> list[dict[str, Any]]:
        return [await self.next() for _ in range(count)]


def kinds(events: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(e["type"], e.get("event")) for e in events]


async def test_token_in_the_query_then_balance_events(client: Client) -> None:
    headers = await signed_up(client)
    async with client.websocket(f"{STREAM}?token={token_of(headers)}") as ws:
        hello = await next_message(ws)
        assert hello == {"type": "hello", "seq": 0}
        events = Events(ws, 0)
        await deposit(client, headers, "100.50")
        balance = await events.next()
        assert balance == {
            "seq": 1,
            "time": balance["time"],
            "type": "balance",
            "cash": "100.50",
            "reserved": "0.00",
            "available": "100.50",
        }
        assert balance["time"].startswith("2026-03-14T12:00:")
        await call(client, "POST", "/api/v1/balance/withdraw", headers, {"amount": "0.50"})
        assert (await events.next())["cash"] == "100.00"


async def test_token_in_the_first_message(client: Client) -> None:
    headers = await signed_up(client)
    await deposit(client, headers, "5")
    async with client.websocket(STREAM) as ws:
        await ws.send(json.dumps({"action": "auth", "token": token_of(headers)}))
        assert await next_message(ws) == {"type": "hello", "seq": 1}
        await deposit(client, headers, "5")
        event = await Events(ws, 1).next()
        assert (event["type"], event["cash"]) == ("balance", "10.00")


async def test_token_in_the_authorization_header(client: Client) -> None:
    headers = await signed_up(client)
    async with client.websocket(STREAM, headers=headers) as ws:
        assert await next_message(ws) == {"type": "hello", "seq": 0}
        await deposit(client, headers, "1")
        assert (await Events(ws, 0).next())["type"] == "balance"


async def test_ping_and_unknown_messages(client: Client) -> None:
    headers = await signed_up(client)
    async with client.websocket(f"{STREAM}?token={token_of(headers)}") as ws:
        await next_message(ws)
        await ws.send(json.dumps({"action": "ping"}))
        assert await next_message(ws) == {"type": "pong"}
        for text in ("not json", "[" * 1000, "[" * 5000 + "]" * 5000, '{"a":' * 5000):
            await ws.send(text)
            error = await next_message(ws)
            assert (error["type"], error["code"]) == ("error", "unknown_action")
        await ws.send(json.dumps({"action": "auth", "token": token_of(headers)}))
        assert (await next_message(ws))["type"] == "error"
        await deposit(client, headers, "1")
        assert (await Events(ws, 0).next())["type"] == "balance"


@pytest.mark.parametrize(
    "first_message",
    [
        {"action": "auth"},
        {"action": "auth", "token": ""},
        {"action": "auth", "token": 12345},
        {"action": "auth", "token": "garbage"},
        {"action": "ping"},
        {"token": "x"},
        "not json",
        [1, 2],
        "[" * 1000,
    ],
)
async def test_bad_first_messages_are_closed_4001(client: Client, first_message: Any) -> None:
    await signed_up(client)
    async with client.websocket(STREAM) as ws:
        raw = first_message if isinstance(first_message, str) else json.dumps(first_message)
        await ws.send(raw)
        assert await closed_with(ws) == UNAUTHORIZED


@pytest.mark.parametrize(
    "query",
    ["token=garbage", "token=", "token=a.b.c", "token=Bearer%20abc"],
)
async def test_bad_query_tokens_are_closed_4001(client: Client, query: str) -> None:
    async with client.websocket(f"{STREAM}?{query}") as ws:
        assert await closed_with(ws) == UNAUTHORIZED


async def test_bad_authorization_header_is_closed_4001(client: Client) -> None:
    async with client.websocket(STREAM, headers={"Authorization": "Basic abc"}) as ws:
        assert await closed_with(ws) == UNAUTHORIZED


async def test_forged_token_is_closed_4001(client: Client) -> None:
    token, _ = issue("another-secret-" + "y" * 32, "alice_01", "customer", 1_773_489_600, 3600)
    await signed_up(client)
    async with client.websocket(f"{STREAM}?token={token}") as ws:
        assert await closed_with(ws) == UNAUTHORIZED


async def test_silence_instead_of_a_token_is_closed_4001(
    client: Client, autojump_clock: object
) -> None:
    async with client.websocket(STREAM) as ws:
        started = trio.current_time()
        assert await closed_with(ws) == UNAUTHORIZED
        assert trio.current_time() - started == pytest.approx(10)


async def test_expired_token_is_closed_4001(client: Client, autojump_clock: object) -> None:
    headers = await signed_up(client)
    await trio.sleep(3600)
    for url in (f"{STREAM}?token={token_of(headers)}", STREAM):
        async with client.websocket(url) as ws:
            if url == STREAM:
                await ws.send(json.dumps({"action": "auth", "token": token_of(headers)}))
            assert await closed_with(ws) == UNAUTHORIZED
    fresh = await login(client)
    async with client.websocket(f"{STREAM}?token={token_of(fresh)}") as ws:
        assert (await next_message(ws))["type"] == "hello"


async def test_revoked_token_is_closed_4001(client: Client) -> None:
    headers = await signed_up(client)
    status, _ = await call(client, "POST", "/api/v1/auth/logout", headers, {})
    assert status == 200
    for url in (f"{STREAM}?token={token_of(headers)}", STREAM):
        async with client.websocket(url) as ws:
            if url == STREAM:
                await ws.send(json.dumps({"action": "auth", "token": token_of(headers)}))
            assert await closed_with(ws) == UNAUTHORIZED


async def test_order_events_new_fill_cancelled(client: Client) -> None:
    headers = await signed_up(client)
    async with client.websocket(f"{STREAM}?token={token_of(headers)}") as ws:
        assert await next_message(ws) == {"type": "hello", "seq": 0}
        events = Events(ws, 0)
        await deposit(client, headers, "1000")
        await events.next()
        bought = await place(
            client, headers, order_type="market_buy", asset_id="BTC", quantity="0.01"
        )
        new, fill, balance = await events.take(3)
        assert kinds([new, fill, balance]) == [
            ("order", "new"),
            ("order", "fill"),
            ("balance", None),
        ]
        assert new["order"]["order_id"] == bought["order_id"]
        assert new["order"]["status"] == "pending"
        assert fill["order"] == bought
        assert (balance["cash"], balance["reserved"]) == ("357.50", "0.00")
        resting = await place(
            client, headers, order_type="limit_buy", asset_id="BTC", quantity="0.001", price="50000"
        )
        new, balance = await events.take(2)
        assert kinds([new, balance]) == [("order", "new"), ("balance", None)]
        assert new["order"] == resting
        assert (balance["reserved"], balance["available"]) == ("50.00", "307.50")
        # A resting sell moves no cash: only its order event.
        selling = await place(
            client, headers, order_type="limit_sell", asset_id="BTC", quantity="0.01", price="90000"
        )
        [new] = await events.take(1)
        assert (new["event"], new["order"]["order_id"]) == ("new", selling["order_id"])
        status, body = await call(client, "DELETE", f"{ORDERS}/{resting['order_id']}", headers)
        assert status == 200
        cancelled, balance = await events.take(2)
        assert kinds([cancelled, balance]) == [("order", "cancelled"), ("balance", None)]
        assert cancelled["order"] == body["data"]
        assert (balance["reserved"], balance["available"]) == ("0.00", "357.50")
        await call(client, "DELETE", f"{ORDERS}/{selling['order_id']}", headers)
        [cancelled] = await events.take(1)
        assert cancelled["order"]["status"] == "cancelled"
        # An immediate-or-cancel order that cannot fill says so.
        await place(
            client,
            headers,
            order_type="limit_buy",
            asset_id="BTC",
            quantity="0.001",
            price="100",
            time_in_force="ioc",
        )
        [ioc] = await events.take(1)
        assert (ioc["event"], ioc["order"]["status"]) == ("cancelled", "cancelled")
        # Rejected requests change nothing and say nothing.
        status, _ = await call(
            client,
            "POST",
            ORDERS,
            headers,
            {"order_type": "market_buy", "asset_id": "BTC", "quantity": "1"},
        )
        assert status == 422
        await deposit(client, headers, "1")
        assert (await events.next())["type"] == "balance"


async def test_expired_and_resting_fill_events(tmp_path: Path, autojump_clock: object) -> None:
    async with running_app(tmp_path, tick_interval=1.0) as (exchange, client):
        headers = await signed_up(client)
        await deposit(client, headers, "1000")
        async with client.websocket(f"{STREAM}?token={token_of(headers)}") as ws:
            assert await next_message(ws) == {"type": "hello", "seq": 1}
            events = Events(ws, 1)
            soon = datetime.fromtimestamp(exchange.clock.now() + 5.5, tz=UTC).isoformat()
            expiring = await place(
                client,
                headers,
                order_type="limit_buy",
                asset_id="ETH",
                quantity="0.1",
                price="1000",
                expires_at=soon,
            )
            await events.take(2)
            expired, balance = await events.take(2)
            assert kinds([expired, balance]) == [("order", "expired"), ("balance", None)]
            assert expired["order"]["order_id"] == expiring["order_id"]
            assert (expired["order"]["status"], expired["order"]["reason"]) == (
                "expired",
                "expired",
            )
            assert balance["reserved"] == "0.00"
            assert expired["time"] == expired["order"]["updated_at"]
            level = price_at(exchange.market("ETH").price, -3)
            resting = await place(
                client,
                headers,
                order_type="limit_buy",
                asset_id="ETH",
                quantity="0.1",
                price=price_text(level),
            )
            await events.take(2)
            fill, balance = await events.take(2)
            assert kinds([fill, balance]) == [("order", "fill"), ("balance", None)]
            order = fill["order"]
            assert (order["order_id"], order["status"]) == (resting["order_id"], "completed")
            assert order["filled_tick_seq"] is not None
            assert int(order["filled_tick_seq"]) <= exchange.feed.seq
            status, stored = await call(client, "GET", f"{ORDERS}/{resting['order_id']}", headers)
            assert status == 200
            assert stored["data"] == order
            assert balance["reserved"] == "0.00"


async def test_rejected_event_when_funds_fall_short_at_the_fill(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with running_app(tmp_path, tick_interval=1.0) as (exchange, client):
        headers = await signed_up(client)
        quantity = 4 * 10**8
        stop = price_at(exchange.market("ETH").price, 3)
        await exchange.deposit("alice_01", cost_cents(quantity, stop))
        async with client.websocket(f"{STREAM}?token={token_of(headers)}") as ws:
            events = Events(ws, (await next_message(ws))["seq"])
            order = await exchange.place_order(
                "alice_01", OrderRequest("stop_buy", "ETH", quantity, stop_price=stop)
            )
            await events.take(2)
            ended, balance = await events.take(2)
            assert ended["order"]["order_id"] == order.order_id
            assert ended["event"] in ("rejected", "fill")
            assert (
                ended["order"]["status"]
                == {"rejected": "rejected", "fill": "completed"}[ended["event"]]
            )
            assert balance["reserved"] == "0.00"


async def test_resume_since_delivers_exactly_what_was_missed(client: Client) -> None:
    headers = await signed_up(client)
    url = f"{STREAM}?token={token_of(headers)}"
    async with client.websocket(url) as ws:
        assert await next_message(ws) == {"type": "hello", "seq": 0}
        events = Events(ws, 0)
        for amount in ("1", "2", "3"):
            await deposit(client, headers, amount)
        seen = await events.take(3)
    # Away: more happens.
    await deposit(client, headers, "4")
    await place(
        client, headers, order_type="limit_buy", asset_id="BTC", quantity="0.001", price="1"
    )
    await deposit(client, headers, "5")
    async with client.websocket(f"{url}&since=2") as ws:
        assert await next_message(ws) == {"type": "hello", "seq": 7, "resumed": True}
        events = Events(ws, 2)
        missed = await events.take(5)
        assert missed[0] == seen[2]
        assert kinds(missed) == [
            ("balance", None),
            ("balance", None),
            ("order", "new"),
            ("balance", None),
            ("balance", None),
        ]
        assert [e["cash"] for e in missed if e["type"] == "balance"] == [
            "6.00",
            "10.00",
            "10.00",
            "15.00",
        ]
        await deposit(client, headers, "6")
        live = await events.next()
        assert (live["seq"], live["cash"]) == (8, "21.00")
    # Resuming from the latest event misses nothing and repeats nothing.
    async with client.websocket(f"{url}&since=8") as ws:
        assert await next_message(ws) == {"type": "hello", "seq": 8, "resumed": True}
        await deposit(client, headers, "7")
        assert (await Events(ws, 8).next())["cash"] == "28.00"
    # From the start: everything.
    async with client.websocket(f"{url}&since=0") as ws:
        assert await next_message(ws) == {"type": "hello", "seq": 9, "resumed": True}
        everything = await Events(ws, 0).take(9)
        assert everything[:3] == seen


async def test_resume_from_a_seq_never_reached_starts_afresh(client: Client) -> None:
    headers = await signed_up(client)
    await deposit(client, headers, "1")
    async with client.websocket(f"{STREAM}?token={token_of(headers)}&since=50") as ws:
        assert await next_message(ws) == {"type": "hello", "seq": 1, "resumed": False}
        await deposit(client, headers, "2")
        event = await Events(ws, 1).next()
        assert (event["seq"], event["cash"]) == (2, "3.00")


@pytest.mark.parametrize(
    "since", ["%C2%B2", "%EF%BC%91", "9" * 5000, "-1", "1.5", "abc", "%201", "9223372036854775808"]
)
async def test_a_malformed_since_is_closed_1008(client: Client, since: str) -> None:
    headers = await signed_up(client)
    async with client.websocket(f"{STREAM}?token={token_of(headers)}&since={since}") as ws:
        assert await closed_with(ws) == 1008
    # An empty one is no since at all.
    async with client.websocket(f"{STREAM}?token={token_of(headers)}&since=") as ws:
        assert await next_message(ws) == {"type": "hello", "seq": 0}


async def test_resume_past_what_is_kept_starts_afresh(client: Client, exchange: Exchange) -> None:
    headers = await signed_up(client)
    total = EVENTS_KEPT + 150
    for _ in range(total):
        await exchange.deposit("alice_01", 1)
    oldest_kept = total - EVENTS_KEPT + 1
    url = f"{STREAM}?token={token_of(headers)}"
    async with client.websocket(f"{url}&since={oldest_kept - 2}") as ws:
        assert await next_message(ws) == {"type": "hello", "seq": total, "resumed": False}
        await deposit(client, headers, "1")
        assert (await Events(ws, total).next())["cash"] == f"{(total + 100) / 100:.2f}"
    total, oldest_kept = total + 1, oldest_kept + 1
    async with client.websocket(f"{url}&since={oldest_kept - 2}") as ws:
        assert await next_message(ws) == {"type": "hello", "seq": total, "resumed": False}
    async with client.websocket(f"{url}&since={oldest_kept - 1}") as ws:
        assert await next_message(ws) == {"type": "hello", "seq": total, "resumed": True}
        events = await Events(ws, oldest_kept - 1).take(EVENTS_KEPT)
        assert events[-1]["seq"] == total


async def test_numbering_continues_across_a_restart(tmp_path: Path) -> None:
    async with running_app(tmp_path) as (_, client):
        headers = await signed_up(client)
        await deposit(client, headers, "1")
        await deposit(client, headers, "2")
    async with running_app(tmp_path) as (_, client):
        headers = await login(client)
        url = f"{STREAM}?token={token_of(headers)}"
        # Nothing is held from before the restart: resuming from the last event works, from
        # an earlier one the stream starts afresh.
        async with client.websocket(f"{url}&since=1") as ws:
            assert await next_message(ws) == {"type": "hello", "seq": 2, "resumed": False}
        async with client.websocket(f"{url}&since=2") as ws:
            assert await next_message(ws) == {"type": "hello", "seq": 2, "resumed": True}
            await deposit(client, headers, "3")
            event = await Events(ws, 2).next()
            assert (event["seq"], event["cash"]) == (3, "6.00")


async def test_streams_are_private(client: Client) -> None:
    alice = await signed_up(client)
    bob = await signed_up(client, "bob_0001")
    async with (
        client.websocket(f"{STREAM}?token={token_of(alice)}") as alice_ws,
        client.websocket(f"{STREAM}?token={token_of(bob)}") as bob_ws,
    ):
        await next_message(alice_ws)
        await next_message(bob_ws)
        await deposit(client, bob, "7")
        await deposit(client, alice, "3")
        assert (await Events(alice_ws, 0).next())["cash"] == "3.00"
        assert (await Events(bob_ws, 0).next())["cash"] == "7.00"


async def test_logout_closes_the_stream(client: Client) -> None:
    headers = await signed_up(client)
    other_session = await login(client)
    async with (
        client.websocket(f"{STREAM}?token={token_of(headers)}") as ws,
        client.websocket(f"{STREAM}?token={token_of(other_session)}") as other,
    ):
        await next_message(ws)
        await next_message(other)
        await deposit(client, headers, "1")
        assert (await Events(ws, 0).next())["seq"] == 1
        assert (await Events(other, 0).next())["seq"] == 1
        status, _ = await call(client, "POST", "/api/v1/auth/logout", headers, {})
        assert status == 200
        assert await closed_with(ws) == UNAUTHORIZED
        # The same user's other token keeps its stream.
        await deposit(client, other_session, "1")
        assert (await Events(other, 1).next())["cash"] == "2.00"


async def test_token_expiry_closes_the_stream(client: Client, autojump_clock: object) -> None:
    headers = await signed_up(client)
    async with client.websocket(f"{STREAM}?token={token_of(headers)}") as ws:
        await next_message(ws)
        started = trio.current_time()
        await trio.sleep(3500)
        await deposit(client, headers, "1")  # the token still works, and the stream still runs
        assert (await Events(ws, 0).next())["cash"] == "1.00"
        assert await closed_with(ws) == UNAUTHORIZED
        assert trio.current_time() - started == pytest.approx(3600, abs=1)
