"""The account actor: the one writer of a user's cash, holdings, orders and ledgers.

Domain logic is synchronous and pure (``exchange.cash``, ``exchange.trading``): it checks a
command against the state, then applies its moves through a ``Change``. The actor hands the
change's SQL and the caller's reply to the store, which answers after the commit (and then
publishes the account's events); meanwhile the actor takes its next command.

If the store could not commit one of those writes, the state in memory is ahead of the disk:
the store refuses that write and every later one of the actor's ``Chain``, and before its next
command (read or write) the actor reloads the account from the database and brings the trigger
index back in line with the orders that are really open.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import msgspec
import trio

from exchange import cash, classes, membership, redpocket, review, trading
from exchange.actor import Envelope, Reply
from exchange.cash import Limits
from exchange.change import Change, Event
from exchange.classes import ClassInfo
from exchange.clock import Clock, day_of_ms
from exchange.errors import Conflict, DomainError, NotFound, NotPending, StorageUnavailable
from exchange.leaderboard import Position
from exchange.money import proceeds_cents
from exchange.orders import Order, OrderRequest
from exchange.redpocket import RedPockets
from exchange.state import AccountState, Balance, Holding, load_account, load_orders
from exchange.store import Store, Write, storage_fault
from exchange.trading import Quote, Rules


class Deposit(msgspec.Struct, frozen=True):
    """Add cash, within the daily deposit limit; ``description`` is the client's note."""

    amount: int
    description: str | None = None


class Withdraw(msgspec.Struct, frozen=True):
    """Take cash out, within the balance and the daily withdrawal limit, with an optional note."""

    amount: int
    description: str | None = None


class GetBalance(msgspec.Struct, frozen=True):
    """Read the cash balance."""


class GetHoldings(msgspec.Struct, frozen=True):
    """Read cash and holdings together (one consistent snapshot)."""


class PlaceOrder(msgspec.Struct, frozen=True):
    """A new order."""

    request: OrderRequest


class CancelOrder(msgspec.Struct, frozen=True):
    """Cancel an open order (``reason`` is what the order record says)."""

    order_id: str
    reason: str = "cancelled by the user"


class ClaimRedPocket(msgspec.Struct, frozen=True):
    """Claim a red pocket with a phrase."""

    phrase: str


class Settle(msgspec.Struct, frozen=True):
    """Nothing to do but reload: the store refused a write of this actor (its state is ahead)."""


class OrderEvent(msgspec.Struct, frozen=True):
    """A tick fired a resting order: ``kind`` is fill, trigger or expire."""

    kind: str
    order_id: str
    seq: int
    price: int
    # The tick's price without its impact part, read at the tick (None: impact off).
    model: int | None = None


class JoinClass(msgspec.Struct, frozen=True):
    """Join a class: its starting cash is granted as a ``class_grant`` ledger row."""

    class_id: str


class ResetAccount(msgspec.Struct, frozen=True):
    """Back to the class's starting cash (open orders cancelled, holdings removed)."""

    class_id: str
    by: str


class AdjustCash(msgspec.Struct, frozen=True):
    """Give or take cash as the class's teacher, with a reason."""

    class_id: str
    amount: int
    reason: str


class ReviewOrder(msgspec.Struct, frozen=True):
    """The review desk's decision on a held order: ``approved`` or ``rejected``."""

    class_id: str
    order_id: str
    decision: str
    by: str
    note: str | None = None


Command = (
    Deposit
    | Withdraw
    | GetBalance
    | GetHoldings
    | PlaceOrder
    | CancelOrder
    | OrderEvent
    | ClaimRedPocket
    | Settle
    | JoinClass
    | ResetAccount
    | AdjustCash
    | ReviewOrder
)


class Portfolio(msgspec.Struct, frozen=True):
    """Cash and holdings at one moment."""

    cash: int
    reserved: int
    holdings: list[Holding]
    updated_at: int


@dataclass
class AccountContext:
    """What every account actor shares."""

    store: Store
    clock: Clock
    limits: Limits
    rules: Rules
    red_pockets: RedPockets
    idle_seconds: float
    quote: Callable[[str], Quote]
    arm: Callable[[Order], None]
    disarm: Callable[[str], None]
    publish: Callable[[list[Event]], None]
    retire: Callable[[str], None]
    # The class of an id (read-only here: the classroom is its one writer) and asset categories.
    class_info: Callable[[str], ClassInfo | None]
    categories: Mapping[str, str]
    # Told a member's committed position (None: no longer on that class's board).
    standing: Callable[[str, str, Position | None], None]
    # Told each fill once it is committed (price impact counts it).
    filled: Callable[[Order], None]


