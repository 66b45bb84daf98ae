"""Actor plumbing: bounded mailboxes and one-shot replies.

A caller sends ``(command, reply)`` and awaits one reply. A ``DomainError`` travels back as a
value and is re-raised in the caller; a full mailbox raises ``Overloaded`` at once rather than
waiting, which the API answers with 503.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import trio

from exchange.errors import DomainError, Overloaded

T = TypeVar("T")
C = TypeVar("C")


class Reply(Generic[T]):
    """A one-shot answer slot: set once by the actor, awaited once by the caller."""

    __slots__ = ("_error", "_event", "_value")

    def __init__(self) -> None:
        self._event = trio.Event()
        self._value: T | None = None
        self._error: DomainError | None = None

    def set(self, value: T) -> None:
        """Answer with a value."""
        self._value = value
        self._event.set()

    def fail(self, error: DomainError) -> None:
        """Answer with a domain rejection, re-raised in the caller."""
        self._error = error
        self._event.set()

    @property
    def done(self) -> bool:
        """True once answered."""
        return self._event.is_set()

    async def wait(self) -> T:
        """Wait for the answer; re-raise a rejection."""
        await self._event.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


Envelope = tuple[C, Reply[Any]]


class Mailbox(Generic[C]):
    """The sending side of an actor's bounded inbox."""

    __slots__ = ("_send", "name")

    def __init__(self, send: trio.MemorySendChannel[Envelope[C]], name: str) -> None:
        self._send = send
        self.name = name

    def post_nowait(self, command: C, reply: Reply[Any]) -> None:
        """Queue a command without blocking; ``Overloaded`` if the inbox is full or closed."""
        try:
            self._send.send_nowait((command, reply))
        except trio.WouldBlock:
            raise Overloaded(f"{self.name} is busy; retry shortly") from None
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise Overloaded(f"{self.name} is restarting; retry shortly") from None

    async def post(self, command: C, reply: Reply[Any]) -> None:
        """Queue a command, waiting for room: back-pressure for actors feeding actors."""
        await self._send.send((command, reply))

    async def call(self, command: C) -> Any:
        """Send a command and wait for its reply."""
        reply: Reply[Any] = Reply()
        self.post_nowait(command, reply)
        return await reply.wait()

    @property
    def high_water(self) -> int:
        """The most commands ever waiting in the inbox at once (trio keeps the count)."""
        return self._send.statistics().peak_buffer_used

    def depth(self) -> int:
        """Commands waiting in the inbox."""
        return self._send.statistics().current_buffer_used

    def close(self) -> None:
        """Close the sending side."""
        self._send.close()


def open_mailbox(name: str, size: int) -> tuple[Mailbox[C], trio.MemoryReceiveChannel[Envelope[C]]]:
    """A bounded mailbox and the inbox its actor reads."""
    send, receive = trio.open_memory_channel[Envelope[C]](size)
    return Mailbox(send, name), receive
