"""Projector latency: a class's live board over a real server, from the tick to the client.

Usage: ``python -m bench.projector [--students 1000] [--holdings 5] [--ticks 100] [--rows 10]
[--browser]``.

Builds a class of ``--students`` students who each hold ``--holdings`` assets (registered,
joined and trading through the real engine, in process, on a temporary database), then starts
``exchange serve`` on that database on a free loopback port (1 s ticks), signs the teacher in
and watches ``/ws/classes/<id>/leaderboard?limit=<rows>`` with a websocket client. Every
holding moves with every tick, so every tick changes the board and sends a frame.

For ``--ticks`` frames it records the delay from the frame's ``time`` (the tick's time on the
server's exchange clock, which is wall time in serve mode) to the moment this process read the
frame off the socket, and prints its median, 99th percentile and maximum. The server's own
per-tick upkeep (valuing and ordering the class, making and encoding the rows: the CPU time of
the event-loop thread) comes from its ``exchange_class_board_upkeep_seconds`` histogram over the
same ticks: the exact mean, and the bucket bounds of the median and the 99th percentile.

``--browser`` measures the projector page instead: the machine's Chromium, signed in as the
teacher, opens ``/classes/<id>/board`` (its own stream of the top 20 rows), and for ``--ticks``
frames the delay runs from the frame's ``time`` to the next animation frame after the page
rendered its rows (``requestAnimationFrame`` after the handler, as ``bench.browser`` does).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path

import msgspec
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)

from bench import load, run
from bench.leaderboard import _class
from exchange.engine import open_exchange
from exchange.money import CENTS
from exchange.passwords import hash_password
from exchange.settings import Settings
from exchange.users import NewUser

TEACHER = "bench_teacher"
PASSWORD = load.PASSWORD
UPKEEP = "exchange_class_board_upkeep_seconds"


class BoardFrame(msgspec.Struct):
    """The part of a board frame the benchmark reads."""

    type: str
    tick: int = 0
    time: str = ""
    students: int = 0


_frame = msgspec.json.Decoder(BoardFrame)


async def build(db: str, students: int, holdings: int) -> str:
    """The class, on the database file ``db``; its id."""
    settings = Settings(
        db=db,
        history_days=0,
        max_order_value=10**9 * CENTS,
        daily_deposit_limit=10**9 * CENTS,
    )
    async with open_exchange(settings) as exchange:
        teacher = NewUser(
            TEACHER, "teacher@example.com", hash_password(PASSWORD), "T", "T", role="teacher"
        )
        await exchange.register(teacher)
        return await _class(exchange, students, holdings)


class Histogram(msgspec.Struct):
    """One scrape of a histogram: cumulative bucket counts, sum and count."""

    buckets: list[tuple[float, int]]
    total: float
    count: int


def histogram(text: str, name: str) -> Histogram:
    """A Prometheus histogram from the text exposition format."""
    buckets: list[tuple[float, int]] = []
    total, count = 0.0, 0
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float(bound), int(float(line.rsplit(" ", 1)[1]))))
        elif line.startswith(f"{name}_sum"):
            total = float(line.rsplit(" ", 1)[1])
        elif line.startswith(f"{name}_count"):
            count = int(float(line.rsplit(" ", 1)[1]))
    return Histogram(buckets, total, count)


def bucket_quantile(before: Histogram, after: Histogram, q: float) -> float:
    """The upper bound of the bucket holding quantile ``q`` of the observations in between."""
    count = after.count - before.count
    earlier = dict(before.buckets)
    for bound, cumulative in after.buckets:
        if cumulative - earlier.get(bound, 0) >= q * count:
            return bound
    return float("inf")


async def scrape(conn: load.Conn, target: load.Target) -> Histogram:
    """The server's board upkeep histogram now."""
    status, body = await conn.request(target.build("GET", "/metrics"))
    if status != 200:
        raise SystemExit(f"/metrics: HTTP {status}")
    return histogram(body.decode(), UPKEEP)


async def watch(
    target: load.Target, path: str, ticks: int, started: Callable[[], Awaitable[None]]
) -> list[float]:
    """Read board frames; the delay in seconds of each from its tick's time to its arrival.

    ``started`` is awaited once the first frame (sent on connecting, not at a tick) is in.
    """
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    await sock.connect((target.addr, target.port))
    ws = WSConnection(ConnectionType.CLIENT)
    await sock.send(ws.send(Request(host=target.host, target=path)))
    delays: list[float] = []
    text: list[str] = []
    first = True
    with sock, trio.fail_after(ticks * 5 + 30):
        while len(delays) < ticks:
            data = await sock.recv(1 << 20)
            arrived = time.time()
            if not data:
                raise SystemExit("the server closed the connection")
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, RejectConnection):
                    raise SystemExit(f"websocket refused: HTTP {event.status_code}")
                if isinstance(event, CloseConnection):
                    raise SystemExit(f"websocket closed: {event.code} {event.reason}")
                if isinstance(event, Ping):
                    await sock.send(ws.send(event.response()))
                if isinstance(event, AcceptConnection):
                    continue
                if isinstance(event, TextMessage):
                    text.append(event.data)
                    if not event.message_finished:
                        continue
                    frame = _frame.decode("".join(text))
                    text.clear()
                    if frame.type != "leaderboard":
                        raise SystemExit(f"unexpected message {frame}")
                    if first:
                        # Sent on connecting, not at a tick.
                        first = False
                        print(f"board of {frame.students} students", file=sys.stderr)
                        await started()
                        continue
                    tick = datetime.fromisoformat(frame.time.replace("Z", "+00:00"))
                    delays.append(arrived - tick.timestamp())
        await sock.send(ws.send(CloseConnection(code=1000)))
    return delays