def decide(change: Change, command: Command, ctx: AccountContext) -> object:
    """Check a command and apply it to the change; raises a rejection before any move."""
    state = change.state
    info = _class_of(state, ctx)
    if isinstance(command, Deposit):
        if info is not None:
            classes.check_cash_flow(info.rules, deposit=True)
        return cash.deposit(change, command.amount, ctx.limits, command.description)
    if isinstance(command, Withdraw):
        if info is not None:
            classes.check_cash_flow(info.rules, deposit=False)
        return cash.withdraw(change, command.amount, ctx.limits, command.description)
    if isinstance(command, PlaceOrder):
        return _place(change, command.request, info, ctx)
    if isinstance(command, CancelOrder):
        order = state.open_orders.get(command.order_id)
        if order is None:
            raise NotPending(f"Order {command.order_id} is no longer pending")
        if order.in_review:
            review.withdrawn(change, order)
        return trading.close(change, order, "cancelled", command.reason)
    if isinstance(command, OrderEvent):
        return _fired(change, command, info, ctx)
    if isinstance(command, ClaimRedPocket):
        if info is not None:
            classes.check_cash_flow(info.rules, deposit=True)
        return redpocket.claim(change, command.phrase, ctx.red_pockets, ctx.limits)
    if isinstance(command, JoinClass):
        joining = ctx.class_info(command.class_id)
        if joining is None:
            raise NotFound("Class not found", "class_not_found")
        classes.check_joinable(joining)
        brought = state.cash + _holdings_value(state, ctx)
        grant = joining.rules.starting_cash
        return membership.join(change, joining.class_id, joining.name, grant, brought)
    if not isinstance(command, ResetAccount | AdjustCash | ReviewOrder):
        raise TypeError(f"unknown command {command!r}")
    info = _class_checked(state, command.class_id, ctx)
    if isinstance(command, ResetAccount):
        prices = {asset_id: ctx.quote(asset_id).price for asset_id in state.holdings}
        return membership.reset(change, info.rules.starting_cash, prices, command.by)
    if isinstance(command, AdjustCash):
        return membership.adjust(change, command.amount, command.reason)
    order = state.open_orders.get(command.order_id)
    quote = None
    if command.decision == "approved" and order is not None and order.in_review:
        # An approved order trades now, so the class must be trading (rejecting always works).
        classes.check_trading(info, change.now)
        quote = ctx.quote(order.asset_id)
    rules = _rules(info, ctx)
    return review.decide(
        change, command.order_id, command.decision, quote, rules, command.by, command.note
    )


def _class_of(state: AccountState, ctx: AccountContext) -> ClassInfo | None:
    return None if state.member is None else ctx.class_info(state.member.class_id)


def _class_checked(state: AccountState, class_id: str, ctx: AccountContext) -> ClassInfo:
    """The student's class, which must be ``class_id`` (another class's teacher gets 404)."""
    info = _class_of(state, ctx)
    if info is None or info.class_id != class_id:
        raise NotFound(f"{state.username} is not in this class", "student_not_found")
    return info


def _rules(info: ClassInfo | None, ctx: AccountContext) -> Rules:
    """The exchange's trading rules, with a class's own fee and order-value cap."""
    if info is None:
        return ctx.rules
    cap = info.rules.max_order_value
    return Rules(ctx.rules.max_order_value if cap is None else cap, info.rules.fee_bps)


def _holdings_value(state: AccountState, ctx: AccountContext) -> int:
    return sum(
        proceeds_cents(holding.quantity, ctx.quote(asset_id).price)
        for asset_id, holding in state.holdings.items()
        if holding.quantity
    )


def _place(
    change: Change, request: OrderRequest, info: ClassInfo | None, ctx: AccountContext
) -> Order:
    state = change.state
    if request.client_order_id is not None:
        earlier = _client_order(state, request.client_order_id, ctx.store)
        if earlier is not None:
            if request.same_as(earlier):
                return earlier
            raise Conflict(
                f"client_order_id '{request.client_order_id}' was used for another order",
                "duplicate_client_order_id",
            )
    quote = ctx.quote(request.asset_id)
    rules = _rules(info, ctx)
    if info is None or state.member is None:
        return trading.place(change, request, quote, rules)
    class_rules = info.rules
    classes.check_trading(info, change.now)
    classes.check_asset(class_rules, request.asset_id, ctx.categories.get(request.asset_id))
    value = trading.order_value(request, quote)
    if request.order_type.endswith("_buy") and class_rules.max_position_pct is not None:
        holding = state.holdings.get(request.asset_id)
        held = proceeds_cents(holding.quantity, quote.price) if holding else 0
        equity = state.cash + _holdings_value(state, ctx)
        classes.check_position(class_rules, request.asset_id, held, value, equity)
    classes.check_rate(state.member, class_rules, change.now)
    if class_rules.review_above is not None and value > class_rules.review_above:
        return review.hold(change, request, quote, rules, info.class_id, value)
    return trading.place(change, request, quote, rules)


def _fired(
    change: Change, event: OrderEvent, info: ClassInfo | None, ctx: AccountContext
) -> Order | None:
    order = change.state.open_orders.get(event.order_id)
    if order is None or not order.is_open:
        return None  # cancelled, filled or expired meanwhile
    quote = Quote(event.seq, event.price, True, event.model)
    if event.kind == "expire":
        reason = "day order ended" if order.time_in_force == "day" else "expired"
        return trading.close(change, order, "expired", reason)
    if info is not None and not classes.trading_now(info, change.now):
        # Paused, closed or outside the window: it waits, and is checked again next tick.
        return change.save_order(order, None)
    rules = _rules(info, ctx)
    if event.kind == "trigger":
        return trading.trigger(change, order, quote, rules)
    return trading.fill_resting(change, order, quote, rules)


