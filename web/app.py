"""The QuartTrio application: ``create_app(exchange, settings)``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import trio
from quart_schema import QuartSchema
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from exchange.engine import Exchange
from exchange.errors import DomainError
from exchange.resources import shipped
from web.admin import bootstrap_admin
from web.clientip import Network, parse_networks
from web.connections import Connections
from web.errors import ApiError, error_response, retry_later
from web.gateway import Gateway
from web.openapi import WireOpenAPIProvider
from web.pages import headers as page_headers
from web.pages import routes as pages
from web.prefix import normalise, scoped
from web.routes import (
    account_stream,
    admin,
    balance,
    class_stream,
    classes,
    insights,
    inventory,
    market,
    orders,
    portfolio,
    prices,
    promotions,
    reviews,
    rules,
    scenario,
    service,
    session,
    sparklines,
    teachers,
    users,
)
from web.settings import VERSION, WebSettings
from web.state import AppState

log = logging.getLogger("web")

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


class ExchangeApp(QuartTrio):
    """QuartTrio with a deadline on every HTTP request (504 in the error shape), under a prefix."""

    request_timeout = 30.0
    root_prefix = ""
    trusted_proxies: Sequence[Network] = ()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Serve the ASGI call under its path prefix (``web/prefix.py``)."""
        prefixed: Any = scoped(scope, self.root_prefix, self.trusted_proxies)
        await self.asgi_app(prefixed, receive, send)

    async def dispatch_request(self, *args: Any, **kwargs: Any) -> Any:
        """Run the route handler under the request deadline.

        A handler cut off here has at most stopped waiting for an actor's reply: the engine
        still completes (or never starts) the change atomically, so nothing is half-applied.
        """
        with trio.move_on_after(self.request_timeout):
            return await super().dispatch_request(*args, **kwargs)
        raise ApiError(504, "timeout", f"The request took longer than {self.request_timeout:g} s")


def create_app(
    exchange: Exchange, settings: WebSettings, connections: Connections | None = None
) -> ExchangeApp:
    """The web face of a running exchange; ``connections`` are the server's (serve mode)."""
    app = ExchangeApp(
        __name__,
        template_folder=str(shipped("web", "templates")),
        static_folder=str(shipped("web", "static")),
    )
    app.request_timeout = settings.request_timeout_seconds
    app.root_prefix = normalise(settings.root_path) or ""
    app.trusted_proxies = parse_networks(settings.trusted_proxies)
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
    gateway = Gateway(exchange, settings, connections)
    app.extensions["gateway"] = gateway
    gateway.install(app)
    for module in (
        service,
        users,
        session,
        balance,
        inventory,
        sparklines,
        rules,
        orders,
        portfolio,
        insights,
        prices,
        account_stream,
        class_stream,
        admin,
        promotions,
        market,
        teachers,
        classes,
        reviews,
        pages,
        scenario,
    ):
        app.register_blueprint(module.blueprint)
    app.register_blueprint(market.news_blueprint)
    page_headers.install(app)

    @app.before_serving
    async def start() -> None:
        await bootstrap_admin(exchange, settings)

    @app.errorhandler(ApiError)
    async def api_error(error: ApiError) -> Any:
        return error_response(error.status, error.code, error.detail, error.headers)

    @app.errorhandler(DomainError)
    async def domain_error(error: DomainError) -> Any:
        if error.retry_after is not None:
            refusal = retry_later(error.status, error.code, error.message, error.retry_after)
            return error_response(refusal.status, refusal.code, refusal.detail, refusal.headers)
        return error_response(error.status, error.code, error.message)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Any:
        status = error.code or 500
        code = HTTP_CODES.get(status, "http_error")
        detail = HTTP_MESSAGES.get(status) or error.description or code
        headers = None
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            headers = {"Allow": ", ".join(sorted(error.valid_methods))}
        return error_response(status, code, detail, headers)

    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> Any:
        log.exception("unhandled error", exc_info=error)
        return error_response(500, "internal_error", "Internal server error")

    return app
