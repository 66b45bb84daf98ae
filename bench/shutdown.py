"""Time from SIGTERM to exit with clients that never read, then ``exchange verify`` of the db.

Usage: ``python -m bench.shutdown [--timeout 5] [--hold 1] [--json out.json]``.

It starts a fresh ``exchange serve`` on a free loopback port with a temporary database (with
``EXCHANGE_SHUTDOWN_TIMEOUT_SECONDS`` set to ``--timeout`` if given, else the shipped default),
registers and logs in one user and deposits for it, then opens two raw websocket clients (plain
sockets and ``wsproto``): one on ``/ws/prices`` with a 2 KiB receive buffer that subscribes and
then keeps sending subscriptions until the server stops reading them, never reading itself, and
one authenticated ``/ws/account`` stream that never reads and never answers the close.
``--hold`` seconds later (while the server's writes to the first client are blocked) it sends
SIGTERM and prints the time to exit and the exit status, what each client got (a close code or
a reset), and the result of ``exchange verify`` on the database.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

from bench.load import Conn, login, parse_target
from bench.run import start_server

RECEIVE_BUFFER = 2048
SUBSCRIBE = '{"action":"subscribe","symbols":["*"]}'
# Seconds the prices client keeps sending before it gives up waiting for the server to stop
# reading (it stops within milliseconds once its writes to the client block).
FLOOD_SECONDS = 3.0
# Far beyond any bounded shutdown: past this the process is killed and reported as hung.
EXIT_WAIT = 60.0
CONNECT_TIMEOUT = 10.0
DEPOSIT = "100.00"


@dataclass
class Report:
    """Every figure of one run."""

    shutdown_timeout: str
    flooded_bytes: int
    flood_blocked: bool
    exit_seconds: float
    exit_status: int | None
    prices_client: str
    account_client: str
    server_output: list[str]
    verify_status: int
    verify_output: list[str]


def handshake(
    url: str, target: str, receive_buffer: int | None = None
) -> tuple[socket.socket, WSConnection]:
    """A websocket to ``target`` whose upgrade was accepted, in blocking mode."""
    parts = urlsplit(url)
    sock = socket.socket()
    if receive_buffer is not None:
        # Before connect, so the window the client advertises stays this small.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(CONNECT_TIMEOUT)
    sock.connect((parts.hostname, parts.port))
    ws = WSConnection(ConnectionType.CLIENT)
    sock.sendall(ws.send(Request(host=parts.netloc, target=target)))
    # Read only up to the end of the 101 response: whatever the server sends next stays unread.
    head = b""
    while b"\r\n\r\n" not in head:
        byte = sock.recv(1)
        if not byte:
            raise SystemExit(f"{parts.path or target}: closed during the handshake")
        head += byte
    ws.receive_data(head)
    if not any(isinstance(event, AcceptConnection) for event in ws.events()):
        raise SystemExit(f"websocket upgrade refused: {head[:200]!r}")
    return sock, ws


def flood(sock: socket.socket, ws: WSConnection) -> tuple[int, bool]:
    """Subscribe, then send subscriptions until the socket would block; bytes sent, blocked."""
    frame = ws.send(TextMessage(data=SUBSCRIBE))
    sock.sendall(frame)
    sent = len(frame)
    sock.setblocking(False)
    stop = time.monotonic() + FLOOD_SECONDS
    while time.monotonic() < stop:
        try:
            sent += sock.send(frame)
        except BlockingIOError:
            return sent, True
    return sent, False


def what_it_got(sock: socket.socket, ws: WSConnection) -> str:
    """Read what the server left on a client's socket: its close code, or a reset."""
    sock.setblocking(True)
    sock.settimeout(1.0)
    code: int | None = None
    frames = 0
    try:
        while data := sock.recv(65536):
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, CloseConnection):
                    code = event.code
                elif isinstance(event, TextMessage):
                    frames += 1
    except ConnectionResetError:
        return f"reset after {frames} unread messages" + ("" if code is None else f", close {code}")
    except TimeoutError:
        return f"still open after {frames} unread messages"
    except Exception as exc:  # a frame cut short by the reset, for instance
        return f"{type(exc).__name__} after {frames} unread messages"
    ended = "no close frame" if code is None else f"close {code}"
    return f"{ended}, then end of stream, after {frames} unread messages"


