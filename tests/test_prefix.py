"""Serving under a path prefix: ``EXCHANGE_ROOT_PATH``, or a trusted ``X-Forwarded-Prefix``."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from quart import Response, redirect, url_for
from werkzeug.wrappers import Response as BaseResponse

from exchange.engine import open_exchange
from tests.conftest import PASSWORD, Client, engine_settings, register, signed_up, web_settings
from web.app import create_app
from web.cli import main
from web.prefix import cookie_path, normalise

BTC_IMAGE = "/api/v1/inventory/assets/BTC/image.svg"
WEB = Path(__file__).resolve().parent.parent / "web"
# Every URL attribute of a rendered page, and every site path a template or module names.
URL_ATTRIBUTE = re.compile(r'(?:href|src|action|data-next)="([^"]*)"')
TEMPLATE_PATH = re.compile(r'(?:href|src|action)="(/[^"]*)"')
MODULE_PATH = re.compile(r"(.{0,12})[\"'`](/[a-z][^\"'`]*)")
# The calls that add the prefix to a site path (``api`` and the sockets do it themselves).
# download() (api.js) sends its path through url() as api() does.
PREFIXING_CALLS = ("url(", "api(", "socketUrl(", "download(")
PROXY = {"client": ("10.0.0.1", 40000)}
STRANGER = {"client": ("203.0.113.5", 40000)}


@asynccontextmanager
async def prefixed(tmp_path: Path, **settings: object) -> AsyncIterator[Client]:
    """A test client of an app with the given web settings, plus two probe routes."""
    async with open_exchange(engine_settings(tmp_path)) as exchange:
        app = create_app(exchange, web_settings(**settings))
        app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = None

        # Stand-ins for the pages' own redirects and cookies, which use the same two helpers.
        async def go() -> BaseResponse:
            return redirect(url_for("service.health"))

        async def cookie() -> Response:
            response = Response("")
            response.set_cookie("probe", "1", path=cookie_path(), httponly=True)
            return response

        app.add_url_rule("/probe/go", "probe_go", go)
        app.add_url_rule("/probe/cookie", "probe_cookie", cookie)
        async with app.test_app() as test_app:
            yield test_app.test_client()


async def test_a_configured_prefix_serves_every_kind_of_route(tmp_path: Path) -> None:
    async with prefixed(tmp_path, root_path="/class-7b/") as client:
        response = await client.get("/class-7b/health")
        assert response.status_code == 200
        assert (await response.get_json())["status"] == "healthy"
        # The bare prefix is its root; a path without the prefix (straight at the port) works.
        assert (await client.get("/class-7b/health")).status_code == 200
        assert (await client.get("/health")).status_code == 200

        headers = await signed_up(client)
        deposit = await client.post(
            "/class-7b/api/v1/balance/deposit", json={"amount": "5"}, headers=headers
        )
        assert deposit.status_code == 201, await deposit.get_data(as_text=True)

        spec = await (await client.get("/class-7b/openapi.json")).get_json()
        assert spec["servers"] == [{"url": "/class-7b"}]
        assert "/api/v1/balance/deposit" in spec["paths"], "paths stay relative to the server"

        docs = await client.get("/class-7b/docs")
        assert docs.status_code == 200

        one = await (await client.get("/class-7b/api/v1/inventory/assets/BTC")).get_json()
        assert one["data"]["image"] == f"http://localhost/class-7b{BTC_IMAGE}"

        moved = await client.get("/class-7b/probe/go")
        assert moved.status_code == 302
        assert moved.headers["Location"] == "/class-7b/health"

        set_cookie = (await client.get("/class-7b/probe/cookie")).headers["Set-Cookie"]
        assert "Path=/class-7b/" in set_cookie


async def test_both_websockets_answer_under_the_prefix(tmp_path: Path) -> None:
    async with prefixed(tmp_path, root_path="/class-7b") as client:
        async with client.websocket("/class-7b/ws/prices") as ws:
            snapshot = json.loads(await ws.receive())
            assert snapshot["type"] == "snapshot" and snapshot["prices"]
        headers = await signed_up(client)
        async with client.websocket("/class-7b/ws/account", headers=headers) as ws:
            hello = json.loads(await ws.receive())
            assert hello["type"] != "error", hello


async def test_a_trusted_proxy_sets_the_prefix_per_request(tmp_path: Path) -> None:
    forwarded = {"X-Forwarded-Prefix": "/class-9a/"}
    async with prefixed(tmp_path, trusted_proxies="10.0.0.0/8") as client:
        # The proxy may pass the prefix on (nginx without a URI in proxy_pass) or strip it.
        for path in ("/class-9a/openapi.json", "/openapi.json"):
            spec = await (await client.get(path, headers=forwarded, scope_base=PROXY)).get_json()
            assert spec["servers"] == [{"url": "/class-9a"}]
        moved = await client.get("/class-9a/probe/go", headers=forwarded, scope_base=PROXY)
        assert moved.headers["Location"] == "/class-9a/health"
        cookie = await client.get("/probe/cookie", headers=forwarded, scope_base=PROXY)
        assert "Path=/class-9a/" in cookie.headers["Set-Cookie"]
        async with client.websocket(
            "/class-9a/ws/prices", headers=forwarded, scope_base=PROXY
        ) as ws:
            assert json.loads(await ws.receive())["type"] == "snapshot"

        # Anyone else's header is ignored: no prefix, and its path is not a route.
        spec = await (
            await client.get("/openapi.json", headers=forwarded, scope_base=STRANGER)
        ).get_json()
        assert "servers" not in spec
        stray = await client.get("/class-9a/health", headers=forwarded, scope_base=STRANGER)
        assert stray.status_code == 404
        cookie = await client.get("/probe/cookie", headers=forwarded, scope_base=STRANGER)
        assert "Path=/;" in cookie.headers["Set-Cookie"] + ";"


async def test_a_forwarded_prefix_beats_the_configured_one(tmp_path: Path) -> None:
    forwarded = {"X-Forwarded-Prefix": "/outer/class-1"}
    settings = {"root_path": "/class-1", "trusted_proxies": "10.0.0.1"}
    async with prefixed(tmp_path, **settings) as client:
        spec = await (
            await client.get("/outer/class-1/openapi.json", headers=forwarded, scope_base=PROXY)
        ).get_json()
        assert spec["servers"] == [{"url": "/outer/class-1"}]
        # A malformed forwarded prefix is ignored: the configured one stands.
        bad = {"X-Forwarded-Prefix": "/../admin"}
        spec = await (
            await client.get("/class-1/openapi.json", headers=bad, scope_base=PROXY)
        ).get_json()
        assert spec["servers"] == [{"url": "/class-1"}]


@pytest.mark.parametrize(
    ("given", "expected"),
    [("", ""), ("/", ""), ("/class-7b/", "/class-7b"), ("class-7b", "/class-7b"), ("/a/b", "/a/b")],
)
def test_prefixes_are_normalised(given: str, expected: str) -> None:
    assert normalise(given) == expected


@pytest.mark.parametrize("given", ["/../admin", "/a?b=1", "/a b", "/a/./b", "//x"])
def test_malformed_prefixes_are_refused(given: str) -> None:
    assert normalise(given) is None


def test_serve_refuses_a_malformed_root_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EXCHANGE_ROOT_PATH", "/a?b")
    monkeypatch.setenv("EXCHANGE_JWT_SECRET", "x" * 40)
    assert main(["serve", "--db", str(tmp_path / "x.db")]) == 2
    assert "EXCHANGE_ROOT_PATH" in capsys.readouterr().err


async def test_pages_link_only_under_the_prefix(tmp_path: Path) -> None:
    async with prefixed(tmp_path, root_path="/class-7b") as client:
        for path in ("/", "/login", "/register", "/market", "/assets/BTC", "/docs"):
            response = await client.get("/class-7b" + path)
            assert response.status_code == 200, path
            html = await response.get_data(as_text=True)
            assert '<meta name="root" content="/class-7b">' in html, path
            # Links to other sites (the chart library's attribution) are not this site's paths.
            urls = [url for url in URL_ATTRIBUTE.findall(html) if not url.startswith("https://")]
            assert urls, path
            for url in urls:
                assert url.startswith("/class-7b/"), (path, url)
        # What the pages load is there, under the prefix.
        for asset in ("/static/js/root.js", "/static/js/app.js", "/static/css/app.css"):
            assert (await client.get("/class-7b" + asset)).status_code == 200, asset


async def test_pages_at_the_root_keep_their_plain_links(tmp_path: Path) -> None:
    async with prefixed(tmp_path) as client:
        html = await (await client.get("/login")).get_data(as_text=True)
        assert '<meta name="root" content="">' in html
        assert 'href="/static/css/app.css"' in html and 'data-next="/dashboard"' in html
        moved = await client.get("/orders?status=filled")
        assert moved.headers["Location"] == "/login?next=/orders%3Fstatus%3Dfilled"


async def test_the_session_cookie_lives_under_the_prefix(tmp_path: Path) -> None:
    async with prefixed(tmp_path, root_path="/class-7b") as client:
        client.cookie_jar = None  # each request says exactly which cookie it sends
        await register(client)
        opened = await client.post(
            "/class-7b/api/v1/auth/session", json={"username": "alice_01", "password": PASSWORD}
        )
        assert opened.status_code == 201
        cookie = SimpleCookie(opened.headers["Set-Cookie"])["exchange_session"]
        assert cookie["path"] == "/class-7b/"
        csrf = (await opened.get_json())["csrf_token"]
        sent = {"Cookie": f"exchange_session={cookie.value}"}

        page = await client.get("/class-7b/dashboard", headers=sent)
        assert page.status_code == 200
        html = await page.get_data(as_text=True)
        assert 'href="/class-7b/orders"' in html
        assert 'href="/class-7b/dashboard" aria-current="page"' in html

        closed = await client.delete(
            "/class-7b/api/v1/auth/session", headers={**sent, "X-CSRF-Token": csrf}
        )
        assert closed.status_code == 200
        cleared = SimpleCookie(closed.headers["Set-Cookie"])["exchange_session"]
        assert cleared["path"] == "/class-7b/" and cleared.value == ""


async def test_sign_in_redirects_go_through_the_prefixed_login_and_back(tmp_path: Path) -> None:
    async with prefixed(tmp_path, root_path="/class-7b") as client:
        moved = await client.get("/class-7b/orders?status=filled")
        assert moved.status_code == 303
        location = moved.headers["Location"]
        assert location == "/class-7b/login?next=/class-7b/orders%3Fstatus%3Dfilled"
        login = await (await client.get(location)).get_data(as_text=True)
        assert 'data-next="/class-7b/orders?status=filled"' in login
        # A target outside this market (or another host) falls back to its dashboard.
        for target in ("/orders", "/class-9a/orders", "//evil.example/class-7b/", "/class-7b"):
            html = await (await client.get(f"/class-7b/login?next={target}")).get_data(as_text=True)
            assert 'data-next="/class-7b/dashboard"' in html, target


def test_every_site_url_in_templates_and_modules_goes_through_root() -> None:
    for template in sorted((WEB / "templates").glob("*.html")):
        for url in TEMPLATE_PATH.findall(template.read_text()):
            raise AssertionError(f"{template.name}: {url} does not start with {{{{ root }}}}")
    for module in sorted((WEB / "static" / "js").glob("*.js")):
        code = "\n".join(
            line for line in module.read_text().splitlines() if not line.lstrip().startswith("//")
        )
        for before, url in MODULE_PATH.findall(code):
            assert before.endswith(PREFIXING_CALLS), f"{module.name}: {url} is not prefixed"
