"""Password hashing in serve mode: at most ``hash_concurrency`` scrypt runs at once, the rest wait.

Each scrypt run holds about 16 MiB, so an unbounded number of them at once is unbounded memory.
These tests hash on worker threads as ``exchange serve`` does (so they run on the real clock) and
count the scrypt calls in flight; every call is held at a gate until the test has seen whether
more than the bound got in.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
import trio

from exchange.engine import Exchange
from tests.conftest import PASSWORD, Client, user_body, web_settings
from web.app import create_app

LIMIT = 2
CLIENTS = 4 * LIMIT
# How long a crowd beyond the limit is given to show up before the bound is taken as holding.
OVERFLOW_WAIT = 0.5


@dataclass
class Gate:
    """Holds every scrypt call until opened, counting the calls inside at once."""

    opened: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)
    running: int = 0
    peak: int = 0

    def wrap(self, scrypt: Callable[..., bytes]) -> Callable[..., bytes]:
        """``scrypt`` that first waits at this gate."""

        def gated(*args: Any, **kwargs: Any) -> bytes:
            with self.changed:
                self.running += 1
                self.peak = max(self.peak, self.running)
                self.changed.notify_all()
            try:
                self.opened.wait(timeout=30)
                return scrypt(*args, **kwargs)
            finally:
                with self.changed:
                    self.running -= 1

        return gated

    def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Block until ``condition`` holds (True) or ``timeout`` passes (False)."""
        with self.changed:
            return self.changed.wait_for(condition, timeout)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    """Every scrypt call of the test passes this gate."""
    held = Gate()
    monkeypatch.setattr(hashlib, "scrypt", held.wrap(hashlib.scrypt))
    try:
        yield held
    finally:
        held.opened.set()


@pytest.fixture
async def threaded_client(exchange: Exchange) -> Any:
    """A test client of an app that hashes on worker threads, ``LIMIT`` at a time."""
    settings = replace(web_settings(), hash_in_thread=True, hash_concurrency=LIMIT)
    app = create_app(exchange, settings)
    app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = None
    async with app.test_app() as test_app:
        yield test_app.test_client()


async def crowd(gate: Gate, send: Callable[[int], Any]) -> tuple[bool, list[int]]:
    """Send ``CLIENTS`` requests at once; whether more than ``LIMIT`` hashed at once, statuses."""
    statuses: list[int] = []

    async def one(n: int) -> None:
        response = await send(n)
        statuses.append(response.status_code)

    async with trio.open_nursery() as nursery:
        for n in range(CLIENTS):
            nursery.start_soon(one, n)
        try:
            full = await trio.to_thread.run_sync(gate.wait_until, lambda: gate.running >= LIMIT, 10)
            assert full, "the first hashes never started"
            overflow = await trio.to_thread.run_sync(
                gate.wait_until, lambda: gate.running > LIMIT, OVERFLOW_WAIT
            )
        finally:
            gate.opened.set()
    gate.opened.clear()
    return overflow, statuses


async def test_registrations_and_logins_hash_at_most_the_limit_at_once(
    threaded_client: Client, gate: Gate
) -> None:
    def register(n: int) -> Any:
        return threaded_client.post("/api/v1/auth/register", json=user_body(f"crowd_{n:02d}"))

    def login(n: int) -> Any:
        body = {"username": f"crowd_{n:02d}", "password": PASSWORD}
        return threaded_client.post("/api/v1/auth/login", json=body)

    overflow, statuses = await crowd(gate, register)
    assert not overflow, f"{gate.peak} registrations hashed at once"
    assert statuses == [201] * CLIENTS
    overflow, statuses = await crowd(gate, login)
    assert not overflow, f"{gate.peak} logins hashed at once"
    assert statuses == [200] * CLIENTS
    assert gate.peak == LIMIT
