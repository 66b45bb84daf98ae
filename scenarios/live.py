"""Live mode: a scenario played on the exchange clock while the API serves people.

The timeline runs at its offsets, bots trade as ticks come, and a teacher can pause, resume,
skip to the next event or stop the story (``exchange serve --scenario NAME``). ``--speed X``
divides the tick interval: the story keeps its shape in ticks, and runs X times faster.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

from exchange.catalogue import Asset
from exchange.engine import Exchange
from exchange.errors import Conflict
from exchange.settings import Settings
from scenarios.model import Scenario
from scenarios.offline import in_play
from scenarios.runner import Runner


def live_settings(
    settings: Settings, scenario: Scenario, speed: float, seed: int | None
) -> Settings:
    """The serve settings with the scenario's seed, tick, fee and cap.

    The daily deposit limit is raised to the largest starting cash if it is lower, so that
    every bot can be funded.
    """
    largest = max([scenario.starting_cash, *(bot.cash for bot in scenario.bots)])
    return replace(
        settings,
        seed=scenario.seed if seed is None else seed,
        tick_interval=scenario.tick_interval / speed,
        fee_bps=scenario.fee_bps,
        max_order_value=scenario.max_order_value,
        daily_deposit_limit=max(settings.daily_deposit_limit, largest),
        max_amount=max(settings.max_amount, largest),
    )


def assets_in_play(exchange: Exchange, scenario: Scenario) -> list[Asset]:
    """Cut the exchange's catalogue down to the scenario's assets (before it runs)."""
    in_play(exchange, scenario)
    return exchange.assets


class LiveScenario:
    """The story of a serving exchange and its controls (teacher routes)."""

    def __init__(self, exchange: Exchange, scenario: Scenario, speed: float = 1.0) -> None:
        self.scenario = scenario
        self.speed = speed
        self.exchange = exchange
        self.runner = Runner(exchange, scenario, exchange.settings.seed, seats=scenario.seats)
        self.started = False

    async def run(self) -> None:
        """Create and fund the bots, then play the story to its end (or a stop)."""
        await self.runner.setup()
        self.started = True
        await self.runner.run_live()

    @property
    def state(self) -> str:
        """``starting``, ``running``, ``paused``, ``stopped`` or ``finished``."""
        runner = self.runner
        if runner.stopped:
            return "finished" if runner.tick >= self.scenario.ticks else "stopped"
        if runner.paused:
            return "paused"
        return "running" if self.started else "starting"

    async def status(self) -> dict[str, Any]:
        """Where the story is: its tick, what has run, what comes next, and the standings."""
        runner = self.runner
        upcoming = runner.next_event()
        return {
            "name": self.scenario.name,
            "state": self.state,
            "speed": self.speed,
            "tick": runner.tick,
            "ticks": self.scenario.ticks,
            "elapsed_s": runner.tick * self.scenario.tick_interval,
            "duration_s": self.scenario.duration,
            "next_event": None if upcoming is None else {"at_s": upcoming[0], "label": upcoming[1]},
            "events": [
                {
                    "tick": e.tick,
                    "at_s": e.at,
                    "kind": e.kind,
                    "status": e.status,
                    "detail": e.detail,
                }
                for e in runner.events
            ],
            "bots": sum(1 for p in runner.participants if p.kind.startswith("bot:")),
            "seats": len(runner.seat_names()),
            "standings": [asdict(s) for s in await runner.standings()] if self.started else [],
        }

    def seat_names(self) -> list[str]:
        """The human seats' account names (empty until the story has created them)."""
        return self.runner.seat_names() if self.started else []

    async def set_password(self, username: str, password_hash: str) -> None:
        """Give a seat a new password (the route checks it is a seat)."""
        await self.exchange.set_password(username, password_hash)

    def _running(self) -> None:
        if self.runner.stopped:
            raise Conflict("The scenario has ended", "scenario_finished")

    def pause(self) -> None:
        """Hold the story; 409 when it is already held or over."""
        self._running()
        if self.runner.paused:
            raise Conflict("The scenario is already paused", "scenario_paused")
        self.runner.pause()

    def resume(self) -> None:
        """Go on; 409 when it is not held."""
        self._running()
        if not self.runner.paused:
            raise Conflict("The scenario is not paused", "scenario_not_paused")
        self.runner.resume()

    def skip(self) -> None:
        """Jump to just before the next event; 409 when over."""
        self._running()
        self.runner.skip()

    def stop(self) -> None:
        """End the story; 409 when over."""
        self._running()
        self.runner.stop()
