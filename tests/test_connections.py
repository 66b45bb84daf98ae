"""Connection-level faults, through a real ``exchange serve`` process on a loopback port.

Clients that stop reading, SIGTERM with such clients connected, requests answered before their
body arrived, and oversized websocket messages.
"""

from __future__ import annotations

import signal
import time
from contextlib import AsyncExitStack, suppress
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import trio

from tests.live import Server, open_server, read_rest
from tests.rawws import Closed, RawWebsocket, open_websocket
from tests.test_serve import sign_up, verify

SUBSCRIBE_ALL = '{"action":"subscribe","symbols":["*"]}'
# A receive buffer this small fills after a few frames once the client stops reading.
TINY_RECEIVE_BUFFER = 2048


async def stuck_client(server: Server, clients: AsyncExitStack) -> RawWebsocket:
    """A websocket client that asks for snapshots as fast as it can and never reads one."""
    client = await clients.enter_async_context(
        open_websocket(server.url, "/ws/prices", TINY_RECEIVE_BUFFER)
    )
    # Each subscribe is answered with a full snapshot: far more than the client's receive
    # buffer and the server's send buffer hold, so the server's writes block.
    await client.flood(SUBSCRIBE_ALL, 500)
    return client


async def first_message(server: Server) -> str:
    """The type of the first message a fresh /ws/prices client gets, or its close code."""
    try:
        async with open_websocket(server.url, "/ws/prices") as ws:
            with trio.fail_after(2):
                return str((await ws.receive())["type"])
    except Closed as closed:
        return f"closed {closed.code}"


async def test_clients_that_stop_reading_lose_their_slots(tmp_path: Path) -> None:
    async with (
        open_server(
            tmp_path / "exchange.db",
            EXCHANGE_MAX_WEBSOCKETS="3",
            EXCHANGE_WEBSOCKET_SEND_TIMEOUT_SECONDS="0.3",
            EXCHANGE_WEBSOCKET_CLOSE_TIMEOUT_SECONDS="0.3",
            EXCHANGE_TICK_INTERVAL="0.05",
        ) as server,
        AsyncExitStack() as clients,
    ):
        for _ in range(3):
            await stuck_client(server, clients)
        assert await first_message(server) == "closed 1013"
        # The three never read again; their slots come back within the send and close
        # timeouts (the connections are reset), so a newcomer is served.
        started = time.monotonic()
        seen = []
        while time.monotonic() - started < 5:
            seen.append(await first_message(server))
            if seen[-1] == "snapshot":
                break
            await trio.sleep(0.2)
        assert seen[-1] == "snapshot", seen


async def test_one_address_cannot_take_every_websocket(tmp_path: Path) -> None:
    async with open_server(
        tmp_path / "exchange.db", EXCHANGE_MAX_WEBSOCKETS="10", EXCHANGE_MAX_WEBSOCKETS_PER_IP="2"
    ) as server:
        async with (
            open_websocket(server.url, "/ws/prices") as one,
            open_websocket(server.url, "/ws/prices") as two,
        ):
            assert (await one.receive())["type"] == "snapshot"
            assert (await two.receive())["type"] == "snapshot"
            assert await first_message(server) == "closed 1013"
        # Their places are free again once they leave.
        with trio.fail_after(3):
            while (seen := await first_message(server)) != "snapshot":
                assert seen == "closed 1013"
                await trio.sleep(0.1)


async def account_stream(
    server: Server, http: httpx.AsyncClient, clients: AsyncExitStack
) -> RawWebsocket:
    headers = await sign_up(http, "alice_01")
    response = await http.post("/api/v1/balance/deposit", json={"amount": "12.34"}, headers=headers)
    assert response.status_code == 201
    token = headers["Authorization"].removeprefix("Bearer ")
    ws = await clients.enter_async_context(open_websocket(server.url, f"/ws/account?token={token}"))
    assert (await ws.receive())["type"] == "hello"
    return ws


async def stop(server: Server) -> float:
    """SIGTERM the server; seconds until it exited (fails past 10 s)."""
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    with trio.fail_after(10):
        await server.process.wait()
    return time.monotonic() - started


async def test_sigterm_ends_account_streams_at_once_with_1001(tmp_path: Path) -> None:
    db = tmp_path / "exchange.db"
    async with (
        open_server(db) as server,
        httpx.AsyncClient(base_url=server.url) as http,
        AsyncExitStack() as clients,
    ):
        ws = await account_stream(server, http, clients)
        took = await stop(server)
        with pytest.raises(Closed) as closed, trio.fail_after(1):
            await ws.receive()
        assert closed.value.code == 1001
        assert took < 2, took
        assert server.process.returncode == 0
        assert "Exchange stopped." in await read_rest(server)


