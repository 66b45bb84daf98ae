"""What one command does to an account, applied to its state and recorded for one write.

A ``Change`` moves cash and assets through the ledgers (each move a row with the balance after
it), saves orders and holdings, and numbers the account's events; ``statements()`` is the SQL
that makes all of it durable in one transaction.
"""

from __future__ import annotations

import msgspec

from exchange.clock import iso_ms
from exchange.ids import new_id
from exchange.money import format_usd
from exchange.orders import Order, order_view
from exchange.state import AccountState, AssetEntry, Entry
from exchange.store import Statement

_encoder = msgspec.json.Encoder()


def _wire(value: object) -> object:
    return order_view(value) if isinstance(value, Order) else value


class Event:
    """One numbered account event; its JSON body is made only if someone reads it."""

    __slots__ = ("_body", "payload", "seq", "time_ms", "username")

    def __init__(self, username: str, seq: int, time_ms: int, payload: dict[str, object]) -> None:
        self.username = username
        self.seq = seq
        self.time_ms = time_ms
        self.payload = payload
        self._body: bytes | None = None

    @property
    def body(self) -> bytes:
        """``{"seq", "time", "type", ...}`` as JSON, encoded once."""
        if self._body is None:
            fields = {key: _wire(value) for key, value in self.payload.items()}
            full = {"seq": self.seq, "time": iso_ms(self.time_ms), **fields}
            self._body = _encoder.encode(full)
        return self._body


