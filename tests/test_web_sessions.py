"""Browser sessions: the cookie's flags, CSRF on changes, revocation, origins and page guards."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from typing import Any

import pytest
import trio
from quart.testing.connections import WebsocketDisconnectError

from exchange.engine import Exchange
from tests.conftest import PASSWORD, Client, register, web_settings
from web.app import create_app

SESSION = "/api/v1/auth/session"
DEPOSIT = "/api/v1/balance/deposit"
ORIGIN = "http://localhost"  # the test client's own origin (Host: localhost)


@pytest.fixture
async def bare(exchange: Exchange) -> AsyncIterator[Client]:
    """A test client that keeps no cookies: each test says exactly what it sends."""
    app = create_app(exchange, web_settings())
    app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = None
    async with app.test_app() as test_app:
        client = test_app.test_client()
        client.cookie_jar = None
        yield client


async def open_session(client: Client, scheme: str = "http") -> tuple[str, str, Any]:
    """Sign in; the session cookie's value, the CSRF token, and the cookie's attributes."""
    await register(client)
    response = await client.post(
        SESSION, json={"username": "alice_01", "password": PASSWORD}, scheme=scheme
    )
    assert response.status_code == 201, await response.get_data()
    body = await response.get_json()
    cookie = SimpleCookie(response.headers["Set-Cookie"])["exchange_session"]
    return cookie.value, body["csrf_token"], cookie


def with_cookie(token: str, **extra: str) -> dict[str, str]:
    return {"Cookie": f"exchange_session={token}", **extra}


async def cash(client: Client, token: str) -> str:
    response = await client.get("/api/v1/balance", headers=with_cookie(token))
    assert response.status_code == 200
    value: str = (await response.get_json())["current_balance"]
    return value


async def test_session_cookie_flags_over_http_and_https(bare: Client) -> None:
    _, csrf, cookie = await open_session(bare)
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"
    assert cookie["max-age"] == "3600"
    assert not cookie["secure"]
    assert len(csrf) == 40
    response = await bare.post(
        SESSION, json={"username": "alice_01", "password": PASSWORD}, scheme="https"
    )
    secure = SimpleCookie(response.headers["Set-Cookie"])["exchange_session"]
    assert secure["secure"] is True
    assert secure["httponly"] is True


async def test_cookie_authenticates_reads_but_changes_need_the_csrf_token(bare: Client) -> None:
    token, csrf, _ = await open_session(bare)
    assert await cash(bare, token) == "0.00"
    for headers in (with_cookie(token), with_cookie(token, **{"X-CSRF-Token": "0" * 40})):
        response = await bare.post(DEPOSIT, json={"amount": "50"}, headers=headers)
        assert response.status_code == 403
        assert (await response.get_json())["code"] == "csrf_failed"
    assert await cash(bare, token) == "0.00"
    response = await bare.post(
        DEPOSIT, json={"amount": "50"}, headers=with_cookie(token, **{"X-CSRF-Token": csrf})
    )
    assert response.status_code == 201
    assert await cash(bare, token) == "50.00"


async def test_session_read_and_logout_revokes_the_cookie(bare: Client) -> None:
    token, csrf, _ = await open_session(bare)
    response = await bare.get(SESSION, headers=with_cookie(token))
    body = await response.get_json()
    assert (body["username"], body["role"], body["csrf_token"]) == ("alice_01", "customer", csrf)
    refused = await bare.delete(SESSION, headers=with_cookie(token))
    assert refused.status_code == 403
    response = await bare.delete(SESSION, headers=with_cookie(token, **{"X-CSRF-Token": csrf}))
    assert response.status_code == 200
    cleared = SimpleCookie(response.headers["Set-Cookie"])["exchange_session"]
    assert cleared.value == ""
    after = await bare.get("/api/v1/balance", headers=with_cookie(token))
    assert after.status_code == 401
    page = await bare.get("/dashboard", headers=with_cookie(token))
    assert page.status_code == 303


async def test_sign_in_from_another_site_is_refused(bare: Client) -> None:
    await register(bare)
    body = {"username": "alice_01", "password": PASSWORD}
    response = await bare.post(SESSION, json=body, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert (await response.get_json())["code"] == "forbidden_origin"
    assert "Set-Cookie" not in response.headers
    ok = await bare.post(SESSION, json=body, headers={"Origin": ORIGIN})
    assert ok.status_code == 201


async def test_bad_login_through_the_session_is_the_login_error(bare: Client) -> None:
    response = await bare.post(SESSION, json={"username": "x", "password": "short"})
    assert response.status_code == 422
    fields = {tuple(e["loc"]) for e in (await response.get_json())["detail"]}
    assert fields == {("body", "username"), ("body", "password")}
    assert "Set-Cookie" not in response.headers


async def test_signed_out_pages_redirect_to_login_and_back(bare: Client) -> None:
    response = await bare.get("/portfolio?x=1")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login?next=/portfolio%3Fx%3D1"
    login_page = await (await bare.get("/login?next=/portfolio")).get_data(as_text=True)
    assert 'data-next="/portfolio"' in login_page
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        text = await (await bare.get("/login", query_string={"next": target})).get_data(
            as_text=True
        )
        assert 'data-next="/dashboard"' in text
    token, csrf, _ = await open_session(bare)
    page = await bare.get("/portfolio", headers=with_cookie(token))
    assert page.status_code == 200
    assert f'<meta name="csrf-token" content="{csrf}">' in await page.get_data(as_text=True)


async def test_pages_carry_the_security_headers(bare: Client) -> None:
    for path in ("/", "/login", "/market", "/docs", "/static/js/app.js"):
        response = await bare.get(path)
        assert response.status_code == 200, path
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self';" in policy
        assert "frame-ancestors 'none'" in policy
        assert "unsafe-eval" not in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
    page = await bare.get("/")
    assert "style-src 'self';" in page.headers["Content-Security-Policy"]


async def test_templates_escape_what_they_show(bare: Client) -> None:
    page = await bare.get("/login", query_string={"next": '/x"><script>alert(1)</script>'})
    text = await page.get_data(as_text=True)
    assert "<script>alert(1)" not in text
    assert "&lt;script&gt;" in text


async def test_pages_are_gzipped_when_asked(bare: Client) -> None:
    plain = await bare.get("/register")
    packed = await bare.get("/register", headers={"Accept-Encoding": "gzip, br"})
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert gzip.decompress(await packed.get_data(as_text=False)) == await plain.get_data()
    assert len(await packed.get_data()) < len(await plain.get_data()) / 2


async def test_account_stream_takes_the_cookie_only_from_our_origin(bare: Client) -> None:
    token, _, _ = await open_session(bare)
    for origin in ("https://evil.example", "http://localhost.evil.example", None):
        headers = with_cookie(token) if origin is None else with_cookie(token, Origin=origin)
        async with bare.websocket("/ws/account", headers=headers) as ws:
            with pytest.raises(WebsocketDisconnectError) as closed, trio.fail_after(5):
                await ws.receive()
            assert closed.value.args[0] == 4003, origin
    async with bare.websocket("/ws/account", headers=with_cookie(token, Origin=ORIGIN)) as ws:
        with trio.fail_after(5):
            hello = json.loads(await ws.receive())
        assert hello == {"type": "hello", "seq": 0}