async def test_sigterm_with_clients_that_never_read_exits_in_time(tmp_path: Path) -> None:
    db = tmp_path / "exchange.db"
    async with (
        open_server(db, EXCHANGE_SHUTDOWN_TIMEOUT_SECONDS="1.5") as server,
        httpx.AsyncClient(base_url=server.url) as http,
        AsyncExitStack() as clients,
    ):
        # Default websocket timeouts (5 s + 2 s): only the shutdown deadline can end these.
        for _ in range(2):
            await stuck_client(server, clients)
        await account_stream(server, http, clients)
        took = await stop(server)
        assert took < 2.5, took
        assert server.process.returncode == 0
        assert "Exchange stopped." in await read_rest(server)
    # What was acknowledged is on disk, and the books balance.
    code, out = await verify(db)
    assert code == 0, out
    assert "ok: 1 accounts" in out


# Requests answered before their body arrived


async def head_then_body(server: Server, request: bytes, body: bytes) -> tuple[bytes, bytes | None]:
    """Send ``request``'s head, read the answer's head, then send the body and a second request.

    Returns the first answer's head and what came back for the second request (None when the
    server closed the connection instead).
    """
    parts = urlsplit(server.url)
    sock = trio.socket.socket()
    await sock.connect((parts.hostname, parts.port))
    try:
        await sock.send(request)
        head = b""
        with trio.fail_after(3):
            while b"\r\n\r\n" not in head:
                head += await sock.recv(65536)
        answer = head.split(b"\r\n\r\n", 1)[1]
        try:
            await sock.send(body + b"GET /health HTTP/1.1\r\nHost: exchange\r\n\r\n")
            with trio.fail_after(3):
                while b"healthy" not in answer:
                    chunk = await sock.recv(65536)
                    if not chunk:
                        return head, None
                    answer += chunk
        except (BrokenPipeError, ConnectionResetError):
            return head, None
        return head, answer
    finally:
        sock.close()


BODY = b'{"amount":"1.00"}'


def request_head(method: str, path: str, content_type: str = "application/json") -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: exchange\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    ).encode()


EARLY_ANSWERS = [
    (request_head("POST", "/api/v1/balance/deposit"), b"401"),
    (request_head("PUT", "/health"), b"405"),
    (request_head("POST", "/api/v1/auth/register", "text/plain"), b"415"),
    (request_head("OPTIONS", "/api/v1/balance/deposit"), b"204"),
]


async def test_an_answer_before_the_body_closes_the_connection(tmp_path: Path) -> None:
    async with open_server(tmp_path / "exchange.db") as server:
        for head, status in EARLY_ANSWERS:
            # The second request must not wait forever: the connection is closed instead.
            first, second = await head_then_body(server, head, BODY)
            assert second is None, status
            assert first.split(b"\r\n", 1)[0].split(b" ")[1] == status
            assert b"\r\nconnection: close\r\n" in first.lower()


async def test_an_answer_after_the_whole_body_keeps_the_connection(tmp_path: Path) -> None:
    body = b'{"username":"nobody_1","password":"Secret-Pw1"}'
    login = (
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: exchange\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    async with open_server(tmp_path / "exchange.db") as server:
        first, second = await head_then_body(server, login, b"")
        assert b"connection: close" not in first.lower()
        assert second is not None and b"HTTP/1.1 200" in second


# Oversized websocket messages


async def test_a_huge_websocket_message_is_refused_with_1009(tmp_path: Path) -> None:
    async with open_server(tmp_path / "exchange.db") as server:
        rss_before = rss_kib(server)
        async with trio.open_nursery() as nursery:
            for _ in range(4):
                nursery.start_soon(send_huge_message, server)
        # Nothing of the refused messages is held.
        assert rss_kib(server) - rss_before < 20 * 1024
        # A message just over the streams' limit is still answered with their error message.
        async with open_websocket(server.url, "/ws/prices") as ws:
            assert (await ws.receive())["type"] == "snapshot"
            await ws.send_text("x" * 5000)
            with trio.fail_after(3):
                while (reply := await ws.receive())["type"] == "tick":
                    pass
            assert reply["code"] == "message_too_large"
        assert await first_message(server) == "snapshot"


async def send_huge_message(server: Server) -> None:
    async with open_websocket(server.url, "/ws/prices") as ws:
        assert (await ws.receive())["type"] == "snapshot"
        async with trio.open_nursery() as nursery:

            async def push() -> None:
                # The server may reset the connection before the client has sent it all.
                with suppress(OSError):
                    await ws.send_text("x" * (15 * 1024 * 1024))

            nursery.start_soon(push)
            with pytest.raises(Closed) as closed, trio.fail_after(5):
                while True:
                    await ws.receive()
            assert closed.value.code == 1009
            nursery.cancel_scope.cancel()


def rss_kib(server: Server) -> int:
    """The server's resident memory in KiB (Linux)."""
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1])
