"""Gateway duties through the test client, in virtual time (``autojump_clock``).

Request ids, CORS and rate-limit headers; the per-IP window and trusted proxies; the per-user
order rate; the login brute-force block; back-pressure (503), oversized bodies (413) and the
request deadline (504); the websocket cap; Prometheus metrics; JSON access logs; the audit log
and the admin bootstrap. The client IP is set per request with ``scope_base={"client": ...}``.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, cast

import pytest
import trio
import trio.testing
from prometheus_client.parser import text_string_to_metric_families
from quart import Response
from quart.testing.connections import WebsocketDisconnectError
from quart.typing import TestWebsocketConnectionProtocol as Socket

from exchange.engine import Exchange, open_exchange
from tests.conftest import (
    PASSWORD,
    Client,
    engine_settings,
    login,
    register,
    signed_up,
    user_body,
    web_settings,
)
from web.app import ExchangeApp, create_app
from web.clientip import client_ip, parse_networks
from web.gateway import Gateway
from web.limits import LoginGuard, RateLimiter, Throttle
from web.logs import JsonFormatter

ASSETS = "/api/v1/inventory/assets"
REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
PROFILE = "/api/v1/auth/profile"
BALANCE = "/api/v1/balance"
DEPOSIT = "/api/v1/balance/deposit"
ORDERS = "/api/v1/orders"
AUDIT = "/api/v1/admin/audit"
PRICES = "/ws/prices"
ACCOUNT = "/ws/account"
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
ACCESS_FIELDS = {"request_id", "user", "method", "route", "status", "latency_ms", "client_ip"}
ADMIN_USERNAME, ADMIN_PASSWORD = "admin_01", "Admin-Passw0rd!"
WRONG_PASSWORD = "Wrong-Passw0rd!"
# Virtual seconds any single websocket wait may take before the test fails rather than hangs.
PATIENCE = 120.0


@asynccontextmanager
async def serving(
    tmp_path: Path,
    *,
    engine: dict[str, object] | None = None,
    setup: Callable[[ExchangeApp], None] | None = None,
    **web: object,
) -> AsyncIterator[tuple[Exchange, ExchangeApp, Client]]:
    """An exchange with its own settings and a test client of an app with its own settings."""
    async with open_exchange(engine_settings(tmp_path, **(engine or {}))) as exchange:
        app = create_app(exchange, web_settings(**web))
        app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = None
        if setup is not None:
            setup(app)
        async with app.test_app() as test_app:
            yield exchange, app, test_app.test_client()


def with_admin(tmp_path: Path) -> AbstractAsyncContextManager[tuple[Exchange, ExchangeApp, Client]]:
    """``serving`` with an admin bootstrapped from the settings."""
    return serving(tmp_path, admin_username=ADMIN_USERNAME, admin_password=ADMIN_PASSWORD)


def gateway_of(app: ExchangeApp) -> Gateway:
    return cast(Gateway, app.extensions["gateway"])


def peer(ip: str) -> dict[str, object]:
    """A request scope whose socket peer is ``ip``."""
    return {"client": (ip, 40_000)}


def window_end(exchange: Exchange) -> int:
    """The unix second at which the current one-minute rate-limit window ends."""
    return (int(exchange.clock.now()) // 60 + 1) * 60


async def next_window(exchange: Exchange) -> None:
    """Sleep (virtually) into the next one-minute window."""
    await trio.sleep(window_end(exchange) - exchange.clock.now() + 0.01)


async def json_of(response: Response) -> Any:
    return await response.get_json()


async def assert_error(response: Response, status: int, code: str) -> dict[str, Any]:
    """The response is an error in the contract's shape; returns its body."""
    assert response.status_code == status, await response.get_data()
    body: dict[str, Any] = await response.get_json()
    assert set(body) == {"detail", "code", "request_id"}
    assert body["code"] == code
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


