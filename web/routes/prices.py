"""The ``/ws/prices`` stream: a snapshot, then one frame per tick with the changed prices.

Clients may narrow with ``{"action": "subscribe", "symbols": [...]}`` (``["*"]`` for all again),
ask ``{"action": "ping"}``, and resume with ``?since=<seq>`` while the frames are still held.
Headlines arrive as ``{"type": "news", ...}`` messages the moment they are announced.
A client that falls behind its bounded buffer, or does not take a frame within the send
deadline, is closed with code 4008; when the exchange stops, clients are closed with 1001;
beyond the connection caps (``EXCHANGE_MAX_WEBSOCKETS``, ``EXCHANGE_MAX_WEBSOCKETS_PER_IP``) a new
client is closed with 1013.
"""

from __future__ import annotations

from typing import Any

import msgspec
import trio
from quart import Blueprint, websocket

from exchange.clock import iso_ms
from exchange.desk import NewsItem
from exchange.fanout import SHUTTING_DOWN, SLOW_CONSUMER, Subscription
from exchange.pricefeed import Frame, PriceFeed
from web.gateway import Gateway, gateway
from web.query import BadInteger
from web.state import app_state
from web.streams import (
    POLICY_CLOSE_CODE,
    decode_message,
    encode_frame,
    merge_frames,
    message,
    since_param,
)

blueprint = Blueprint("prices", __name__)

SLOW_CLOSE_CODE = 4008
GOING_AWAY_CODE = 1001
BUFFER_FRAMES = 32
MAX_MESSAGE_BYTES = 4096


class SlowClient(Exception):
    """The client did not take a frame in time."""


class PriceClient:
    """One connection's state: its filter, and sends under the gateway's deadline."""

    def __init__(self, feed: PriceFeed, subscription: Subscription[Frame], gate: Gateway) -> None:
        self.feed = feed
        self.subscription = subscription
        self.gate = gate
        self.symbols: frozenset[str] | None = None

    async def send(self, data: bytes) -> None:
        """Send one message, or raise ``SlowClient`` when the deadline passes."""
        if not await self.gate.send_websocket(data):
            raise SlowClient("send deadline passed")
        self.gate.sent("prices")

    async def start(self, since: int | None) -> None:
        """The first messages: missed frames when resuming, else a snapshot."""
        frames = None if since is None else self.feed.frames_since(since)
        if frames is None:
            flags = {} if since is None else {"resumed": False}
            await self.send(encode_frame(self.feed.snapshot(), "snapshot", self.symbols, **flags))
            return
        for frame in frames:
            await self.send(encode_frame(frame, "tick", self.symbols))

    async def forward(self) -> None:
        """Send every frame as it comes; merge a backlog into one message."""
        frames = self.subscription.items
        async for first in frames:
            batch = [first]
            while True:
                try:
                    batch.append(frames.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            frame = batch[0] if len(batch) == 1 else merge_frames(batch)
            if self.symbols is not None and self.symbols.isdisjoint(frame.prices):
                continue
            extra = {} if len(batch) == 1 else {"first_seq": batch[0].seq}
            await self.send(encode_frame(frame, "tick", self.symbols, **extra))

    async def forward_news(self, news: Subscription[NewsItem]) -> None:
        """Send every headline as it is announced."""
        async for item in news.items:
            await self.send(
                message(
                    "news",
                    news_id=item.news_id,
                    headline=item.headline,
                    source=item.kind,
                    action_id=item.action_id,
                    time=iso_ms(item.created_at),
                )
            )
        if news.dropped == SLOW_CONSUMER:
            raise SlowClient("fell behind the headlines")

    async def listen(self) -> None:
        """Answer client messages; bad input gets an error message and the stream goes on."""
        while True:
            raw = await websocket.receive()
            text = raw if isinstance(raw, str) else raw.decode(errors="replace")
            await self.handle(text)

    async def handle(self, text: str) -> None:
        """One client message."""
        if len(text) > MAX_MESSAGE_BYTES:
            await self.send(message("error", code="message_too_large", detail="Message too large"))
            return
        try:
            body: Any = decode_message(text)
        except msgspec.DecodeError:
            await self.send(message("error", code="invalid_json", detail="Message is not JSON"))
            return
        action = body.get("action") if isinstance(body, dict) else None
        if action == "ping":
            await self.send(message("pong", seq=self.feed.seq))
        elif action == "subscribe":
            await self.subscribe(body.get("symbols"))
        else:
            detail = "Unknown action; use 'subscribe' or 'ping'"
            await self.send(message("error", code="unknown_action", detail=detail))

    async def subscribe(self, symbols: object) -> None:
        """Narrow the stream to some symbols (``["*"]`` for all) and send their snapshot."""
        if (
            not isinstance(symbols, list)
            or not symbols
            or not all(isinstance(s, str) for s in symbols)
        ):
            detail = "'symbols' must be a non-empty list of asset ids"
            await self.send(message("error", code="invalid_symbols", detail=detail))
            return
        if symbols == ["*"]:
            self.symbols = None
        else:
            wanted = frozenset(s.upper() for s in symbols)
            unknown = sorted(wanted - self.feed.markets.keys())
            if unknown:
                detail = f"Unknown symbols: {', '.join(unknown)}"
                await self.send(
                    message("error", code="unknown_symbol", detail=detail, symbols=unknown)
                )
                return
            self.symbols = wanted
        listed = ["*"] if self.symbols is None else sorted(self.symbols)
        await self.send(message("subscribed", symbols=listed))
        await self.send(encode_frame(self.feed.snapshot(), "snapshot", self.symbols))


@blueprint.websocket("/ws/prices")
async def prices() -> None:
    """Stream prices to one client until it leaves, falls behind, or the server stops."""
    await gateway().serve_websocket("prices", _stream)


async def _stream(gate: Gateway) -> None:
    feed = app_state().exchange.feed
    try:
        since = since_param(websocket.args.get("since"))
    except BadInteger as exc:
        await websocket.close(POLICY_CLOSE_CODE, f"since: {exc}")
        return
    # Subscribe before reading the snapshot or the held frames, so no tick falls in between.
    subscription = feed.subscribe(BUFFER_FRAMES)
    desk = app_state().exchange.desk
    news = desk.subscribe_news(BUFFER_FRAMES)
    client = PriceClient(feed, subscription, gate)
    try:
        await client.start(since)
        async with trio.open_nursery() as nursery:

            async def listen() -> None:
                await client.listen()
                nursery.cancel_scope.cancel()

            nursery.start_soon(listen)
            nursery.start_soon(client.forward_news, news)
            await client.forward()
            nursery.cancel_scope.cancel()
        if subscription.dropped == SHUTTING_DOWN:
            await gate.close_websocket(GOING_AWAY_CODE, subscription.dropped)
        elif subscription.dropped:
            gate.dropped("prices")
            await gate.close_websocket(SLOW_CLOSE_CODE, subscription.dropped)
    except* SlowClient as group:
        gate.dropped("prices")
        await gate.close_websocket(SLOW_CLOSE_CODE, f"slow consumer: {group.exceptions[0]}")
    finally:
        feed.unsubscribe(subscription)
        desk.unsubscribe_news(news)
