"""The strategy interface: what a trading script sees each tick and what it may ask for.

A strategy is a class with ``on_start(view)`` and ``on_tick(view)``; each returns a list of
``Buy``, ``Sell`` and ``Cancel`` (or None for nothing). The view is read-only: prices (USD per
unit), the strategy's own cash (USD), holdings (units) and open orders, and recent prices.
Built-in bots implement the same interface; a student's file is loaded only from the command
line (``--strategy path.py:ClassName``).
"""

from __future__ import annotations

import importlib.util
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Buy:
    """Buy ``quantity`` units, or ``usd`` worth at the current price; ``limit`` rests it."""

    asset: str
    quantity: float | None = None
    usd: float | None = None
    limit: float | None = None


@dataclass(frozen=True)
class Sell:
    """Sell ``quantity`` units (everything available when None); ``limit`` rests it."""

    asset: str
    quantity: float | None = None
    limit: float | None = None


@dataclass(frozen=True)
class Cancel:
    """Cancel one of the strategy's open orders."""

    order_id: str


Request = Buy | Sell | Cancel


@dataclass(frozen=True)
class OpenOrder:
    """One resting order of the strategy."""

    order_id: str
    asset: str
    side: str  # "buy" or "sell"
    order_type: str
    quantity: float
    price: float | None


class View:
    """What a participant sees at one tick; nothing in it can change the market."""

    __slots__ = ("_history", "_price", "cash", "holdings", "open_orders", "tick", "time")

    def __init__(
        self,
        tick: int,
        time: float,
        price: Callable[[str], float | None],
        history: Callable[[str, int], Sequence[float]],
        cash: float,
        holdings: Mapping[str, float],
        open_orders: tuple[OpenOrder, ...],
    ) -> None:
        self.tick = tick
        self.time = time  # seconds since the scenario started
        self._price = price
        self._history = history
        self.cash = cash
        self.holdings = holdings
        self.open_orders = open_orders

    def price(self, asset: str) -> float | None:
        """The asset's price in USD now (None for an asset not in play)."""
        return self._price(asset)

    def history(self, asset: str, count: int) -> Sequence[float]:
        """Up to ``count`` most recent tick prices of the asset, oldest first."""
        return self._history(asset, count)


class Strategy(Protocol):
    """What the runner calls: once at the start, then at every tick."""

    def on_start(self, view: View) -> list[Request] | None:
        """Called before the first tick."""

    def on_tick(self, view: View) -> list[Request] | None:
        """Called at every tick, after the tick's prices are out."""


class Base:
    """A convenient base class: does nothing; override what you need."""

    rng: random.Random

    def on_start(self, view: View) -> list[Request] | None:
        """Called before the first tick."""
        return None

    def on_tick(self, view: View) -> list[Request] | None:
        """Called at every tick."""
        return None


class StrategyLoadError(ValueError):
    """A ``--strategy`` argument that names no usable class."""


def load_strategy(spec: str) -> tuple[str, Callable[[], Strategy]]:
    """``path.py:ClassName`` -> (a display name, a factory of fresh instances)."""
    path_text, sep, class_name = spec.rpartition(":")
    if not sep or not path_text or not class_name:
        raise StrategyLoadError(f"{spec}: expected path/to/file.py:ClassName")
    path = Path(path_text)
    if not path.is_file():
        raise StrategyLoadError(f"{spec}: no file {path}")
    module_name = f"scenario_strategy_{path.stem}"
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise StrategyLoadError(f"{spec}: cannot load {path}")
    module = importlib.util.module_from_spec(loader_spec)
    try:
        loader_spec.loader.exec_module(module)
    except Exception as exc:
        raise StrategyLoadError(f"{spec}: importing failed: {exc!r}") from None
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise StrategyLoadError(f"{spec}: {path} has no class {class_name}")
    for method in ("on_start", "on_tick"):
        if not callable(getattr(cls, method, None)):
            raise StrategyLoadError(f"{spec}: {class_name} has no {method} method")
    return class_name, cls
