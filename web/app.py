"""The QuartTrio application: ``create_app(exchange, settings)``."""

from __future__ import annotations

import logging
import re
import uuid

from quart import Response, g, request
from quart_schema import QuartSchema
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from exchange.engine import Exchange
from exchange.errors import DomainError, Overloaded
from web.errors import ApiError, error_response
from web.openapi import WireOpenAPIProvider
from web.routes import (
    account_stream,
    balance,
    inventory,
    orders,
    portfolio,
    prices,
    service,
    users,
)
from web.settings import VERSION, WebSettings
from web.state import AppState

log = logging.getLogger("web")

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
RETRY_AFTER_SECONDS = "1"

HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}

HTTP_MESSAGES = {
    404: "Not found",
    405: "Method not allowed",
    413: "Request body too large",
}


def create_app(exchange: Exchange, settings: WebSettings) -> QuartTrio:
    """The web face of a running exchange."""
    app = QuartTrio(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["exchange_state"] = AppState(exchange, settings)
    QuartSchema(
        app,
        openapi_path="/openapi.json",
        swagger_ui_path=None,
        redoc_ui_path=None,
        scalar_ui_path=None,
        info={"title": "Exchange API", "version": VERSION},
        conversion_preference="msgspec",
        openapi_provider_class=WireOpenAPIProvider,
        security_schemes={"bearer": {"type": "http", "scheme": "bearer", "bearer_format": "JWT"}},
    )
    for module in (
        service,
        users,
        balance,
        inventory,
        orders,
        portfolio,
        prices,
        account_stream,
    ):
        app.register_blueprint(module.blueprint)

    @app.before_request
    async def assign_request_id() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex

    @app.after_request
    async def stamp_request_id(response: Response) -> Response:
        response.headers["X-Request-ID"] = getattr(g, "request_id", "") or uuid.uuid4().hex
        return response

    @app.errorhandler(ApiError)
    async def api_error(error: ApiError) -> Response:
        return error_response(error.status, error.code, error.detail, error.headers)

    @app.errorhandler(DomainError)
    async def domain_error(error: DomainError) -> Response:
        headers = {"Retry-After": RETRY_AFTER_SECONDS} if isinstance(error, Overloaded) else None
        return error_response(error.status, error.code, error.message, headers)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = HTTP_CODES.get(status, "http_error")
        detail = HTTP_MESSAGES.get(status) or error.description or code
        return error_response(status, code, detail)

    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> Response:
        log.exception("unhandled error", exc_info=error)
        return error_response(500, "internal_error", "Internal server error")

    return app
