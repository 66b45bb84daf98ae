"""Hostile numbers against a live server while another client watches ``/health``.

Usage: ``python -m bench.hostile [--clients 3] [--duration 10] [--settle 5] [--benign]
[--json out.json]``.

It starts a fresh ``exchange serve`` on a free loopback port with a temporary database, waits
``--settle`` seconds for its start-up to finish, registers and logs in one user, then starts
``--clients`` flooding processes and one polling process (separate processes, as real clients
are: in one event loop a slow reply would delay the poller's own timing). They meet at a
barrier and run for ``--duration`` seconds: each flooder sends, back to back on one keep-alive
connection, deposits and withdrawals of ``"1e999990"``, ``1e999999999``, ``"-1e999999999"``
and a 60,000-digit number, and a ``stop_limit_buy`` with quantity, price and stop price all
``1e999990``; the poller sends ``GET /health`` every 10 ms. ``--benign`` floods
``{"amount": "abc"}`` deposits instead, as the control. It prints the status counts and the
slowest request of each kind, and the ``/health`` median, p99 and maximum wait; the server is
stopped with SIGTERM at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import queue
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import trio

from bench.load import WIRE_ERRORS, Conn, Target, login, parse_target
from bench.run import start_server, stop_server

# A hostile number used to freeze the event loop for 24-70 s; anything this slow is a failure.
REQUEST_TIMEOUT = 30.0
HEALTH_INTERVAL = 0.01
# Seconds for every process to start and reach the barrier on a loaded machine.
START_TIMEOUT = 60.0
# After a refused connection, so that a dead server does not make the clients spin.
ERROR_BACKOFF = 0.01

ORDER = b'{"order_type":"stop_limit_buy","asset_id":"BTC","quantity":1e999990,'
ORDER += b'"price":"1e999990","stop_price":1e999990}'
# (label, path, JSON body): each label names one request's hostile field.
HOSTILE: list[tuple[str, str, bytes]] = [
    ('deposit amount "1e999990"', "/api/v1/balance/deposit", b'{"amount":"1e999990"}'),
    ('withdraw amount "1e999990"', "/api/v1/balance/withdraw", b'{"amount":"1e999990"}'),
    ("deposit amount 1e999999999", "/api/v1/balance/deposit", b'{"amount":1e999999999}'),
    (
        'withdraw amount "-1e999999999"',
        "/api/v1/balance/withdraw",
        b'{"amount":"-1e999999999"}',
    ),
    (
        "deposit amount 60,000 digits",
        "/api/v1/balance/deposit",
        b'{"amount":' + b"9" * 60_000 + b"}",
    ),
    ("stop_limit_buy, all three 1e999990", "/api/v1/orders", ORDER),
]
BENIGN: list[tuple[str, str, bytes]] = [
    ('deposit amount "abc"', "/api/v1/balance/deposit", b'{"amount":"abc"}'),
]


def raw_post(target: Target, path: str, body: bytes, token: str) -> bytes:
    """Serialize a POST whose JSON body is given as bytes (no encoder could spell these)."""
    head = (
        f"POST {target.prefix}{path} HTTP/1.1\r\nHost: {target.host}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


@dataclass
class Kind:
    """The outcome of one kind of request over the run, summed over the clients."""

    label: str
    requests: int
    statuses: dict[str, int]
    slowest_ms: float


@dataclass
class Health:
    """The ``/health`` waits seen by the poller, in milliseconds."""

    polls: int
    statuses: dict[str, int]
    median_ms: float
    p99_ms: float
    max_ms: float


@dataclass
class Report:
    """Every figure of one run."""

    mode: str
    clients: int
    duration: float
    kinds: list[Kind]
    health: Health


def outcome(exc: BaseException) -> str:
    """The status column for a request that got no HTTP status."""
    if isinstance(exc, trio.TooSlowError):
        return f"timeout>{REQUEST_TIMEOUT:g}s"
    return f"error:{type(exc).__name__}"


async def timed(conn: Conn, request: bytes) -> tuple[str, float]:
    """Send one request; its status (or failure) and how long it took, in seconds."""
    started = time.perf_counter()
    try:
        with trio.fail_after(REQUEST_TIMEOUT):
            status, _ = await conn.request(request)
    except (trio.TooSlowError, *WIRE_ERRORS) as exc:
        await conn.aclose()
        await trio.sleep(ERROR_BACKOFF)
        return outcome(exc), time.perf_counter() - started
    return str(status), time.perf_counter() - started


async def flood(url: str, token: str, mode: str, offset: int, duration: float) -> list[Any]:
    """Send the mode's requests in turn for ``duration`` s; per kind: count, statuses, slowest."""
    target = parse_target(url)
    kinds = HOSTILE if mode == "hostile" else BENIGN
    requests = [raw_post(target, path, body, token) for _, path, body in kinds]
    statuses = [Counter[str]() for _ in kinds]
    slowest = [0.0] * len(kinds)
    conn = Conn(target)
    n = offset  # clients start at different kinds, so every kind is in flight at once
    stop = time.monotonic() + duration
    try:
        while time.monotonic() < stop:
            at = n % len(kinds)
            n += 1
            status, seconds = await timed(conn, requests[at])
            statuses[at][status] += 1
            slowest[at] = max(slowest[at], seconds)
    finally:
        await conn.aclose()
    return [(sum(s.values()), dict(s), w) for s, w in zip(statuses, slowest, strict=True)]


