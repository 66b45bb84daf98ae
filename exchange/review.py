"""The review desk's decisions on one account: hold an order for review, approve, reject.

Pure and synchronous like ``exchange.trading``: a held order keeps what it needs reserved
(a market buy at the current price plus fee), and an approved one goes on exactly as it would
have at placement (a market order fills at the current tick, a limit rests), so the desk only
ever delays an order, never changes it.
"""

from __future__ import annotations

import msgspec

from exchange.change import Change
from exchange.errors import NotPending, Rejected
from exchange.orders import MARKET, Order, OrderRequest
from exchange.trading import Quote, Rules, close, new_order, proceed, release, reserve

DECISIONS = ("approved", "rejected")
REVIEW_STATUSES = ("review", "approved", "rejected", "cancelled")


def hold(
    change: Change, request: OrderRequest, quote: Quote, rules: Rules, class_id: str, value: int
) -> Order:
    """Check an order as if placed, reserve what it needs, and queue it for review."""
    order = new_order(change, request, quote, rules)
    level = quote.price if order.order_type in MARKET else None
    order = reserve(change, order, rules, level)
    order = change.save_order(msgspec.structs.replace(order, status="review"), "review")
    change.extra.append(
        (
            "INSERT INTO order_reviews (order_id, class_id, username, status, value, created_at) "
            "VALUES (?, ?, ?, 'review', ?, ?)",
            (order.order_id, class_id, order.username, value, change.now),
        )
    )
    return order


def decide(
    change: Change,
    order_id: str,
    decision: str,
    quote: Quote | None,
    rules: Rules,
    by: str,
    note: str | None,
) -> Order:
    """Approve (go on at ``quote``) or reject (release the reservation) a held order."""
    order = change.state.open_orders.get(order_id)
    if order is None or not order.in_review:
        raise NotPending(f"Order {order_id} is not waiting for review", "review_not_pending")
    if decision == "approved":
        assert quote is not None
        order = release(change, order)
        order = msgspec.structs.replace(order, status="pending", updated_at=change.now)
        try:
            result = proceed(change, order, quote, rules)
        except Rejected as rejection:
            # Approved, but funds or holdings no longer cover it: it ends like a failed fill.
            result = close(change, order, "rejected", rejection.message)
    else:
        result = close(change, order, "rejected", note or "rejected on review")
    change.event({"type": "review", "decision": decision, "note": note, "order": result})
    change.extra.append(
        (
            "UPDATE order_reviews SET status = ?, note = ?, decided_by = ?, decided_at = ? "
            "WHERE order_id = ?",
            (decision, note, by, change.now, order_id),
        )
    )
    return result


def withdrawn(change: Change, order: Order) -> None:
    """Record on the desk that a held order was cancelled by its owner or a reset."""
    change.extra.append(
        (
            "UPDATE order_reviews SET status = 'cancelled', decided_at = ? WHERE order_id = ?",
            (change.now, order.order_id),
        )
    )