class Change:
    """Moves on one account, applied as they are made and persisted together."""

    def __init__(self, state: AccountState, now_ms: int) -> None:
        self.state = state
        self.now = now_ms
        self.entries: list[Entry] = []
        self.asset_entries: list[AssetEntry] = []
        self.orders: dict[str, Order] = {}
        self.holdings: set[str] = set()
        self.events: list[Event] = []
        # Further rows of the same transaction (class membership, the review desk).
        self.extra: list[Statement] = []
        self._cash_moved = False

    def move_cash(
        self, kind: str, amount: int, description: str, reference_id: str | None = None
    ) -> Entry:
        """Add (or with a negative amount, take) cash, with its ledger row."""
        state = self.state
        state.roll(self.now // 86_400_000)
        state.cash += amount
        state.updated_at = self.now
        if kind in ("deposit", "red_pocket"):
            state.deposited += amount
        elif kind == "withdraw":
            state.withdrawn -= amount
        entry = Entry(
            transaction_id=new_id(),
            username=state.username,
            transaction_type=kind,
            amount=amount,
            balance_after=state.cash,
            status="completed",
            description=description,
            reference_id=reference_id,
            created_at=self.now,
        )
        self.entries.append(entry)
        self._cash_moved = True
        return entry

    def reserve_cash(self, amount: int) -> None:
        """Promise (or with a negative amount, release) cash to an open buy order."""
        self.state.reserved += amount
        self._cash_moved = True

    def move_asset(
        self,
        asset_id: str,
        quantity: int,
        price: int,
        total: int,
        order_id: str,
        kind: str | None = None,
    ) -> None:
        """Add (or take) a quantity of an asset, with its ledger row (BUY/SELL unless ``kind``)."""
        holding = self.state.holding(asset_id, self.now)
        holding.quantity += quantity
        holding.updated_at = self.now
        self.holdings.add(asset_id)
        self.asset_entries.append(
            AssetEntry(
                username=self.state.username,
                asset_id=asset_id,
                order_id=order_id,
                transaction_type=kind or ("BUY" if quantity > 0 else "SELL"),
                quantity=quantity,
                price=price,
                total=total,
                balance_after=holding.quantity,
                status="completed",
                created_at=self.now,
            )
        )

    def adjust_cost(self, asset_id: str, amount: int) -> None:
        """Change the cost basis of a holding."""
        self.state.holding(asset_id, self.now).cost += amount
        self.holdings.add(asset_id)

    def reserve_asset(self, asset_id: str, quantity: int) -> None:
        """Promise (or release) a quantity to an open sell order."""
        holding = self.state.holding(asset_id, self.now)
        holding.reserved += quantity
        holding.updated_at = self.now
        self.holdings.add(asset_id)

    def save_order(self, order: Order, event: str | None) -> Order:
        """Record an order's new state (kept open or closed in the state) and its event."""
        if order.is_open or order.in_review:
            self.state.open_orders[order.order_id] = order
        else:
            self.state.open_orders.pop(order.order_id, None)
        if order.client_order_id is not None:
            self.state.client_orders[order.client_order_id] = order
        self.orders[order.order_id] = order
        if event is not None:
            self.event({"type": "order", "event": event, "order": order})
        return order

    def event(self, body: dict[str, object]) -> None:
        """Number an event for the account's stream."""
        self.state.event_seq += 1
        self.events.append(Event(self.state.username, self.state.event_seq, self.now, body))

    def finish(self) -> None:
        """Close the change: one balance event if cash or reservations moved."""
        if self._cash_moved:
            state = self.state
            self.event(
                {
                    "type": "balance",
                    "cash": format_usd(state.cash),
                    "reserved": format_usd(state.reserved),
                    "available": format_usd(state.available),
                }
            )
            self._cash_moved = False

    def statements(self) -> list[Statement]:
        """The SQL that records everything in this change."""
        state = self.state
        statements: list[Statement] = [
            (
                "INSERT INTO transactions (transaction_id, username, transaction_type, amount, "
                "balance_after, status, description, reference_id, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    e.transaction_id,
                    e.username,
                    e.transaction_type,
                    e.amount,
                    e.balance_after,
                    e.status,
                    e.description,
                    e.reference_id,
                    e.created_at,
                ),
            )
            for e in self.entries
        ]
        statements.extend(
            (
                "INSERT INTO asset_transactions (username, asset_id, order_id, transaction_type, "
                "quantity, price, total, balance_after, status, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    a.username,
                    a.asset_id,
                    a.order_id,
                    a.transaction_type,
                    a.quantity,
                    a.price,
                    a.total,
                    a.balance_after,
                    a.status,
                    a.created_at,
                ),
            )
            for a in self.asset_entries
        )
        for asset_id in sorted(self.holdings):
            h = state.holdings[asset_id]
            statements.append(
                (
                    "INSERT INTO holdings (username, asset_id, quantity, reserved, cost, "
                    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (username, asset_id) DO UPDATE SET quantity = excluded.quantity, "
                    "reserved = excluded.reserved, cost = excluded.cost, "
                    "updated_at = excluded.updated_at",
                    (
                        state.username,
                        asset_id,
                        h.quantity,
                        h.reserved,
                        h.cost,
                        h.created_at,
                        h.updated_at,
                    ),
                )
            )
        statements.extend(_order_statement(order) for order in self.orders.values())
        statements.extend(self.extra)
        statements.append(
            (
                "UPDATE accounts SET cash = ?, reserved = ?, event_seq = ?, updated_at = ? "
                "WHERE username = ?",
                (state.cash, state.reserved, state.event_seq, state.updated_at, state.username),
            )
        )
        return statements


def _order_statement(order: Order) -> Statement:
    return (
        "INSERT INTO orders (order_id, username, client_order_id, order_type, asset_id, quantity, "
        "price, stop_price, time_in_force, expires_at, status, triggered, reserved_cash, "
        "reserved_quantity, filled_price, total_amount, fee, fill_seq, reason, created_at, "
        "updated_at, note, model_price) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, "
        "triggered = excluded.triggered, reserved_cash = excluded.reserved_cash, "
        "reserved_quantity = excluded.reserved_quantity, filled_price = excluded.filled_price, "
        "total_amount = excluded.total_amount, fee = excluded.fee, fill_seq = excluded.fill_seq, "
        "reason = excluded.reason, updated_at = excluded.updated_at, "
        "model_price = excluded.model_price",
        (
            order.order_id,
            order.username,
            order.client_order_id,
            order.order_type,
            order.asset_id,
            order.quantity,
            order.price,
            order.stop_price,
            order.time_in_force,
            order.expires_at,
            order.status,
            int(order.triggered),
            order.reserved_cash,
            order.reserved_quantity,
            order.filled_price,
            order.total_amount,
            order.fee,
            order.fill_seq,
            order.reason,
            order.created_at,
            order.updated_at,
            order.note,
            order.model_price,
        ),
    )
