"""Order decisions: place, fill, trigger, cancel and expire, on one account's state.

Pure and synchronous: every check runs before anything changes, so a rejection leaves the
account untouched; the moves are made through a ``Change`` that the actor then persists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import msgspec

from exchange.change import Change
from exchange.errors import InsufficientFunds, InsufficientHoldings, Rejected
from exchange.money import (
    QTY_SCALE,
    cost_cents,
    fee_cents,
    format_price,
    format_quantity,
    format_usd,
    proceeds_cents,
)
from exchange.orders import LIMIT, MARKET, STOP, STOP_LIMIT, Order, OrderRequest, new_order_id

# The largest quantity an order may ask for: ten billion units of any asset.
MAX_QUANTITY = 10**10 * QTY_SCALE


@dataclass(frozen=True)
class Rules:
    """Trading limits: the largest order value (cents) and the taker fee (basis points)."""

    max_order_value: int
    fee_bps: int = 0


class Quote(NamedTuple):
    """An asset's price as of a tick: the tick's sequence number, the price, and if it trades.

    ``model`` is the price without its impact part, read at the same moment as the price
    (None when price impact is off for the asset); a fill keeps it to explain its price.
    """

    seq: int
    price: int
    active: bool
    model: int | None = None


def place(change: Change, request: OrderRequest, quote: Quote, rules: Rules) -> Order:
    """Accept a new order: fill it now if it can fill now, else rest it with its reservation."""
    return proceed(change, new_order(change, request, quote, rules), quote, rules)


def order_value(request: OrderRequest, quote: Quote) -> int:
    """What an order is worth for the order-value cap and the review desk, in cents."""
    return cost_cents(request.quantity, _value_price(request, quote))


def new_order(change: Change, request: OrderRequest, quote: Quote, rules: Rules) -> Order:
    """A checked new order, not yet saved: tradable asset, sane quantity, within the value cap."""
    kind = request.order_type
    if not quote.active:
        raise Rejected(f"Asset {request.asset_id} is not available for trading", "asset_inactive")
    if request.quantity > MAX_QUANTITY:
        # Larger would not even fit a database integer; nobody can hold that much anyway.
        raise Rejected(
            f"Quantity must be at most {format_quantity(MAX_QUANTITY)}", "invalid_quantity"
        )
    value = order_value(request, quote)
    if value > rules.max_order_value:
        raise Rejected(
            f"Order value ${format_usd(value)} exceeds the maximum of "
            f"${format_usd(rules.max_order_value)}",
            "order_value_exceeded",
        )
    order = Order(
        order_id=new_order_id(),
        username=change.state.username,
        client_order_id=request.client_order_id,
        order_type=kind,
        asset_id=request.asset_id,
        quantity=request.quantity,
        price=None if kind in MARKET + STOP else request.price,
        stop_price=request.stop_price,
        time_in_force=request.time_in_force,
        expires_at=request.expires_at,
        status="pending",
        triggered=False,
        reserved_cash=0,
        reserved_quantity=0,
        filled_price=None,
        total_amount=None,
        fee=0,
        fill_seq=None,
        reason=None,
        created_at=change.now,
        updated_at=change.now,
        note=request.note,
    )
    return order


def proceed(change: Change, order: Order, quote: Quote, rules: Rules) -> Order:
    """Take a checked order on: fill it if it can fill now, else rest it (or cancel an IOC)."""
    if order.waits_for_stop and _stop_reached(order, quote.price):
        order = msgspec.structs.replace(order, triggered=True)
    if _fills_now(order, quote.price):
        _check_can_fill(change, order, quote.price, rules)
        change.save_order(order, "new")
        return execute(change, order, quote, rules)
    if order.time_in_force == "ioc":
        cancelled = msgspec.structs.replace(
            order, status="cancelled", reason="immediate-or-cancel: not marketable on arrival"
        )
        return change.save_order(cancelled, "cancelled")
    return change.save_order(reserve(change, order, rules), "new")


def _value_price(request: OrderRequest, quote: Quote) -> int:
    """The price an order is valued at for the order-value cap."""
    if request.order_type in MARKET:
        return quote.price
    if request.order_type in STOP:
        # Reached on arrival, a stop order is a market order: valued at the current price.
        stop = request.stop_price or quote.price
        buy = request.order_type.endswith("_buy")
        reached = quote.price >= stop if buy else quote.price <= stop
        return quote.price if reached else stop
    return request.price or quote.price


def _stop_reached(order: Order, price: int) -> bool:
    stop = order.stop_price
    assert stop is not None
    return price >= stop if order.is_buy else price <= stop


def _fills_now(order: Order, price: int) -> bool:
    """True when an order should fill at ``price`` right away."""
    if order.order_type in MARKET:
        return True
    if order.waits_for_stop:
        return False
    if order.order_type in STOP:
        return True  # triggered: it is a market order now
    limit = order.price
    assert limit is not None
    return price <= limit if order.is_buy else price >= limit


def _buy_cost(quantity: int, price: int, rules: Rules) -> tuple[int, int]:
    cost = cost_cents(quantity, price)
    return cost, fee_cents(cost, rules.fee_bps)


def _check_can_fill(change: Change, order: Order, price: int, rules: Rules) -> None:
    state = change.state
    if order.is_buy:
        cost, fee = _buy_cost(order.quantity, price, rules)
        available = state.available + order.reserved_cash
        if cost + fee > available:
            raise InsufficientFunds(
                f"Insufficient funds: available ${format_usd(available)}, "
                f"required ${format_usd(cost + fee)}"
            )
    else:
        holding = state.holdings.get(order.asset_id)
        available = (holding.available if holding else 0) + order.reserved_quantity
        if order.quantity > available:
            raise InsufficientHoldings(
                f"Insufficient {order.asset_id}: available {format_quantity(available)}, "
                f"required {format_quantity(order.quantity)}"
            )


def reserve(change: Change, order: Order, rules: Rules, level: int | None = None) -> Order:
    """Promise cash (buys, at ``level`` or the worst price the order accepts) or quantity."""
    if order.is_buy:
        if level is None:
            level = order.price if order.order_type in LIMIT + STOP_LIMIT else order.stop_price
        assert level is not None
        cost, fee = _buy_cost(order.quantity, level, rules)
        if cost + fee > change.state.available:
            raise InsufficientFunds(
                f"Insufficient funds: available ${format_usd(change.state.available)}, "
                f"required ${format_usd(cost + fee)} at {format_price(level)}"
            )
        change.reserve_cash(cost + fee)
        return msgspec.structs.replace(order, reserved_cash=cost + fee)
    _check_can_fill(change, order, 0, rules)
    change.reserve_asset(order.asset_id, order.quantity)
    return msgspec.structs.replace(order, reserved_quantity=order.quantity)


def release(change: Change, order: Order) -> Order:
    """Give back what an open order holds (cash or quantity); the order is returned bare."""
    if order.reserved_cash:
        change.reserve_cash(-order.reserved_cash)
    if order.reserved_quantity:
        change.reserve_asset(order.asset_id, -order.reserved_quantity)
    return msgspec.structs.replace(order, reserved_cash=0, reserved_quantity=0)


def execute(change: Change, order: Order, quote: Quote, rules: Rules) -> Order:
    """Fill a whole order at the quote's price; the caller has checked that it can."""
    price = quote.price
    order = release(change, order)
    qty = order.quantity
    if order.is_buy:
        cost, fee = _buy_cost(qty, price, rules)
        change.move_cash(
            "order_payment", -cost, f"Buy {format_quantity(qty)} {order.asset_id}", order.order_id
        )
        change.move_asset(order.asset_id, qty, price, cost, order.order_id)
        change.adjust_cost(order.asset_id, cost)
        total = cost
    else:
        holding = change.state.holdings[order.asset_id]
        basis = holding.cost * qty // holding.quantity
        total = proceeds_cents(qty, price)
        fee = min(fee_cents(total, rules.fee_bps), total)
        change.move_asset(order.asset_id, -qty, price, total, order.order_id)
        change.adjust_cost(order.asset_id, -basis)
        change.move_cash(
            "order_sale", total, f"Sell {format_quantity(qty)} {order.asset_id}", order.order_id
        )
    if fee:
        change.move_cash("fee", -fee, f"Fee on order {order.order_id}", order.order_id)
    filled = msgspec.structs.replace(
        order,
        status="completed",
        filled_price=price,
        total_amount=total,
        fee=fee,
        fill_seq=quote.seq,
        model_price=quote.model,
        updated_at=change.now,
    )
    return change.save_order(filled, "fill")


def fill_resting(change: Change, order: Order, quote: Quote, rules: Rules) -> Order:
    """A tick crossed a resting order: fill at the tick's price, or reject if funds fell short."""
    try:
        _check_can_fill(change, order, quote.price, rules)
    except Rejected as rejection:
        return close(change, order, "rejected", rejection.message)
    return execute(change, order, quote, rules)


def trigger(change: Change, order: Order, quote: Quote, rules: Rules) -> Order:
    """A tick reached a stop: a stop order fills now; a stop-limit becomes a limit order."""
    order = msgspec.structs.replace(order, triggered=True, updated_at=change.now)
    if _fills_now(order, quote.price):
        return fill_resting(change, order, quote, rules)
    return change.save_order(order, None)


def close(change: Change, order: Order, status: str, reason: str) -> Order:
    """End an open order (cancelled, expired or rejected), releasing its reservation."""
    order = release(change, order)
    ended = msgspec.structs.replace(order, status=status, reason=reason, updated_at=change.now)
    return change.save_order(ended, status)
