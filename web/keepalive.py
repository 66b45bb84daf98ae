"""ASGI middleware: a response sent before its request's body was read closes the connection.

The exchange often answers before reading the body (401 without a token, 405, 413, 415, a
CORS preflight). HTTP/1.1 then cannot reuse the connection until the rest of that body has
arrived, so such a response says ``Connection: close``, and hypercorn closes the connection
once it is sent. hypercorn does that close inside the send of the response's last message,
while Quart cancels the request's task as soon as it learns the stream ended, which happens
inside that same send: the close was cut short half-way, and the connection stayed open
with its parser paused forever, so the client's next request was never answered. The last
message is therefore sent shielded from cancellation (the socket write inside it is shielded
by hypercorn anyway, and a reset from ``web.connections`` still ends it).
"""

from __future__ import annotations

from typing import Any

import trio
from hypercorn.typing import ASGIReceiveEvent, ASGISendEvent, Scope

Receive = Any
Send = Any
App = Any


def _declares_body(scope: Scope) -> bool:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])  # type: ignore[assignment]
    for name, value in headers:
        name = name.lower()
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


class CloseEarlyResponses:
    """Wraps an ASGI app; see the module docstring."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Only HTTP/1 has connection reuse to protect (and a Connection header at all).
        read = scope.get("http_version") not in ("1.0", "1.1") or not _declares_body(scope)

        async def tracked_receive() -> ASGIReceiveEvent:
            nonlocal read
            event: ASGIReceiveEvent = await receive()
            if event["type"] == "http.request" and not event.get("more_body", False):
                read = True
            return event

        async def guarded_send(event: ASGISendEvent) -> None:
            if event["type"] == "http.response.start" and not read:
                headers = [
                    (name, value)
                    for name, value in event.get("headers", ())
                    if name.lower() != b"connection"
                ]
                event = {**event, "headers": [*headers, (b"connection", b"close")]}
            if event["type"] == "http.response.body" and not event.get("more_body", False):
                with trio.CancelScope(shield=True):
                    await send(event)
                return
            await send(event)

        await self.app(scope, tracked_receive, guarded_send)
