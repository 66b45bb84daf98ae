"""Service routes: health and the offline API documentation page."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_response

from exchange.resources import shipped
from web.gateway import gateway
from web.openapi import documented
from web.reply import json_response
from web.settings import VERSION
from web.state import app_state
from web.wire import HealthResponse

blueprint = Blueprint("service", __name__)

TEXT = "text/plain; version=0.0.4; charset=utf-8"

_DOCS_PAGE = shipped("web", "static", "docs.html").read_bytes()


@blueprint.get("/health")
@document_response(HealthResponse)
@document_response(HealthResponse, 503)
async def health() -> Response:
    """Liveness: reads (``database``) and commits (``storage``) work; queue depth and actors.

    ``storage`` is failing while commits fail (disk full, I/O error, locked) and for a few
    seconds after the last failure; reads and the rest of the exchange keep serving meanwhile.
    """
    exchange = app_state().exchange
    store = exchange.store
    failure = store.unavailable()
    checks: dict[str, str | int] = {
        "database": "ok" if store.read_one("SELECT 1") == (1,) else "failing",
        "storage": "ok" if failure is None else "failing",
        "store_queue": store.mailbox.depth(),
        "store_commits": store.stats.commits,
        "store_failed_commits": store.stats.failed_commits,
        "accounts_alive": exchange.accounts_alive(),
    }
    if failure is not None:
        checks["storage_error"] = failure.message
    healthy = checks["database"] == "ok" and failure is None
    body = HealthResponse("healthy" if healthy else "unhealthy", "exchange", VERSION, checks)
    return json_response(body, 200 if healthy else 503)


@blueprint.get("/metrics")
@documented(content=(200, TEXT))
async def metrics() -> Response:
    """Prometheus text exposition of the request and engine metrics."""
    found = gateway().metrics
    if found is None:
        return Response(b"# metrics are off (EXCHANGE_METRICS=off)\n", content_type=TEXT)
    return Response(found.render(), content_type=TEXT)


@blueprint.get("/docs")
@documented(content=(200, "text/html"))
async def docs() -> Response:
    """A documentation page that works offline, rendered from /openapi.json."""
    return Response(_DOCS_PAGE, content_type="text/html; charset=utf-8")
