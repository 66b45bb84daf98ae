"""Two markets behind Debian's nginx, configured from ``deploy/nginx``, checked through the proxy.

nginx is installed when missing (``apt-get install nginx``, as root: CI runs as root on a clean
machine); without root and without nginx the test is skipped, saying so. Each market is a real
``exchange serve`` process with its own seed and database on a loopback port; the clients
connect to nginx from two distinct loopback source addresses (127.0.0.2 and 127.0.0.3), so the
rate limit and the login block can only tell them apart through the ``X-Forwarded-For`` that
nginx writes from the real peer (every request reaches an exchange from nginx's 127.0.0.1).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

from tests.conftest import PASSWORD, user_body
from tests.live import Server, open_server

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "nginx"
MARKETS = {"class-7b": "7", "class-9a": "9"}
ADMIN = {"ADMIN_USERNAME": "teacher_01", "ADMIN_PASSWORD": "Teacher-Passw0rd!"}
RATE_LIMIT = 40
LOGIN_FAILURES = 3


def render(template: Path, **values: str) -> str:
    """The template with every ``{{name}}`` replaced (deploy/README.md does it with sed)."""
    text = template.read_text()
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    assert "{{" not in text, f"{template.name}: a placeholder is left"
    return text


def nginx_binary() -> str:
    """nginx's path; ``make test`` installs Debian's package when it is missing."""
    # /usr/sbin is not on every PATH.
    found = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if not found:
        pytest.fail("nginx is missing: `make test` installs Debian's nginx")
    return found


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def nginx_config(root: Path, listen: str, servers: dict[str, Server]) -> Path:
    """A main nginx.conf in ``root`` around the deploy templates, one market per server."""
    markets = root / "markets"
    markets.mkdir()
    for market, server in servers.items():
        port = server.url.rsplit(":", 1)[1]
        conf = render(DEPLOY / "market.conf.template", market=market, port=port)
        (markets / f"{market}.conf").write_text(conf)
    site = render(DEPLOY / "exchange.conf.template", listen=listen, markets=str(markets))
    (root / "exchange.conf").write_text(site)
    temp = root / "temp"
    temp.mkdir()
    main = f"""
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {root}/exchange.conf;
}}
"""
    path = root / "nginx.conf"
    path.write_text(main)
    return path


@asynccontextmanager
async def open_nginx(root: Path, servers: dict[str, Server]) -> AsyncIterator[str]:
    """nginx on a free loopback port in front of ``servers``; yields its base URL."""
    binary = nginx_binary()
    port = free_port()
    conf = nginx_config(root, f"127.0.0.1:{port}", servers)
    user = ["-g", "user root;"] if os.geteuid() == 0 else []
    checked = await trio.run_process(
        [binary, "-t", "-p", str(root), "-c", str(conf), *user],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr.decode()
    process = await trio.lowlevel.open_process([binary, "-p", str(root), "-c", str(conf), *user])
    try:
        with trio.fail_after(10):
            while True:
                try:
                    stream = await trio.open_tcp_stream("127.0.0.1", port)
                    await stream.aclose()
                    break
                except OSError:
                    await trio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        with trio.move_on_after(5):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()


def client_from(source: str, base: str) -> httpx.AsyncClient:
    """An HTTP client whose connections leave from loopback address ``source``."""
    transport = httpx.AsyncHTTPTransport(local_address=source)
    return httpx.AsyncClient(base_url=base, transport=transport, timeout=10)


async def sign_up(http: httpx.AsyncClient, market: str, username: str) -> dict[str, str]:
    """Register and log in ``username`` in ``market``; its bearer header."""
    response = await http.post(f"/{market}/api/v1/auth/register", json=user_body(username))
    assert response.status_code == 201, response.text
    return await log_in(http, market, username, PASSWORD)


async def log_in(
    http: httpx.AsyncClient, market: str, username: str, password: str
) -> dict[str, str]:
    response = await http.post(
        f"/{market}/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def price_frames(base: str, path: str, count: int) -> list[dict[str, Any]]:
    """The first ``count`` messages of the websocket at ``path`` through the proxy."""
    host, port = base.removeprefix("http://").split(":")
    stream = await trio.open_tcp_stream(host, int(port))
    ws = WSConnection(ConnectionType.CLIENT)
    await stream.send_all(ws.send(Request(host=f"{host}:{port}", target=path)))
    frames: list[dict[str, Any]] = []
    text = ""
    accepted = False
    try:
        while len(frames) < count:
            data = await stream.receive_some(65536)
            assert data, "the proxy closed the websocket"
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, AcceptConnection):
                    accepted = True
                elif isinstance(event, TextMessage):
                    text += event.data
                    if event.message_finished:
                        frames.append(json.loads(text))
                        text = ""
    finally:
        await stream.aclose()
    assert accepted
    return frames


async def test_two_markets_behind_nginx(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        servers: dict[str, Server] = {}
        for market, seed in MARKETS.items():
            where = tmp_path / market
            where.mkdir()
            servers[market] = await stack.enter_async_context(
                open_server(
                    where / "exchange.db",
                    EXCHANGE_SEED=seed,
                    EXCHANGE_HISTORY_DAYS="1",
                    EXCHANGE_TICK_INTERVAL="0.2",
                    EXCHANGE_TRUSTED_PROXIES="127.0.0.1",
                    EXCHANGE_RATE_LIMIT_PER_MINUTE=str(RATE_LIMIT),
                    EXCHANGE_LOGIN_MAX_FAILURES=str(LOGIN_FAILURES),
                    **ADMIN,
                )
            )
        proxy = tmp_path / "nginx"
        proxy.mkdir()
        base = await stack.enter_async_context(open_nginx(proxy, servers))
        first = await stack.enter_async_context(client_from("127.0.0.2", base))
        second = await stack.enter_async_context(client_from("127.0.0.3", base))
        a, b = MARKETS

        # Each market answers under its prefix, and knows it.
        for market in MARKETS:
            assert (await first.get(f"/{market}/health")).json()["status"] == "healthy"
            spec = (await first.get(f"/{market}/openapi.json")).json()
            assert spec["servers"] == [{"url": f"/{market}"}]
        bare = await first.get(f"/{a}")
        assert bare.status_code == 308 and bare.headers["Location"] == f"/{a}/"

        # Different seeds, different prices; image URLs point back through the proxy.
        btc = [(await first.get(f"/{m}/api/v1/inventory/assets/BTC")).json() for m in MARKETS]
        btc = [found["data"] for found in btc]
        assert btc[0]["price_usd"] != btc[1]["price_usd"]
        assert btc[0]["image"] == f"{base}/{a}/api/v1/inventory/assets/BTC/image.svg"
        assert (await first.get(btc[0]["image"].removeprefix(base))).status_code == 200

        # A user of one market does not exist in the other.
        alice = await sign_up(first, a, "alice_01")
        refused = await first.post(
            f"/{b}/api/v1/auth/login", json={"username": "alice_01", "password": PASSWORD}
        )
        assert refused.status_code == 404 and refused.json()["code"] == "user_not_found"
        # Nor does its token: each market has its own signing secret beside its database.
        assert (await first.get(f"/{b}/api/v1/balance", headers=alice)).status_code == 401

        # The price stream works through the proxy: a snapshot, then ticks.
        frames = await price_frames(base, f"/{a}/ws/prices", 2)
        assert frames[0]["type"] == "snapshot" and frames[0]["prices"]
        assert frames[1]["type"] == "tick"

        # Pausing one market leaves the other trading.
        teacher = await log_in(first, a, ADMIN["ADMIN_USERNAME"], ADMIN["ADMIN_PASSWORD"])
        paused = await first.post(
            f"/{a}/api/v1/market/pause", json={"reason": "lesson"}, headers=teacher
        )
        assert paused.status_code in (200, 201, 202), paused.text
        bob = await sign_up(second, b, "bob_01")
        order = {"order_type": "market_buy", "asset_id": "XRP", "quantity": "1"}
        for market, headers in ((a, alice), (b, bob)):
            deposit = await first.post(
                f"/{market}/api/v1/balance/deposit", json={"amount": "100"}, headers=headers
            )
            assert deposit.status_code == 201, deposit.text
        stopped = await first.post(f"/{a}/api/v1/orders", json=order, headers=alice)
        assert stopped.status_code == 409 and stopped.json()["code"] == "market_paused"
        traded = await second.post(f"/{b}/api/v1/orders", json=order, headers=bob)
        assert traded.status_code == 201 and traded.json()["data"]["status"] == "completed"

        # Login blocks see the real client: 127.0.0.2 is blocked, 127.0.0.3 is not.
        wrong = {"username": "alice_01", "password": "Wrong-Passw0rd"}
        for _ in range(LOGIN_FAILURES):
            failed = await first.post(f"/{a}/api/v1/auth/login", json=wrong)
            assert failed.status_code == 401
        blocked = await first.post(
            f"/{a}/api/v1/auth/login", json={"username": "alice_01", "password": PASSWORD}
        )
        assert blocked.status_code == 403 and blocked.json()["code"] == "login_blocked"
        await log_in(second, a, "alice_01", PASSWORD)

        # So does the rate limit: 127.0.0.2 runs out of requests, 127.0.0.3 still has its own.
        # The window is a fixed minute: one may end mid-loop, so allow for a second window.
        for _ in range(2 * RATE_LIMIT + 2):
            limited = await first.get(f"/{a}/api/v1/inventory/assets?limit=1")
            if limited.status_code == 429:
                break
        assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
        assert (await second.get(f"/{a}/api/v1/inventory/assets?limit=1")).status_code == 200
        # A spoofed X-Forwarded-For does not help: nginx appends the real peer, read first.
        spoofed = await first.get(
            f"/{a}/api/v1/inventory/assets?limit=1", headers={"X-Forwarded-For": "127.0.0.9"}
        )
        assert spoofed.status_code == 429
