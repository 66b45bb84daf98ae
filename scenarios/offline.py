"""Offline runs: a scenario in virtual time (trio's MockClock) on a fresh database."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TextIO

import trio
import trio.testing

from exchange.engine import Exchange
from exchange.settings import Settings
from scenarios.model import Scenario
from scenarios.runner import Runner, RunResult
from scenarios.strategy import Strategy

# 2026-01-05T00:00:00Z, a Monday: every offline run starts at the same exchange time.
START_EPOCH = 1_767_571_200.0
# Deposits of the starting cash are bounded only by the scenario.
UNLIMITED = 10**15


def run_settings(scenario: Scenario, seed: int, db: str) -> Settings:
    """The engine settings of a scenario run."""
    return Settings(
        db=db,
        start_epoch=START_EPOCH,
        seed=seed,
        tick_interval=scenario.tick_interval,
        history_days=0,
        fee_bps=scenario.fee_bps,
        max_order_value=scenario.max_order_value,
        daily_deposit_limit=UNLIMITED,
        daily_withdraw_limit=UNLIMITED,
        max_amount=UNLIMITED,
        # Bots stay loaded for the whole story rather than being retired and reloaded.
        account_idle_seconds=scenario.duration + 3600.0,
        # A run's database is written once a minute of ticks, not at every tick.
        feed_write_ticks=max(1, round(60 / scenario.tick_interval)),
        # Nobody streams an offline run's prices: an asset steps when something reads it.
        feed_on_demand=True,
        # The runner ticks the feed itself, so that a quiet tick costs no trip through trio.
        feed_driven=True,
    )


def in_play(exchange: Exchange, scenario: Scenario) -> None:
    """Keep only the scenario's assets in the market (all when it names none)."""
    if scenario.assets:
        chosen = set(scenario.assets)
        exchange.assets = [a for a in exchange.assets if a.asset_id in chosen]


class Progress:
    """A one-line progress bar on stderr: ticks, simulated time, wall time and ETA."""

    def __init__(
        self, scenario: Scenario, stream: TextIO | None = None, every: float = 0.5
    ) -> None:
        self.scenario = scenario
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self.started = time.perf_counter()
        self._last = 0.0

    def __call__(self, tick: int, ticks: int) -> None:
        """Redraw at most every ``every`` seconds of wall time, and at the end."""
        now = time.perf_counter()
        if tick < ticks and now - self._last < self.every:
            return
        self._last = now
        wall = now - self.started
        share = tick / ticks if ticks else 1.0
        eta = wall / share - wall if share > 0 else 0.0
        bar = "#" * int(share * 30)
        simulated = tick * self.scenario.tick_interval
        line = (
            f"\r[{bar:<30}] {share:6.1%} tick {tick}/{ticks} sim {_clock(simulated)} "
            f"wall {wall:5.1f}s eta {eta:5.1f}s"
        )
        self.stream.write(line + ("\n" if tick >= ticks else ""))
        self.stream.flush()


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


@asynccontextmanager
async def running(exchange: Exchange) -> AsyncIterator[Exchange]:
    """Run an already built exchange for the duration of a block."""
    async with trio.open_nursery() as nursery:
        await nursery.start(exchange.run)
        try:
            yield exchange
        finally:
            nursery.cancel_scope.cancel()


async def play(
    settings: Settings,
    scenario: Scenario,
    seed: int,
    strategies: Sequence[tuple[str, Callable[[], Strategy]]],
    progress: Callable[[int, int], None] | None,
) -> RunResult:
    """Run the scenario to its end on an exchange of these settings; return its results."""
    exchange = Exchange(settings)
    in_play(exchange, scenario)
    started = time.perf_counter()
    async with running(exchange):
        runner = Runner(exchange, scenario, seed, strategies, progress)
        await runner.setup()
        await runner.run_offline()
        await runner.finish()
        return runner.result(time.perf_counter() - started)


def run_offline(
    scenario: Scenario,
    seed: int | None = None,
    strategies: Sequence[tuple[str, Callable[[], Strategy]]] = (),
    db: str = ":memory:",
    progress: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Run a scenario in virtual time and return its results."""
    chosen = scenario.seed if seed is None else seed
    settings = run_settings(scenario, chosen, db)
    return trio.run(
        play,
        settings,
        scenario,
        chosen,
        strategies,
        progress,
        clock=trio.testing.MockClock(autojump_threshold=0),
    )
