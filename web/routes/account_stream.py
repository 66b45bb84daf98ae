"""The ``/ws/account`` stream: the caller's order events and balance updates, numbered.

Authenticate with ``?token=<JWT>``, a Bearer header, a first message ``{"action": "auth",
"token": ...}``, or the browser session cookie when ``Origin`` is this server's own origin.
``?since=<seq>`` resumes after the given event. Every event carries the account's ``seq``;
a resumed stream repeats none and skips none while the events are still kept.

Close codes: 4001 not authenticated, token expired or revoked; 4003 session cookie from a
foreign origin; 4008 fell behind; 1001 the
exchange is stopping.
"""

from __future__ import annotations

import trio
from quart import Blueprint, websocket

from exchange.change import Event
from exchange.events import TOKEN_REVOKED
from exchange.fanout import SHUTTING_DOWN, Subscription
from web.gateway import Gateway, gateway
from web.query import BadInteger
from web.state import app_state
from web.streams import POLICY_CLOSE_CODE, message, since_param
from web.wsauth import (
    GOING_AWAY_CODE,
    SLOW_CLOSE_CODE,
    UNAUTHORIZED_CODE,
    StreamClosed,
    authenticate,
    client_object,
)

blueprint = Blueprint("account_stream", __name__)

BUFFER_EVENTS = 256


async def _send(data: bytes) -> None:
    gate = gateway()
    if not await gate.send_websocket(data):
        raise StreamClosed(SLOW_CLOSE_CODE, "slow consumer: send deadline passed")
    gate.sent("account")


async def _forward(subscription: Subscription[Event], after: int) -> None:
    async for event in subscription.items:
        if event.seq > after:
            await _send(event.body)
            after = event.seq
    if subscription.dropped == TOKEN_REVOKED:
        raise StreamClosed(UNAUTHORIZED_CODE, "Token has been revoked")
    if subscription.dropped == SHUTTING_DOWN:
        raise StreamClosed(GOING_AWAY_CODE, SHUTTING_DOWN)
    raise StreamClosed(SLOW_CLOSE_CODE, subscription.dropped or "stream ended")


async def _ignore_input() -> None:
    # Clients may ping; anything else is answered with an error and the stream goes on.
    while True:
        if client_object(await websocket.receive()).get("action") == "ping":
            await _send(message("pong"))
        else:
            await _send(message("error", code="unknown_action", detail="Only 'ping' is accepted"))


@blueprint.websocket("/ws/account")
async def account_stream() -> None:
    """Stream the caller's events until they leave, their token ends, or the server stops."""
    await gateway().serve_websocket("account", _stream)


async def _stream(gate: Gateway) -> None:
    exchange = app_state().exchange
    try:
        claims = await authenticate()
        try:
            since = since_param(websocket.args.get("since"))
        except BadInteger as exc:
            raise StreamClosed(POLICY_CLOSE_CODE, f"since: {exc}") from None
        # Subscribe before reading the backlog, so nothing committed in between is missed.
        subscription = exchange.events.subscribe(claims.sub, BUFFER_EVENTS, claims.jti)
        try:
            after = exchange.events.latest(claims.sub)
            backlog = None if since is None else exchange.events.since(claims.sub, since)
            if since is None:
                await _send(message("hello", seq=after))
            elif backlog is None:
                # The events after ``since`` are no longer kept: start afresh, flagged.
                await _send(message("hello", seq=after, resumed=False))
            else:
                await _send(message("hello", seq=after, resumed=True))
                for event in backlog:
                    await _send(event.body)
                after = max([since, *(event.seq for event in backlog)])
            with trio.move_on_at(trio.current_time() + claims.exp - exchange.clock.now()):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_ignore_input)
                    await _forward(subscription, after)
            raise StreamClosed(UNAUTHORIZED_CODE, "Token has expired")
        finally:
            exchange.events.unsubscribe(claims.sub, claims.jti, subscription)
    except* StreamClosed as group:
        # Raised by the sender or the reader task, so it may arrive in an exception group.
        closed = group.exceptions[0]
        assert isinstance(closed, StreamClosed)
        if closed.code == SLOW_CLOSE_CODE:
            gate.dropped("account")
        await gate.close_websocket(closed.code, closed.reason)
