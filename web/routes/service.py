"""Service routes: health and the offline API documentation page."""

from __future__ import annotations

from quart import Blueprint, Response, render_template
from quart_schema import document_response, hide

from web.gateway import gateway
from web.pages.routes import page
from web.reply import json_response
from web.settings import VERSION
from web.state import app_state
from web.wire import HealthResponse

blueprint = Blueprint("service", __name__)

TEXT = "text/plain; version=0.0.4; charset=utf-8"


@blueprint.get("/health")
@document_response(HealthResponse)
async def health() -> Response:
    """Liveness, with the store's queue depth and the number of live account actors."""
    exchange = app_state().exchange
    store = exchange.store
    checks: dict[str, str | int] = {
        "database": "ok" if store.read_one("SELECT 1") == (1,) else "failing",
        "store_queue": store.mailbox.depth(),
        "store_commits": store.stats.commits,
        "accounts_alive": exchange.accounts_alive(),
    }
    healthy = checks["database"] == "ok"
    body = HealthResponse("healthy" if healthy else "unhealthy", "exchange", VERSION, checks)
    return json_response(body, 200 if healthy else 503)


@blueprint.get("/metrics")
async def metrics() -> Response:
    """Prometheus text exposition of the request and engine metrics."""
    found = gateway().metrics
    if found is None:
        return Response(b"# metrics are off (EXCHANGE_METRICS=off)\n", content_type=TEXT)
    return Response(found.render(), content_type=TEXT)


@blueprint.get("/docs")
@hide
async def docs() -> Response:
    """The API viewer (vendored Swagger UI, works offline) over /openapi.json."""
    return Response(await render_template("docs.html"), content_type="text/html; charset=utf-8")


@blueprint.get("/docs/websockets")
@hide
async def websocket_docs() -> Response:
    """The protocols of /ws/prices and /ws/account."""
    return await page("websockets.html", "Websockets", "app")
