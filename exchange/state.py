"""An account's state as its actor holds it, the ledger rows it writes, and how it is loaded."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from exchange.classes import Membership
from exchange.clock import day_of_ms
from exchange.orders import Order
from exchange.store import Chain, Store

DEPOSIT_TYPES = ("deposit", "red_pocket")
WITHDRAW_TYPES = ("withdraw",)
ORDER_COLUMNS = (
    "order_id, username, client_order_id, order_type, asset_id, quantity, price, stop_price, "
    "time_in_force, expires_at, status, triggered, reserved_cash, reserved_quantity, "
    "filled_price, total_amount, fee, fill_seq, reason, created_at, updated_at, note, "
    "model_price"
)


class Entry(msgspec.Struct, frozen=True):
    """One cash ledger row."""

    transaction_id: str
    username: str
    transaction_type: str
    amount: int
    balance_after: int
    status: str
    description: str
    reference_id: str | None
    created_at: int


class AssetEntry(msgspec.Struct, frozen=True):
    """One asset ledger row: a signed quantity moved by an order."""

    username: str
    asset_id: str
    order_id: str
    transaction_type: str
    quantity: int
    price: int
    total: int
    balance_after: int
    status: str
    created_at: int


class Balance(msgspec.Struct, frozen=True):
    """A snapshot of an account's cash."""

    cash: int
    reserved: int
    updated_at: int
    # Today's (UTC, exchange clock) credits toward the deposit limit and withdrawals, in cents.
    deposited_today: int = 0
    withdrawn_today: int = 0


@dataclass
class Holding:
    """How much of one asset an account holds, how much is promised to open sells, its cost."""

    asset_id: str
    quantity: int
    reserved: int
    cost: int
    created_at: int
    updated_at: int

    @property
    def available(self) -> int:
        """Quantity not reserved by open sell orders."""
        return self.quantity - self.reserved


@dataclass
class AccountState:
    """Everything one user's actor owns."""

    username: str
    cash: int
    updated_at: int
    day: int
    deposited: int
    withdrawn: int
    reserved: int = 0
    event_seq: int = 0
    # The UTC day a configured red-pocket phrase was last claimed on.
    red_pocket_day: int | None = None
    holdings: dict[str, Holding] = field(default_factory=dict)
    open_orders: dict[str, Order] = field(default_factory=dict)
    # Orders placed with a client order id, by that id (filled lazily from the database).
    client_orders: dict[str, Order] = field(default_factory=dict)
    # The writes this state's changes were handed to the store on; broken when one failed.
    chain: Chain = field(default_factory=Chain)
    # The student's class, if any (at most one).
    member: Membership | None = None

    @property
    def available(self) -> int:
        """Cash not reserved by open buy orders."""
        return self.cash - self.reserved

    def roll(self, day: int) -> None:
        """Start a new UTC day's totals when the day changes."""
        if day != self.day:
            self.day = day
            self.deposited = 0
            self.withdrawn = 0

    def holding(self, asset_id: str, now_ms: int) -> Holding:
        """The holding of an asset, created empty if the account never held it."""
        holding = self.holdings.get(asset_id)
        if holding is None:
            holding = self.holdings[asset_id] = Holding(asset_id, 0, 0, 0, now_ms, now_ms)
        return holding


def load_account(store: Store, username: str, now_ms: int) -> AccountState | None:
    """Read an account, its holdings, open orders and today's totals; None if no such user."""
    row = store.read_one(
        "SELECT cash, updated_at, reserved, event_seq FROM accounts WHERE username = ?",
        (username,),
    )
    if row is None:
        return None
    day = day_of_ms(now_ms)
    totals = dict(
        store.read(
            "SELECT transaction_type, SUM(amount) FROM transactions "
            "WHERE username = ? AND created_at >= ? GROUP BY transaction_type",
            (username, day * 86_400_000),
        )
    )
    state = AccountState(
        username=username,
        cash=int(row[0]),
        updated_at=int(row[1]),
        day=day,
        deposited=sum(int(totals.get(kind) or 0) for kind in DEPOSIT_TYPES),
        withdrawn=-sum(int(totals.get(kind) or 0) for kind in WITHDRAW_TYPES),
        reserved=int(row[2]),
        event_seq=int(row[3]),
    )
    claimed = store.read_one(
        "SELECT 1 FROM transactions WHERE username = ? AND transaction_type = 'red_pocket' "
        "AND reference_id LIKE 'phrase:%' AND created_at >= ? LIMIT 1",
        (username, day * 86_400_000),
    )
    state.red_pocket_day = day if claimed else None
    for asset_id, quantity, reserved, cost, created, updated in store.read(
        "SELECT asset_id, quantity, reserved, cost, created_at, updated_at FROM holdings "
        "WHERE username = ?",
        (username,),
    ):
        state.holdings[asset_id] = Holding(asset_id, quantity, reserved, cost, created, updated)
    joined = store.read_one(
        "SELECT class_id, basis, trades, joined_at FROM class_members WHERE username = ?",
        (username,),
    )
    if joined is not None:
        state.member = Membership(str(joined[0]), int(joined[1]), int(joined[2]), int(joined[3]))
    for order in load_orders(
        store, "username = ? AND status IN ('pending', 'review')", (username,)
    ):
        state.open_orders[order.order_id] = order
    return state


def load_orders(
    store: Store, where: str, params: tuple[object, ...], tail: str = ""
) -> list[Order]:
    """Orders matching a condition (the caller's SQL, its values as parameters)."""
    rows = store.read(
        f"SELECT {ORDER_COLUMNS} FROM orders WHERE {where} {tail}",  # noqa: S608
        params,
    )
    return [order_from_row(row) for row in rows]


def order_from_row(row: tuple[object, ...]) -> Order:
    """An order from a row of ``ORDER_COLUMNS``."""
    values = list(row)
    values[11] = bool(values[11])  # triggered
    return Order(*values)  # type: ignore[arg-type]
