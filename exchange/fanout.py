"""Subscriptions: bounded buffers that a publisher fills without ever waiting."""

from __future__ import annotations

from typing import Generic, TypeVar

import trio

T = TypeVar("T")

SLOW_CONSUMER = "slow consumer: fell behind the stream"
SHUTTING_DOWN = "the exchange is shutting down"


class Subscription(Generic[T]):
    """A subscriber's bounded buffer; ``dropped`` says why the publisher let go of it."""

    __slots__ = ("_send", "dropped", "items")

    def __init__(self, size: int) -> None:
        self._send, self.items = trio.open_memory_channel[T](size)
        self.dropped: str | None = None

    def offer(self, item: T) -> bool:
        """Queue an item without waiting; False once the subscriber is gone or too slow."""
        try:
            self._send.send_nowait(item)
        except trio.WouldBlock:
            self.end(SLOW_CONSUMER)
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        return True

    def end(self, reason: str) -> None:
        """Send no more; the subscriber reads what is queued, then learns ``reason``."""
        self.dropped = reason
        self._send.close()

    def close(self) -> None:
        """Stop receiving."""
        self._send.close()
        self.items.close()


class Fanout(Generic[T]):
    """A set of subscriptions that each published item is offered to."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription[T]] = set()
        self.dropped = 0

    def subscribe(self, size: int) -> Subscription[T]:
        """A new subscription to every following item."""
        subscription: Subscription[T] = Subscription(size)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription[T]) -> None:
        """Stop offering items to a subscription."""
        self._subscriptions.discard(subscription)
        subscription.close()

    def publish(self, item: T) -> None:
        """Offer an item to every subscriber; never waits."""
        for subscription in list(self._subscriptions):
            if not subscription.offer(item):
                self._subscriptions.discard(subscription)
                if subscription.dropped:
                    self.dropped += 1

    def end_all(self, reason: str) -> None:
        """End every subscription, each told why."""
        for subscription in self._subscriptions:
            subscription.end(reason)
        self._subscriptions.clear()

    def __len__(self) -> int:
        return len(self._subscriptions)