async def poll(url: str, duration: float) -> tuple[list[float], dict[str, int]]:
    """``GET /health`` every ``HEALTH_INTERVAL`` s for ``duration`` s; each wait and status."""
    target = parse_target(url)
    request = target.build("GET", "/health")
    waits: list[float] = []
    statuses: Counter[str] = Counter()
    conn = Conn(target)
    stop = time.monotonic() + duration
    try:
        while time.monotonic() < stop:
            status, seconds = await timed(conn, request)
            waits.append(seconds)
            statuses[status] += 1
            await trio.sleep(HEALTH_INTERVAL)
    finally:
        await conn.aclose()
    return waits, dict(statuses)


def flood_process(
    url: str,
    token: str,
    mode: str,
    offset: int,
    duration: float,
    barrier: Barrier,
    results: multiprocessing.Queue[tuple[str, Any]],
) -> None:
    """One flooding client in its own process; its figures go to ``results``."""
    barrier.wait(START_TIMEOUT)
    results.put(("flood", trio.run(flood, url, token, mode, offset, duration)))


def poll_process(
    url: str, duration: float, barrier: Barrier, results: multiprocessing.Queue[tuple[str, Any]]
) -> None:
    """The ``/health`` poller in its own process; its figures go to ``results``."""
    barrier.wait(START_TIMEOUT)
    results.put(("health", trio.run(poll, url, duration)))


def percentile(ordered: Sequence[float], share: float) -> float:
    """Nearest-rank percentile of an ascending, non-empty sequence."""
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def summarize(
    mode: str, clients: int, duration: float, floods: list[list[Any]], health: Any
) -> Report:
    """Add up the clients' figures into one report."""
    labels = [label for label, _, _ in (HOSTILE if mode == "hostile" else BENIGN)]
    kinds = []
    for at, label in enumerate(labels):
        statuses: Counter[str] = Counter()
        for client in floods:
            statuses.update(client[at][1])
        kinds.append(
            Kind(
                label,
                sum(client[at][0] for client in floods),
                dict(sorted(statuses.items())),
                max(client[at][2] for client in floods) * 1000,
            )
        )
    waits, health_statuses = health
    ordered = sorted(waits) or [math.nan]
    return Report(
        mode,
        clients,
        duration,
        kinds,
        Health(
            len(waits),
            dict(sorted(health_statuses.items())),
            percentile(ordered, 0.5) * 1000,
            percentile(ordered, 0.99) * 1000,
            ordered[-1] * 1000,
        ),
    )


