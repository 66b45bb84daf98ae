"""A bare websocket client on a trio socket (wsproto), able to misbehave on purpose."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import msgspec
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Event,
    Message,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)


class Closed(Exception):
    """The server closed the websocket (``code``) or the TCP connection (``code`` None)."""

    def __init__(self, code: int | None) -> None:
        super().__init__(code)
        self.code = code


class RawWebsocket:
    """One client connection."""

    def __init__(self, sock: trio.socket.SocketType, ws: WSConnection) -> None:
        self.sock = sock
        self.ws = ws
        self._events: list[Event] = []

    async def _next_event(self) -> Event:
        while not self._events:
            try:
                data = await self.sock.recv(65536)
            except ConnectionResetError:
                raise Closed(None) from None
            if not data:
                raise Closed(None)
            self.ws.receive_data(data)
            self._events.extend(self.ws.events())
        return self._events.pop(0)

    async def receive(self) -> dict[str, Any]:
        """The next text message as JSON; ``Closed`` when the server closes."""
        text = ""
        while True:
            event = await self._next_event()
            if isinstance(event, CloseConnection):
                raise Closed(event.code)
            if isinstance(event, Ping):
                await self.sock.send(self.ws.send(event.response()))
            elif isinstance(event, Message):
                text += str(event.data)
                if event.message_finished:
                    body: dict[str, Any] = msgspec.json.decode(text)
                    return body

    async def send_text(self, text: str) -> None:
        """Send one text message, all of it."""
        data = memoryview(self.ws.send(TextMessage(data=text)))
        while data:
            data = data[await self.sock.send(data) :]

    async def flood(self, text: str, times: int) -> None:
        """Send ``text`` ``times`` times in one go."""
        data = memoryview(self.ws.send(TextMessage(data=text)) * times)
        while data:
            data = data[await self.sock.send(data) :]


@asynccontextmanager
async def open_websocket(
    url: str, target: str, receive_buffer: int | None = None
) -> AsyncIterator[RawWebsocket]:
    """Connect to ``target`` on the server at ``url``; a small ``receive_buffer`` makes a
    client whose window fills as soon as it stops reading."""
    parts = urlsplit(url)
    sock = trio.socket.socket()
    try:
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        await sock.connect((parts.hostname, parts.port))
        ws = WSConnection(ConnectionType.CLIENT)
        await sock.send(ws.send(Request(host=parts.netloc, target=target)))
        client = RawWebsocket(sock, ws)
        event = await client._next_event()
        if isinstance(event, RejectConnection):
            raise Closed(event.status_code)
        assert isinstance(event, AcceptConnection), event
        yield client
    finally:
        sock.close()
