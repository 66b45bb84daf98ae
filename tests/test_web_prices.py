"""The /ws/prices stream through the test client, in virtual time (``autojump_clock``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import trio
from quart.testing.connections import WebsocketDisconnectError
from quart.typing import TestWebsocketConnectionProtocol as Socket

from exchange.engine import Exchange, open_exchange
from exchange.money import PRICE_SCALE
from tests.conftest import START_EPOCH, Client, engine_settings, web_settings
from web.app import create_app
from web.routes.prices import BUFFER_FRAMES, MAX_MESSAGE_BYTES, SLOW_CLOSE_CODE

PRICES = "/ws/prices"
TICK = 1.0
# Virtual seconds any single wait may take before the test fails rather than hangs.
PATIENCE = 120.0


@pytest.fixture
async def exchange(tmp_path: Path) -> AsyncIterator[Exchange]:
    """A running exchange ticking every second (overrides conftest's slow ticks)."""
    async with open_exchange(engine_settings(tmp_path, tick_interval=TICK)) as running:
        yield running


@asynccontextmanager
async def serving(tmp_path: Path, **overrides: object) -> AsyncIterator[tuple[Exchange, Client]]:
    """An exchange with its own settings and a test client of its app."""
    async with open_exchange(engine_settings(tmp_path, **overrides)) as exchange:
        app = create_app(exchange, web_settings())
        app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = None
        async with app.test_app() as test_app:
            yield exchange, test_app.test_client()


async def raw(ws: Socket) -> str:
    with trio.fail_after(PATIENCE):
        data = await ws.receive()
    assert isinstance(data, str)
    return data


async def receive(ws: Socket) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await raw(ws))
    return message


async def reply(ws: Socket, text: str | bytes) -> dict[str, Any]:
    """Send a message and return the first answer that is not a price tick."""
    await ws.send(text)
    while True:
        message = await receive(ws)
        if message["type"] != "tick":
            return message


async def subscribe(ws: Socket, symbols: list[str]) -> dict[str, Any]:
    """Subscribe, check the acknowledgement, and return the snapshot that follows it."""
    ack = await reply(ws, json.dumps({"action": "subscribe", "symbols": symbols}))
    expected = ["*"] if symbols == ["*"] else sorted({s.upper() for s in symbols})
    assert ack == {"type": "subscribed", "symbols": expected}
    snapshot = await receive(ws)
    assert snapshot["type"] == "snapshot"
    return snapshot


def epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def dollars(units: int) -> float:
    return units / PRICE_SCALE


def current_prices(exchange: Exchange) -> dict[str, float]:
    return {
        asset_id: dollars(market.price)
        for asset_id, market in exchange.feed.markets.items()
        if market.active
    }


async def collect(ws: Socket, into: list[dict[str, Any]]) -> None:
    """Read messages into a list until cancelled."""
    while True:
        into.append(await receive(ws))


# Snapshot and ticks


async def test_snapshot_then_one_tick_per_interval_with_only_changed_prices(
    autojump_clock: object, exchange: Exchange, client: Client
) -> None:
    exchange.market("DOGE").active = False
    async with client.websocket(PRICES) as ws:
        snapshot = await receive(ws)
        assert snapshot["type"] == "snapshot"
        assert snapshot["seq"] == exchange.feed.seq == 0
        assert epoch(snapshot["time"]) == START_EPOCH
        book = snapshot["prices"]
        assert book == current_prices(exchange)
        assert "DOGE" not in book and len(book) == len(exchange.feed.markets) - 1
        assert all(isinstance(price, float) and price > 0 for price in book.values())
        seq, at = snapshot["seq"], epoch(snapshot["time"])
        unchanged_somewhere = False
        for _ in range(20):
            tick = await receive(ws)
            assert set(tick) == {"type", "seq", "time", "prices"}
            assert tick["type"] == "tick"
            assert tick["seq"] == seq + 1
            assert epoch(tick["time"]) == at + TICK
            seq, at = tick["seq"], epoch(tick["time"])
            assert tick["prices"], "every second something moves"
            assert set(tick["prices"]) <= set(book)
            for asset_id, price in tick["prices"].items():
                assert price != book[asset_id], "only changed prices are sent"
            unchanged_somewhere |= len(tick["prices"]) < len(book)
            book.update(tick["prices"])
            if seq == exchange.feed.seq:
                # Applying the ticks to the snapshot gives exactly the market's prices.
                assert book == current_prices(exchange)
        assert seq == exchange.feed.seq
        assert book == current_prices(exchange)
        # Sub-cent assets often do not move a whole 1e-8 USD in a second.
        assert unchanged_somewhere