async def measure(url: str, class_id: str, ticks: int, rows: int) -> None:
    """Sign in, watch the board, and print the figures."""
    target = load.parse_target(url)
    conn = load.Conn(target)
    body = await load.call(
        conn,
        target.build("POST", "/api/v1/auth/login", {"username": TEACHER, "password": PASSWORD}),
        range(200, 300),
        "login",
    )
    token = msgspec.json.decode(body, type=load.Login).access_token
    path = f"{target.prefix}/ws/classes/{class_id}/leaderboard?limit={rows}&token={token}"
    before = Histogram([], 0.0, 0)

    async def started() -> None:
        nonlocal before
        before = await scrape(conn, target)

    delays = await watch(target, path, ticks, started)
    after = await scrape(conn, target)
    await conn.aclose()
    report(delays, "client")
    ms = 1000.0
    made = after.count - before.count
    mean = (after.total - before.total) / made if made else float("nan")
    print(
        f"server upkeep per tick ({made} frames made, CPU): mean {mean * ms:.3f} ms, "
        f"median <= {bucket_quantile(before, after, 0.5) * ms:g} ms, "
        f"p99 <= {bucket_quantile(before, after, 0.99) * ms:g} ms"
    )


def session_cookie(url: str) -> str:
    """The teacher's browser session cookie."""
    import httpx

    answer = httpx.post(
        f"{url}/api/v1/auth/session", json={"username": TEACHER, "password": PASSWORD}
    )
    answer.raise_for_status()
    return answer.cookies["exchange_session"]


def on_screen(url: str, class_id: str, ticks: int) -> list[float]:
    """The projector page in Chromium; each tick's delay in seconds from its time to the screen."""
    from playwright.sync_api import sync_playwright

    from tests.browser.harness import CHROMIUM, chromium_args

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=chromium_args())
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.add_cookies(
            [{"name": "exchange_session", "value": session_cookie(url), "url": url}]
        )
        page = context.new_page()
        page.goto(f"{url}/classes/{class_id}/board")
        page.wait_for_selector("#board tbody tr")
        print(f"board: {page.text_content('#board-state')}", file=sys.stderr)
        # projector.js stamps each frame with the time of the next animation frame after it.
        painted = "window.__boardStats.filter(s => s.paintedAt)"
        deadline = time.monotonic() + ticks * 5 + 30
        stats: list[dict[str, float]] = []
        while time.monotonic() < deadline:
            stats = page.evaluate(painted)
            if len(stats) > ticks:
                break
            page.wait_for_timeout(500)
        browser.close()
    # The first frame is sent on connecting, not at a tick; a reconnect's would repeat a tick.
    seen: set[float] = set()
    delays: list[float] = []
    for entry in stats[1:]:
        if entry["tick"] not in seen:
            seen.add(entry["tick"])
            delays.append((entry["paintedAt"] - entry["serverTime"]) / 1000.0)
    return delays[:ticks]


def report(delays: list[float], where: str) -> None:
    """Print the median, p99 and maximum of ``delays``."""
    if not delays:
        raise SystemExit("no frames measured")
    delays.sort()
    ms = 1000.0
    p99 = delays[max(0, int(len(delays) * 0.99) - 1)]
    print(
        f"tick to {where} ({len(delays)} frames): median {statistics.median(delays) * ms:.1f} ms, "
        f"p99 {p99 * ms:.1f} ms, max {delays[-1] * ms:.1f} ms"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--holdings", type=int, default=5)
    parser.add_argument("--ticks", type=int, default=100)
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--browser", action="store_true", help="measure the projector page")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        class_id = trio.run(build, str(Path(directory) / "bench.db"), args.students, args.holdings)
        print(f"class built in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        env = {
            "EXCHANGE_TICK_INTERVAL": "1.0",
            "EXCHANGE_HISTORY_DAYS": "0",
            "EXCHANGE_RATE_LIMIT_PER_MINUTE": "0",
        }
        process, url = run.start_server(directory, env)
        try:
            if args.browser:
                report(on_screen(url, class_id, args.ticks), "screen")
            else:
                trio.run(measure, url, class_id, args.ticks, args.rows)
        finally:
            run.stop_server(process)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
