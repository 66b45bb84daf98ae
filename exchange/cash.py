"""Cash decisions: deposits and withdrawals within the balance and the daily limits."""

from __future__ import annotations

from dataclasses import dataclass

from exchange.change import Change
from exchange.clock import day_of_ms
from exchange.errors import DailyLimitExceeded, InsufficientFunds, Rejected
from exchange.money import format_usd
from exchange.state import Entry


@dataclass(frozen=True)
class Limits:
    """Per-day caps in cents."""

    deposit: int
    withdraw: int


def _limit_message(what: str, limit: int, used: int, requested: int) -> str:
    return (
        f"Daily {what} limit exceeded: limit ${format_usd(limit)}, "
        f"used today ${format_usd(used)}, requested ${format_usd(requested)}"
    )


def credit_within_limit(
    change: Change,
    kind: str,
    amount: int,
    limits: Limits,
    description: str,
    reference_id: str | None = None,
) -> Entry:
    """Add cash that counts toward today's deposit limit (deposits and red pockets)."""
    state = change.state
    state.roll(day_of_ms(change.now))
    if amount <= 0:
        raise Rejected("Amount must be positive", "invalid_amount")
    if state.deposited + amount > limits.deposit:
        raise DailyLimitExceeded(_limit_message("deposit", limits.deposit, state.deposited, amount))
    return change.move_cash(kind, amount, description, reference_id)


def deposit(change: Change, amount: int, limits: Limits, description: str | None = None) -> Entry:
    """Add cash within today's deposit limit; the ledger row says ``description`` if given."""
    text = description or f"Deposit of ${format_usd(amount)}"
    return credit_within_limit(change, "deposit", amount, limits, text)


def withdraw(change: Change, amount: int, limits: Limits, description: str | None = None) -> Entry:
    """Take out cash within the available balance and today's withdrawal limit."""
    state = change.state
    state.roll(day_of_ms(change.now))
    if amount <= 0:
        raise Rejected("Amount must be positive", "invalid_amount")
    if amount > state.available:
        reserved = (
            f" (${format_usd(state.reserved)} reserved by open orders)" if state.reserved else ""
        )
        raise InsufficientFunds(
            f"Insufficient funds: available ${format_usd(state.available)}{reserved}, "
            f"requested ${format_usd(amount)}"
        )
    if state.withdrawn + amount > limits.withdraw:
        raise DailyLimitExceeded(
            _limit_message("withdrawal", limits.withdraw, state.withdrawn, amount)
        )
    text = description or f"Withdrawal of ${format_usd(amount)}"
    return change.move_cash("withdraw", -amount, text)
