"""A class's leaderboard: students' positions kept current, ranked lazily at the latest prices.

Upkeep is cheap by construction: a committed change replaces one student's position (O(its
holdings)); a tick only changes prices, and the ranking is computed when someone reads it,
at most once per (tick, change) and shared by every reader until either moves on.

    total  = cash + sum(quantity x latest price)     (rounded down to the cent, once)
    pnl    = total - basis                           (basis: starting cash + adjustments,
                                                      what the student brought, deposits
                                                      minus withdrawals)
    return = pnl / basis, in percent to 2 places     (None while the basis is 0)
    rank   = 1 + the number of students with a larger total (ties share a rank)
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal

import msgspec

from exchange.money import PRICE_SCALE, QTY_SCALE

# quantity (1e-8 units) x price (1e-8 USD per unit) / this = cents.
_VALUE_DIVISOR = QTY_SCALE * PRICE_SCALE // 100
_CENT = Decimal("0.01")


class Position(msgspec.Struct, frozen=True):
    """One student's committed cash and holdings, and what their return is measured against."""

    cash: int
    assets: tuple[str, ...]
    quantities: tuple[int, ...]
    basis: int
    trades: int


class Standing(msgspec.Struct, frozen=True):
    """One row of a ranking; money in cents."""

    rank: int
    username: str
    cash: int
    holdings_value: int
    total_value: int
    basis: int
    pnl: int
    return_pct: Decimal | None
    trades: int


def return_pct(pnl: int, basis: int) -> Decimal | None:
    """``pnl`` as a percentage of ``basis``, to 2 places (half-even); None for a zero basis."""
    if basis <= 0:
        return None
    return (Decimal(pnl) * 100 / Decimal(basis)).quantize(_CENT, ROUND_HALF_EVEN)


def rank(positions: Mapping[str, Position], prices: Mapping[str, int]) -> list[Standing]:
    """Every student ranked by total value (largest first, then by username)."""
    price_of = prices.get
    valued: list[tuple[int, str, int, Position]] = []
    for username, position in positions.items():
        held = sum(
            map(operator.mul, position.quantities, [price_of(a, 0) for a in position.assets])
        )
        value = held // _VALUE_DIVISOR
        valued.append((-(position.cash + value), username, value, position))
    valued.sort()
    standings = []
    shared_rank, last_total = 0, None
    for index, (negative_total, username, value, position) in enumerate(valued, start=1):
        total = -negative_total
        if total != last_total:
            shared_rank, last_total = index, total
        pnl = total - position.basis
        standings.append(
            Standing(
                rank=shared_rank,
                username=username,
                cash=position.cash,
                holdings_value=value,
                total_value=total,
                basis=position.basis,
                pnl=pnl,
                return_pct=return_pct(pnl, position.basis),
                trades=position.trades,
            )
        )
    return standings


class Board:
    """The positions of one class's students and the latest ranking made from them."""

    def __init__(self) -> None:
        self.positions: dict[str, Position] = {}
        self._version = 0
        self._cached: tuple[tuple[int, int], list[Standing]] | None = None

    def update(self, username: str, position: Position | None) -> None:
        """Replace (or with None, drop) one student's position."""
        if position is None:
            self.positions.pop(username, None)
        else:
            self.positions[username] = position
        self._version += 1

    def ranking(self, seq: int, prices: Mapping[str, int]) -> list[Standing]:
        """The ranking at tick ``seq`` (whose prices are ``prices``), computed once per change."""
        key = (seq, self._version)
        if self._cached is None or self._cached[0] != key:
            self._cached = (key, rank(self.positions, prices))
        return self._cached[1]
