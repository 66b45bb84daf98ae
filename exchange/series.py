"""Candle series: fixed-capacity rings of OHLC candles in compact integer arrays."""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from typing import NamedTuple

INTERVALS: dict[str, int] = {"1m": 60, "5m": 300, "1h": 3600, "1d": 86_400}


class Candle(NamedTuple):
    """One bucket: its start (unix seconds) and prices in 1e-8 USD."""

    start: int
    open: int
    high: int
    low: int
    close: int


class Series:
    """The latest ``capacity`` candles of one width; the last one may still be open."""

    __slots__ = (
        "_close",
        "_count",
        "_head",
        "_high",
        "_low",
        "_open",
        "_start",
        "_tail",
        "capacity",
        "width",
    )

    def __init__(self, width: int, capacity: int) -> None:
        self.width = width
        self.capacity = capacity
        self._start = array("q", bytes(8 * capacity))
        self._open = array("q", bytes(8 * capacity))
        self._high = array("q", bytes(8 * capacity))
        self._low = array("q", bytes(8 * capacity))
        self._close = array("q", bytes(8 * capacity))
        self._head = 0  # physical index of the oldest candle
        self._tail = 0  # physical index of the newest candle
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def _slot(self, index: int) -> int:
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(index)
        return (self._head + index) % self.capacity

    def __getitem__(self, index: int) -> Candle:
        slot = self._slot(index)
        return Candle(
            self._start[slot],
            self._open[slot],
            self._high[slot],
            self._low[slot],
            self._close[slot],
        )

    def __iter__(self) -> Iterator[Candle]:
        return map(Candle._make, self.rows())

    def rows(self) -> Iterator[tuple[int, int, int, int, int]]:
        """Every candle as a plain tuple, oldest first (fast: no per-item index arithmetic)."""
        columns = (self._start, self._open, self._high, self._low, self._close)
        return zip(*(self._tail_of(column, 0) for column in columns), strict=True)

    def _tail_of(self, column: array[int], first: int) -> array[int]:
        """Logical items ``first..`` of one column, as one contiguous array slice."""
        begin = self._head + first
        end = self._head + self._count
        cap = self.capacity
        if begin >= cap:
            return column[begin - cap : end - cap]
        if end <= cap:
            return column[begin:end]
        return column[begin:] + column[: end - cap]

    def range_since(self, start: float) -> tuple[int, int] | None:
        """The highest high and lowest low of the candles starting at or after ``start``."""
        first = self._first_at_or_after(start)
        if first >= self._count:
            return None
        return max(self._tail_of(self._high, first)), min(self._tail_of(self._low, first))

    def closes_since(self, start: float) -> list[int]:
        """The closes of the candles starting at or after ``start``, oldest first."""
        return self._tail_of(self._close, self._first_at_or_after(start)).tolist()

    def bucket(self, at: float) -> int:
        """The start of the bucket holding time ``at``."""
        return int(at // self.width) * self.width

    def record(self, at: float, price: int) -> Candle | None:
        """Add a price seen at ``at``; return the candle this closed, if a new bucket began.

        ``record_path`` for one price, written out: the feed records every asset's price in
        every series at each minute.
        """
        width = self.width
        start = int(at // width) * width
        if not self._count:
            self._push(start, price, price, price, price)
            return None
        tail = self._tail
        last_start = self._start[tail]
        if start == last_start:
            if price > self._high[tail]:
                self._high[tail] = price
            elif price < self._low[tail]:
                self._low[tail] = price
            self._close[tail] = price
            return None
        if start < last_start:
            return None
        before = self._close[tail]
        closed = Candle(last_start, self._open[tail], self._high[tail], self._low[tail], before)
        self._push(start, before, max(price, before), min(price, before), price)
        return closed

    def newest_start(self) -> int | None:
        """The start of the newest candle, if any."""
        return self._start[self._tail] if self._count else None

    def newest_extremes(self) -> tuple[int, int, int]:
        """The newest candle's high, low and close."""
        tail = self._tail
        return self._high[tail], self._low[tail], self._close[tail]

    def fold_open(self, high: int, low: int, close: int) -> None:
        """Widen the newest candle to take a finer open candle's high, low and close."""
        tail = self._tail
        if high > self._high[tail]:
            self._high[tail] = high
        if low < self._low[tail]:
            self._low[tail] = low
        self._close[tail] = close

    def extend_open(self, price: int) -> None:
        """Add a price to the newest candle, known to be still open (its bucket's time)."""
        tail = self._tail
        if price > self._high[tail]:
            self._high[tail] = price
        elif price < self._low[tail]:
            self._low[tail] = price
        self._close[tail] = price

    def record_path(self, first_at: float, dt: float, prices: Sequence[int]) -> Candle | None:
        """Add prices seen at ``first_at``, ``first_at + dt``, ...; return the last candle closed.

        One tight loop, since synthesizing back-history feeds it hundreds of thousands of prices.
        A new bucket opens at the previous close, so consecutive candles join up; a price older
        than the newest bucket is ignored (history only moves forward).
        """
        width = self.width
        highs, lows, closes = self._high, self._low, self._close
        closed: tuple[int, int, int, int, int] | None = None
        last_start = self._start[self._tail] if self._count else None
        at = first_at
        for price in prices:
            start = int(at // width) * width
            at += dt
            if start == last_start:
                tail = self._tail
                if price > highs[tail]:
                    highs[tail] = price
                elif price < lows[tail]:
                    lows[tail] = price
                closes[tail] = price
            elif last_start is None:
                self._push(start, price, price, price, price)
                last_start = start
            elif start > last_start:
                tail = self._tail
                before = closes[tail]
                closed = (last_start, self._open[tail], highs[tail], lows[tail], before)
                self._push(start, before, max(price, before), min(price, before), price)
                last_start = start
        return None if closed is None else Candle(*closed)

    def load(self, rows: Sequence[tuple[int, int, int, int, int]]) -> None:
        """Replace the contents with ``rows`` (oldest first; only the newest that fit are kept)."""
        rows = rows[-self.capacity :]
        self._head = 0
        self._count = len(rows)
        self._tail = max(0, self._count - 1)
        if not rows:
            return
        for column, values in zip(
            (self._start, self._open, self._high, self._low, self._close),
            zip(*rows, strict=True),
            strict=True,
        ):
            column[: self._count] = array("q", values)

    def append(self, candle: Candle) -> None:
        """Add a whole candle after the last one, dropping the oldest when full."""
        self._push(*candle)

    def _push(self, start: int, open_: int, high: int, low: int, close: int) -> None:
        if self._count == self.capacity:
            slot = self._head
            self._head = (self._head + 1) % self.capacity
        else:
            slot = (self._head + self._count) % self.capacity
            self._count += 1
        self._tail = slot
        self._start[slot] = start
        self._open[slot] = open_
        self._high[slot] = high
        self._low[slot] = low
        self._close[slot] = close

    def latest(self, limit: int) -> list[Candle]:
        """The last ``limit`` candles, oldest first."""
        first = max(0, self._count - limit)
        return [self[index] for index in range(first, self._count)]

    def since(self, start: float) -> list[Candle]:
        """Every candle whose bucket starts at or after ``start``, oldest first."""
        first = self._first_at_or_after(start)
        return [self[index] for index in range(first, self._count)]

    def close_at(self, at: float) -> int | None:
        """The close of the last candle starting at or before ``at`` (None if none is held)."""
        index = self._first_at_or_after(at + 1e-9) - 1
        return None if index < 0 else self._close[self._slot(index)]

    def _first_at_or_after(self, start: float) -> int:
        low, high = 0, self._count
        while low < high:
            middle = (low + high) // 2
            if self._start[self._slot(middle)] < start:
                low = middle + 1
            else:
                high = middle
        return low
