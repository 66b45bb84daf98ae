"""What a scenario file says, once loaded and checked: meta, timeline, participants, impact."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from exchange.control import Action


@dataclass(frozen=True)
class Event:
    """One timeline entry: a market action run ``at`` seconds after the start."""

    at: float
    kind: str
    action: Action
    label: str


@dataclass(frozen=True)
class BotSpec:
    """``count`` bots of one kind, each with ``cash`` USD and the kind's parameters."""

    kind: str
    count: int
    cash: int  # cents
    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImpactRule:
    """How a net order flow moves one asset: ``usd_per_percent`` USD of it moves 1%."""

    usd_per_percent: float
    half_life: float  # seconds


@dataclass(frozen=True)
class Scenario:
    """A market story: what happens when, who trades through it, and how orders move prices."""

    name: str
    description: str
    duration: float  # seconds
    tick_interval: float
    seed: int
    starting_cash: int  # cents, for strategies and seats
    assets: tuple[str, ...]  # empty: every asset
    notes: str
    timeline: tuple[Event, ...]
    bots: tuple[BotSpec, ...]
    seats: int
    fee_bps: int
    max_order_value: int  # cents
    impact: dict[str, ImpactRule]
    source: str

    @property
    def ticks(self) -> int:
        """How many ticks the story lasts."""
        return round(self.duration / self.tick_interval)
