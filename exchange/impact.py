"""Optional price impact: net order flow in USD moves an asset's price, and the move decays.

Off unless rules are set (the market is then the counterparty at the model's price, as
always). With a rule, every fill of an order in the asset adds its signed USD value (buys up,
sells down) to the asset's flow, whoever filled it (placed and filled at once, a resting order
crossed by a tick, an order approved on a review desk); ``usd_per_percent`` USD of flow moves
the price by 1%, and the flow halves every ``half_life`` seconds. The move reaches the price at
the next tick, like every other price move, so each fill is explained by the tick it happened
at: the tick's price is the model price times ``1 + impact``.

The object is changed only by synchronous calls on the Trio thread (fills as they commit, the
price feed's tick), so each change is atomic.
"""

from __future__ import annotations

import math
from typing import NamedTuple

# Bounds on the impact level so prices stay positive and finite whatever the flow.
MIN_LEVEL, MAX_LEVEL = -0.9, 10.0


class ImpactRule(NamedTuple):
    """How one asset responds: USD of net flow per 1% move, and the half-life in seconds."""

    usd_per_percent: float
    half_life: float


class PriceImpact:
    """The flow per asset, and the part of each price that is impact."""

    def __init__(self) -> None:
        self.rules: dict[str, ImpactRule] = {}
        self._flow: dict[str, tuple[float, float]] = {}  # asset -> (level, as of when)
        # Fills recorded since the flow was last brought up to date: (when, signed USD).
        self._recorded: dict[str, list[tuple[float, float]]] = {}
        self._applied: dict[str, float] = {}  # asset -> log move in the price now

    def set_rules(self, rules: dict[str, ImpactRule]) -> None:
        """Turn impact on for these assets (an empty mapping turns it off)."""
        self.rules = dict(rules)

    def level(self, asset_id: str, at: float) -> float:
        """The impact level (a fraction: 0.012 is +1.2%) at exchange time ``at``."""
        rule = self.rules.get(asset_id)
        if rule is None:
            return 0.0
        self._fold(asset_id, rule)
        flow = self._flow.get(asset_id)
        if flow is None:
            return 0.0
        return _decayed(flow, at, rule)

    def record(self, asset_id: str, usd: float, at: float) -> None:
        """Add a fill's signed USD value (positive for a buy) at exchange time ``at``."""
        if asset_id not in self.rules or usd == 0:
            return
        self._recorded.setdefault(asset_id, []).append((at, usd))

    def _fold(self, asset_id: str, rule: ImpactRule) -> None:
        """Add the recorded fills to the flow, in order of time and then of value.

        Fills of different accounts commit in whatever order their actors ran, and float sums
        depend on the order of their terms: a fixed order keeps a run's prices reproducible.
        """
        recorded = self._recorded.pop(asset_id, None)
        if not recorded:
            return
        flow = self._flow.get(asset_id)
        for at, usd in sorted(recorded):
            # A fill never moves the flow's time back: one recorded late counts from then.
            since = at if flow is None else max(at, flow[1])
            level = (0.0 if flow is None else _decayed(flow, since, rule)) + usd / (
                rule.usd_per_percent * 100
            )
            flow = (min(max(level, MIN_LEVEL), MAX_LEVEL), since)
        assert flow is not None
        self._flow[asset_id] = flow

    def moves(self, at: float) -> dict[str, float]:
        """The log moves that bring each price's impact part to its level at ``at`` (a tick)."""
        if not self._flow and not self._recorded:
            return {}
        for asset_id in list(self._recorded):
            rule = self.rules.get(asset_id)
            if rule is None:
                del self._recorded[asset_id]
            else:
                self._fold(asset_id, rule)
        moves = {}
        for asset_id in self._flow:
            target = math.log1p(self.level(asset_id, at))
            move = target - self._applied.get(asset_id, 0.0)
            if move:
                moves[asset_id] = move
                self._applied[asset_id] = target
        return moves

    def share(self, asset_id: str) -> float:
        """The impact part of the asset's current price, as a fraction of the model price."""
        return math.expm1(self._applied.get(asset_id, 0.0))

    def model_price(self, asset_id: str, price: int) -> int | None:
        """``price`` (the asset's latest tick) without its impact part; None with impact off.

        Read when the tick's price is read (a quote, the triggers at the tick itself), never
        later: the next tick changes the impact part.
        """
        if asset_id not in self.rules:
            return None
        applied = self._applied.get(asset_id)
        return price if not applied else round(price / math.exp(applied))


def _decayed(flow: tuple[float, float], at: float, rule: ImpactRule) -> float:
    level, since = flow
    return level * math.pow(0.5, max(0.0, at - since) / rule.half_life)
