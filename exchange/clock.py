"""The exchange clock: a wall-clock epoch plus trio's (possibly virtual) time."""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime

import trio

SECONDS_PER_DAY = 86_400


class Clock:
    """Wall-clock time as ``epoch + trio.current_time()``.

    Anchored when the exchange starts, so under ``MockClock`` the same code runs in virtual time.
    """

    def __init__(self, start_epoch: float | None = None) -> None:
        self._start_epoch = start_epoch
        self._offset = 0.0

    def anchor(self) -> None:
        """Fix the epoch so that ``now()`` reads ``start_epoch`` (or the real time) right now."""
        start = time.time() if self._start_epoch is None else self._start_epoch
        self._offset = start - trio.current_time()

    def now(self) -> float:
        """Seconds since the unix epoch on the exchange clock."""
        return self._offset + trio.current_time()

    def at(self, trio_time: float) -> float:
        """The exchange time (unix seconds) of a moment on trio's clock."""
        return self._offset + trio_time

    def trio_time(self, at: float) -> float:
        """The moment on trio's clock of an exchange time (unix seconds)."""
        return at - self._offset

    def now_ms(self) -> int:
        """Milliseconds since the unix epoch on the exchange clock."""
        return int(self.now() * 1000)

    def day(self) -> int:
        """The UTC day number (days since 1970-01-01) on the exchange clock."""
        return int(self.now() // SECONDS_PER_DAY)


def day_of_ms(ms: int) -> int:
    """The UTC day number of a millisecond timestamp."""
    return ms // (SECONDS_PER_DAY * 1000)


@functools.lru_cache(maxsize=4096)
def iso_ms(ms: int) -> str:
    """An ISO-8601 UTC timestamp ending in ``Z`` for a millisecond timestamp."""
    stamp = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
