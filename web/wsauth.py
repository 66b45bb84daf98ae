"""Authentication of the token-protected websocket streams (``/ws/account``, class boards).

A token comes as ``?token=<JWT>``, an ``Authorization: Bearer`` header, or a first message
``{"action": "auth", "token": ...}`` within ``AUTH_WAIT_SECONDS``. A bad, expired or revoked
token closes the stream with ``UNAUTHORIZED_CODE``.
"""

from __future__ import annotations

from typing import Any

import msgspec
import trio
from quart import g, websocket

from web.auth import bearer_token
from web.errors import ApiError
from web.sessions import COOKIE, same_origin
from web.state import app_state
from web.streams import decode_message
from web.tokens import Claims, InvalidToken, verify

UNAUTHORIZED_CODE = 4001
FORBIDDEN_ORIGIN_CODE = 4003
SLOW_CLOSE_CODE = 4008
GOING_AWAY_CODE = 1001
AUTH_WAIT_SECONDS = 10.0


class StreamClosed(Exception):
    """The stream must end with this close code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def check_token(token: str) -> Claims:
    """The claims of a valid, unrevoked token; ``StreamClosed`` (4001) otherwise."""
    state = app_state()
    try:
        claims = verify(state.settings.jwt_secret, token, state.exchange.clock.now())
    except InvalidToken as exc:
        raise StreamClosed(UNAUTHORIZED_CODE, str(exc)) from None
    if state.exchange.is_revoked(claims.jti):
        await state.exchange.audit("token_refused", claims.sub, g.client_ip, "revoked (stream)")
        raise StreamClosed(UNAUTHORIZED_CODE, "Token has been revoked")
    return claims


def client_object(raw: str | bytes) -> dict[str, Any]:
    """A client message as a JSON object; empty when it is not JSON or not an object."""
    try:
        body: Any = decode_message(raw)
    except msgspec.DecodeError:
        return {}
    return body if isinstance(body, dict) else {}


async def authenticate() -> Claims:
    """The caller's claims: from the query, the header, the session cookie (only from this
    server's own origin) or a first ``auth`` message."""
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
            first = client_object(await websocket.receive())
            if first.get("action") == "auth":
                token = first.get("token")
    if not isinstance(token, str) or not token:
        raise StreamClosed(UNAUTHORIZED_CODE, "Not authenticated")
    return await check_token(token)
