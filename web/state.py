"""What every request handler reaches: the exchange and the web settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import trio
from quart import current_app

from exchange.engine import Exchange
from web.settings import WebSettings

T = TypeVar("T")


@dataclass
class AppState:
    """Shared by the app's handlers."""

    exchange: Exchange
    settings: WebSettings
    # Encoded catalogue pages of the latest tick, by (seq, active_only, limit, offset, origin):
    # one per app, so another exchange at the same tick number never gets this one's prices.
    list_cache: dict[tuple[int, bool, int, int, str], bytes] = field(default_factory=dict)
    # Each scrypt hash holds about 16 MiB while it runs, so the number running at once bounds
    # the memory hashing takes; the rest queue here, first come first served.
    hashing: trio.CapacityLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.hashing = trio.CapacityLimiter(self.settings.hash_concurrency)

    async def hash_off_loop(self, work: Callable[..., T], *args: object) -> T:
        """Run password hashing or checking, at most ``hash_concurrency`` at a time.

        In serve mode it runs on a worker thread so the event loop keeps serving; under the
        virtual clock it runs inline, which already allows only one at a time.
        """
        if self.settings.hash_in_thread:
            return await trio.to_thread.run_sync(work, *args, limiter=self.hashing)
        return work(*args)


def app_state() -> AppState:
    """The state of the running app."""
    state: AppState = current_app.extensions["exchange_state"]
    return state
