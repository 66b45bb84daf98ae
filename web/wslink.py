"""One websocket connection's writes: serialized, each with a deadline that always holds.

hypercorn's socket write cannot be cancelled (see ``web.connections``), so a deadline around
``websocket.send`` only works while the write is still queued. A watchdog task therefore arms
a second deadline around each write: if the write has not returned by then, the connection is
reset, which ends the write, the handler and its slot. A send has the send timeout (the client
is then dropped and sent a close frame) plus the close timeout; a close frame has the close
timeout.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import trio
from quart import websocket


class Link:
    """The write side of one websocket connection."""

    def __init__(
        self, send_timeout: float, close_timeout: float, abort: Callable[[], None]
    ) -> None:
        self.send_timeout = send_timeout
        self.close_timeout = close_timeout
        self.aborted = False
        self._abort = abort
        self._lock = trio.Lock()
        self._watch = trio.CancelScope()

    async def watch(self) -> None:
        """Reset the connection when an armed deadline passes; run until cancelled."""
        with self._watch:
            await trio.sleep_forever()
        self.aborted = True
        self._abort()

    async def accept(self) -> None:
        """Complete the handshake, within the close timeout."""
        async with self._lock:
            self._arm(self.close_timeout)
            try:
                await websocket.accept()
            finally:
                self._disarm()

    async def send(self, text: str) -> bool:
        """Send one message; False when it was not taken within the send timeout."""
        async with self._lock:
            self._arm(self.send_timeout + self.close_timeout)
            try:
                with trio.move_on_after(self.send_timeout) as deadline:
                    await websocket.send(text)
            finally:
                self._disarm()
        return not deadline.cancelled_caught

    async def close(self, code: int, reason: str) -> None:
        """Send the close frame; the connection is reset when it is not taken in time."""
        # A send still holding the lock has its own deadline, so this wait is bounded too.
        async with self._lock:
            self._arm(self.close_timeout)
            try:
                await websocket.close(code, reason)
            finally:
                self._disarm()

    def _arm(self, seconds: float) -> None:
        self._watch.deadline = trio.current_time() + seconds

    def _disarm(self) -> None:
        self._watch.deadline = math.inf