async def account_token(url: str) -> str:
    """Register and log in a user, and give it an acknowledged deposit; its bearer token."""
    target = parse_target(url)
    conn = Conn(target)
    try:
        with trio.fail_after(60):
            token = await login(conn, target, "shutdown_user")
            request = target.build("POST", "/api/v1/balance/deposit", {"amount": DEPOSIT}, token)
            status, body = await conn.request(request)
    finally:
        await conn.aclose()
    if status != 201:
        raise SystemExit(f"deposit: HTTP {status}: {body[:200]!r}")
    return token


def verify(workdir: str) -> tuple[int, list[str]]:
    """``exchange verify`` of the server's database: its exit status and output."""
    done = subprocess.run(
        [sys.executable, "-m", "web.cli", "verify", "--db", f"{workdir}/bench.db"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=workdir,
        check=False,
    )
    return done.returncode, (done.stdout + done.stderr).splitlines()


def measure(workdir: str, timeout: float | None, hold: float) -> Report:
    """Start the server, connect the stuck clients, SIGTERM it and time its exit."""
    env = {"EXCHANGE_RATE_LIMIT_PER_MINUTE": str(10**9)}
    if timeout is not None:
        env["EXCHANGE_SHUTDOWN_TIMEOUT_SECONDS"] = f"{timeout:g}"
    process, url = start_server(workdir, env)
    try:
        print(f"server pid {process.pid} at {url}", file=sys.stderr, flush=True)
        token = trio.run(account_token, url)
        prices = handshake(url, "/ws/prices", RECEIVE_BUFFER)
        account = handshake(url, f"/ws/account?token={token}")
        flooded, blocked = flood(*prices)
        time.sleep(hold)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:
            status: int | None = process.wait(timeout=EXIT_WAIT)
        except subprocess.TimeoutExpired:
            status = None
        elapsed = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.stdout is not None
    output = process.stdout.read().splitlines()
    got = [what_it_got(*client) for client in (prices, account)]
    for sock, _ in (prices, account):
        sock.close()
    verify_status, verify_output = verify(workdir)
    return Report(
        "shipped default" if timeout is None else f"{timeout:g} s",
        flooded,
        blocked,
        elapsed,
        status,
        got[0],
        got[1],
        output,
        verify_status,
        verify_output,
    )


def show(report: Report) -> None:
    """Print the figures."""
    print(f"EXCHANGE_SHUTDOWN_TIMEOUT_SECONDS: {report.shutdown_timeout}")
    state = "the server stopped reading" if report.flood_blocked else "the server kept reading"
    print(f"/ws/prices client: sent {report.flooded_bytes} bytes of subscriptions ({state})")
    if report.exit_status is None:
        print(f"not exited {EXIT_WAIT:g} s after SIGTERM (killed)")
    else:
        print(f"exit {report.exit_seconds:.2f} s after SIGTERM, status {report.exit_status}")
    print(f"/ws/prices client (never reads): {report.prices_client}")
    print(f"/ws/account client (never reads): {report.account_client}")
    for line in report.server_output[-20:]:
        print(f"  server: {line}")
    print(f"exchange verify: status {report.verify_status}")
    for line in report.verify_output:
        print(f"  {line}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the measurement against a fresh server."""
    parser = argparse.ArgumentParser(prog="python -m bench.shutdown", description=__doc__)
    parser.add_argument(
        "--timeout", type=float, help="EXCHANGE_SHUTDOWN_TIMEOUT_SECONDS (default: unset)"
    )
    parser.add_argument(
        "--hold", type=float, default=1.0, help="seconds between the clients and SIGTERM"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.timeout is not None and not 1 <= args.timeout <= 30:
        parser.error("--timeout must be in [1, 30] (the server refuses less than 1)")
    if not 0 <= args.hold <= 30:
        parser.error("--hold must be in [0, 30]")
    with tempfile.TemporaryDirectory(prefix="exchange-shutdown-") as workdir:
        report = measure(workdir, args.timeout, args.hold)
    show(report)
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
    return 0 if report.exit_status is not None and report.verify_status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
