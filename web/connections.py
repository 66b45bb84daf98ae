"""The open TCP connections of the server, so that a stuck one can be aborted.

hypercorn writes to a socket inside a shielded cancel scope with no deadline: a peer that
stops reading (a full receive window) keeps that write, and so its handler, its websocket
slot and a graceful shutdown, waiting for as long as it likes. No cancellation reaches such a
write; closing the socket does (trio wakes the blocked write with ``ClosedResourceError``,
which hypercorn takes as the peer gone). So every connection is registered here by its two
addresses, and ``abort`` closes one (with a reset: queued bytes are dropped, not delivered).

hypercorn also keeps appending a websocket message to its buffer after refusing it as too large
(close 1009): the rest of a 15 MiB frame was still held. ``BoundedWebsocketBuffer`` stores
nothing more once a message is refused.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from typing import Any

import hypercorn.protocol.ws_stream
import hypercorn.trio.run
import trio
from hypercorn.config import Config
from hypercorn.protocol.ws_stream import FrameTooLargeError, WebsocketBuffer
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.utils import parse_socket_addr
from wsproto.events import Message

Address = tuple[str, int | None] | tuple[str, int] | None
Key = tuple[Address, Address]

# SO_LINGER on, zero seconds: close() sends RST and discards the unsent queue.
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)


class Connections:
    """Open TCP connections, keyed by (client address, server address)."""

    def __init__(self) -> None:
        self._open: dict[Key, trio.SocketStream] = {}

    def __len__(self) -> int:
        return len(self._open)

    def add(self, key: Key, stream: trio.SocketStream) -> None:
        """Register a connection for the time it is served."""
        self._open[key] = stream

    def remove(self, key: Key, stream: trio.SocketStream) -> None:
        """Forget a connection that has ended (not a newer one that reused its addresses)."""
        if self._open.get(key) is stream:
            del self._open[key]

    def abort(self, client: Address, server: Address) -> bool:
        """Reset one connection at once; False when it is not (or no longer) open."""
        stream = self._open.pop((client, server), None)
        if stream is None:
            return False
        _reset(stream)
        return True

    def abort_all(self) -> int:
        """Reset every open connection; how many there were."""
        streams = list(self._open.values())
        self._open.clear()
        for stream in streams:
            _reset(stream)
        return len(streams)


def _reset(stream: trio.SocketStream) -> None:
    sock = stream.socket
    # When the socket is already broken, closing it is all that is left to do.
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
    # trio's close wakes a task blocked writing to this socket, even inside a shield.
    sock.close()


class ServeConfig(Config):
    """hypercorn's configuration, carrying the registry its connections join."""

    def __init__(self, connections: Connections) -> None:
        super().__init__()
        self.connections = connections


class TrackedTCPServer(TCPServer):
    """hypercorn's TCP connection handler, registered in its config's ``Connections``."""

    async def run(self) -> None:
        """Serve the connection while it is registered."""
        connections = getattr(self.config, "connections", None)
        stream: Any = self.stream
        if not isinstance(connections, Connections) or not isinstance(stream, trio.SocketStream):
            await super().run()
            return
        try:
            sock = stream.socket
            key = (
                parse_socket_addr(sock.family, sock.getpeername()),
                parse_socket_addr(sock.family, sock.getsockname()),
            )
        except OSError:
            await super().run()  # the peer already left; hypercorn cleans up
            return
        connections.add(key, stream)
        try:
            await super().run()
        finally:
            connections.remove(key, stream)


class BoundedWebsocketBuffer(WebsocketBuffer):
    """hypercorn's message buffer, holding nothing once a message is over the limit."""

    refused = False

    def extend(self, event: Message) -> None:  # type: ignore[type-arg]
        """Add a part of a message, or raise ``FrameTooLargeError`` without storing it."""
        if self.refused or self.length + len(event.data) > self.max_length:
            # The stream is closing with 1009: the rest of this message and any later one
            # is dropped as it arrives.
            self.refused = True
            self.value = None
            raise FrameTooLargeError()
        super().extend(event)


def install() -> None:
    """Make hypercorn use ``TrackedTCPServer`` and ``BoundedWebsocketBuffer``.

    hypercorn has no hooks for these classes: it looks each name up in its own module when a
    connection or a websocket arrives, so those names are replaced. Idempotent.
    """
    setattr(hypercorn.trio.run, "TCPServer", TrackedTCPServer)  # noqa: B010
    setattr(hypercorn.protocol.ws_stream, "WebsocketBuffer", BoundedWebsocketBuffer)  # noqa: B010