def _client_order(state: AccountState, client_order_id: str, store: Store) -> Order | None:
    known = state.client_orders.get(client_order_id)
    if known is not None:
        return known
    found = load_orders(
        store, "username = ? AND client_order_id = ?", (state.username, client_order_id)
    )
    if found:
        state.client_orders[client_order_id] = found[0]
        return found[0]
    return None


def _read(state: AccountState, command: Command, now_ms: int) -> object:
    if isinstance(command, GetBalance):
        today = state.day == day_of_ms(now_ms)
        return Balance(
            state.cash,
            state.reserved,
            state.updated_at,
            state.deposited if today else 0,
            state.withdrawn if today else 0,
        )
    return Portfolio(
        state.cash,
        state.reserved,
        [Holding(**vars(h)) for h in state.holdings.values() if h.quantity or h.reserved],
        state.updated_at,
    )


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
        state = await _handle(state, command, reply, ctx)
        # Take whatever else is queued without yielding, so its writes share one commit.
        while True:
            try:
                command, reply = inbox.receive_nowait()
            except trio.WouldBlock:
                break
            state = await _handle(state, command, reply, ctx)


async def _handle(
    state: AccountState, command: Command, reply: Reply[object], ctx: AccountContext
) -> AccountState:
    """Answer one command; returns the state to go on with (reloaded after a refused write)."""
    if state.chain.broken is not None:
        try:
            state = reload(state, ctx)
        except StorageUnavailable as failure:
            reply.fail(failure)
            return state
    if isinstance(command, GetBalance | GetHoldings):
        reply.set(_read(state, command, ctx.clock.now_ms()))
        return state
    if isinstance(command, Settle):
        reply.set(None)
        return state
    change = Change(state, ctx.clock.now_ms())
    member = state.member
    before = None if member is None else (member.basis, member.trades)
    try:
        result = decide(change, command, ctx)
    except DomainError as rejection:
        reply.fail(rejection)
        return state
    change.finish()
    on_standing = _standing_update(change, before, ctx)
    if not change.entries and not change.orders and not change.events and not change.extra:
        # Nothing to write (a retried order, an order event for a closed order), but the answer
        # may rest on writes still in flight (the retried order's own): it goes behind them, so
        # it is never a 2xx for something that is then refused.
        await ctx.store.submit(Write((), result, chain=state.chain), reply)
        return state
    for order in change.orders.values():
        if order.is_open:
            ctx.arm(order)
        else:
            ctx.disarm(order.order_id)
    events = change.events
    # An order is saved completed only by the change that fills it.
    fills = [order for order in change.orders.values() if order.status == "completed"]

    def committed() -> None:
        for order in fills:
            ctx.filled(order)
        if events:
            ctx.publish(events)
        if on_standing is not None:
            on_standing()

    on_commit = committed if events or fills or on_standing is not None else None
    write = Write(change.statements(), result, on_commit=on_commit, chain=state.chain)
    await ctx.store.submit(write, reply)
    return state


def reload(state: AccountState, ctx: AccountContext) -> AccountState:
    """The account as the database holds it, once the store refused a write of ``state``.

    Every write of the broken chain is refused, so what is on disk is final for those; the
    trigger index follows the orders that are open there. An order whose state did not change
    keeps its place (and its time priority) in the index. ``StorageUnavailable`` if the
    database cannot even be read: the old state is kept (still broken) and tried again.
    """
    try:
        fresh = load_account(ctx.store, state.username, ctx.clock.now_ms())
    except sqlite3.Error as exc:
        failure = storage_fault(exc)
        if failure is None:
            raise
        raise failure from exc
    assert fresh is not None, "accounts are never deleted"
    fresh.chain = state.chain.successor()
    for order_id in state.open_orders:
        if order_id not in fresh.open_orders:
            ctx.disarm(order_id)
    for order_id, order in fresh.open_orders.items():
        if state.open_orders.get(order_id) != order:
            ctx.arm(order)
    return fresh


def _standing_update(
    change: Change, before: tuple[int, int] | None, ctx: AccountContext
) -> Callable[[], None] | None:
    """Keep a member's row current in this change; what tells the board once committed."""
    state = change.state
    member = state.member
    if member is None:
        return None
    membership.account_for(change, member)
    if before != (member.basis, member.trades):
        change.extra.append(membership.member_statement(state))
    elif not change.entries and not change.asset_entries:
        return None
    held = [(a, h.quantity) for a, h in sorted(state.holdings.items()) if h.quantity]
    position = Position(
        state.cash,
        tuple(a for a, _ in held),
        tuple(q for _, q in held),
        member.basis,
        member.trades,
    )
    class_id, username = member.class_id, state.username
    return lambda: ctx.standing(class_id, username, position)


def unknown_order(order_id: str) -> NotFound:
    """The rejection for an order the caller cannot see."""
    return NotFound(f"Order {order_id} not found", "order_not_found")