async def try_login(
    client: Client, ip: str, username: str = "alice_01", password: str = PASSWORD
) -> Response:
    return await client.post(
        LOGIN, json={"username": username, "password": password}, scope_base=peer(ip)
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def token_of(client: Client, username: str, password: str = PASSWORD) -> str:
    response = await client.post(LOGIN, json={"username": username, "password": password})
    assert response.status_code == 200, await response.get_data()
    token: str = (await response.get_json())["access_token"]
    return token


def resting_buy(client_order_id: str | None = None) -> dict[str, object]:
    """A limit buy far below the market: it rests, reserving $1."""
    body: dict[str, object] = {
        "order_type": "limit_buy",
        "asset_id": "BTC",
        "quantity": "0.001",
        "price": "1000",
    }
    if client_order_id is not None:
        body["client_order_id"] = client_order_id
    return body


# Headers on every response


async def test_every_api_response_carries_rate_cors_and_request_id_headers(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with serving(tmp_path, rate_limit_per_minute=7) as (exchange, _, client):
        now = exchange.clock.now()
        reset = window_end(exchange)
        preflight = {
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        }
        calls: list[tuple[int, Callable[[], Awaitable[Response]]]] = [
            (200, lambda: client.get(ASSETS)),
            (201, lambda: client.post(REGISTER, json=user_body())),
            (401, lambda: client.get(BALANCE)),
            (404, lambda: client.get(f"{ASSETS}/NOPE1")),
            (404, lambda: client.get("/api/v1/no-such-route")),
            (422, lambda: client.post(REGISTER, json=user_body("bobby_01", password="short"))),
            (204, lambda: client.options(ORDERS, headers=preflight)),
            (429, lambda: client.get(ASSETS)),
            (429, lambda: client.options(ORDERS, headers=preflight)),
        ]
        for count, (status, call) in enumerate(calls, start=1):
            response = await call()
            assert response.status_code == status, (count, await response.get_data())
            assert response.headers["X-RateLimit-Limit"] == "7"
            assert response.headers["X-RateLimit-Remaining"] == str(max(0, 7 - count))
            assert response.headers["X-RateLimit-Reset"] == str(reset)
            assert response.headers["Access-Control-Allow-Origin"] == "*"
            exposed = response.headers["Access-Control-Expose-Headers"]
            assert all(name in exposed for name in ("X-Request-ID", *RATE_HEADERS))
            request_id = response.headers["X-Request-ID"]
            assert len(request_id) == 32 and int(request_id, 16) >= 0
            if status >= 400:
                body = await json_of(response)
                assert body["request_id"] == request_id
            if status == 204:
                assert await response.get_data() == b""
                assert "POST" in response.headers["Access-Control-Allow-Methods"]
                allowed = response.headers["Access-Control-Allow-Headers"]
                assert "Authorization" in allowed and "Content-Type" in allowed
            if status == 429:
                await assert_error(response, 429, "rate_limited")
                assert response.headers["Retry-After"] == str(math.ceil(reset - now))
            else:
                assert "Retry-After" not in response.headers
        assert exchange.clock.now() == now, "all in one window"
        # Request ids are unique per request.
        ids = {(await client.get("/health")).headers["X-Request-ID"] for _ in range(5)}
        assert len(ids) == 5


async def test_non_api_routes_get_a_request_id_but_no_rate_headers(client: Client) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.headers["X-Request-ID"]
    for name in RATE_HEADERS:
        assert name not in response.headers
    metrics = await client.get("/metrics")
    assert metrics.headers["X-Request-ID"]
    assert "X-RateLimit-Limit" not in metrics.headers


async def test_a_well_formed_request_id_is_echoed_and_a_bad_one_replaced(client: Client) -> None:
    response = await client.get(ASSETS, headers={"X-Request-ID": "trace-42.a:b_c"})
    assert response.headers["X-Request-ID"] == "trace-42.a:b_c"
    error = await client.get(BALANCE, headers={"X-Request-ID": "trace-43"})
    assert (await assert_error(error, 401, "unauthorized"))["request_id"] == "trace-43"
    for bad in ("has space", "x" * 129, "<script>", "semi;colon"):
        response = await client.get(ASSETS, headers={"X-Request-ID": bad})
        replaced = response.headers["X-Request-ID"]
        assert replaced != bad
        assert len(replaced) == 32 and int(replaced, 16) >= 0


# The per-IP window


async def test_over_the_ip_limit_is_429_until_the_next_window(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with serving(tmp_path, rate_limit_per_minute=3) as (exchange, _, client):
        first, second = peer("198.51.100.1"), peer("198.51.100.2")
        reset = window_end(exchange)
        for _ in range(3):
            assert (await client.get(ASSETS, scope_base=first)).status_code == 200
        refused = await client.get(ASSETS, scope_base=first)
        body = await assert_error(refused, 429, "rate_limited")
        assert "3 requests per minute" in body["detail"]
        retry = int(refused.headers["Retry-After"])
        assert retry == math.ceil(reset - exchange.clock.now())
        assert refused.headers["X-RateLimit-Remaining"] == "0"
        # Every /api/v1 route counts against the same window, public or not.
        await assert_error(await client.post(LOGIN, json={}, scope_base=first), 429, "rate_limited")
        # Another client is unaffected, and routes outside /api/v1 are not limited.
        other = await client.get(ASSETS, scope_base=second)
        assert other.status_code == 200
        assert other.headers["X-RateLimit-Remaining"] == "2"
        assert (await client.get("/health", scope_base=first)).status_code == 200
        # Half-way to the reset: still refused, with a shorter Retry-After.
        await trio.sleep(retry / 2)
        later = await client.get(ASSETS, scope_base=first)
        assert later.status_code == 429
        assert int(later.headers["Retry-After"]) == math.ceil(reset - exchange.clock.now())
        assert int(later.headers["Retry-After"]) < retry
        # The next window starts afresh.
        await next_window(exchange)
        again = await client.get(ASSETS, scope_base=first)
        assert again.status_code == 200
        assert again.headers["X-RateLimit-Remaining"] == "2"
        assert again.headers["X-RateLimit-Reset"] == str(reset + 60)


async def test_forwarded_for_is_ignored_without_trusted_proxies(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with serving(tmp_path, rate_limit_per_minute=2) as (_, _, client):
        proxy = peer("10.1.2.3")
        for n in range(2):
            forwarded = {"X-Forwarded-For": f"203.0.113.{n + 1}"}
            response = await client.get(ASSETS, headers=forwarded, scope_base=proxy)
            assert response.status_code == 200
        # A new forwarded address does not buy a new window: the peer is the client.
        forwarded = {"X-Forwarded-For": "203.0.113.99"}
        response = await client.get(ASSETS, headers=forwarded, scope_base=proxy)
        await assert_error(response, 429, "rate_limited")
        # Nor does a header naming another remote address.
        spoofed = {"Remote-Addr": "203.0.113.100", "X-Real-IP": "203.0.113.101"}
        response = await client.get(ASSETS, headers=spoofed, scope_base=proxy)
        await assert_error(response, 429, "rate_limited")


async def test_a_trusted_proxy_forwards_the_client_ip(
    tmp_path: Path, autojump_clock: object
) -> None:
    behind_proxy = serving(tmp_path, rate_limit_per_minute=2, trusted_proxies="10.0.0.0/8")
    async with behind_proxy as (_, _, client):
        proxy = peer("10.1.2.3")
        chain = {"X-Forwarded-For": "203.0.113.7, 10.9.9.9"}
        for _ in range(2):
            assert (await client.get(ASSETS, headers=chain, scope_base=proxy)).status_code == 200
        # 203.0.113.7 has used its window, whichever trusted proxy it comes through.
        limited = await client.get(ASSETS, headers=chain, scope_base=proxy)
        await assert_error(limited, 429, "rate_limited")
        direct = {"X-Forwarded-For": "203.0.113.7"}
        response = await client.get(ASSETS, headers=direct, scope_base=peer("10.200.0.1"))
        assert response.status_code == 429
        # Other clients behind the same proxy, and the proxy itself, have their own windows.
        other = await client.get(
            ASSETS, headers={"X-Forwarded-For": "198.51.100.8, 10.9.9.9"}, scope_base=proxy
        )
        assert other.status_code == 200
        assert other.headers["X-RateLimit-Remaining"] == "1"
        assert (await client.get(ASSETS, scope_base=proxy)).status_code == 200
        # An untrusted peer's header is ignored: the limit applies to the peer.
        stranger = peer("192.0.2.50")
        for expected in (200, 200, 429):
            response = await client.get(ASSETS, headers=direct, scope_base=stranger)
            assert response.status_code == expected
        claims_other = {"X-Forwarded-For": "198.51.100.200"}
        response = await client.get(ASSETS, headers=claims_other, scope_base=stranger)
        assert response.status_code == 429


def test_client_ip_edge_cases() -> None:
    trusted = parse_networks(" 10.0.0.0/8, 192.168.1.1 ,fd00::/8,")
    assert trusted == [
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.168.1.1/32"),
        ipaddress.ip_network("fd00::/8"),
    ]
    assert parse_networks("") == []
    assert parse_networks("10.1.2.3/8") == [ipaddress.ip_network("10.0.0.0/8")]
    proxy = "10.1.2.3"
    # No header, or an untrusted peer: the peer.
    assert client_ip(proxy, None, trusted) == proxy
    assert client_ip(proxy, "", trusted) == proxy
    assert client_ip("203.0.113.5", "198.51.100.1", trusted) == "203.0.113.5"
    assert client_ip("203.0.113.5", "198.51.100.1", []) == "203.0.113.5"
    assert client_ip("", "198.51.100.1", trusted) == ""
    assert client_ip("not-an-ip", "198.51.100.1", trusted) == "not-an-ip"
    # A trusted peer: the nearest untrusted hop from the right.
    assert client_ip(proxy, "198.51.100.1", trusted) == "198.51.100.1"
    assert client_ip(proxy, " 198.51.100.1 ,10.2.2.2,  192.168.1.1 ", trusted) == "198.51.100.1"
    assert client_ip(proxy, "6.6.6.6, 198.51.100.1, 10.2.2.2", trusted) == "198.51.100.1"
    assert client_ip("fd00::1", "2001:db8::7, fd12::3", trusted) == "2001:db8::7"
    # A malformed hop anywhere on the way: trust nothing in the chain.
    for chain in (
        "garbage",
        "198.51.100.1, garbage",
        "203.0.113.7:443",
        "198.51.100.1, 10.2.2.2, 999.1.1.1",
        "unknown, 10.2.2.2",
    ):
        assert client_ip(proxy, chain, trusted) == proxy, chain
    # Only commas: no hop at all.
    assert client_ip(proxy, " , ,", trusted) == proxy
    # Every hop a trusted proxy: the farthest one is the best guess.
    assert client_ip(proxy, "10.7.7.7, 192.168.1.1, 10.8.8.8", trusted) == "10.7.7.7"


# Bounded memory of the limiter


def test_rate_limiter_forgets_old_windows_and_bounds_its_keys() -> None:
    now = [1_000_020.0]
    limiter = RateLimiter(3, lambda: now[0], max_keys=5)
    for n in range(5):
        assert limiter.hit(f"192.0.2.{n}").allowed
    assert len(limiter) == 5
    # Past max_keys the least recently seen key is dropped.
    limiter.hit("192.0.2.0")  # now the most recent
    for n in range(5, 9):
        limiter.hit(f"192.0.2.{n}")
    assert len(limiter) == 5
    assert limiter.hit("192.0.2.0").remaining == 0, "kept: its count goes on"
    assert limiter.hit("192.0.2.0").allowed is False
    assert limiter.rejected == 1
    assert limiter.hit("192.0.2.1").remaining == 2, "evicted: it starts afresh"
    # A new window drops every count of the old one.
    now[0] += 60
    window = limiter.hit("192.0.2.0")
    assert len(limiter) == 1
    assert window.allowed and window.remaining == 2
    assert window.reset == (int(now[0]) // 60 + 1) * 60
    assert window.retry_after(now[0]) == window.reset - int(now[0])
    assert window.retry_after(window.reset - 0.2) == 1
    assert window.retry_after(window.reset + 5) == 1


async def test_idle_ip_buckets_are_evicted_in_a_new_window(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with serving(tmp_path) as (exchange, app, client):
        limiter = gateway_of(app).limiter
        assert limiter is not None
        for n in range(200):
            response = await client.get("/api/v1/no-such-route", scope_base=peer(f"10.0.{n}.1"))
            assert response.status_code == 404
        assert len(limiter) == 200
        await next_window(exchange)
        await client.get(ASSETS, scope_base=peer("192.0.2.1"))
        assert len(limiter) == 1


def test_throttle_and_login_guard_bound_their_memory() -> None:
    now = [0.0]
    throttle = Throttle(1, lambda: now[0], max_keys=3)
    for n in range(4):
        assert throttle.take(f"user_{n}") == 0.0
    assert throttle.take("user_3") == 1.0, "kept: its bucket is empty"
    assert throttle.take("user_0") == 0.0, "evicted: a fresh bucket"
    assert throttle.rejected == 1
    guard = LoginGuard(2, 300, 60, lambda: now[0], max_keys=3)
    for n in range(4):
        assert guard.fail(f"192.0.2.{n}") is False
    assert guard.fail("192.0.2.3") is True, "kept: its second failure blocks"
    assert guard.fail("192.0.2.0") is False, "evicted: its first failure was forgotten"
    assert guard.blocked() == 1
    assert guard.blocked_for("192.0.2.3") == 60
    now[0] += 60
    assert guard.blocked_for("192.0.2.3") == 0.0
    assert guard.blocked() == 0
    assert guard.expired_blocks() == [], "already dropped"


async def test_limits_can_be_turned_off(tmp_path: Path, autojump_clock: object) -> None:
    unlimited = serving(tmp_path, rate_limit_per_minute=0, order_rate_per_second=0)
    async with unlimited as (_, app, client):
        assert gateway_of(app).limiter is None and gateway_of(app).throttle is None
        auth = await signed_up(client)
        response = await client.post(DEPOSIT, json={"amount": "100"}, headers=auth)
        assert response.status_code == 201
        for name in RATE_HEADERS:
            assert name not in response.headers
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        for _ in range(20):
            placed = await client.post(ORDERS, json=resting_buy(), headers=auth)
            assert placed.status_code == 201


# Per-user order rate


async def test_order_rate_per_user(tmp_path: Path, autojump_clock: object) -> None:
    async with serving(tmp_path, order_rate_per_second=2) as (exchange, _, client):
        alice = await signed_up(client, "alice_01")
        bob = await signed_up(client, "bobby_01")
        for auth in (alice, bob):
            response = await client.post(DEPOSIT, json={"amount": "100"}, headers=auth)
            assert response.status_code == 201
        now = exchange.clock.now()
        for n in range(2):
            placed = await client.post(ORDERS, json=resting_buy(f"a{n}"), headers=alice)
            assert placed.status_code == 201, await placed.get_data()
        refused = await client.post(ORDERS, json=resting_buy("a2"), headers=alice)
        body = await assert_error(refused, 429, "order_rate_limited")
        assert "2 per second" in body["detail"]
        assert refused.headers["Retry-After"] == "1"
        assert refused.headers["X-RateLimit-Limit"] == "10000", "the IP window still applies"
        # The throttle is checked before the body is read: even a bad body is refused.
        await assert_error(
            await client.post(ORDERS, json={}, headers=alice), 429, "order_rate_limited"
        )
        # Another user's orders are unaffected, in the same instant.
        assert (await client.post(ORDERS, json=resting_buy(), headers=bob)).status_code == 201
        assert exchange.clock.now() == now, "all in the same virtual instant"
        listed = await json_of(await client.get(ORDERS, headers=alice))
        assert listed["total_count"] == 2, "the refused order was never placed"
        # Other routes are not throttled.
        assert (await client.get(ORDERS, headers=alice)).status_code == 200
        # Half a second refills one token; a whole second a burst of two.
        await trio.sleep(0.5)
        assert (await client.post(ORDERS, json=resting_buy("a2"), headers=alice)).status_code == 201
        assert (await client.post(ORDERS, json=resting_buy("a3"), headers=alice)).status_code == 429
        await trio.sleep(1.0)
        for n in (3, 4):
            placed = await client.post(ORDERS, json=resting_buy(f"a{n}"), headers=alice)
            assert placed.status_code == 201
        listed = await json_of(await client.get(ORDERS, headers=alice))
        assert listed["total_count"] == 5
        assert exchange.verify() == []


async def test_an_order_rate_below_one_per_second(tmp_path: Path, autojump_clock: object) -> None:
    async with serving(tmp_path, order_rate_per_second=0.5) as (_, _, client):
        auth = await signed_up(client)
        assert (await client.post(DEPOSIT, json={"amount": "100"}, headers=auth)).status_code == 201
        assert (await client.post(ORDERS, json=resting_buy(), headers=auth)).status_code == 201
        refused = await client.post(ORDERS, json=resting_buy(), headers=auth)
        await assert_error(refused, 429, "order_rate_limited")
        assert refused.headers["Retry-After"] == "2"
        await trio.sleep(1)
        refused = await client.post(ORDERS, json=resting_buy(), headers=auth)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "1"
        await trio.sleep(1)
        assert (await client.post(ORDERS, json=resting_buy(), headers=auth)).status_code == 201
        # No burst beyond one order, however long the user waited.
        await trio.sleep(60)
        assert (await client.post(ORDERS, json=resting_buy(), headers=auth)).status_code == 201
        assert (await client.post(ORDERS, json=resting_buy(), headers=auth)).status_code == 429


# Login brute-force block


async def test_failed_logins_block_that_username_from_that_address(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with serving(tmp_path) as (exchange, app, client):
        await register(client, "alice_01")
        await register(client, "bob_01")
        # A classroom: every student behind the school's one address.
        room, elsewhere = "198.51.100.66", "203.0.113.10"
        # Format errors are not failures.
        for _ in range(6):
            bad = await try_login(client, room, password="short")
            assert bad.status_code == 422
        # A success before the threshold does not clear the failures so far.
        for _ in range(4):
            response = await try_login(client, room, password=WRONG_PASSWORD)
            await assert_error(response, 401, "invalid_credentials")
        # Another user's failures from the same address count for that user only.
        for _ in range(4):
            response = await try_login(client, room, username="nobody_01")
            await assert_error(response, 404, "user_not_found")
        assert (await try_login(client, room)).status_code == 200
        fifth = await try_login(client, room, password=WRONG_PASSWORD)
        assert fifth.status_code == 401, "the failure that blocks still answers as a failure"
        blocked_at = exchange.clock.now()
        assert gateway_of(app).user_guard.blocked() == 1
        assert gateway_of(app).guard.blocked() == 0, "the address itself is not blocked"
        # Now even the right password is refused for alice from that address.
        refused = await try_login(client, room)
        body = await assert_error(refused, 403, "login_blocked")
        assert "300 s" in body["detail"]
        assert refused.headers["Retry-After"] == "300"
        # Bob, behind the same address, still logs in; so does alice from elsewhere.
        assert (await try_login(client, room, username="bob_01")).status_code == 200
        assert (await try_login(client, elsewhere)).status_code == 200
        assert (await try_login(client, room)).status_code == 403
        # nobody_01 had four failures: the fifth blocks that name too, not bob.
        nobody = await try_login(client, room, username="nobody_01")
        await assert_error(nobody, 404, "user_not_found")
        nobody = await try_login(client, room, username="nobody_01")
        await assert_error(nobody, 403, "login_blocked")
        assert (await try_login(client, room, username="bob_01")).status_code == 200
        # Only logins are blocked: other routes from that address work.
        assert (await client.get(ASSETS, scope_base=peer(room))).status_code == 200
        # Still blocked just before the end, with a shorter Retry-After.
        await trio.sleep(blocked_at + 299.5 - exchange.clock.now())
        late = await try_login(client, room)
        await assert_error(late, 403, "login_blocked")
        assert late.headers["Retry-After"] == "1"
        # Blocked attempts are not failures: the block ends on time and login works.
        await trio.sleep(1.0)
        assert (await try_login(client, room)).status_code == 200
        # Counting starts afresh after a block.
        for _ in range(4):
            await try_login(client, room, password=WRONG_PASSWORD)
        assert (await try_login(client, room)).status_code == 200


async def test_many_usernames_from_one_address_block_the_address(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with serving(tmp_path) as (_, app, client):
        await register(client, "alice_01")
        sprayer, elsewhere = "198.51.100.70", "203.0.113.11"
        # Spraying: one guess each at many usernames never trips the per-username block.
        for n in range(49):
            response = await try_login(client, sprayer, username=f"victim_{n:02d}")
            await assert_error(response, 404, "user_not_found")
        assert (await try_login(client, sprayer)).status_code == 200, "49 failures: still open"
        fiftieth = await try_login(client, sprayer, username="victim_49")
        await assert_error(fiftieth, 404, "user_not_found")
        assert gateway_of(app).guard.blocked() == 1
        assert gateway_of(app).user_guard.blocked() == 0
        # Now every username is refused from that address, and only from it.
        refused = await try_login(client, sprayer)
        await assert_error(refused, 403, "ip_blocked")
        assert refused.headers["Retry-After"] == "300"
        assert (await try_login(client, elsewhere)).status_code == 200
        await trio.sleep(300)
        assert (await try_login(client, sprayer)).status_code == 200


async def test_failures_older_than_the_window_do_not_count(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with serving(tmp_path) as (_, _, client):
        await register(client, "alice_01")
        ip = "198.51.100.67"
        for _ in range(4):
            assert (await try_login(client, ip, password=WRONG_PASSWORD)).status_code == 401
        await trio.sleep(301)
        assert (await try_login(client, ip, password=WRONG_PASSWORD)).status_code == 401
        assert (await try_login(client, ip)).status_code == 200, "one failure in the window"
        for _ in range(3):
            assert (await try_login(client, ip, password=WRONG_PASSWORD)).status_code == 401
        assert (await try_login(client, ip)).status_code == 200, "four failures in the window"
        assert (await try_login(client, ip, password=WRONG_PASSWORD)).status_code == 401
        await assert_error(await try_login(client, ip), 403, "login_blocked")


async def test_login_block_numbers_are_configurable(tmp_path: Path, autojump_clock: object) -> None:
    async with serving(
        tmp_path,
        login_max_failures=2,
        login_max_failures_per_address=4,
        login_failure_window_seconds=10,
        login_block_seconds=30,
    ) as (_, _, client):
        await register(client, "alice_01")
        await register(client, "bob_01")
        ip = "198.51.100.68"
        # Two failures 11 s apart: outside the 10 s window.
        assert (await try_login(client, ip, password=WRONG_PASSWORD)).status_code == 401
        await trio.sleep(11)
        assert (await try_login(client, ip, password=WRONG_PASSWORD)).status_code == 401
        assert (await try_login(client, ip)).status_code == 200
        # Two within it: alice is blocked for 30 s; bob is not.
        assert (await try_login(client, ip, password=WRONG_PASSWORD)).status_code == 401
        refused = await try_login(client, ip)
        await assert_error(refused, 403, "login_blocked")
        assert refused.headers["Retry-After"] == "30"
        assert (await try_login(client, ip, username="bob_01")).status_code == 200
        await trio.sleep(29.5)
        assert (await try_login(client, ip)).status_code == 403
        await trio.sleep(1)
        assert (await try_login(client, ip)).status_code == 200
        # Four failures within 10 s across usernames block the address.
        other = "198.51.100.69"
        for name in ("nobody_01", "nobody_02", "nobody_03", "nobody_04"):
            assert (await try_login(client, other, username=name)).status_code == 404
        await assert_error(await try_login(client, other, username="bob_01"), 403, "ip_blocked")


# Back-pressure, body size and the request deadline


async def test_a_full_mailbox_answers_503_and_loses_nothing(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with serving(tmp_path, engine={"account_inbox_size": 2}) as (exchange, _, client):
        auth = await signed_up(client)
        results: list[tuple[int, Response]] = []

        async def deposit(dollars: int) -> None:
            response = await client.post(DEPOSIT, json={"amount": str(dollars)}, headers=auth)
            results.append((dollars, response))

        async with trio.open_nursery() as nursery:
            for dollars in range(1, 41):
                nursery.start_soon(deposit, dollars)
        accepted = [dollars for dollars, response in results if response.status_code == 201]
        overloaded = [response for _, response in results if response.status_code == 503]
        assert len(accepted) + len(overloaded) == 40
        assert accepted and overloaded
        for response in overloaded:
            body = await assert_error(response, 503, "overloaded")
            assert "busy" in body["detail"]
            assert response.headers["Retry-After"] == "1"
            assert response.headers["X-RateLimit-Limit"]
        await trio.testing.wait_all_tasks_blocked()
        balance = await json_of(await client.get(BALANCE, headers=auth))
        assert balance["current_balance"] == f"{sum(accepted)}.00"
        ledger = await json_of(await client.get("/api/v1/balance/transactions", headers=auth))
        assert ledger["total_count"] == len(accepted)
        assert sorted(int(float(t["amount"])) for t in ledger["transactions"]) == sorted(accepted)
        assert exchange.verify() == []
        # Once drained, the account takes deposits again.
        response = await client.post(DEPOSIT, json={"amount": "1"}, headers=auth)
        assert response.status_code == 201


async def test_an_oversized_body_is_413(tmp_path: Path, autojump_clock: object) -> None:
    async with serving(tmp_path, max_body_bytes=1024) as (exchange, _, client):
        body = user_body(first_name="A" * 2000)
        response = await client.post(REGISTER, json=body)
        detail = await assert_error(response, 413, "payload_too_large")
        assert detail["detail"] == "Request body too large"
        assert response.headers["X-RateLimit-Limit"] == "10000"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert exchange.credentials("alice_01") is None
        # A body just under the limit is read normally.
        assert (await client.post(REGISTER, json=user_body())).status_code == 201


async def test_a_request_past_the_deadline_is_504_and_all_or_nothing(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with open_exchange(engine_settings(tmp_path)) as exchange:
        normal = create_app(exchange, web_settings())
        # A deadline that has passed by the handler's first wait: every such request is late.
        strict = create_app(exchange, web_settings(request_timeout_seconds=0.0))
        for app in (normal, strict):
            app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = None
        async with normal.test_app() as normal_app, strict.test_app() as strict_app:
            client, late = normal_app.test_client(), strict_app.test_client()
            auth = await signed_up(client)
            deposited = await client.post(DEPOSIT, json={"amount": "10"}, headers=auth)
            assert deposited.status_code == 201
            response = await late.post(DEPOSIT, json={"amount": "5"}, headers=auth)
            body = await assert_error(response, 504, "timeout")
            assert body["detail"] == "The request took longer than 0 s"
            assert response.headers["X-RateLimit-Limit"] == "10000"
            registered = await late.post(REGISTER, json=user_body("bobby_01"))
            await assert_error(registered, 504, "timeout")
            # A handler that never waits finishes inside any deadline.
            assert (await late.get("/health")).status_code == 200
            _, samples = await scrape(late)
            assert metric(samples, "exchange_http_requests_in_flight") == 1, "only the scrape"
            assert requests_total(samples, DEPOSIT, "POST", "504") == 1
            # Whatever the engine had been asked, it did entirely or not at all.
            await trio.testing.wait_all_tasks_blocked()
            cash = (await exchange.balance("alice_01")).cash
            assert cash in (1000, 1500)
            entries, total = exchange.transactions("alice_01", 100, 0)
            assert total == len(entries) and sum(entry.amount for entry in entries) == cash
            assert exchange.verify() == []
            if exchange.credentials("bobby_01") is not None:
                await token_of(client, "bobby_01")  # registered in full, login works
            # The other app over the same exchange is unaffected.
            deposited = await client.post(DEPOSIT, json={"amount": "1"}, headers=auth)
            assert deposited.status_code == 201
            assert exchange.verify() == []


# The websocket cap


async def receive(ws: Socket) -> dict[str, Any]:
    with trio.fail_after(PATIENCE):
        data = await ws.receive()
    message: dict[str, Any] = json.loads(data)
    return message


async def closed_with(ws: Socket) -> int:
    """Wait for the server to close ``ws``; the close code."""
    with pytest.raises(WebsocketDisconnectError) as closed, trio.fail_after(PATIENCE):
        await ws.receive()
    code: int = closed.value.args[0]
    return code


async def test_websockets_beyond_the_cap_are_closed_with_1013(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with serving(
        tmp_path,
        engine={"tick_interval": 1.0},
        max_websockets=1,
        # Streams are not requests: the request deadline does not cut them off.
        request_timeout_seconds=2.0,
    ) as (exchange, app, client):
        gate = gateway_of(app)
        await register(client, "alice_01")
        token = await token_of(client, "alice_01")
        async with client.websocket(PRICES) as first:
            snapshot = await receive(first)
            assert snapshot["type"] == "snapshot"
            async with client.websocket(PRICES) as second:
                assert await closed_with(second) == 1013
            async with client.websocket(ACCOUNT, query_string={"token": token}) as third:
                assert await closed_with(third) == 1013
            assert gate.websockets == 1
            # The first keeps streaming, past the request deadline too.
            seq = snapshot["seq"]
            for _ in range(5):
                tick = await receive(first)
                assert tick["type"] == "tick" and tick["seq"] > seq
                seq = tick["seq"]
        await trio.testing.wait_all_tasks_blocked()
        assert gate.websockets == 0
        assert exchange.feed.subscribers() == 0
        # Its place is free again.
        async with client.websocket(PRICES) as again:
            assert (await receive(again))["type"] == "snapshot"
            assert (await receive(again))["type"] == "tick"
        async with client.websocket(ACCOUNT, query_string={"token": token}) as account:
            assert (await receive(account))["type"] == "hello"


# Metrics


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(client: Client) -> tuple[str, Samples]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    text = await response.get_data(as_text=True)
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return text, samples


def metric(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def requests_total(samples: Samples, route: str, method: str, status: str) -> float:
    return metric(
        samples, "exchange_http_requests_total", route=route, method=method, status=status
    )


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


async def test_metrics(tmp_path: Path, autojump_clock: object) -> None:
    async with serving(
        tmp_path,
        engine={"tick_interval": 1.0},
        rate_limit_per_minute=50,
        order_rate_per_second=1,
    ) as (exchange, _, client):
        # Public: no token needed.
        _, before = await scrape(client)
        assert metric(before, "exchange_http_requests_in_flight") == 1, "the scrape itself"
        assert metric(before, "exchange_blocked_ips") == 0
        assert metric(before, "exchange_account_actors") == 0
        assert metric(before, "exchange_websocket_clients", stream="prices") == 0
        assert metric(before, "exchange_websocket_clients", stream="account") == 0
        commits_before = metric(before, "exchange_store_commit_seconds_count")
        batches_before = metric(before, "exchange_store_batch_size_count")
        ticks_before = metric(before, "exchange_price_ticks_total")
        assert ticks_before == exchange.feed.stats_ticks
        assert not [n for n in names(before) if n.startswith("exchange_rate_limited_total")]

        # Orders: two ids read through one route template; one order over the user's rate.
        auth = await signed_up(client)
        assert (await client.post(DEPOSIT, json={"amount": "100"}, headers=auth)).status_code == 201
        first = await json_of(await client.post(ORDERS, json=resting_buy(), headers=auth))
        throttled = await client.post(ORDERS, json=resting_buy(), headers=auth)
        assert throttled.status_code == 429
        await trio.sleep(1)
        second = await json_of(await client.post(ORDERS, json=resting_buy(), headers=auth))
        order_ids = [first["data"]["order_id"], second["data"]["order_id"]]
        assert order_ids[0] != order_ids[1]
        for order_id in order_ids:
            assert (await client.get(f"{ORDERS}/{order_id}", headers=auth)).status_code == 200
        # An IP over its window, and an IP blocked from logging in.
        flood = peer("192.0.2.99")
        for _ in range(51):
            last = await client.get(PROFILE, scope_base=flood)
        assert last.status_code == 429
        # Five failed logins at once: their audit writes queue up for one store commit.
        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(try_login, client, "192.0.2.100", "nobody_01")
        # A price stream client and an account stream client.
        query = {"token": auth["Authorization"].removeprefix("Bearer ")}
        async with (
            client.websocket(PRICES) as ws,
            client.websocket(ACCOUNT, query_string=query) as mine,
        ):
            for _ in range(3):
                await receive(ws)
            assert (await receive(mine))["type"] == "hello"
            _, during = await scrape(client)
            assert metric(during, "exchange_websocket_clients", stream="prices") == 1
            assert metric(during, "exchange_websocket_clients", stream="account") == 1
            assert metric(during, "exchange_websocket_frames_sent_total", stream="prices") >= 3
            assert metric(during, "exchange_websocket_frames_sent_total", stream="account") == 1
        await trio.testing.wait_all_tasks_blocked()
        await client.get("/api/v1/no-such-route")

        text, after = await scrape(client)
        route = "/api/v1/orders/<order_id>"
        assert requests_total(after, route, "GET", "200") == 2
        routes = {dict(labels).get("route") for name, labels in after if "route" in dict(labels)}
        assert route in routes
        assert not any(order_id in text for order_id in order_ids), "route templates only"
        assert ORDERS in routes and "unmatched" in routes
        assert requests_total(after, ORDERS, "POST", "201") == 2
        assert requests_total(after, ORDERS, "POST", "429") == 1
        assert requests_total(after, PROFILE, "GET", "401") == 50
        assert requests_total(after, PROFILE, "GET", "429") == 1
        assert requests_total(after, "/metrics", "GET", "200") == 2, "counted once done"
        # The latency histogram by route.
        for bound in ("0.001", "0.01", "0.1", "1.0", "10.0", "+Inf"):
            assert (
                "exchange_http_request_duration_seconds_bucket",
                (("le", bound), ("route", route)),
            ) in after
        assert metric(after, "exchange_http_request_duration_seconds_count", route=route) == 2
        assert (
            metric(after, "exchange_http_request_duration_seconds_bucket", route=route, le="+Inf")
            == 2
        )
        assert metric(after, "exchange_http_requests_in_flight") == 1
        assert metric(after, "exchange_rate_limited_total", limit="ip") == 1
        assert metric(after, "exchange_rate_limited_total", limit="orders") == 1
        assert metric(after, "exchange_blocked_ips") == 0, "one username, not the address"
        assert metric(after, "exchange_blocked_logins") == 1
        assert metric(after, "exchange_account_actors") == exchange.accounts_alive() == 1
        assert metric(after, "exchange_mailbox_high_water", actor="account") >= 1
        assert metric(after, "exchange_mailbox_high_water", actor="store") >= 1
        assert metric(after, "exchange_mailbox_depth", actor="store") == 0
        assert metric(after, "exchange_store_commit_seconds_count") > commits_before
        assert metric(after, "exchange_store_batch_size_count") > batches_before
        batches = metric(after, "exchange_store_batch_size_count")
        assert metric(after, "exchange_store_batch_size_bucket", le="+Inf") == batches
        assert metric(after, "exchange_store_batch_size_bucket", le="1") < batches, "a group commit"
        assert ("exchange_store_commit_seconds_bucket", (("le", "+Inf"),)) in after
        assert metric(after, "exchange_price_ticks_total") > ticks_before
        assert metric(after, "exchange_price_ticks_total") == exchange.feed.stats_ticks
        for stream in ("prices", "account"):
            assert metric(after, "exchange_websocket_clients", stream=stream) == 0
            sent = metric(after, "exchange_websocket_frames_sent_total", stream=stream)
            assert sent >= metric(during, "exchange_websocket_frames_sent_total", stream=stream)
        assert metric(after, "exchange_resting_orders") == 2
        # The blocked-IP gauge follows the clock.
        await trio.sleep(301)
        _, later = await scrape(client)
        assert metric(later, "exchange_blocked_logins") == 0


async def test_metrics_can_be_turned_off(tmp_path: Path, autojump_clock: object) -> None:
    async with serving(tmp_path, metrics=False) as (_, app, client):
        assert gateway_of(app).metrics is None
        assert (await client.get(ASSETS)).status_code == 200
        response = await client.get("/metrics")
        assert response.status_code == 200
        text = await response.get_data(as_text=True)
        assert "metrics are off" in text
        assert "exchange_http_requests" not in text


async def test_a_request_whose_client_left_is_no_longer_in_flight(
    tmp_path: Path, autojump_clock: object
) -> None:
    ended: list[float] = []

    def add_slow_route(app: ExchangeApp) -> None:
        async def slow() -> str:
            try:
                await trio.sleep(10)
            finally:
                ended.append(trio.current_time())
            return "late"

        app.add_url_rule("/api/v1/slow", "slow", slow)

    async with serving(tmp_path, setup=add_slow_route) as (_, _, client):
        # The test connection would wait for a response that never comes: bound it.
        with trio.move_on_after(5):
            async with client.request("/api/v1/slow") as connection:
                await connection.send_complete()
                await trio.sleep(1)
                _, during = await scrape(client)
                assert metric(during, "exchange_http_requests_in_flight") == 2
                await connection.disconnect()
                await trio.testing.wait_all_tasks_blocked()
                assert ended, "the handler was cancelled"
                _, after = await scrape(client)
                assert metric(after, "exchange_http_requests_in_flight") == 1
        _, later = await scrape(client)
        assert metric(later, "exchange_http_requests_in_flight") == 1


# Access logs


def access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "exchange.access"]


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = record.__dict__["fields"]
    return fields


async def test_one_access_line_per_request(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="exchange.access")
    await register(client, "alice_01")
    auth = await login(client, "alice_01")
    requests = [
        ("GET", "/health", {}, None, 200, "/health", None),
        ("GET", BALANCE, auth, None, 200, BALANCE, "alice_01"),
        ("GET", BALANCE, {}, None, 401, BALANCE, None),
        ("POST", DEPOSIT, auth, {"amount": "0"}, 422, DEPOSIT, "alice_01"),
        ("GET", f"{ASSETS}/BTC", {}, None, 200, f"{ASSETS}/<asset_id>", None),
        ("GET", "/api/v1/nope", {}, None, 404, "unmatched", None),
    ]
    caplog.clear()
    seen: list[tuple[str, dict[str, Any]]] = []
    for method, path, headers, body, status, route, user in requests:
        response = await client.open(
            path,
            method=method,
            headers=headers,
            json=body,
            scope_base=peer("203.0.113.9"),
        )
        assert response.status_code == status
        records = access_records(caplog)
        assert len(records) == 1, "one line per request"
        record = records[0]
        assert record.levelno == logging.INFO
        fields = fields_of(record)
        assert set(fields) == ACCESS_FIELDS
        assert fields["request_id"] == response.headers["X-Request-ID"]
        assert fields["user"] == user
        assert fields["method"] == method
        assert fields["route"] == route
        assert fields["status"] == status
        assert isinstance(fields["latency_ms"], float) and fields["latency_ms"] >= 0
        assert fields["client_ip"] == "203.0.113.9"
        seen.append((response.headers["X-Request-ID"], fields))
        caplog.clear()
    assert len({request_id for request_id, _ in seen}) == len(requests)


async def test_access_lines_format_as_json(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="exchange.access")
    response = await client.get(ASSETS, headers={"X-Request-ID": "req-123"})
    (record,) = access_records(caplog)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert {"time", "level", "logger", "message", *ACCESS_FIELDS} <= set(parsed)
    assert parsed["level"] == "INFO"
    assert parsed["logger"] == "exchange.access"
    assert parsed["message"] == "request"
    assert parsed["request_id"] == "req-123" == response.headers["X-Request-ID"]
    assert parsed["route"] == ASSETS
    assert parsed["status"] == 200
    assert parsed["time"].endswith("+00:00")
    assert "traceback" not in parsed


async def test_no_password_or_token_is_ever_logged(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await register(client, "alice_01")
    token = await token_of(client, "alice_01")
    auth = bearer(token)
    await client.post(LOGIN, json={"username": "alice_01", "password": WRONG_PASSWORD})
    assert (await client.post(DEPOSIT, json={"amount": "12.34"}, headers=auth)).status_code == 201
    assert (await client.get(PROFILE, headers=auth)).status_code == 200
    assert (await client.post(LOGOUT, json={}, headers=auth)).status_code == 200
    assert (await client.get(PROFILE, headers=auth)).status_code == 401
    assert access_records(caplog), "something was logged"
    formatter = JsonFormatter()
    everything = caplog.text + "\n".join(
        formatter.format(record) + repr(record.__dict__) for record in caplog.records
    )
    for secret in (PASSWORD, WRONG_PASSWORD, token, token.split(".")[2]):
        assert secret not in everything


async def test_an_unhandled_error_is_a_500_and_logs_a_traceback(
    tmp_path: Path, autojump_clock: object, caplog: pytest.LogCaptureFixture
) -> None:
    def add_broken_route(app: ExchangeApp) -> None:
        async def broken() -> str:
            raise RuntimeError("kaboom: internal detail")

        app.add_url_rule("/api/v1/broken", "broken", broken)

    caplog.set_level(logging.INFO)
    async with serving(tmp_path, setup=add_broken_route) as (_, _, client):
        response = await client.get("/api/v1/broken")
        body = await assert_error(response, 500, "internal_error")
        assert body["detail"] == "Internal server error"
        assert "kaboom" not in await response.get_data(as_text=True)
        assert response.headers["X-RateLimit-Limit"] == "10000"
        errors = [record for record in caplog.records if record.exc_info]
        assert len(errors) == 1
        line = json.loads(JsonFormatter().format(errors[0]))
        assert line["level"] == "ERROR"
        assert "Traceback" in line["traceback"]
        assert "RuntimeError: kaboom: internal detail" in line["traceback"]
        (access,) = access_records(caplog)
        assert fields_of(access)["status"] == 500
        assert fields_of(access)["route"] == "/api/v1/broken"
        # The app carries on.
        assert (await client.get("/health")).status_code == 200


# Audit log and admin


async def audit_rows(client: Client, admin: dict[str, str], **query: str) -> dict[str, Any]:
    response = await client.get(AUDIT, headers=admin, query_string=query)
    assert response.status_code == 200, await response.get_data()
    body: dict[str, Any] = await response.get_json()
    return body


async def test_security_events_are_audited(tmp_path: Path, autojump_clock: object) -> None:
    async with with_admin(tmp_path) as (exchange, _, client):
        home, attacker, office = "203.0.113.20", "198.51.100.99", "192.0.2.30"
        signed_in = await try_login(client, office, ADMIN_USERNAME, ADMIN_PASSWORD)
        admin = bearer((await json_of(signed_in))["access_token"])
        response = await client.post(REGISTER, json=user_body("Alice_01"), scope_base=peer(home))
        assert response.status_code == 201
        assert (await try_login(client, home, username="ALICE_01")).status_code == 200
        token: str = (await json_of(await try_login(client, home)))["access_token"]
        assert (await try_login(client, home, password=WRONG_PASSWORD)).status_code == 401
        logout = await client.post(LOGOUT, json={}, headers=bearer(token), scope_base=peer(home))
        assert logout.status_code == 200
        reused = await client.get(PROFILE, headers=bearer(token), scope_base=peer(home))
        await assert_error(reused, 401, "unauthorized")
        for _ in range(5):
            await try_login(client, attacker, username="nobody_01")
        assert (await try_login(client, attacker, username="nobody_01")).status_code == 403
        await trio.sleep(300)
        assert (await try_login(client, attacker)).status_code == 200

        expected: dict[str, list[tuple[str | None, str | None, str]]] = {
            "register": [("alice_01", home, "")],
            "login_success": [
                ("alice_01", attacker, ""),
                ("alice_01", home, ""),
                ("alice_01", home, ""),
                ("admin_01", office, ""),
            ],
            "login_failure": [
                *[("nobody_01", attacker, "unknown user")] * 5,
                ("alice_01", home, "wrong password"),
            ],
            "logout": [("alice_01", home, "")],
            "login_blocked": [("nobody_01", attacker, "too many failed logins")],
            "login_unblocked": [("nobody_01", attacker, "block expired")],
            "token_refused": [("alice_01", home, "revoked")],
        }
        everything, total = exchange.audit_log(100, 0)
        assert total == len(everything) == sum(len(rows) for rows in expected.values())
        seqs = [entry.seq for entry in everything]
        assert seqs == sorted(seqs, reverse=True), "newest first"
        for event, rows in expected.items():
            entries, count = exchange.audit_log(50, 0, event=event)
            assert count == len(rows), event
            assert [(e.username, e.ip, e.detail) for e in entries] == rows, event
            assert all(e.event == event for e in entries)
            page = await audit_rows(client, admin, event=event)
            assert page["total_count"] == len(rows)
            assert page["has_more"] is False
            assert [(r["username"], r["ip"], r["detail"]) for r in page["data"]] == rows
            assert [r["seq"] for r in page["data"]] == [e.seq for e in entries]
            assert all(r["event"] == event and r["time"].endswith("Z") for r in page["data"])
        # Ordered by sequence: the block comes after the fifth failure, the unblock later.
        blocked = exchange.audit_log(1, 0, event="login_blocked")[0][0]
        unblocked = exchange.audit_log(1, 0, event="login_unblocked")[0][0]
        assert unblocked.created_at - blocked.created_at >= 300_000
        # Filters and paging through the API.
        mine = await audit_rows(client, admin, username="ALICE_01", limit="2", offset="1")
        assert mine["total_count"] == 7
        assert len(mine["data"]) == 2 and mine["has_more"] is True
        assert all(r["username"] == "alice_01" for r in mine["data"])
        bad = await client.get(AUDIT, headers=admin, query_string={"event": "nonsense"})
        await assert_error(bad, 422, "validation_error")


async def test_the_audit_log_is_for_admins_only(tmp_path: Path, autojump_clock: object) -> None:
    async with with_admin(tmp_path) as (_, _, client):
        customer = await signed_up(client, "alice_01")
        await assert_error(await client.get(AUDIT, headers=customer), 403, "forbidden")
        await assert_error(await client.get(AUDIT), 401, "unauthorized")
        await assert_error(await client.get(AUDIT, headers=bearer("nonsense")), 401, "unauthorized")
        # Auth is decided first: a bad query without a token is still 401.
        response = await client.get(AUDIT, query_string={"limit": "0"})
        await assert_error(response, 401, "unauthorized")
        profile = await json_of(await client.get(PROFILE, headers=customer))
        assert profile["role"] == "customer"


async def test_the_admin_bootstrap_is_idempotent(tmp_path: Path, autojump_clock: object) -> None:
    async with open_exchange(engine_settings(tmp_path)) as exchange:
        first = create_app(
            exchange, web_settings(admin_username=ADMIN_USERNAME, admin_password=ADMIN_PASSWORD)
        )
        again = create_app(
            exchange, web_settings(admin_username="ADMIN_01", admin_password="Other-Passw0rd!")
        )
        for app in (first, again):
            app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = None
        async with first.test_app() as one:
            client = one.test_client()
            admin = bearer(await token_of(client, ADMIN_USERNAME, ADMIN_PASSWORD))
            profile = await json_of(await client.get(PROFILE, headers=admin))
            assert profile["role"] == "admin"
            assert (await client.get(AUDIT, headers=admin)).status_code == 200
        # A second start over the same exchange leaves the admin alone (password included).
        async with again.test_app() as two:
            client = two.test_client()
            token = await token_of(client, ADMIN_USERNAME, ADMIN_PASSWORD)
            assert (await client.get(AUDIT, headers=bearer(token))).status_code == 200
            refused = await client.post(
                LOGIN, json={"username": "admin_01", "password": "Other-Passw0rd!"}
            )
            assert refused.status_code == 401
        admins = exchange.store.read("SELECT username FROM users WHERE role = 'admin'")
        assert admins == [("admin_01",)]
        # A rejected admin password creates nobody, and the app still starts.
        weak = create_app(exchange, web_settings(admin_username="boss_01", admin_password="weak"))
        weak.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = None
        async with weak.test_app():
            assert exchange.credentials("boss_01") is None
