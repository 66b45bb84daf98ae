"""Gateway limits: per-IP request windows, per-user order rates and the login brute-force block.

Each is a plain object over a clock function (the exchange clock, so tests run them in virtual
time), with memory bounded however many clients there are.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


@dataclass(frozen=True)
class Window:
    """Where a client stands in the current rate-limit window."""

    allowed: bool
    limit: int
    remaining: int
    reset: int  # unix seconds when the window ends

    def retry_after(self, now: float) -> int:
        """Whole seconds until the window resets (at least 1)."""
        return max(1, int(self.reset - now + 0.999))


class RateLimiter:
    """A fixed one-minute window per key (client IP); idle keys are evicted."""

    def __init__(self, limit: int, clock: Clock, period: int = 60, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.period = period
        self.max_keys = max_keys
        self._clock = clock
        self._window = -1
        self._counts: OrderedDict[str, int] = OrderedDict()
        self.rejected = 0

    def hit(self, key: str) -> Window:
        """Count one request from ``key``."""
        now = self._clock()
        window = int(now // self.period)
        if window != self._window:
            # A new window: every count of the old one is stale, so memory starts afresh.
            self._window = window
            self._counts.clear()
        count = self._counts.pop(key, 0) + 1
        self._counts[key] = count
        if len(self._counts) > self.max_keys:
            self._counts.popitem(last=False)
        reset = (window + 1) * self.period
        allowed = count <= self.limit
        if not allowed:
            self.rejected += 1
        return Window(allowed, self.limit, max(0, self.limit - count), reset)

    def __len__(self) -> int:
        return len(self._counts)


class Throttle:
    """A token bucket per key: ``rate`` per second with a burst of one second's worth.

    The burst is at least one token, so a rate below one per second still lets an order
    through every ``1 / rate`` seconds.
    """

    def __init__(self, rate: float, clock: Clock, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = max(1.0, rate)
        self._clock = clock
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self.rejected = 0

    def take(self, key: str) -> float:
        """Take a token; 0.0 if allowed, else the seconds until one is available."""
        now = self._clock()
        tokens, at = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
            self.rejected += 1
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait


class LoginGuard:
    """Counts failed logins per IP; at the threshold the IP's logins are blocked for a while."""

    def __init__(
        self, max_failures: int, window: float, block: float, clock: Clock, max_keys: int = 100_000
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.block = block
        self._clock = clock
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._blocked: dict[str, float] = {}

    def blocked_for(self, ip: str) -> float:
        """Seconds left on the IP's block (0.0 when not blocked); expired blocks are dropped."""
        until = self._blocked.get(ip)
        if until is None:
            return 0.0
        left = until - self._clock()
        if left <= 0:
            del self._blocked[ip]
            return 0.0
        return left

    def expired_blocks(self) -> list[str]:
        """IPs whose blocks have ended (they are unblocked by this call)."""
        now = self._clock()
        ended = [ip for ip, until in self._blocked.items() if until <= now]
        for ip in ended:
            del self._blocked[ip]
        return ended

    def fail(self, ip: str) -> bool:
        """Record a failed login; True when this failure blocks the IP."""
        now = self._clock()
        failures = self._failures.pop(ip, None) or deque()
        failures.append(now)
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if len(failures) >= self.max_failures:
            self._blocked[ip] = now + self.block
            failures.clear()
            return True
        self._failures[ip] = failures
        if len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)
        return False

    def blocked(self) -> int:
        """How many IPs are blocked right now."""
        now = self._clock()
        return sum(1 for until in self._blocked.values() if until > now)
