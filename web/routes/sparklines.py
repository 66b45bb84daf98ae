"""Seven-day sparklines of every active asset in one response, for lists of many assets."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_response

from exchange.money import price_to_float
from web.openapi import documented
from web.query import IntQuery
from web.reply import json_response
from web.state import app_state
from web.wire import SparklinesResponse

blueprint = Blueprint("sparklines", __name__, url_prefix="/api/v1/inventory")
POINTS = IntQuery("points", 42, 2, 168, "Points per sparkline, evenly thinned")


def _thin(values: list[int], points: int) -> list[float]:
    """At most ``points`` evenly spaced values, always keeping the latest."""
    if len(values) <= points:
        return [price_to_float(v) for v in values]
    step = (len(values) - 1) / (points - 1)
    return [price_to_float(values[round(i * step)]) for i in range(points)]


@blueprint.get("/sparklines")
@document_response(SparklinesResponse)
@documented(query=(POINTS,))
async def sparklines() -> Response:
    """Each active asset's hourly closes over 7 days, thinned to ``points`` (2-168, default 42)."""
    points = POINTS.read()
    markets = app_state().exchange.feed.markets.values()
    data = {m.asset.asset_id: _thin(m.stats().sparkline_7d, points) for m in markets if m.active}
    return json_response(SparklinesResponse(points, data))
