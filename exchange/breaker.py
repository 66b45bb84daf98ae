"""A circuit breaker over a clock function: stop calling a failing dependency for a while.

States: ``closed`` (calls allowed) -> after ``failures`` consecutive failures -> ``open`` (calls
refused) -> after ``cooldown`` seconds -> ``half-open`` (one trial call allowed; others are
refused while it runs) -> a success closes the breaker, a failure opens it again.
"""

from __future__ import annotations

from collections.abc import Callable

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half-open"


class Breaker:
    """Counts consecutive failures of one dependency and decides whether to call it."""

    def __init__(self, failures: int, cooldown: float, clock: Callable[[], float]) -> None:
        self.failures = max(1, failures)
        self.cooldown = cooldown
        self._clock = clock
        self._streak = 0
        self._opened_at: float | None = None
        self._trial_at: float | None = None

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open``, as of now."""
        if self._opened_at is None:
            return CLOSED
        if self._trial_at is None and self._clock() < self._opened_at + self.cooldown:
            return OPEN
        return HALF_OPEN

    def allow(self) -> bool:
        """True if a call may go ahead now; in half-open state this takes the one trial."""
        if self._opened_at is None:
            return True
        now = self._clock()
        if now < self._opened_at + self.cooldown:
            return False
        # A trial whose caller was cancelled never reports back: after another cool-down it
        # counts as lost, so the breaker cannot stay half-open for ever.
        if self._trial_at is not None and now < self._trial_at + self.cooldown:
            return False
        self._trial_at = now
        return True

    def succeeded(self) -> None:
        """Record a successful call: the breaker closes."""
        self._streak = 0
        self._opened_at = None
        self._trial_at = None

    def failed(self) -> None:
        """Record a failed call: a trial's failure, or the last of a streak, opens the breaker."""
        self._streak += 1
        if self._opened_at is not None or self._streak >= self.failures:
            self._opened_at = self._clock()
            self._trial_at = None
