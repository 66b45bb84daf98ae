"""Order routes: place, list, read and cancel."""

from __future__ import annotations

import re
from datetime import datetime

import msgspec
from quart import Blueprint, Response
from quart_schema import document_request, document_response

from exchange.money import (
    PRICE_SCALE,
    QTY_SCALE,
    MoneyFormatError,
    OutOfRange,
    format_quantity,
    parse_price,
    parse_quantity,
)
from exchange.orders import (
    LIMIT,
    MAX_NOTE,
    ORDER_TYPES,
    STATUSES,
    STOP,
    STOP_LIMIT,
    TIME_IN_FORCE,
    TYPE_FIELDS,
    OrderRequest,
    order_view,
)
from exchange.trading import MAX_QUANTITY
from web.auth import authenticated, current_claims
from web.body import BodyDecoder, absent, number_text
from web.errors import FieldError, field_error, invalid
from web.gateway import gateway
from web.openapi import documented
from web.query import ChoiceQuery, IntQuery, PatternQuery
from web.reply import json_response
from web.routes.inventory import ASSET_ID
from web.state import app_state
from web.wire import OrderListResponse, OrderRequestBody, OrderResponse

blueprint = Blueprint("orders", __name__, url_prefix="/api/v1/orders")

ORDER_ID = re.compile(r"[A-Za-z0-9_-]{10,64}")
CLIENT_ORDER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MIN_QUANTITY = QTY_SCALE // 1000  # 0.001
MAX_PRICE = 1_000_000 * PRICE_SCALE

_order_body = BodyDecoder(OrderRequestBody)

ORDER_PATH = {"order_id": ORDER_ID}
PAGE_LIMIT = IntQuery("limit", 50, 1, 100, "Orders per page")
PAGE_OFFSET = IntQuery("offset", 0, 0, description="Orders to skip")
ASSET_FILTER = PatternQuery(
    "asset_id", ASSET_ID, "Must be 1-10 letters or digits", "Only orders in this asset"
)
TYPE_FILTER = ChoiceQuery("order_type", ORDER_TYPES, "Only orders of this type")
STATUS_FILTER = ChoiceQuery("status", STATUSES, "Only orders in this status")
PLACE_REFUSALS = {
    409: ("duplicate_client_order_id", "market_paused", "asset_halted"),
    422: (
        "insufficient_funds",
        "insufficient_holdings",
        "order_value_exceeded",
        "unknown_asset",
        "asset_inactive",
        "invalid_quantity",
        "invalid_expiry",
    ),
    429: ("order_rate_limited",),
}


def _quantity(errors: list[FieldError], value: msgspec.Raw) -> int | None:
    loc: list[str | int] = ["body", "quantity"]
    too_small = field_error(loc, "Must be at least 0.001", "greater_than_equal")
    too_large = field_error(
        loc, f"Must be at most {format_quantity(MAX_QUANTITY)}", "less_than_equal"
    )
    try:
        quantity = parse_quantity(number_text(value))
    except OutOfRange as exc:
        errors.append(too_small if exc.negative else too_large)
        return None
    except MoneyFormatError as exc:
        errors.append(field_error(loc, str(exc), exc.kind))
        return None
    if quantity < MIN_QUANTITY:
        errors.append(too_small)
    elif quantity > MAX_QUANTITY:
        errors.append(too_large)
    else:
        return quantity
    return None


def _price(
    errors: list[FieldError], name: str, value: msgspec.Raw | msgspec.UnsetType
) -> int | None:
    if isinstance(value, msgspec.UnsetType) or absent(value):
        return None
    out_of_range = field_error(
        ["body", name], "Must be greater than 0 and at most 1000000", "range"
    )
    try:
        price = parse_price(number_text(value))
    except OutOfRange:
        errors.append(out_of_range)
        return None
    except MoneyFormatError as exc:
        errors.append(field_error(["body", name], str(exc), exc.kind))
        return None
    if price <= 0 or price > MAX_PRICE:
        errors.append(out_of_range)
        return None
    return price


def _expiry(errors: list[FieldError], value: str | None) -> int | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        errors.append(
            field_error(["body", "expires_at"], "Must be an ISO-8601 time", "datetime_parsing")
        )
        return None
    if moment.tzinfo is None:
        errors.append(
            field_error(["body", "expires_at"], "Must include a time zone (e.g. Z)", "timezone")
        )
        return None
    return round(moment.timestamp() * 1000)


