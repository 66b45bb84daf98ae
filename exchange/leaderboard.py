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
    board = Board()
    for username, position in positions.items():
        board.update(username, position)
    return board.ranking(0, prices)


def _standing(rank: int, username: str, value: int, position: Position) -> Standing:
    total = position.cash + value
    pnl = total - position.basis
    return Standing(
        rank=rank,
        username=username,
        cash=position.cash,
        holdings_value=value,
        total_value=total,
        basis=position.basis,
        pnl=pnl,
        return_pct=return_pct(pnl, position.basis),
        trades=position.trades,
    )


# Bits of one student's slot in the packed sums. A slot holds cash x 1e14 plus the sum of
# quantity x price over the student's assets: quantities are at most 1e18 (2^60) and prices
# far below 2^64, so even dozens of assets stay under 2^130; 192 bits leave a wide margin.
_SLOT_BITS = 192
_SLOT_BYTES = _SLOT_BITS // 8


class Board:
    """The positions of one class's students and the latest ranking made from them.

    Each asset's quantities are packed into one integer, a slot of ``_SLOT_BITS`` per student,
    so valuing the whole class at a tick's prices is one multiply-add per asset on contiguous
    memory (C speed, cache friendly) and one unpacking pass, instead of a Python loop over
    every holding. A committed change only edits its student's slots. The ordering is made at
    most once per (tick, change); rows are made only for the part a reader asks for.
    """

    def __init__(self) -> None:
        self.positions: dict[str, Position] = {}
        self._slots: dict[str, int] = {}
        self._names: list[str | None] = []
        self._free: list[int] = []
        # Per asset, sum of quantity << (slot * _SLOT_BITS); cash the same, weighted by the
        # divisor, so a slot's sum divided by the divisor is cash + holdings value, rounded down.
        self._packed: dict[str, int] = {}
        self._cash = 0
        self._version = 0
        self._order: tuple[tuple[int, int], list[tuple[int, str]], list[int]] | None = None
        self._rows: tuple[tuple[int, int], list[Standing]] | None = None

    def update(self, username: str, position: Position | None) -> None:
        """Replace (or with None, drop) one student's position."""
        old = self.positions.get(username)
        slot = self._slots.get(username)
        if slot is None:
            if position is None:
                return
            slot = self._free.pop() if self._free else len(self._names)
            if slot == len(self._names):
                self._names.append(None)
            self._slots[username] = slot
            self._names[slot] = username
        shift = slot * _SLOT_BITS
        packed = self._packed
        if old is not None:
            self._cash -= old.cash << shift
            for asset_id, quantity in zip(old.assets, old.quantities, strict=True):
                packed[asset_id] -= quantity << shift
        if position is None:
            del self.positions[username], self._slots[username]
            self._names[slot] = None
            self._free.append(slot)
        else:
            self.positions[username] = position
            self._cash += position.cash << shift
            for asset_id, quantity in zip(position.assets, position.quantities, strict=True):
                packed[asset_id] = packed.get(asset_id, 0) + (quantity << shift)
        self._version += 1

    @property
    def version(self) -> int:
        """A number that changes with every position change."""
        return self._version

    def order(self, seq: int, prices: Mapping[str, int]) -> list[tuple[int, str]]:
        """``(-total value, username)`` of every student, best first, at tick ``seq``."""
        key = (seq, self._version)
        if self._order is None or self._order[0] != key:
            divisor = _VALUE_DIVISOR
            acc = self._cash * divisor
            for asset_id, packed in self._packed.items():
                price = prices.get(asset_id, 0)
                if price and packed:
                    acc += packed * price
            width = _SLOT_BYTES
            data = acc.to_bytes(len(self._names) * width, "little")
            from_bytes = int.from_bytes
            valued = [
                (-(from_bytes(data[i * width : i * width + width], "little") // divisor), name)
                for i, name in enumerate(self._names)
                if name is not None
            ]
            valued.sort()
            ranks = []
            shared_rank, last = 0, None
            for place, (negative_total, _) in enumerate(valued, start=1):
                if negative_total != last:
                    shared_rank, last = place, negative_total
                ranks.append(shared_rank)
            self._order = (key, valued, ranks)
        return self._order[1]

    def ranking(
        self, seq: int, prices: Mapping[str, int], limit: int | None = None
    ) -> list[Standing]:
        """The ranking at tick ``seq`` (whose prices are ``prices``); the first ``limit`` rows."""
        valued = self.order(seq, prices)
        assert self._order is not None
        key, ranks = self._order[0], self._order[2]
        if self._rows is not None and self._rows[0] == key:
            return self._rows[1] if limit is None else self._rows[1][:limit]
        count = len(valued) if limit is None else min(limit, len(valued))
        rows = []
        for i in range(count):
            negative_total, username = valued[i]
            position = self.positions[username]
            rows.append(_standing(ranks[i], username, -negative_total - position.cash, position))
        if limit is None or count == len(valued):
            self._rows = (key, rows)
        return rows
