"""An account's value over time, replayed from its committed ledgers and the candles."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass

from exchange.market import Market
from exchange.money import proceeds_cents
from exchange.store import Store

# Cash ledger types that move money across the account's boundary, not gains or losses.
EXTERNAL_TYPES = frozenset({"deposit", "withdraw", "red_pocket", "adjustment"})
# period -> (span in seconds, step in seconds, candle series the prices come from)
PERIODS: dict[str, tuple[int, int, str]] = {
    "1d": (86_400, 300, "5m"),
    "7d": (7 * 86_400, 3_600, "1h"),
    "30d": (30 * 86_400, 4 * 3_600, "1h"),
}


@dataclass(frozen=True)
class ValuePoint:
    """The account at one instant, in cents."""

    time: float
    cash: int
    holdings: int
    # Cash brought in from outside (deposits, red pockets, adjustments, less withdrawals) so far.
    inflow: int = 0

    @property
    def total(self) -> int:
        """Cash plus the holdings' value."""
        return self.cash + self.holdings


class _Steps:
    """A running balance known at the times it changed: the last value at or before a time."""

    def __init__(self) -> None:
        self.times: list[int] = []
        self.values: list[int] = []

    def add(self, at_ms: int, value: int) -> None:
        self.times.append(at_ms)
        self.values.append(value)

    def at(self, at_ms: int) -> int:
        index = bisect.bisect_right(self.times, at_ms) - 1
        return self.values[index] if index >= 0 else 0


def _price_at(market: Market, series: str, at: float, now: float) -> int:
    if at >= now:
        return market.price
    candles = market.series[series]
    # The candle that ends at ``at`` closes at the price of that instant.
    price = candles.close_at(at - candles.width)
    return market.price if price is None else price


def value_history(
    store: Store, markets: Mapping[str, Market], username: str, period: str, now: float
) -> list[ValuePoint]:
    """The account's cash, holdings value and total at each step of ``period`` up to ``now``.

    Steps fall on the period's grid (every 5 minutes for a day, hourly for a week, every four
    hours for 30 days), ending with one point at ``now`` at the current prices. Balances are the
    ledgers' ``balance_after`` as of each instant; prices are candle closes. ``inflow`` counts
    the money moved in from outside, so gains can be told from deposits.
    """
    span, step, series = PERIODS[period]
    cash = _Steps()
    inflow = _Steps()
    brought = 0
    for at_ms, after, kind, amount in store.read(
        "SELECT created_at, balance_after, transaction_type, amount FROM transactions "
        "WHERE username = ? ORDER BY seq",
        (username,),
    ):
        cash.add(at_ms, after)
        if kind in EXTERNAL_TYPES:
            brought += amount
            inflow.add(at_ms, brought)
    holdings: dict[str, _Steps] = {}
    for asset_id, at_ms, after in store.read(
        "SELECT asset_id, created_at, balance_after FROM asset_transactions "
        "WHERE username = ? ORDER BY seq",
        (username,),
    ):
        holdings.setdefault(asset_id, _Steps()).add(at_ms, after)
    first = (int(now - span) // step + 1) * step
    times: list[float] = [float(t) for t in range(first, int(now) + 1, step)]
    if not times or times[-1] < now:
        times.append(now)
    points = []
    for at in times:
        at_ms = int(at * 1000)
        value = 0
        for asset_id, steps in holdings.items():
            quantity = steps.at(at_ms)
            market = markets.get(asset_id)
            if quantity and market is not None:
                value += proceeds_cents(quantity, _price_at(market, series, at, now))
        points.append(ValuePoint(at, cash.at(at_ms), value, inflow.at(at_ms)))
    return points
