"""The account actor: the one writer of a user's cash, ledger and daily totals.

Domain logic is synchronous and pure: ``decide_*`` checks a command against the state and
returns the ledger entry to write (or raises a rejection); ``apply`` changes the state. The
actor persists through the store, applies, and hands the caller's reply to the store, which
answers after the commit; meanwhile the actor takes its next command.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
import trio

from exchange.actor import Envelope, Reply
from exchange.clock import Clock, day_of_ms
from exchange.errors import DailyLimitExceeded, DomainError, InsufficientFunds, Rejected
from exchange.money import format_usd
from exchange.store import Statement, Store, Write

DEPOSIT_TYPES = ("deposit", "red_pocket")
WITHDRAW_TYPES = ("withdraw",)


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


class Balance(msgspec.Struct, frozen=True):
    """A snapshot of an account's cash."""

    cash: int
    updated_at: int


class Deposit(msgspec.Struct, frozen=True):
    """Add cash, within the daily deposit limit."""

    amount: int


class Withdraw(msgspec.Struct, frozen=True):
    """Take cash out, within the balance and the daily withdrawal limit."""

    amount: int


class GetBalance(msgspec.Struct, frozen=True):
    """Read the cash balance."""


Command = Deposit | Withdraw | GetBalance


@dataclass(frozen=True)
class Limits:
    """Per-day caps in cents."""

    deposit: int
    withdraw: int


@dataclass
class AccountState:
    """Everything one user's actor owns."""

    username: str
    cash: int
    updated_at: int
    day: int
    deposited: int
    withdrawn: int

    def roll(self, day: int) -> None:
        """Start a new UTC day's totals when the day changes."""
        if day != self.day:
            self.day = day
            self.deposited = 0
            self.withdrawn = 0


def load_account(store: Store, username: str, now_ms: int) -> AccountState | None:
    """Read an account and today's totals from the ledger; None if no such user."""
    row = store.read_one("SELECT cash, updated_at FROM accounts WHERE username = ?", (username,))
    if row is None:
        return None
    day = day_of_ms(now_ms)
    day_start = day * 86_400_000
    totals = dict(
        store.read(
            "SELECT transaction_type, SUM(amount) FROM transactions "
            "WHERE username = ? AND created_at >= ? GROUP BY transaction_type",
            (username, day_start),
        )
    )
    deposited = sum(int(totals.get(kind) or 0) for kind in DEPOSIT_TYPES)
    withdrawn = -sum(int(totals.get(kind) or 0) for kind in WITHDRAW_TYPES)
    return AccountState(username, int(row[0]), int(row[1]), day, deposited, withdrawn)


def _limit_message(what: str, limit: int, used: int, requested: int) -> str:
    return (
        f"Daily {what} limit exceeded: limit ${format_usd(limit)}, "
        f"used today ${format_usd(used)}, requested ${format_usd(requested)}"
    )


def new_entry(state: AccountState, kind: str, amount: int, now_ms: int, description: str) -> Entry:
    """A completed ledger entry moving ``amount`` (signed) through the account."""
    return Entry(
        transaction_id=uuid.uuid4().hex,
        username=state.username,
        transaction_type=kind,
        amount=amount,
        balance_after=state.cash + amount,
        status="completed",
        description=description,
        reference_id=None,
        created_at=now_ms,
    )


def decide_deposit(state: AccountState, amount: int, now_ms: int, limits: Limits) -> Entry:
    """Check a deposit against today's limit and build its ledger entry."""
    state.roll(day_of_ms(now_ms))
    if amount <= 0:
        raise Rejected("Amount must be positive", "invalid_amount")
    if state.deposited + amount > limits.deposit:
        raise DailyLimitExceeded(_limit_message("deposit", limits.deposit, state.deposited, amount))
    return new_entry(state, "deposit", amount, now_ms, f"Deposit of ${format_usd(amount)}")


def decide_withdraw(state: AccountState, amount: int, now_ms: int, limits: Limits) -> Entry:
    """Check a withdrawal against the balance and today's limit and build its ledger entry."""
    state.roll(day_of_ms(now_ms))
    if amount <= 0:
        raise Rejected("Amount must be positive", "invalid_amount")
    if amount > state.cash:
        raise InsufficientFunds(
            f"Insufficient funds: balance ${format_usd(state.cash)}, "
            f"requested ${format_usd(amount)}"
        )
    if state.withdrawn + amount > limits.withdraw:
        raise DailyLimitExceeded(
            _limit_message("withdrawal", limits.withdraw, state.withdrawn, amount)
        )
    return new_entry(state, "withdraw", -amount, now_ms, f"Withdrawal of ${format_usd(amount)}")


def apply(state: AccountState, entry: Entry) -> None:
    """Apply a ledger entry to the state."""
    state.roll(day_of_ms(entry.created_at))
    state.cash = entry.balance_after
    state.updated_at = entry.created_at
    if entry.transaction_type in DEPOSIT_TYPES:
        state.deposited += entry.amount
    elif entry.transaction_type in WITHDRAW_TYPES:
        state.withdrawn -= entry.amount


def entry_statements(entry: Entry) -> list[Statement]:
    """The SQL that records an entry and the account's new balance, in one transaction."""
    return [
        (
            "INSERT INTO transactions (transaction_id, username, transaction_type, amount, "
            "balance_after, status, description, reference_id, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entry.transaction_id,
                entry.username,
                entry.transaction_type,
                entry.amount,
                entry.balance_after,
                entry.status,
                entry.description,
                entry.reference_id,
                entry.created_at,
            ),
        ),
        (
            "UPDATE accounts SET cash = ?, updated_at = ? WHERE username = ?",
            (entry.balance_after, entry.created_at, entry.username),
        ),
    ]


@dataclass
class AccountContext:
    """What every account actor shares: the store, the clock, the limits, and how to retire."""

    store: Store
    clock: Clock
    limits: Limits
    idle_seconds: float
    retire: Callable[[str], None]


def decide(state: AccountState, command: Command, now_ms: int, limits: Limits) -> Entry | None:
    """The ledger entry a command makes, None for reads; raises a rejection."""
    if isinstance(command, Deposit):
        return decide_deposit(state, command.amount, now_ms, limits)
    if isinstance(command, Withdraw):
        return decide_withdraw(state, command.amount, now_ms, limits)
    return None


async def serve_account(
    state: AccountState,
    inbox: trio.MemoryReceiveChannel[Envelope[Command]],
    ctx: AccountContext,
) -> None:
    """Run one user's actor until it has been idle for ``ctx.idle_seconds``."""
    while True:
        with trio.move_on_after(ctx.idle_seconds) as idle:
            command, reply = await inbox.receive()
        if idle.cancelled_caught:
            # Everything this actor queued must be committed before a successor reloads it.
            await ctx.store.barrier()
            if inbox.statistics().current_buffer_used == 0:
                ctx.retire(state.username)
                inbox.close()
                return
            continue
        await _handle(state, command, reply, ctx)
        # Take whatever else is queued without yielding, so its writes share one commit.
        while True:
            try:
                command, reply = inbox.receive_nowait()
            except trio.WouldBlock:
                break
            await _handle(state, command, reply, ctx)


async def _handle(
    state: AccountState, command: Command, reply: Reply[object], ctx: AccountContext
) -> None:
    try:
        entry = decide(state, command, ctx.clock.now_ms(), ctx.limits)
    except DomainError as rejection:
        reply.fail(rejection)
        return
    if entry is None:
        reply.set(Balance(state.cash, state.updated_at))
        return
    apply(state, entry)
    await ctx.store.submit(Write(entry_statements(entry), entry), reply)
