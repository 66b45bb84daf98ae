"""Portfolio insights: the facts of a portfolio, the key of its state, and a summary cache.

Pure and offline: the facts carry no personal data (no username, email or order ids), so the
same facts can be handed to the built-in analyst (``exchange.analyst``) or an external model.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import msgspec

from exchange.account import Portfolio
from exchange.clock import SECONDS_PER_DAY
from exchange.money import proceeds_cents
from exchange.orders import Order

TTL_SECONDS = float(SECONDS_PER_DAY)
CACHE_SIZE = 10_000
# Orders read for the activity facts, newest first; "orders in the last 7 days" counts up to it.
RECENT_ORDERS = 50
# The part of the state that keys the cache: enough to notice any trade, deposit or order change.
KEY_HOLDINGS = 20
KEY_ORDERS = 10
WEEK_MS = 7 * SECONDS_PER_DAY * 1000
CONCENTRATED_PCT = 60.0
DIVERSIFIED_MIN_ASSETS = 3

EMPTY = "empty"
CASH_ONLY = "cash-only"
SINGLE_ASSET = "single-asset"
CONCENTRATED = "concentrated"
BALANCED = "balanced"
DIVERSIFIED = "diversified"


class AssetView(NamedTuple):
    """What the facts need of one asset's market."""

    name: str
    price: int
    pct_24h: float | None


class Facts(msgspec.Struct, frozen=True, kw_only=True):
    """What a summary may say about a portfolio; amounts in cents, shares in percent."""

    total_value_cents: int
    cash_cents: int
    cash_share_pct: float
    holdings_count: int
    largest_asset: str | None
    largest_asset_name: str | None
    largest_share_pct: float | None  # of the value held in assets, cash excluded
    diversification: str
    move_24h_pct: float | None  # value-weighted over holdings with a 24h figure
    biggest_mover: str | None
    biggest_mover_name: str | None
    biggest_mover_pct_24h: float | None
    cost_basis_cents: int
    unrealized_pnl_cents: int
    unrealized_pnl_pct: float | None
    orders_7d: int
    last_trade_side: str | None
    last_trade_asset: str | None


class Summary(msgspec.Struct, frozen=True):
    """A written insight: its text, who wrote it, and when (exchange clock, ms)."""

    text: str
    model: str
    generated_at: int


def share(part: int, whole: int) -> float:
    """``part`` as a percentage of ``whole``, to 2 places (0.0 of nothing)."""
    return round(part * 100 / whole, 2) if whole else 0.0


def _verdict(cash: int, values: Sequence[int], largest_share: float) -> str:
    if not values:
        return CASH_ONLY if cash else EMPTY
    if len(values) == 1:
        return SINGLE_ASSET
    if largest_share > CONCENTRATED_PCT:
        return CONCENTRATED
    return DIVERSIFIED if len(values) >= DIVERSIFIED_MIN_ASSETS else BALANCED


def portfolio_facts(
    portfolio: Portfolio, orders: Sequence[Order], assets: Mapping[str, AssetView], now_ms: int
) -> Facts:
    """The facts of a portfolio valued at ``assets``' prices; ``orders`` newest first."""
    valued = sorted(
        (
            (proceeds_cents(h.quantity, assets[h.asset_id].price), h.asset_id, h.cost)
            for h in portfolio.holdings
        ),
        key=lambda row: (-row[0], row[1]),
    )
    invested = sum(value for value, _, _ in valued)
    cost = sum(c for _, _, c in valued)
    total = portfolio.cash + invested
    largest = valued[0][1] if valued else None
    largest_share = share(valued[0][0], invested) if valued else None
    movers = [
        (value, asset_id, pct)
        for value, asset_id, _ in valued
        if (pct := assets[asset_id].pct_24h) is not None
    ]
    weight = sum(value for value, _, _ in movers)
    move = round(sum(value * pct for value, _, pct in movers) / weight, 2) if weight else None
    # The first of equal moves wins, and ``valued`` has a fixed order: deterministic.
    mover = max(movers, key=lambda row: abs(row[2]), default=None)
    last = next((o for o in orders if o.status == "completed"), None)
    return Facts(
        total_value_cents=total,
        cash_cents=portfolio.cash,
        cash_share_pct=share(portfolio.cash, total),
        holdings_count=len(valued),
        largest_asset=largest,
        largest_asset_name=None if largest is None else assets[largest].name,
        largest_share_pct=largest_share,
        diversification=_verdict(portfolio.cash, [v for v, _, _ in valued], largest_share or 0),
        move_24h_pct=move,
        biggest_mover=None if mover is None else mover[1],
        biggest_mover_name=None if mover is None else assets[mover[1]].name,
        biggest_mover_pct_24h=None if mover is None else round(mover[2], 2),
        cost_basis_cents=cost,
        unrealized_pnl_cents=invested - cost,
        unrealized_pnl_pct=share(invested - cost, cost) if cost else None,
        orders_7d=sum(1 for o in orders if o.created_at >= now_ms - WEEK_MS),
        last_trade_side=None if last is None else ("buy" if last.is_buy else "sell"),
        last_trade_asset=None if last is None else last.asset_id,
    )


def state_key(portfolio: Portfolio, orders: Sequence[Order]) -> str:
    """A sha256 of what a trade, deposit or order change alters: balances, top holdings and
    the ids and statuses of the latest orders (``orders`` newest first); prices are left out.
    """
    top = sorted(portfolio.holdings, key=lambda h: (-h.cost, h.asset_id))[:KEY_HOLDINGS]
    state = (
        portfolio.cash,
        portfolio.reserved,
        [(h.asset_id, h.quantity) for h in top],
        [(o.order_id, o.status) for o in orders[:KEY_ORDERS]],
    )
    return hashlib.sha256(msgspec.json.encode(state)).hexdigest()


class SummaryCache:
    """One summary per user, valid while the state key matches and for at most ``ttl``
    seconds; the least recently used user is evicted beyond ``size``.
    """

    def __init__(self, ttl: float = TTL_SECONDS, size: int = CACHE_SIZE) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[str, tuple[str, float, Summary]] = OrderedDict()

    def get(self, username: str, key: str, now: float) -> Summary | None:
        """The user's cached summary of the state ``key``, if still fresh at ``now``."""
        entry = self._entries.get(username)
        if entry is None or entry[0] != key or now >= entry[1]:
            return None
        self._entries.move_to_end(username)
        return entry[2]

    def put(self, username: str, key: str, summary: Summary, now: float) -> None:
        """Keep the user's summary of the state ``key`` until ``now + ttl``."""
        # One entry per user: a state the user has left is seldom returned to, and this keeps
        # a busy trader from filling the cache with summaries of their past states.
        self._entries[username] = (key, now + self.ttl, summary)
        self._entries.move_to_end(username)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
