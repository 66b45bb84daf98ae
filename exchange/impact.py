"""Optional price impact: net order flow in USD moves an asset's price, and the move decays.

Off unless rules are set (the market is then the counterparty at the model's price, as
always). With a rule, every filled order placed through the engine adds its signed USD value
(buys up, sells down) to the asset's flow; ``usd_per_percent`` USD of flow moves the price by
1%, and the flow halves every ``half_life`` seconds. The move reaches the price at the next
tick, like every other price move, so each fill is explained by the tick it happened at: the
tick's price is the model price times ``1 + impact``.
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
        self._applied: dict[str, float] = {}  # asset -> log move in the price now

    def set_rules(self, rules: dict[str, ImpactRule]) -> None:
        """Turn impact on for these assets (an empty mapping turns it off)."""
        self.rules = dict(rules)

    def level(self, asset_id: str, at: float) -> float:
        """The impact level (a fraction: 0.012 is +1.2%) at exchange time ``at``."""
        rule = self.rules.get(asset_id)
        flow = self._flow.get(asset_id)
        if rule is None or flow is None:
            return 0.0
        level, since = flow
        return level * math.pow(0.5, max(0.0, at - since) / rule.half_life)

    def record(self, asset_id: str, usd: float, at: float) -> None:
        """Add a fill's signed USD value (positive for a buy) to the asset's flow."""
        rule = self.rules.get(asset_id)
        if rule is None or usd == 0:
            return
        level = self.level(asset_id, at) + usd / rule.usd_per_percent / 100
        self._flow[asset_id] = (min(max(level, MIN_LEVEL), MAX_LEVEL), at)

    def moves(self, at: float) -> dict[str, float]:
        """The log moves that bring each price's impact part to its level at ``at`` (a tick)."""
        if not self._flow:
            return {}
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
