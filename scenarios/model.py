"""What a scenario file says, once loaded and checked: meta, timeline, participants, impact."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from exchange.control import Action
from exchange.impact import ImpactRule

_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(d|h|m|s)")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}


def parse_duration(value: object) -> float | None:
    """Seconds from a number of seconds or a text like '15m', '1h30m', '2d12h'; else None.

    A text's parts go from days down to seconds, each unit at most once.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) and value >= 0 else None
    if not isinstance(value, str):
        return None
    text = value.strip().replace(" ", "")
    total, at, order = 0.0, 0, "dhms"
    last = -1
    while at < len(text):
        found = _PART.match(text, at)
        if found is None or order.index(found[2]) <= last:
            return None
        last = order.index(found[2])
        total += float(found[1]) * _UNITS[found[2]]
        at = found.end()
    return total if text else None


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
