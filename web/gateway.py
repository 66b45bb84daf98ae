"""Gateway duties in-process: request ids, client IPs, CORS, rate limits, metrics, access logs.

Installed on the app as hooks that run around every request:

* before: assign ``X-Request-ID``; find the client IP; count the request in the client IP's
  rate-limit window (every ``/api/v1`` route; 429 over the limit); answer CORS preflights;
* after: stamp the request id, CORS and ``X-RateLimit-*`` headers; record the request's count
  and latency under its route template; write one JSON access-log line;
* teardown (also for a request cancelled because its client left): end its in-flight count.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import trio
from quart import Response, current_app, g, request, websocket
from quart_trio import QuartTrio

from exchange.engine import Exchange
from exchange.ids import new_id
from web.clientip import client_ip, parse_networks
from web.connections import Connections
from web.errors import retry_later
from web.limits import LoginGuard, RateLimiter, Throttle
from web.logs import access, log_request
from web.metrics import Metrics
from web.settings import WebSettings
from web.wslink import Link

TRY_LATER_CODE = 1013
log = logging.getLogger("web")
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
API_PREFIX = "/api/"
LIMITED_PREFIX = "/api/v1"
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": (
        "X-Request-ID, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After"
    ),
}
PREFLIGHT_HEADERS = {
    **CORS_HEADERS,
    "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, X-Request-ID",
    "Access-Control-Max-Age": "600",
}


class Gateway:
    """The limits and instruments of one app."""

    def __init__(
        self, exchange: Exchange, settings: WebSettings, connections: Connections | None = None
    ) -> None:
        clock = exchange.clock.now
        self.exchange = exchange
        self.limiter = (
            RateLimiter(settings.rate_limit_per_minute, clock)
            if settings.rate_limit_per_minute > 0
            else None
        )
        self.throttle = (
            Throttle(settings.order_rate_per_second, clock)
            if settings.order_rate_per_second > 0
            else None
        )
        # Per address: the spraying block. Per (address, username): one user's typos.
        self.guard = LoginGuard(
            settings.login_max_failures_per_address,
            settings.login_failure_window_seconds,
            settings.login_block_seconds,
            clock,
        )
        self.user_guard = LoginGuard(
            settings.login_max_failures,
            settings.login_failure_window_seconds,
            settings.login_block_seconds,
            clock,
        )
        self.trusted = parse_networks(settings.trusted_proxies)
        self.metrics = (
            Metrics(exchange, self.guard.blocked, self.user_guard.blocked)
            if settings.metrics
            else None
        )
        self.max_websockets = settings.max_websockets
        self.max_websockets_per_ip = settings.max_websockets_per_ip
        self.websockets = 0
        self.websockets_by_ip: dict[str, int] = {}
        self.send_timeout = settings.websocket_send_timeout_seconds
        self.close_timeout = settings.websocket_close_timeout_seconds
        # The server's TCP connections (serve mode): what a websocket deadline resets.
        self.connections = connections

    def install(self, app: QuartTrio) -> None:
        """Hook into every request and websocket of ``app``."""
        app.before_request(self.before)
        app.after_request(self.after)
        app.teardown_request(self.teardown)
        app.before_websocket(self.before_websocket)

    async def before(self) -> Response | None:
        """Identify the request; answer preflights; apply the client's rate limit."""
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if REQUEST_ID.fullmatch(given) else new_id()
        g.started = time.perf_counter()
        g.client_ip = client_ip(
            request.remote_addr or "", request.headers.get("X-Forwarded-For"), self.trusted
        )
        if self.metrics is not None:
            self.metrics.in_flight.inc()
        path = request.path
        if self.limiter is not None and path.startswith(LIMITED_PREFIX):
            window = self.limiter.hit(g.client_ip)
            g.window = window
            if not window.allowed:
                if self.metrics is not None:
                    self.metrics.rate_limited.labels("ip").inc()
                retry = window.retry_after(self.exchange.clock.now())
                detail = (
                    f"Rate limit of {window.limit} requests per minute exceeded; retry in {retry} s"
                )
                raise retry_later(429, "rate_limited", detail, retry)
        if request.method == "OPTIONS" and path.startswith(API_PREFIX):
            return Response(b"", status=204, headers=PREFLIGHT_HEADERS)
        return None

    async def before_websocket(self) -> None:
        """Identify the websocket's client."""
        g.request_id = new_id()
        g.client_ip = client_ip(
            websocket.remote_addr or "", websocket.headers.get("X-Forwarded-For"), self.trusted
        )

    async def after(self, response: Response) -> Response:
        """Stamp headers, record metrics and write the access line."""
        request_id = getattr(g, "request_id", "") or new_id()
        response.headers["X-Request-ID"] = request_id
        path = request.path
        if path.startswith(API_PREFIX):
            response.headers.update(CORS_HEADERS)
        window = getattr(g, "window", None)
        if window is not None:
            response.headers["X-RateLimit-Limit"] = str(window.limit)
            response.headers["X-RateLimit-Remaining"] = str(window.remaining)
            response.headers["X-RateLimit-Reset"] = str(window.reset)
        started = getattr(g, "started", None)
        latency = 0.0 if started is None else time.perf_counter() - started
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        status = response.status_code
        if self.metrics is not None and started is not None:
            self.metrics.observe(route, request.method, status, latency)
        if access.isEnabledFor(logging.INFO):
            claims = getattr(g, "claims", None)
            log_request(
                {
                    "request_id": request_id,
                    "user": claims.sub if claims is not None else None,
                    "method": request.method,
                    "route": route,
                    "status": status,
                    "latency_ms": round(latency * 1000, 3),
                    "client_ip": getattr(g, "client_ip", None),
                }
            )
        return response

    async def teardown(self, _error: BaseException | None) -> None:
        """End the request's in-flight count, also when the client left and it was cancelled."""
        if self.metrics is not None and getattr(g, "started", None) is not None:
            self.metrics.in_flight.dec()

    def order_allowed(self, username: str) -> None:
        """Apply the per-user order rate; 429 with ``Retry-After`` when over it."""
        if self.throttle is None:
            return
        wait = self.throttle.take(username)
        if wait:
            if self.metrics is not None:
                self.metrics.rate_limited.labels("orders").inc()
            retry = max(1, math.ceil(wait))
            detail = f"Order rate of {self.throttle.rate:g} per second exceeded; retry in {retry} s"
            raise retry_later(429, "order_rate_limited", detail, retry)

    async def serve_websocket(
        self, name: str, stream: Callable[[Gateway], Awaitable[None]]
    ) -> None:
        """Accept the websocket and run ``stream`` on it, or close it with 1013 when full.

        Its writes go through ``send_websocket``/``close_websocket``, under deadlines.
        """
        with self.websocket_slot(g.client_ip) as admitted:
            link = Link(self.send_timeout, self.close_timeout, self._reset(name))
            g.link = link
            async with trio.open_nursery() as nursery:
                nursery.start_soon(link.watch)
                await link.accept()
                if admitted:
                    await stream(self)
                else:
                    await link.close(TRY_LATER_CODE, "too many connections; try again later")
                nursery.cancel_scope.cancel()

    def _reset(self, name: str) -> Callable[[], None]:
        scope = websocket.scope
        client, server = scope.get("client"), scope.get("server")
        client_ip = g.client_ip

        def reset() -> None:
            log.warning(
                "websocket reset: a write passed its deadline",
                extra={"fields": {"stream": name, "client_ip": client_ip}},
            )
            if self.connections is not None:
                self.connections.abort(client, server)

        return reset

    async def send_websocket(self, data: bytes) -> bool:
        """Send one message; False when the client did not take it within the send timeout."""
        link: Link = g.link
        return await link.send(data.decode())

    async def close_websocket(self, code: int, reason: str) -> None:
        """Close the websocket; the connection is reset if the close frame is not taken."""
        link: Link = g.link
        await link.close(code, reason)

    @contextmanager
    def websocket_slot(self, ip: str) -> Iterator[bool]:
        """A place among the capped websocket connections; yields False when none is free.

        The cap is global and per client address.
        """
        held = self.websockets_by_ip.get(ip, 0)
        if self.websockets >= self.max_websockets or held >= self.max_websockets_per_ip:
            yield False
            return
        self.websockets += 1
        self.websockets_by_ip[ip] = held + 1
        try:
            yield True
        finally:
            self.websockets -= 1
            left = self.websockets_by_ip[ip] - 1
            if left:
                self.websockets_by_ip[ip] = left
            else:
                del self.websockets_by_ip[ip]

    def sent(self, stream: str) -> None:
        """Count one websocket message sent."""
        if self.metrics is not None:
            self.metrics.ws_frames.labels(stream).inc()

    def dropped(self, stream: str) -> None:
        """Count one websocket client closed for falling behind."""
        if self.metrics is not None:
            self.metrics.ws_dropped.labels(stream).inc()


def gateway() -> Gateway:
    """The running app's gateway."""
    found: Gateway = current_app.extensions["gateway"]
    return found