def run_clients(url: str, token: str, mode: str, clients: int, duration: float) -> Report:
    """Run the flooders and the poller in their own processes; collect their figures."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(clients + 1)
    results: multiprocessing.Queue[tuple[str, Any]] = context.Queue()
    processes = [
        context.Process(
            target=flood_process, args=(url, token, mode, n, duration, barrier, results)
        )
        for n in range(clients)
    ]
    processes.append(context.Process(target=poll_process, args=(url, duration, barrier, results)))
    for process in processes:
        process.start()
    floods: list[list[Any]] = []
    health: Any = None
    try:
        # A flooder finishes within one request timeout of the window's end.
        deadline = time.monotonic() + START_TIMEOUT + duration + REQUEST_TIMEOUT + 10
        for _ in processes:
            try:
                kind, figures = results.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise SystemExit("a client process gave no figures in time") from None
            if kind == "flood":
                floods.append(figures)
            else:
                health = figures
    finally:
        for process in processes:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
    return summarize(mode, clients, duration, floods, health)


def show(report: Report) -> None:
    """Print the figures as a short table."""
    print(
        f"{report.mode}: {report.clients} flooding processes for {report.duration:g} s, "
        f"/health every {HEALTH_INTERVAL * 1000:g} ms from another"
    )
    total = sum(kind.requests for kind in report.kinds)
    print(f"{total} requests ({total / report.duration:.0f}/s)")
    width = max(len(kind.label) for kind in report.kinds)
    for kind in report.kinds:
        statuses = ", ".join(f"{status}: {n}" for status, n in kind.statuses.items())
        print(
            f"  {kind.label:<{width}}  {kind.requests:6d}  slowest {kind.slowest_ms:8.1f} ms"
            f"  [{statuses}]"
        )
    worst = max(report.kinds, key=lambda kind: kind.slowest_ms)
    print(f"slowest request: {worst.slowest_ms:.1f} ms ({worst.label})")
    h = report.health
    statuses = ", ".join(f"{status}: {n}" for status, n in h.statuses.items())
    print(
        f"/health: {h.polls} polls [{statuses}], median {h.median_ms:.1f} ms, "
        f"p99 {h.p99_ms:.1f} ms, max {h.max_ms:.1f} ms"
    )


async def register(url: str) -> str:
    """Register and log in the flooders' user; its bearer token."""
    conn = Conn(parse_target(url))
    try:
        with trio.fail_after(REQUEST_TIMEOUT):
            return await login(conn, parse_target(url), "hostile_user")
    finally:
        await conn.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the measurement against a fresh server."""
    parser = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__)
    parser.add_argument("--clients", type=int, default=3, help="flooding processes")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of flooding")
    parser.add_argument("--settle", type=float, default=5.0, help="idle seconds after start")
    parser.add_argument("--benign", action="store_true", help='flood {"amount": "abc"} instead')
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.clients < 1 or not 0 < args.duration <= 600 or not 0 <= args.settle <= 60:
        parser.error("--clients must be positive, --duration in (0, 600], --settle in [0, 60]")
    # Every client is 127.0.0.1, so the per-IP limit is raised so that none is refused, and the
    # per-user order rate is off so that every hostile order reaches the parser.
    env = {"EXCHANGE_RATE_LIMIT_PER_MINUTE": str(10**9), "EXCHANGE_ORDER_RATE_PER_SECOND": "0"}
    mode = "benign" if args.benign else "hostile"
    with tempfile.TemporaryDirectory(prefix="exchange-hostile-") as workdir:
        process, url = start_server(workdir, env)
        try:
            print(f"server pid {process.pid} at {url}", file=sys.stderr, flush=True)
            time.sleep(args.settle)  # history synthesis and the first ticks are not measured
            token = trio.run(register, url)
            report = run_clients(url, token, mode, args.clients, args.duration)
        finally:
            stop_server(process)
    show(report)
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