async def test_tick_times_follow_the_exchange_clock(
    autojump_clock: object, exchange: Exchange, client: Client
) -> None:
    async with client.websocket(PRICES) as ws:
        await receive(ws)
        started = trio.current_time()
        for n in range(1, 6):
            tick = await receive(ws)
            assert trio.current_time() - started == pytest.approx(n * TICK)
            assert epoch(tick["time"]) == START_EPOCH + tick["seq"] * TICK


# Client messages


async def test_subscribe_narrows_and_star_widens_again(
    autojump_clock: object, exchange: Exchange, client: Client
) -> None:
    everything = set(current_prices(exchange))
    async with client.websocket(PRICES) as ws:
        await receive(ws)
        snapshot = await subscribe(ws, ["btc", "ETH", "Sol"])
        assert set(snapshot["prices"]) == {"BTC", "ETH", "SOL"}
        assert snapshot["seq"] == exchange.feed.seq
        assert snapshot["prices"] == {
            k: v for k, v in current_prices(exchange).items() if k in {"BTC", "ETH", "SOL"}
        }
        seq = snapshot["seq"]
        for _ in range(5):
            tick = await receive(ws)
            assert tick["type"] == "tick"
            assert tick["prices"] and set(tick["prices"]) <= {"BTC", "ETH", "SOL"}
            assert tick["seq"] > seq
            seq = tick["seq"]
        # Narrow again: the new filter replaces the old one.
        snapshot = await subscribe(ws, ["USDC"])
        assert set(snapshot["prices"]) == {"USDC"}
        tick = await receive(ws)
        assert set(tick["prices"]) == {"USDC"}
        snapshot = await subscribe(ws, ["*"])
        assert set(snapshot["prices"]) == everything
        seq = snapshot["seq"]
        for _ in range(3):
            tick = await receive(ws)
            assert tick["seq"] == seq + 1
            seq = tick["seq"]
            assert len(tick["prices"]) > 3


async def test_unknown_symbol_is_an_error_and_keeps_the_filter(
    autojump_clock: object, client: Client
) -> None:
    async with client.websocket(PRICES) as ws:
        await receive(ws)
        await subscribe(ws, ["BTC"])
        error = await reply(ws, json.dumps({"action": "subscribe", "symbols": ["btc", "nope"]}))
        assert error["type"] == "error"
        assert error["code"] == "unknown_symbol"
        assert error["symbols"] == ["NOPE"]
        assert "NOPE" in error["detail"]
        # The stream carries on, still narrowed to BTC.
        for _ in range(3):
            tick = await receive(ws)
            assert tick["type"] == "tick"
            assert set(tick["prices"]) == {"BTC"}


BAD_MESSAGES: list[tuple[str | bytes, str]] = [
    ("not json", "invalid_json"),
    ("{", "invalid_json"),
    ("", "invalid_json"),
    (b"\xff\xfe", "invalid_json"),
    ('{"action": "dance"}', "unknown_action"),
    ("{}", "unknown_action"),
    ("[1, 2]", "unknown_action"),
    ('"ping"', "unknown_action"),
    ("null", "unknown_action"),
    ('{"action": ["ping"]}', "unknown_action"),
    ('{"action": "subscribe"}', "invalid_symbols"),
    ('{"action": "subscribe", "symbols": "BTC"}', "invalid_symbols"),
    ('{"action": "subscribe", "symbols": []}', "invalid_symbols"),
    ('{"action": "subscribe", "symbols": [1]}', "invalid_symbols"),
    ('{"action": "subscribe", "symbols": {"BTC": 1}}', "invalid_symbols"),
    ('{"action": "subscribe", "symbols": ["ZZZZ"]}', "unknown_symbol"),
    ('{"action": "subscribe", "symbols": ["BTC-USD"]}', "unknown_symbol"),
    ("x" * (MAX_MESSAGE_BYTES + 1), "message_too_large"),
    ("[" * 1000, "invalid_json"),
    ("[" * 2000 + "]" * 2000, "invalid_json"),
]


async def test_bad_messages_get_an_error_and_the_stream_goes_on(
    autojump_clock: object, exchange: Exchange, client: Client
) -> None:
    async with client.websocket(PRICES) as ws:
        seq = (await receive(ws))["seq"]
        for text, code in BAD_MESSAGES:
            error = await reply(ws, text)
            assert error["type"] == "error", text
            assert error["code"] == code, text
            assert isinstance(error["detail"], str) and error["detail"]
            # Still connected and unfiltered: the next tick arrives with every changed price.
            tick = await receive(ws)
            assert tick["type"] == "tick"
            assert tick["seq"] > seq
            seq = tick["seq"]
            assert len(tick["prices"]) > 3
        pong = await reply(ws, '{"action": "ping"}')
        assert pong == {"type": "pong", "seq": exchange.feed.seq}
    # The server carries on too.
    async with client.websocket(PRICES) as ws:
        assert (await receive(ws))["type"] == "snapshot"
        assert (await reply(ws, json.dumps({"action": "ping"})))["type"] == "pong"


