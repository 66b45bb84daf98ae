"""Triggers: resting limit and stop orders indexed per asset by price, and their expiries.

Each asset has two sorted books: orders that fire when the price falls to their level (limit
buys, stop sells) and orders that fire when it rises to it (limit sells, stop buys). A tick
bisects each book, so it costs in proportion to the orders it actually fires. Fired orders
leave the index at once and are queued for delivery to their account actors, in a defined
order (catalogue order, then price priority, then arrival) so that results never depend on how
Trio schedules tasks.

The index is changed only by synchronous calls on the Trio thread (account actors arming and
disarming their orders, the price feed's tick listener), so each change is atomic.
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import trio

from exchange.orders import LIMIT, STOP_LIMIT, Order
from exchange.pricefeed import Frame


class Fired(NamedTuple):
    """Something to tell an account actor: ``kind`` is fill, trigger or expire."""

    kind: str
    username: str
    order_id: str
    seq: int
    price: int
    # The tick's price without its impact part, read at the tick itself (None: impact off).
    model: int | None = None


# A book entry: (level, arrival, order id, username).
Entry = tuple[int, int, str, str]


@dataclass
class Book:
    """One asset's resting orders."""

    falling: list[Entry] = field(default_factory=list)  # fire when price <= level
    rising: list[Entry] = field(default_factory=list)  # fire when price >= level


class Placement(NamedTuple):
    """Where an order sits in the index."""

    asset_id: str
    rising: bool
    entry: Entry
    kind: str


def placement(order: Order, arrival: int) -> Placement:
    """Which book and level an open order waits in, and what firing it means."""
    if order.waits_for_stop:
        level, rising, kind = order.stop_price, order.is_buy, "trigger"
    elif order.order_type in LIMIT + STOP_LIMIT:
        level, rising, kind = order.price, not order.is_buy, "fill"
    else:
        raise ValueError(f"{order.order_type} orders do not rest")
    assert level is not None
    return Placement(order.asset_id, rising, (level, arrival, order.order_id, order.username), kind)


class Triggers:
    """The index of resting orders and the delivery of what fires."""

    def __init__(self, deliver: Callable[[Fired], Awaitable[None]]) -> None:
        self._deliver = deliver
        self._books: dict[str, Book] = {}
        self._placed: dict[str, Placement] = {}
        self._expiries: list[tuple[int, int, str, str]] = []
        self._arrivals = itertools.count()
        self._queue: deque[Fired] = deque()
        self._wake = trio.Event()
        self.fired = 0
        # The price without its impact part, of an asset at the tick being handled.
        self.model: Callable[[str, int], int | None] | None = None

    def __len__(self) -> int:
        return len(self._placed)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._placed

    def arm(self, order: Order) -> None:
        """Index an open order (again, if it was already: its level or book may have changed)."""
        self.disarm(order.order_id)
        arrival = next(self._arrivals)
        place = placement(order, arrival)
        book = self._books.setdefault(place.asset_id, Book())
        insort(book.rising if place.rising else book.falling, place.entry)
        self._placed[order.order_id] = place
        if order.expires_at is not None:
            heapq.heappush(
                self._expiries, (order.expires_at, arrival, order.order_id, order.username)
            )

    def booked(self) -> list[str]:
        """The assets with resting orders: each tick's price of these must be seen."""
        return [asset_id for asset_id, book in self._books.items() if book.falling or book.rising]

    def disarm(self, order_id: str) -> None:
        """Take an order out of the index (its expiry entry is skipped when it comes due)."""
        place = self._placed.pop(order_id, None)
        if place is None:
            return
        side = self._books[place.asset_id]
        entries = side.rising if place.rising else side.falling
        index = bisect_left(entries, place.entry)
        if index < len(entries) and entries[index] == place.entry:
            del entries[index]

    def on_tick(self, frame: Frame, asset_order: list[str]) -> None:
        """Fire every order the frame's prices cross, and every expiry due by its time."""
        now_ms = round(frame.time * 1000)
        # With nothing resting (most ticks of most runs) no asset needs looking at.
        for asset_id in asset_order if self._placed else ():
            price = frame.prices.get(asset_id)
            book = self._books.get(asset_id)
            if price is None or book is None:
                continue
            # Read now: by the time an actor takes the fill, another tick may have moved it.
            model = None if self.model is None else self.model(asset_id, price)
            # Falling book: every level at or above the price fires, best (highest) first.
            cut = bisect_left(book.falling, (price,))
            fired = book.falling[cut:]
            del book.falling[cut:]
            for entry in reversed(fired):
                self._fire(entry, frame.seq, price, model)
            # Rising book: every level at or below the price fires, best (lowest) first.
            cut = bisect_right(book.rising, (price, float("inf")))
            fired = book.rising[:cut]
            del book.rising[:cut]
            for entry in fired:
                self._fire(entry, frame.seq, price, model)
        while self._expiries and self._expiries[0][0] <= now_ms:
            _, _, order_id, username = heapq.heappop(self._expiries)
            # The actor ignores an expiry for an order that has already closed.
            self.disarm(order_id)
            self._queue.append(Fired("expire", username, order_id, frame.seq, 0))
        if self._queue:
            self._wake.set()

    def _fire(self, entry: Entry, seq: int, price: int, model: int | None) -> None:
        _, _, order_id, username = entry
        place = self._placed.pop(order_id)
        self._queue.append(Fired(place.kind, username, order_id, seq, price, model))
        self.fired += 1

    async def serve(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Deliver fired orders to their account actors, in order, waiting for room."""
        task_status.started()
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            while self._queue:
                await self._deliver(self._queue.popleft())