def validate_order(body: OrderRequestBody) -> OrderRequest:
    """The engine's request from a body, or a 422 listing every field problem."""
    errors: list[FieldError] = []
    kind = body.order_type
    if kind not in ORDER_TYPES:
        errors.append(
            field_error(["body", "order_type"], f"Must be one of: {', '.join(ORDER_TYPES)}", "enum")
        )
    if not ASSET_ID.fullmatch(body.asset_id):
        errors.append(
            field_error(
                ["body", "asset_id"], "Must be 1-10 letters or digits", "string_pattern_mismatch"
            )
        )
    quantity = _quantity(errors, body.quantity)
    given = {
        "price": not absent(body.price),
        "stop_price": not absent(body.stop_price),
        "expires_at": body.expires_at is not None,
    }
    takes = TYPE_FIELDS.get(kind)  # an unknown type: every given field is checked on its own
    refused = [
        name
        for name, present in given.items()
        if present and takes is not None and name not in takes
    ]
    for name in refused:
        errors.append(
            field_error(["body", name], f"Not allowed for {kind} orders", "extra_forbidden")
        )
    price = None if "price" in refused else _price(errors, "price", body.price)
    stop_price = None if "stop_price" in refused else _price(errors, "stop_price", body.stop_price)
    if kind in LIMIT + STOP_LIMIT and not given["price"]:
        errors.append(field_error(["body", "price"], f"Required for {kind} orders", "missing"))
    if kind in STOP + STOP_LIMIT and not given["stop_price"]:
        errors.append(field_error(["body", "stop_price"], f"Required for {kind} orders", "missing"))
    if body.time_in_force not in TIME_IN_FORCE:
        errors.append(
            field_error(
                ["body", "time_in_force"], f"Must be one of: {', '.join(TIME_IN_FORCE)}", "enum"
            )
        )
    if body.client_order_id is not None and not CLIENT_ORDER_ID.fullmatch(body.client_order_id):
        errors.append(
            field_error(
                ["body", "client_order_id"],
                "Must be 1-64 letters, digits, '_' or '-'",
                "string_pattern_mismatch",
            )
        )
    expires_at = None if "expires_at" in refused else _expiry(errors, body.expires_at)
    note = order_note(errors, body.note)
    if errors:
        raise invalid(errors)
    assert quantity is not None
    return OrderRequest(
        order_type=kind,
        asset_id=body.asset_id.upper(),
        quantity=quantity,
        price=price,
        stop_price=stop_price,
        time_in_force=body.time_in_force,
        expires_at=expires_at,
        client_order_id=body.client_order_id,
        note=note,
    )


def order_note(errors: list[FieldError], value: str | None) -> str | None:
    """The student's reason for an order: trimmed, at most 1000 characters; blank is none.

    Any character is kept (it is escaped wherever it is shown), except control characters
    other than newline and tab.
    """
    if value is None:
        return None
    text = value.strip()
    if len(text) > MAX_NOTE:
        errors.append(
            field_error(
                ["body", "note"], f"Must be at most {MAX_NOTE} characters", "string_too_long"
            )
        )
        return None
    if any(ord(c) < 32 and c not in "\n\t" for c in text):
        errors.append(
            field_error(
                ["body", "note"], "Must not contain control characters", "control_character"
            )
        )
        return None
    return text or None


def valid_order_id(order_id: str) -> str:
    """The order id, or a 422 naming the path parameter."""
    if not ORDER_ID.fullmatch(order_id):
        message = "Order id must be 10-64 letters, digits, '_' or '-'"
        raise invalid([field_error(["path", "order_id"], message, "string_pattern_mismatch")])
    return order_id


@blueprint.post("")
@document_request(OrderRequestBody)
@document_response(OrderResponse, 201)
@documented(errors=PLACE_REFUSALS, busy=True)
@authenticated
async def place_order() -> Response:
    """Place an order: market orders fill at once; limit and stop orders rest until crossed."""
    gateway().order_allowed(current_claims().sub)
    request = validate_order(await _order_body.read())
    order = await app_state().exchange.place_order(current_claims().sub, request)
    return json_response(OrderResponse(order_view(order)), 201)


@blueprint.get("")
@document_response(OrderListResponse)
@documented(query=(PAGE_LIMIT, PAGE_OFFSET, ASSET_FILTER, TYPE_FILTER, STATUS_FILTER))
@authenticated
async def list_orders() -> Response:
    """The caller's orders, newest first, filtered and paginated."""
    limit = PAGE_LIMIT.read()
    offset = PAGE_OFFSET.read()
    asset_id = ASSET_FILTER.read()
    order_type = TYPE_FILTER.read()
    status = STATUS_FILTER.read()
    orders, total = app_state().exchange.orders(
        current_claims().sub, limit, offset, asset_id and asset_id.upper(), order_type, status
    )
    views = [order_view(order) for order in orders]
    return json_response(OrderListResponse(views, offset + len(views) < total, total))


@blueprint.get("/<order_id>")
@document_response(OrderResponse)
@documented(path=ORDER_PATH, errors={404: ("order_not_found",)})
@authenticated
async def get_order(order_id: str) -> Response:
    """One of the caller's orders; another user's order is 404."""
    order = app_state().exchange.order(current_claims().sub, valid_order_id(order_id))
    return json_response(OrderResponse(order_view(order)))


@blueprint.delete("/<order_id>")
@document_response(OrderResponse)
@documented(
    path=ORDER_PATH, errors={404: ("order_not_found",), 409: ("order_not_pending",)}, busy=True
)
@authenticated
async def cancel_order(order_id: str) -> Response:
    """Cancel a pending order, releasing its reservation; 409 if it is no longer pending."""
    order = await app_state().exchange.cancel_order(current_claims().sub, valid_order_id(order_id))
    return json_response(OrderResponse(order_view(order)))
