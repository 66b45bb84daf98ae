"""Order routes: place, list, read and cancel."""

from __future__ import annotations

import re
from datetime import datetime

from quart import Blueprint, Response
from quart_schema import document_request, document_response

from exchange.money import (
    PRICE_SCALE,
    QTY_SCALE,
    MoneyFormatError,
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
    OrderRequest,
    order_view,
)
from exchange.trading import MAX_QUANTITY
from web.auth import authenticated, current_claims
from web.body import BodyDecoder
from web.errors import FieldError, field_error, invalid
from web.gateway import gateway
from web.query import choice_param, int_param, pattern_param
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


def _price(errors: list[FieldError], name: str, value: object) -> int | None:
    if value is None:
        return None
    try:
        price = parse_price(value)
    except MoneyFormatError as exc:
        errors.append(field_error(["body", name], str(exc), "decimal_places"))
        return None
    if price <= 0 or price > MAX_PRICE:
        errors.append(
            field_error(["body", name], "Must be greater than 0 and at most 1000000", "range")
        )
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
    quantity = None
    try:
        quantity = parse_quantity(body.quantity)
    except MoneyFormatError as exc:
        errors.append(field_error(["body", "quantity"], str(exc), "decimal_places"))
    if quantity is not None and quantity < MIN_QUANTITY:
        errors.append(
            field_error(["body", "quantity"], "Must be at least 0.001", "greater_than_equal")
        )
    elif quantity is not None and quantity > MAX_QUANTITY:
        message = f"Must be at most {format_quantity(MAX_QUANTITY)}"
        errors.append(field_error(["body", "quantity"], message, "less_than_equal"))
    price = _price(errors, "price", body.price)
    stop_price = _price(errors, "stop_price", body.stop_price)
    if kind in LIMIT + STOP_LIMIT and body.price is None:
        errors.append(field_error(["body", "price"], f"Required for {kind} orders", "missing"))
    if kind in STOP + STOP_LIMIT and body.stop_price is None:
        errors.append(field_error(["body", "stop_price"], f"Required for {kind} orders", "missing"))
    if kind in ORDER_TYPES and kind not in STOP + STOP_LIMIT and body.stop_price is not None:
        errors.append(
            field_error(["body", "stop_price"], f"Not allowed for {kind} orders", "extra_forbidden")
        )
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
    expires_at = _expiry(errors, body.expires_at)
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
@authenticated
async def place_order() -> Response:
    """Place an order: market orders fill at once; limit and stop orders rest until crossed."""
    gateway().order_allowed(current_claims().sub)
    request = validate_order(await _order_body.read())
    order = await app_state().exchange.place_order(current_claims().sub, request)
    return json_response(OrderResponse(order_view(order)), 201)


@blueprint.get("")
@document_response(OrderListResponse)
@authenticated
async def list_orders() -> Response:
    """The caller's orders, newest first, filtered and paginated."""
    limit = int_param("limit", 50, 1, 100)
    offset = int_param("offset", 0, 0)
    asset_id = pattern_param("asset_id", ASSET_ID, "Must be 1-10 letters or digits")
    order_type = choice_param("order_type", ORDER_TYPES)
    status = choice_param("status", STATUSES)
    orders, total = app_state().exchange.orders(
        current_claims().sub, limit, offset, asset_id and asset_id.upper(), order_type, status
    )
    views = [order_view(order) for order in orders]
    return json_response(OrderListResponse(views, offset + len(views) < total, total))


@blueprint.get("/<order_id>")
@document_response(OrderResponse)
@authenticated
async def get_order(order_id: str) -> Response:
    """One of the caller's orders; another user's order is 404."""
    order = app_state().exchange.order(current_claims().sub, valid_order_id(order_id))
    return json_response(OrderResponse(order_view(order)))


@blueprint.delete("/<order_id>")
@document_response(OrderResponse)
@authenticated
async def cancel_order(order_id: str) -> Response:
    """Cancel a pending order, releasing its reservation; 409 if it is no longer pending."""
    order = await app_state().exchange.cancel_order(current_claims().sub, valid_order_id(order_id))
    return json_response(OrderResponse(order_view(order)))
