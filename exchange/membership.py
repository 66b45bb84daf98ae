"""Class membership on one account: joining with a grant, resets and cash adjustments.

Pure and synchronous, run by the account actor like every other money change. Each is made
of ledger rows with their own types (``class_grant``, ``class_reset``, ``class_adjustment``,
and ``RESET`` rows in the asset ledger), so balances still equal their ledgers and nothing is
deleted.
"""

from __future__ import annotations

from exchange.change import Change
from exchange.classes import Membership
from exchange.errors import Conflict, InsufficientFunds, Rejected
from exchange.ids import new_id
from exchange.money import format_usd, proceeds_cents
from exchange.review import withdrawn
from exchange.state import AccountState
from exchange.trading import close

# Cash ledger types that change what a student was given (the leaderboard's basis).
CAPITAL_TYPES = ("deposit", "withdraw", "red_pocket", "class_grant", "class_adjustment")
RESET_REASON = "reset by the teacher"


def join(change: Change, class_id: str, name: str, grant: int, brought: int) -> Membership:
    """Join a class: ``brought`` (the account's value now) plus the grant become the basis."""
    state = change.state
    if state.member is not None:
        message = "Already in a class: a student is in one class at a time"
        raise Conflict(message, "already_in_class")
    state.member = Membership(class_id, brought, 0, change.now)
    if grant:
        change.move_cash("class_grant", grant, f"Starting cash for class {name}", class_id)
    return state.member


def reset(change: Change, starting_cash: int, prices: dict[str, int], by: str) -> Membership:
    """Back to the starting cash: open orders cancelled, holdings sold off the book at 0."""
    state = change.state
    member = _member(state)
    reference = "reset_" + new_id()
    for order in list(state.open_orders.values()):
        if order.in_review:
            withdrawn(change, order)
        close(change, order, "cancelled", RESET_REASON)
    for asset_id, holding in sorted(state.holdings.items()):
        if holding.quantity:
            price = prices.get(asset_id, 0)
            value = proceeds_cents(holding.quantity, price)
            change.move_asset(asset_id, -holding.quantity, price, value, reference, "RESET")
        if holding.cost:
            change.adjust_cost(asset_id, -holding.cost)
    change.move_cash(
        "class_reset",
        starting_cash - state.cash,
        f"Reset to the starting cash ${format_usd(starting_cash)} by {by}",
        reference,
    )
    member.basis = starting_cash
    member.trades = 0
    return member


def adjust(change: Change, amount: int, reason: str) -> Membership:
    """Give (or with a negative amount, take) cash, with the teacher's reason on the row."""
    state = change.state
    member = _member(state)
    if amount == 0:
        raise Rejected("Amount must not be zero", "invalid_amount")
    if -amount > state.available:
        raise InsufficientFunds(
            f"Insufficient funds: available ${format_usd(state.available)}, "
            f"adjustment ${format_usd(amount)}"
        )
    change.move_cash("class_adjustment", amount, reason)
    return member


def account_for(change: Change, member: Membership) -> None:
    """Carry a committed change into the member's basis and trade count."""
    for entry in change.entries:
        if entry.transaction_type in CAPITAL_TYPES:
            member.basis += entry.amount
    member.trades += len(
        {a.order_id for a in change.asset_entries if a.transaction_type in ("BUY", "SELL")}
    )


def member_statement(state: AccountState) -> tuple[str, tuple[object, ...]]:
    """The upsert of the member's row."""
    member = _member(state)
    return (
        "INSERT INTO class_members (username, class_id, basis, trades, joined_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (username) DO UPDATE SET "
        "basis = excluded.basis, trades = excluded.trades",
        (state.username, member.class_id, member.basis, member.trades, member.joined_at),
    )


def _member(state: AccountState) -> Membership:
    if state.member is None:
        raise Conflict(f"{state.username} is not in a class", "not_in_class")
    return state.member
