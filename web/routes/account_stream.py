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

from typing import Any

import msgspec
import trio
from quart import Blueprint, g, websocket

from exchange.change import Event
from exchange.events import TOKEN_REVOKED
from exchange.fanout import SHUTTING_DOWN, Subscription
from web.auth import bearer_token
from web.errors import ApiError
from web.gateway import Gateway, gateway
from web.query import BadInteger
from web.sessions import COOKIE, same_origin
from web.state import app_state
from web.streams import POLICY_CLOSE_CODE, decode_message, message, since_param
from web.tokens import Claims, InvalidToken, verify

blueprint = Blueprint("account_stream", __name__)

UNAUTHORIZED_CODE = 4001
FORBIDDEN_ORIGIN_CODE = 4003
SLOW_CLOSE_CODE = 4008
GOING_AWAY_CODE = 1001
BUFFER_EVENTS = 256
AUTH_WAIT_SECONDS = 10.0


class StreamClosed(Exception):
    """The stream must end with this close code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def _check(token: str) -> Claims:
    state = app_state()
    try:
        claims = verify(state.settings.jwt_secret, token, state.exchange.clock.now())
    except InvalidToken as exc:
        raise StreamClosed(UNAUTHORIZED_CODE, str(exc)) from None
    if state.exchange.is_revoked(claims.jti):
        await state.exchange.audit("token_refused", claims.sub, g.client_ip, "revoked (stream)")
        raise StreamClosed(UNAUTHORIZED_CODE, "Token has been revoked")
    return claims


def _object(raw: str | bytes) -> dict[str, Any]:
    """A client message as a JSON object; empty when it is not JSON or not an object."""
    try:
        body: Any = decode_message(raw)
    except msgspec.DecodeError:
        return {}
    return body if isinstance(body, dict) else {}


async def _authenticate() -> Claims:
    token = websocket.args.get("token")
    if token is None:
        header = websocket.headers.get("Authorization")
        if header:
            try:
                token = bearer_token(header)
            except ApiError:
                raise StreamClosed(UNAUTHORIZED_CODE, "Invalid authorization header") from None
    if token is None and COOKIE in websocket.cookies:
        # A cookie rides along with any site's websocket: only our own pages may use it.
        if not same_origin(websocket.headers.get("Origin"), websocket.scheme, websocket.host):
            raise StreamClosed(FORBIDDEN_ORIGIN_CODE, "Session cookie refused from this origin")
        token = websocket.cookies[COOKIE]
    if token is None:
        with trio.move_on_after(AUTH_WAIT_SECONDS):
            first = _object(await websocket.receive())
            if first.get("action") == "auth":
                token = first.get("token")
    if not isinstance(token, str) or not token:
        raise StreamClosed(UNAUTHORIZED_CODE, "Not authenticated")
    return await _check(token)


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
        if _object(await websocket.receive()).get("action") == "ping":
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
        claims = await _authenticate()
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
