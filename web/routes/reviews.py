"""The review desk of a class: the queue, approve and reject, and its statistics."""

from __future__ import annotations

import re

from quart import Blueprint, Response
from quart_schema import document_request, document_response

from exchange.clock import iso_ms
from exchange.money import format_usd
from exchange.orders import order_view
from exchange.review import REVIEW_STATUSES
from web.auth import authenticated, current_claims
from web.body import BodyDecoder
from web.classrules import owned_class
from web.classwire import (
    DecisionRequest,
    ReviewListResponse,
    ReviewStatsResponse,
    ReviewView,
)
from web.errors import FieldError, invalid
from web.openapi import documented
from web.query import ChoiceQuery, IntQuery, TextQuery
from web.reply import json_response
from web.routes.orders import ORDER_ID, order_note, valid_order_id
from web.state import app_state
from web.wire import OrderResponse

blueprint = Blueprint("reviews", __name__, url_prefix="/api/v1/classes")

MATCHES = ("exact", "partial")
CLASS_PATH: dict[str, re.Pattern[str]] = {}
REVIEW_PATH = {"order_id": ORDER_ID}
STATUS = ChoiceQuery("status", REVIEW_STATUSES, "Only reviews in this status")
MATCH = ChoiceQuery("match", MATCHES, "How username matches", "partial")
USERNAME = TextQuery("username", "A username, or part of one (see match)")
LIMIT = IntQuery("limit", 50, 1, 200, "Reviews per page")
OFFSET = IntQuery("offset", 0, 0, description="Reviews to skip")
_decision_body = BodyDecoder(DecisionRequest)


@blueprint.get("/<class_id>/reviews")
@document_response(ReviewListResponse)
@documented(
    query=(STATUS, MATCH, USERNAME, LIMIT, OFFSET),
    path=CLASS_PATH,
    errors={403: ("forbidden",), 404: ("class_not_found",)},
)
@authenticated
async def review_queue(class_id: str) -> Response:
    """The desk, newest first: ``status``, ``username`` (``match`` exact or partial), paged."""
    owned_class(class_id)
    status = STATUS.read()
    match = MATCH.read() or "partial"
    username = (USERNAME.read() or "").strip().lower()[:64] or None
    limit = LIMIT.read()
    offset = OFFSET.read()
    items, total = app_state().exchange.classroom.reviews(
        class_id, status, username, match == "partial", limit, offset
    )
    views = [
        ReviewView(
            username=item.order.username,
            review_status=item.review_status,
            value=format_usd(item.value),
            decision_note=item.decision_note,
            decided_by=item.decided_by,
            decided_at=None if item.decided_at is None else iso_ms(item.decided_at),
            queued_at=iso_ms(item.queued_at),
            order=order_view(item.order),
        )
        for item in items
    ]
    return json_response(ReviewListResponse(views, total, offset + len(views) < total))


@blueprint.get("/<class_id>/reviews/stats")
@document_response(ReviewStatsResponse)
@documented(path=CLASS_PATH, errors={403: ("forbidden",), 404: ("class_not_found",)})
@authenticated
async def review_stats(class_id: str) -> Response:
    """Counts of the desk: total, pending, approved, rejected, cancelled, approval rate."""
    owned_class(class_id)
    stats = app_state().exchange.classroom.review_stats(class_id)
    return json_response(
        ReviewStatsResponse(
            stats.total,
            stats.pending,
            stats.approved,
            stats.rejected,
            stats.cancelled,
            stats.approval_rate,
        )
    )


async def _decide(class_id: str, order_id: str, decision: str) -> Response:
    info = owned_class(class_id)
    order_id = valid_order_id(order_id)
    body = await _decision_body.read()
    errors: list[FieldError] = []
    note = order_note(errors, body.note)
    if errors:
        raise invalid(errors)
    classroom = app_state().exchange.classroom
    order = await classroom.decide(info, order_id, decision, current_claims().sub, note)
    return json_response(OrderResponse(order_view(order)))


@blueprint.post("/<class_id>/reviews/<order_id>/approve")
@document_request(DecisionRequest)
@document_response(OrderResponse)
@documented(
    path=REVIEW_PATH,
    busy=True,
    errors={
        403: ("forbidden",),
        404: ("class_not_found", "order_not_found"),
        409: (
            "review_not_pending",
            "class_not_open",
            "class_paused",
            "class_closed",
            "outside_trading_window",
        ),
    },
)
@authenticated
async def approve(class_id: str, order_id: str) -> Response:
    """Approve a held order: it goes on as placed (market fills now, a limit rests)."""
    return await _decide(class_id, order_id, "approved")


@blueprint.post("/<class_id>/reviews/<order_id>/reject")
@document_request(DecisionRequest)
@document_response(OrderResponse)
@documented(
    path=REVIEW_PATH,
    busy=True,
    errors={
        403: ("forbidden",),
        404: ("class_not_found", "order_not_found"),
        409: ("review_not_pending",),
    },
)
@authenticated
async def reject(class_id: str, order_id: str) -> Response:
    """Reject a held order with a note (at most 1000 characters); its reservation is released."""
    return await _decide(class_id, order_id, "rejected")
