"""The account actor: the one writer of a user's cash, holdings, orders and ledgers.

Domain logic is synchronous and pure (``exchange.cash``, ``exchange.trading``): it checks a
command against the state, then applies its moves through a ``Change``. The actor hands the
change's SQL and the caller's reply to the store, which answers after the commit (and then
publishes the account's events); meanwhile the actor takes its next command.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec
import trio

from exchange import cash, redpocket, trading
from exchange.actor import Envelope, Reply
from exchange.cash import Limits
from exchange.change import Change, Event
from exchange.clock import Clock, day_of_ms
from exchange.errors import Conflict, DomainError, NotFound, NotPending
from exchange.orders import Order, OrderRequest
from exchange.redpocket import RedPockets
from exchange.state import AccountState, Balance, Holding, load_orders
from exchange.store import Store, Write
from exchange.trading import Quote, Rules


class Deposit(msgspec.Struct, frozen=True):
    """Add cash, within the daily deposit limit."""

    amount: int


class Withdraw(msgspec.Struct, frozen=True):
    """Take cash out, within the available balance and the daily withdrawal limit."""

    amount: int


class GetBalance(msgspec.Struct, frozen=True):
    """Read the cash balance."""


class GetHoldings(msgspec.Struct, frozen=True):
    """Read cash and holdings together (one consistent snapshot)."""


class PlaceOrder(msgspec.Struct, frozen=True):
    """A new order."""

    request: OrderRequest


class CancelOrder(msgspec.Struct, frozen=True):
    """Cancel an open order."""

    order_id: str


class ClaimRedPocket(msgspec.Struct, frozen=True):
    """Claim a red pocket with a phrase."""

    phrase: str


class OrderEvent(msgspec.Struct, frozen=True):
    """A tick fired a resting order: ``kind`` is fill, trigger or expire."""

    kind: str
    order_id: str
    seq: int
    price: int


Command = (
    Deposit
    | Withdraw
    | GetBalance
    | GetHoldings
    | PlaceOrder
    | CancelOrder
    | OrderEvent
    | ClaimRedPocket
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


def decide(change: Change, command: Command, ctx: AccountContext) -> object:
    """Check a command and apply it to the change; raises a rejection before any move."""
    state = change.state
    if isinstance(command, Deposit):
        return cash.deposit(change, command.amount, ctx.limits)
    if isinstance(command, Withdraw):
        return cash.withdraw(change, command.amount, ctx.limits)
    if isinstance(command, PlaceOrder):
        request = command.request
        if request.client_order_id is not None:
            earlier = _client_order(state, request.client_order_id, ctx.store)
            if earlier is not None:
                if request.same_as(earlier):
                    return earlier
                raise Conflict(
                    f"client_order_id '{request.client_order_id}' was used for another order",
                    "duplicate_client_order_id",
                )
        return trading.place(change, request, ctx.quote(request.asset_id), ctx.rules)
    if isinstance(command, CancelOrder):
        order = state.open_orders.get(command.order_id)
        if order is None:
            raise NotPending(f"Order {command.order_id} is no longer pending")
        return trading.close(change, order, "cancelled", "cancelled by the user")
    if isinstance(command, OrderEvent):
        return _fired(change, command, ctx)
    if isinstance(command, ClaimRedPocket):
        return redpocket.claim(change, command.phrase, ctx.red_pockets, ctx.limits)
    raise TypeError(f"unknown command {command!r}")


def _fired(change: Change, event: OrderEvent, ctx: AccountContext) -> Order | None:
    order = change.state.open_orders.get(event.order_id)
    if order is None:
        return None  # cancelled, filled or expired meanwhile
    quote = Quote(event.seq, event.price, True)
    if event.kind == "expire":
        reason = "day order ended" if order.time_in_force == "day" else "expired"
        return trading.close(change, order, "expired", reason)
    if event.kind == "trigger":
        return trading.trigger(change, order, quote, ctx.rules)
    return trading.fill_resting(change, order, quote, ctx.rules)


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
    if isinstance(command, GetBalance | GetHoldings):
        reply.set(_read(state, command, ctx.clock.now_ms()))
        return
    change = Change(state, ctx.clock.now_ms())
    try:
        result = decide(change, command, ctx)
    except DomainError as rejection:
        reply.fail(rejection)
        return
    change.finish()
    if not change.entries and not change.orders and not change.events:
        reply.set(result)
        return
    for order in change.orders.values():
        if order.is_open:
            ctx.arm(order)
        else:
            ctx.disarm(order.order_id)
    events = change.events
    on_commit = (lambda: ctx.publish(events)) if events else None
    await ctx.store.submit(Write(change.statements(), result, on_commit=on_commit), reply)


def unknown_order(order_id: str) -> NotFound:
    """The rejection for an order the caller cannot see."""
    return NotFound(f"Order {order_id} not found", "order_not_found")