async def test_ping_answers_pong_with_the_latest_seq(
    autojump_clock: object, exchange: Exchange, client: Client
) -> None:
    async with client.websocket(PRICES) as ws:
        await receive(ws)
        for _ in range(3):
            tick = await receive(ws)
            pong = await reply(ws, '{"action": "ping", "extra": 1}')
            assert pong == {"type": "pong", "seq": tick["seq"]}


# Resuming


async def test_resume_since_gives_exactly_the_missed_frames(
    autojump_clock: object, exchange: Exchange, client: Client
) -> None:
    witness: list[dict[str, Any]] = []
    async with client.websocket(PRICES) as observer, trio.open_nursery() as nursery:
        await receive(observer)
        nursery.start_soon(collect, observer, witness)
        async with client.websocket(PRICES) as ws:
            await receive(ws)
            for _ in range(4):
                last = await receive(ws)
        seen = last["seq"]
        await trio.sleep(5.5 * TICK)
        assert exchange.feed.seq == seen + 5
        async with client.websocket(PRICES, query_string={"since": str(seen)}) as ws:
            resumed = [await receive(ws) for _ in range(10)]
        nursery.cancel_scope.cancel()
    assert [frame["seq"] for frame in resumed] == list(range(seen + 1, seen + 11))
    assert all(frame["type"] == "tick" for frame in resumed)
    # The very frames a client connected all along received.
    by_seq = {frame["seq"]: frame for frame in witness}
    assert resumed == [by_seq[frame["seq"]] for frame in resumed]


async def test_resume_from_the_start_and_from_the_present(
    autojump_clock: object, exchange: Exchange, client: Client
) -> None:
    await trio.sleep(3.5 * TICK)
    assert exchange.feed.seq == 3
    async with client.websocket(PRICES, query_string={"since": "0"}) as ws:
        frames = [await receive(ws) for _ in range(5)]
    assert [(f["type"], f["seq"]) for f in frames] == [("tick", n) for n in range(1, 6)]
    since = exchange.feed.seq
    async with client.websocket(PRICES, query_string={"since": str(since)}) as ws:
        # Nothing was missed: no snapshot, just the next tick.
        first = await receive(ws)
        assert (first["type"], first["seq"]) == ("tick", since + 1)


async def test_resume_beyond_held_frames_gets_a_flagged_snapshot(
    autojump_clock: object,
    tmp_path: Path,
) -> None:
    async with serving(tmp_path, tick_interval=TICK, frames_held=5) as (exchange, client):
        async with client.websocket(PRICES) as ws:
            await receive(ws)
            seen = (await receive(ws))["seq"]
        await trio.sleep(10.5 * TICK)
        async with client.websocket(PRICES, query_string={"since": str(seen)}) as ws:
            snapshot = await receive(ws)
            assert snapshot["type"] == "snapshot"
            assert snapshot["resumed"] is False
            assert snapshot["seq"] == exchange.feed.seq
            assert snapshot["prices"] == current_prices(exchange)
            tick = await receive(ws)
            assert (tick["type"], tick["seq"]) == ("tick", snapshot["seq"] + 1)
        # Still held: the last five frames resume exactly.
        since = exchange.feed.seq - 5
        async with client.websocket(PRICES, query_string={"since": str(since)}) as ws:
            frames = [await receive(ws) for _ in range(6)]
        assert [f["seq"] for f in frames] == list(range(since + 1, since + 7))
        assert {f["type"] for f in frames} == {"tick"}


@pytest.mark.parametrize("since", ["1000000", "9223372036854775807"])
async def test_resume_from_the_future_gets_a_flagged_snapshot(
    autojump_clock: object, exchange: Exchange, client: Client, since: str
) -> None:
    await trio.sleep(2.5 * TICK)
    async with client.websocket(PRICES, query_string={"since": since}) as ws:
        snapshot = await receive(ws)
        assert snapshot["type"] == "snapshot"
        assert snapshot["resumed"] is False
        assert snapshot["seq"] == exchange.feed.seq
        assert snapshot["prices"] == current_prices(exchange)
        tick = await receive(ws)
        assert tick["seq"] == snapshot["seq"] + 1


