"""Orders: their types, the record kept of each, and its public view."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated

import msgspec

from exchange.clock import iso_ms
from exchange.ids import new_id
from exchange.money import format_price, format_quantity, format_usd

MARKET = ("market_buy", "market_sell")
LIMIT = ("limit_buy", "limit_sell")
STOP = ("stop_buy", "stop_sell")
STOP_LIMIT = ("stop_limit_buy", "stop_limit_sell")
ORDER_TYPES = MARKET + LIMIT + STOP + STOP_LIMIT
TIME_IN_FORCE = ("gtc", "ioc", "day")
# The fields beyond asset and quantity that each type takes: a limit price and a stop price (each
# required where it applies) and an optional expiry for the types that can rest. A field given
# to a type that does not take it is refused rather than ignored.
TYPE_FIELDS = {
    kind: frozenset(
        name
        for name, types in (
            ("price", LIMIT + STOP_LIMIT),
            ("stop_price", STOP + STOP_LIMIT),
            ("expires_at", LIMIT + STOP + STOP_LIMIT),
        )
        if kind in types
    )
    for kind in ORDER_TYPES
}
# "review": waiting on the class teacher's review desk, its reservation held.
STATUSES = ("pending", "review", "completed", "cancelled", "expired", "rejected")
MAX_NOTE = 1000


class Order(msgspec.Struct, frozen=True):
    """One order as the account actor keeps it; amounts in minor units."""

    order_id: str
    username: str
    client_order_id: str | None
    order_type: str
    asset_id: str
    quantity: int
    price: int | None
    stop_price: int | None
    time_in_force: str
    expires_at: int | None
    status: str
    triggered: bool
    reserved_cash: int
    reserved_quantity: int
    filled_price: int | None
    total_amount: int | None
    fee: int
    fill_seq: int | None
    reason: str | None
    created_at: int
    updated_at: int
    # The student's reason for the trade, shown on the review desk.
    note: str | None = None
    # The fill's tick price without its impact part (None: impact off for the asset, or open).
    model_price: int | None = None

    @property
    def is_buy(self) -> bool:
        """True for the buying side."""
        return self.order_type.endswith("_buy")

    @property
    def is_open(self) -> bool:
        """True while the order rests (or waits for its stop)."""
        return self.status == "pending"

    @property
    def in_review(self) -> bool:
        """True while the order waits on the review desk."""
        return self.status == "review"

    @property
    def waits_for_stop(self) -> bool:
        """True for a stop order whose stop has not been reached yet."""
        return self.order_type in STOP + STOP_LIMIT and not self.triggered


class OrderRequest(msgspec.Struct, frozen=True):
    """A new order as the engine receives it, formats already checked."""

    order_type: str
    asset_id: str
    quantity: int
    price: int | None = None
    stop_price: int | None = None
    time_in_force: str = "gtc"
    expires_at: int | None = None
    client_order_id: str | None = None
    note: str | None = None

    def same_as(self, order: Order) -> bool:
        """True when an existing order is this request again (an idempotent retry)."""
        return (
            order.order_type == self.order_type
            and order.asset_id == self.asset_id
            and order.quantity == self.quantity
            # Market and stop orders keep no limit price (the API refuses one; engine callers'
            # is dropped).
            and (order.price == self.price or self.order_type in MARKET + STOP)
            and order.stop_price == self.stop_price
            and order.time_in_force == self.time_in_force
        )


def new_order_id() -> str:
    """A fresh order id (matches ``^[A-Za-z0-9_-]{10,64}$``)."""
    return "ord_" + new_id()


def one_of(values: tuple[str, ...]) -> msgspec.Meta:
    """The values a wire string takes, for the API document only (decoding is unchanged)."""
    return msgspec.Meta(extra_json_schema={"enum": list(values)})


class OrderView(msgspec.Struct):
    """The public view of an order: decimal strings, ISO times."""

    order_id: str
    client_order_id: str | None
    order_type: Annotated[str, one_of(ORDER_TYPES)]
    asset_id: str
    quantity: str
    price: str | None
    stop_price: str | None
    status: Annotated[str, one_of(STATUSES)]
    total_amount: str | None
    filled_price: str | None
    created_at: str
    updated_at: str
    time_in_force: Annotated[str, one_of(TIME_IN_FORCE)]
    expires_at: str | None
    fee: str
    filled_tick_seq: int | None
    reason: str | None
    note: str | None
    model_price: Annotated[
        str | None,
        msgspec.Meta(
            description="A filled order's tick price without its price-impact part (the "
            "simulated model's price); null when impact is off for the asset or not filled"
        ),
    ] = None
    impact_pct: Annotated[
        str | None,
        msgspec.Meta(
            description="The impact the fill paid, in percent of model_price, 4 places "
            "(filled_price = model_price * (1 + impact_pct / 100)); null as model_price"
        ),
    ] = None
    fill_explanation: Annotated[
        str | None,
        msgspec.Meta(
            description="One line: 'tick 1234 at 101.20: model price 100.00 + 1.20% impact' "
            "(filled_tick_seq, filled_price, model_price, impact to 2 places); null as "
            "model_price"
        ),
    ] = None


def impact_pct(filled_price: int, model_price: int, places: int = 4) -> Decimal:
    """The impact a fill paid, in percent of the model price, to ``places`` (half-even)."""
    share = Decimal(filled_price - model_price) * 100 / Decimal(model_price)
    rounded = share.quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN)
    return rounded.copy_abs() if rounded.is_zero() else rounded  # never "-0.0000"


def fill_explanation(seq: int, filled_price: int, model_price: int) -> str:
    """Why a fill with impact is at its price, e.g. ``tick 1234 at 101.20: model price ...``."""
    pct = impact_pct(filled_price, model_price, 2)
    sign = "-" if pct < 0 else "+"
    return (
        f"tick {seq} at {_shown(filled_price)}: model price {_shown(model_price)} "
        f"{sign} {abs(pct)}% impact"
    )


def _shown(units: int) -> str:
    """A price with at least two decimals, and every significant one."""
    whole, _, fraction = format_price(units).partition(".")
    return f"{whole}.{fraction:0<2}"


def order_view(order: Order) -> OrderView:
    """How an order is shown to its owner (API responses and account events).

    An order without a limit price (market and stop orders) shows its execution price as
    ``price`` once filled, as the seed platform did for market orders: its clients format
    ``price`` for every order.
    """
    shown_price = order.filled_price if order.price is None else order.price
    view = OrderView(
        order_id=order.order_id,
        client_order_id=order.client_order_id,
        order_type=order.order_type,
        asset_id=order.asset_id,
        quantity=format_quantity(order.quantity),
        price=None if shown_price is None else format_price(shown_price),
        stop_price=None if order.stop_price is None else format_price(order.stop_price),
        status=order.status,
        total_amount=None if order.total_amount is None else format_usd(order.total_amount),
        filled_price=None if order.filled_price is None else format_price(order.filled_price),
        created_at=iso_ms(order.created_at),
        updated_at=iso_ms(order.updated_at),
        time_in_force=order.time_in_force,
        expires_at=None if order.expires_at is None else iso_ms(order.expires_at),
        fee=format_usd(order.fee),
        filled_tick_seq=order.fill_seq,
        reason=order.reason,
        note=order.note,
    )
    filled, model, seq = order.filled_price, order.model_price, order.fill_seq
    if order.status == "completed" and filled and model and seq is not None:
        view.model_price = format_price(model)
        view.impact_pct = str(impact_pct(filled, model))
        view.fill_explanation = fill_explanation(seq, filled, model)
    return view