@pytest.mark.parametrize(
    "since",
    [
        "-3",
        "abc",
        "1.5",
        "0x10",
        " 1",
        "1_0",
        "\u00b2",
        "\uff11",
        "\u0661",
        "9" * 5000,
        "9223372036854775808",
    ],
)
async def test_a_malformed_since_is_closed_1008(
    autojump_clock: object, exchange: Exchange, client: Client, since: str
) -> None:
    async with client.websocket(PRICES, query_string={"since": since}) as ws:
        with pytest.raises(WebsocketDisconnectError) as closed:
            await receive(ws)
        assert closed.value.args[0] == 1008
    # The server carries on.
    async with client.websocket(PRICES, query_string={"since": ""}) as ws:
        snapshot = await receive(ws)
        assert (snapshot["type"], "resumed" in snapshot) == ("snapshot", False)


# Slow consumers


async def test_a_client_that_never_reads_is_closed_and_others_go_on(
    autojump_clock: object, exchange: Exchange, client: Client
) -> None:
    feed = exchange.feed
    good: list[dict[str, Any]] = []
    async with (
        client.websocket(PRICES) as reader,
        client.websocket(PRICES) as sleeper,
        trio.open_nursery() as nursery,
    ):
        await receive(reader)
        await receive(sleeper)
        assert feed.subscribers() == 2
        nursery.start_soon(collect, reader, good)
        await trio.sleep((BUFFER_FRAMES + 20.5) * TICK)
        # The sleeper is gone from the feed; the reader is not.
        assert feed.subscribers() == 1
        received = []
        with pytest.raises(WebsocketDisconnectError) as closed:
            while True:
                received.append(await receive(sleeper))
        assert closed.value.args[0] == SLOW_CLOSE_CODE
        # What it did get before the close was in order, without gaps.
        seqs = [frame["seq"] for frame in received]
        assert seqs == list(range(1, len(seqs) + 1))
        await trio.sleep(3.25 * TICK)
        nursery.cancel_scope.cancel()
        published = feed.seq
    assert feed.subscribers() == 0
    seqs = [frame["seq"] for frame in good]
    assert seqs == list(range(1, published + 1))
    assert len(seqs) >= BUFFER_FRAMES + 20


async def test_a_client_that_falls_more_than_its_buffer_behind_is_dropped(
    autojump_clock: object,
    tmp_path: Path,
) -> None:
    # Ticks much faster than the send deadline: the feed's bounded buffer overflows first.
    interval = 0.05
    async with serving(tmp_path, tick_interval=interval) as (exchange, client):
        feed = exchange.feed
        good: list[dict[str, Any]] = []
        async with (
            client.websocket(PRICES) as reader,
            client.websocket(PRICES) as laggard,
            trio.open_nursery() as nursery,
        ):
            await receive(reader)
            await receive(laggard)
            nursery.start_soon(collect, reader, good)
            await trio.sleep((BUFFER_FRAMES + 20.5) * interval)
            assert feed.subscribers() == 1
            assert feed.dropped == 1
            received = []
            with pytest.raises(WebsocketDisconnectError) as closed:
                while True:
                    received.append(await receive(laggard))
            assert closed.value.args[0] == SLOW_CLOSE_CODE
            # In order; what was queued when it was dropped comes merged as one last frame.
            merged = received[-1]
            assert merged["first_seq"] == received[-2]["seq"] + 1
            assert merged["seq"] - merged["first_seq"] + 1 == BUFFER_FRAMES
            seqs = [frame["seq"] for frame in received[:-1]]
            assert seqs == list(range(1, len(seqs) + 1))
            await trio.sleep(10.25 * interval)
            nursery.cancel_scope.cancel()
            published = feed.seq
        seqs = [frame["seq"] for frame in good]
        assert seqs == list(range(1, published + 1))
        assert feed.subscribers() == 0


# Shared encodings


async def test_frames_are_encoded_once_per_filter_and_shared(
    autojump_clock: object, exchange: Exchange, client: Client
) -> None:
    async with (
        client.websocket(PRICES) as first,
        client.websocket(PRICES) as second,
        client.websocket(PRICES) as narrow,
    ):
        for ws in (first, second, narrow):
            await receive(ws)
        await subscribe(narrow, ["BTC"])
        for _ in range(3):
            a, b, c = await raw(first), await raw(second), await raw(narrow)
            assert a == b
            seq = json.loads(a)["seq"]
            assert json.loads(c)["seq"] == seq
            held = exchange.feed.frames_since(seq - 1)
            assert held is not None
            frame = held[0]
            assert frame.seq == seq
            filters = {key: value.decode() for key, value in frame.encoded.items()}
            assert len(filters) == 2, list(filters)
            assert sorted(filters.values()) == sorted([a, c])
