"""Load driver: closed-loop keep-alive HTTP/1.1 clients against an already started local server.

Start the server, then::

    python -m bench.load --url http://127.0.0.1:8080 --clients 50,10 --duration 10

Other options (see ``--help``): ``--workload health,deposit`` (repeatable), ``--warmup 1``,
``--max-requests 200000``, ``--timeout 10`` per request, ``--json PATH`` to save the results and
``--server-pid PID`` to report the CPU use of that process and its children (percent of one
core) per cell. The table goes to stdout, progress to stderr; the exit status is 1 if a
workload's setup failed or the server cannot be reached.

Every workload runs at every client count; each pair is a *cell*. A cell first runs the
workload's untimed per-user setup (``deposit`` registers and logs in one user per client; users
are kept for the later cells of the same workload), then each client keeps one connection and
sends requests back to back: ``--warmup`` seconds that are not counted, then a timed window of
``--duration`` seconds that closes early once ``--max-requests`` requests have started in it.
Every request started in the window is awaited and counted. ``req/s`` is successful requests per
second of the window; latency percentiles (nearest rank, in ms) cover successful requests only;
``errors`` counts unexpected statuses and connection failures.

The HTTP client is a minimal HTTP/1.1 implementation on raw trio sockets so that the driver
spends little CPU on a machine it shares with the server. Only loopback targets are accepted.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
import secrets
import socket
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Container, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import msgspec
import trio

# Throwaway accounts on a local test server, so a fixed password is fine.
PASSWORD = "Bench-Passw0rd!"  # noqa: S105
RECV_SIZE = 65536
MAX_HEAD = 65536
MAX_BODY = 16 * 1024 * 1024
# Without a pause a refused connect fails in microseconds and the driver would spin on the CPU
# the server needs.
ERROR_BACKOFF = 0.01
# Setup is untimed, but a few connections keep password hashing from swamping the server.
SETUP_TASKS = 8
# One user's setup makes a few requests, so it may take this many request timeouts.
USER_SETUP_TIMEOUTS = 3
# Seconds before a cell's whole setup gives up.
SETUP_DEADLINE = 300.0
# Beyond warmup + duration + request timeout, before a stuck cell is abandoned.
CELL_GRACE = 5.0


class HttpError(Exception):
    """The server's response was not HTTP/1.1 this client understands."""

    kind = "protocol"


class Closed(HttpError):
    """The server closed the connection before the response was complete."""

    kind = "closed"


class ConnectError(HttpError):
    """No connection to the server could be opened."""

    kind = "connect"


class SetupError(Exception):
    """A workload's untimed setup failed, so its cells cannot run."""


# What a request can fail with on the wire; HttpError covers bad responses and failed connects.
WIRE_ERRORS = (HttpError, OSError, trio.BrokenResourceError)


@dataclass(frozen=True)
class Target:
    """Where the server listens and how requests to it are spelled."""

    addr: str
    port: int
    host: str
    prefix: str

    def build(self, method: str, path: str, body: object = None, token: str | None = None) -> bytes:
        """Serialize one request, with ``body`` as JSON if given."""
        lines = [f"{method} {self.prefix}{path} HTTP/1.1", f"Host: {self.host}"]
        if token is not None:
            lines.append(f"Authorization: Bearer {token}")
        payload = b"" if body is None else msgspec.json.encode(body)
        if body is not None:
            lines.append("Content-Type: application/json")
        if payload or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(payload)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


def loopback_address(host: str, port: int) -> str:
    """Resolve ``host`` to a loopback IP literal, refusing anything else."""
    if host.lower() == "localhost":
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise ValueError(f"cannot resolve localhost: {exc}") from None
        candidates = [str(info[4][0]) for info in infos]
    else:
        candidates = [host]
    for candidate in candidates:
        try:
            ip = ipaddress.ip_address(candidate)
        except ValueError:
            continue
        if ip.is_loopback:
            return str(ip)
    raise ValueError(f"refusing target {host!r}: only 127.0.0.0/8, localhost and ::1 are allowed")


def parse_target(url: str) -> Target:
    """Check a ``http://`` URL on a loopback host and turn it into a ``Target``."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ValueError(f"unsupported URL {url!r}: only http:// is supported")
    host = parts.hostname
    if not host:
        raise ValueError(f"URL {url!r} has no host")
    port = parts.port or 80
    addr = loopback_address(host, port)
    name = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        name = f"{name}:{port}"
    return Target(addr, port, name, parts.path.rstrip("/"))


def parse_head(head: bytes) -> tuple[int, int | None, bool, bool]:
    """Read status, Content-Length, chunked and close-after-this from a response head."""
    lines = head.split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    code = rest[:3]
    if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise HttpError(f"bad status line {lines[0][:80]!r}")
    length: int | None = None
    chunked = False
    keep_alive = version != b"HTTP/1.0"
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            value = value.strip()
            if not value.isdigit():
                raise HttpError(f"bad Content-Length {value[:40]!r}")
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = value.strip().lower().endswith(b"chunked")
        elif name == b"connection":
            tokens = {token.strip() for token in value.lower().split(b",")}
            if b"close" in tokens:
                keep_alive = False
            elif b"keep-alive" in tokens:
                keep_alive = True
    return int(code), length, chunked, not keep_alive


class Conn:
    """One persistent HTTP/1.1 connection that reconnects after the server closes it."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self._stream: trio.SocketStream | None = None
        self._buf = bytearray()
        self._served = 0
        self._fresh = True

    async def request(self, data: bytes) -> tuple[int, bytes]:
        """Send one serialized request; return the response status and body."""
        try:
            return await self._exchange(data)
        except WIRE_ERRORS:
            # A kept-alive connection the server closed while idle fails before any response
            # byte arrives; the server never read that request, so sending it again is safe.
            if not (self._served and self._fresh):
                raise
        await self.aclose()
        return await self._exchange(data)

    async def aclose(self) -> None:
        """Drop the connection; the next request opens a new one."""
        stream, self._stream = self._stream, None
        self._buf.clear()
        self._served = 0
        if stream is not None:
            await trio.aclose_forcefully(stream)

    async def _exchange(self, data: bytes) -> tuple[int, bytes]:
        stream = self._stream
        if stream is None:
            try:
                stream = await trio.open_tcp_stream(self._target.addr, self._target.port)
            except OSError as exc:
                raise ConnectError(str(exc)) from exc
            self._stream = stream
        self._fresh = True
        await stream.send_all(data)
        status, body, close = await self._response(stream)
        self._served += 1
        if close:
            await self.aclose()
        return status, body

    async def _response(self, stream: trio.SocketStream) -> tuple[int, bytes, bool]:
        status, length, chunked, close = parse_head(await self._until(stream, b"\r\n\r\n"))
        while 100 <= status < 200:  # interim responses precede the real one
            status, length, chunked, close = parse_head(await self._until(stream, b"\r\n\r\n"))
        if chunked:
            body = await self._chunked(stream)
        elif status in (204, 304):
            body = b""
        elif length is not None:
            if length > MAX_BODY:
                raise HttpError(f"body of {length} bytes is too large")
            body = await self._exact(stream, length)
        else:
            body = await self._to_eof(stream)
            close = True
        return status, body, close

    async def _fill(self, stream: trio.SocketStream) -> None:
        chunk = await stream.receive_some(RECV_SIZE)
        if not chunk:
            raise Closed("connection closed by the server")
        self._fresh = False
        self._buf += chunk

    async def _until(self, stream: trio.SocketStream, sep: bytes) -> bytes:
        start = 0
        while (end := self._buf.find(sep, start)) < 0:
            if len(self._buf) > MAX_HEAD:
                raise HttpError("response head is too large")
            start = max(0, len(self._buf) - len(sep) + 1)
            await self._fill(stream)
        out = bytes(self._buf[:end])
        del self._buf[: end + len(sep)]
        return out

    async def _exact(self, stream: trio.SocketStream, size: int) -> bytes:
        while len(self._buf) < size:
            await self._fill(stream)
        out = bytes(self._buf[:size])
        del self._buf[:size]
        return out

    async def _chunked(self, stream: trio.SocketStream) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = await self._until(stream, b"\r\n")
            try:
                size = int(line.partition(b";")[0], 16)
            except ValueError:
                raise HttpError(f"bad chunk size {line[:40]!r}") from None
            if size == 0:
                break
            total += size
            if size < 0 or total > MAX_BODY:
                raise HttpError("bad or too large chunked body")
            parts.append((await self._exact(stream, size + 2))[:-2])
        while await self._until(stream, b"\r\n"):  # trailer fields end with an empty line
            pass
        return b"".join(parts)

    async def _to_eof(self, stream: trio.SocketStream) -> bytes:
        try:
            while len(self._buf) <= MAX_BODY:
                await self._fill(stream)
        except Closed:
            out = bytes(self._buf)
            self._buf.clear()
            return out
        raise HttpError("body is too large")


# A workload's setup gets a connection of its own, the target and the user name of one client,
# and returns the pre-built requests that client sends in turn during the run.
Setup = Callable[[Conn, Target, str], Awaitable[list[bytes]]]


@dataclass(frozen=True)
class Workload:
    """A named request mix: untimed per-user setup and the status that counts as success."""

    name: str
    expect: int
    setup: Setup


class Login(msgspec.Struct):
    """The part of the login reply the driver needs."""

    access_token: str


async def call(conn: Conn, data: bytes, ok: Container[int], what: str) -> bytes:
    """Send a setup request and return its body, or fail the setup on another status."""
    status, body = await conn.request(data)
    if status not in ok:
        raise SetupError(f"{what}: HTTP {status}: {body[:200]!r}")
    return body


async def login(conn: Conn, target: Target, user: str) -> str:
    """Register ``user`` and log in; return the bearer token."""
    account = {
        "username": user,
        "email": f"{user}@example.com",
        "password": PASSWORD,
        "first_name": "Bench",
        "last_name": "User",
    }
    await call(conn, target.build("POST", "/api/v1/auth/register", account), {201}, "register")
    credentials = {"username": user, "password": PASSWORD}
    request = target.build("POST", "/api/v1/auth/login", credentials)
    body = await call(conn, request, range(200, 300), "login")
    try:
        return msgspec.json.decode(body, type=Login).access_token
    except msgspec.DecodeError as exc:
        raise SetupError(f"login: unexpected reply {body[:200]!r}: {exc}") from None


async def setup_health(conn: Conn, target: Target, user: str) -> list[bytes]:
    """No per-user state: every client polls the health endpoint."""
    return [target.build("GET", "/health")]


async def setup_catalogue(conn: Conn, target: Target, user: str) -> list[bytes]:
    """No per-user state: every client lists the asset catalogue (its first page)."""
    return [target.build("GET", "/api/v1/inventory/assets")]


async def setup_deposit(conn: Conn, target: Target, user: str) -> list[bytes]:
    """Each client deposits one cent per request as its own logged-in user."""
    token = await login(conn, target, user)
    return [target.build("POST", "/api/v1/balance/deposit", {"amount": "0.01"}, token)]


async def setup_order(conn: Conn, target: Target, user: str) -> list[bytes]:
    """Each client funds its user once, then places small market buys (1 XRP, a few dollars)."""
    token = await login(conn, target, user)
    await call(
        conn,
        target.build("POST", "/api/v1/balance/deposit", {"amount": "10000"}, token),
        (201,),
        f"deposit for {user}",
    )
    body = {"order_type": "market_buy", "asset_id": "XRP", "quantity": "1"}
    return [target.build("POST", "/api/v1/orders", body, token)]


WORKLOADS = {
    workload.name: workload
    for workload in (
        Workload("health", 200, setup_health),
        Workload("catalogue", 200, setup_catalogue),
        Workload("deposit", 201, setup_deposit),
        Workload("order", 201, setup_order),
    )
}


async def prepare(
    target: Target,
    workload: Workload,
    users: Sequence[str],
    cache: dict[str, list[bytes]],
    limit: float,
) -> list[list[bytes]]:
    """Set up the users missing from ``cache`` (``limit`` seconds each); return all requests."""
    todo = iter([user for user in users if user not in cache])
    failures: list[str] = []

    async def worker(cancel: trio.CancelScope) -> None:
        conn = Conn(target)
        try:
            for user in todo:
                try:
                    with trio.fail_after(limit):
                        cache[user] = await workload.setup(conn, target, user)
                except (SetupError, trio.TooSlowError, *WIRE_ERRORS) as exc:
                    reason = (
                        str(exc) if isinstance(exc, SetupError) else f"{describe(exc)}: {exc!r}"
                    )
                    failures.append(f"{user}: {reason}")
                    cancel.cancel()
                    return
        finally:
            await conn.aclose()

    with trio.move_on_after(SETUP_DEADLINE) as timer:
        async with trio.open_nursery() as nursery:
            for _ in range(SETUP_TASKS):
                nursery.start_soon(worker, nursery.cancel_scope)
    if failures:
        raise SetupError(failures[0])
    if timer.cancelled_caught:
        raise SetupError(f"setup took longer than {SETUP_DEADLINE:.0f} s")
    return [cache[user] for user in users]


def describe(exc: BaseException) -> str:
    """A short name of a failure for error counts and messages."""
    if isinstance(exc, trio.TooSlowError):
        return "timeout"
    if isinstance(exc, HttpError):
        return exc.kind
    return "conn"


@dataclass
class Window:
    """What all clients of one cell share: the timed window and what was recorded in it."""

    start: int
    stop: int
    budget: int
    started: int = 0
    latencies: list[int] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    capped: trio.Event = field(default_factory=trio.Event)


class Client:
    """One connection sending its requests back to back until the window closes."""

    def __init__(
        self, conn: Conn, requests: Sequence[bytes], expect: int, win: Window, limit: float
    ) -> None:
        self._conn = conn
        self._requests = requests
        self._expect = expect
        self._win = win
        self._limit = limit
        self._seq = 0
        self._timed = False

    async def run(self) -> None:
        """Send requests until the window closes; each may take ``limit`` seconds."""
        try:
            while time.perf_counter_ns() < self._win.stop:
                # A fresh cancel scope per request cost a third of the client's CPU, so one
                # scope lasts until a request times out and only its deadline moves.
                with trio.CancelScope() as scope:
                    await self._burst(scope)
                if scope.cancelled_caught:
                    await self._failed("timeout")
        finally:
            await self._conn.aclose()

    async def _burst(self, scope: trio.CancelScope) -> None:
        win = self._win
        while (begin := time.perf_counter_ns()) < win.stop:
            timed = begin >= win.start
            if timed:
                win.started += 1
                if win.started >= win.budget:
                    win.stop = begin
                    win.capped.set()
            self._timed = timed
            data = self._requests[self._seq % len(self._requests)]
            self._seq += 1
            scope.deadline = trio.current_time() + self._limit
            try:
                status, _ = await self._conn.request(data)
            except WIRE_ERRORS as exc:
                scope.deadline = math.inf
                await self._failed(describe(exc))
                continue
            if not timed:
                continue
            if status == self._expect:
                win.latencies.append(time.perf_counter_ns() - begin)
            else:
                win.errors[str(status)] += 1

    async def _failed(self, kind: str) -> None:
        if self._timed:
            self._win.errors[kind] += 1
        await self._conn.aclose()
        await trio.sleep(ERROR_BACKOFF)


def process_table() -> dict[int, tuple[int, int]]:
    """Parent pid and CPU ticks (user plus system) of every live process."""
    table: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process exited while we looked
            continue
        # The command name may contain spaces and parentheses, so split after its closing one.
        fields = stat.rpartition(")")[2].split()
        table[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return table


def cpu_seconds(pid: int) -> float | None:
    """CPU time used so far by ``pid`` and its live descendants, or None if ``pid`` is gone.

    Descendants count because servers such as hypercorn do their work in child processes.
    """
    table = process_table()
    if pid not in table:
        return None
    children: dict[int, list[int]] = {}
    for child, (parent, _) in table.items():
        children.setdefault(parent, []).append(child)
    ticks = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        ticks += table[current][1]
        todo.extend(children.get(current, []))
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Sample:
    """Clock and CPU counters at one instant."""

    wall: int
    client: float
    server: float | None


def sample(pid: int | None) -> Sample:
    """Read the clock, this process's CPU time and the server's, if a pid was given."""
    # /proc reads are served from memory and never block, so the event loop can do them.
    server = None if pid is None else cpu_seconds(pid)
    return Sample(time.perf_counter_ns(), time.process_time(), server)


async def watch(pid: int | None, win: Window, out: list[Sample]) -> None:
    """Sample CPU counters when the timed window opens and when it closes."""
    await trio.sleep(max(0, win.start - time.perf_counter_ns()) / 1e9)
    out.append(sample(pid))
    with trio.move_on_after(max(0, win.stop - time.perf_counter_ns()) / 1e9):
        await win.capped.wait()
    out.append(sample(pid))


class Cell(msgspec.Struct):
    """The measurements of one (workload, clients) cell."""

    workload: str
    clients: int
    requests: int
    errors: int
    errors_by_kind: dict[str, int]
    seconds: float
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    server_cpu_pct: float | None
    client_cpu_pct: float | None


def percentile(ordered: Sequence[int], pct: int) -> float | None:
    """The nearest-rank percentile of sorted nanoseconds, in milliseconds."""
    if not ordered:
        return None
    rank = -(-pct * len(ordered) // 100)
    return ordered[max(rank, 1) - 1] / 1e6


def rounded(value: float | None, digits: int) -> float | None:
    """Round for the report, passing None through."""
    return None if value is None else round(value, digits)


def cpu_pct(first: Sample, last: Sample, server: bool) -> float | None:
    """CPU use between two samples, in percent of one core."""
    wall = (last.wall - first.wall) / 1e9
    if wall <= 0:
        return None
    if not server:
        return 100 * (last.client - first.client) / wall
    if first.server is None or last.server is None:
        return None
    return 100 * (last.server - first.server) / wall


@dataclass(frozen=True)
class Config:
    """The command line, checked."""

    target: Target
    url: str
    workloads: list[Workload]
    clients: list[int]
    duration: float
    warmup: float
    max_requests: int
    timeout: float
    json: Path | None
    server_pid: int | None


async def run_cell(cfg: Config, workload: Workload, requests: list[list[bytes]]) -> Cell:
    """Drive one cell's clients through warmup and the timed window and summarize it."""
    start = time.perf_counter_ns() + int(cfg.warmup * 1e9)
    win = Window(start, start + int(cfg.duration * 1e9), cfg.max_requests)
    samples: list[Sample] = []
    limit = cfg.warmup + cfg.duration + cfg.timeout + CELL_GRACE
    with trio.move_on_after(limit) as timer:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch, cfg.server_pid, win, samples)
            for mine in requests:
                client = Client(Conn(cfg.target), mine, workload.expect, win, cfg.timeout)
                nursery.start_soon(client.run)
    if timer.cancelled_caught:
        log(f"  cell abandoned after {limit:.0f} s; requests still in flight are not counted")
    ordered = sorted(win.latencies)
    span = (win.stop - win.start) / 1e9
    errors = sum(win.errors.values())
    server_pct = client_pct = None
    if len(samples) == 2:
        server_pct = cpu_pct(samples[0], samples[1], server=True)
        client_pct = cpu_pct(samples[0], samples[1], server=False)
    return Cell(
        workload=workload.name,
        clients=len(requests),
        requests=len(ordered) + errors,
        errors=errors,
        errors_by_kind=dict(win.errors.most_common()),
        seconds=round(span, 3),
        rps=round(len(ordered) / span, 1) if span > 0 else 0.0,
        p50_ms=rounded(percentile(ordered, 50), 3),
        p95_ms=rounded(percentile(ordered, 95), 3),
        p99_ms=rounded(percentile(ordered, 99), 3),
        max_ms=rounded(ordered[-1] / 1e6 if ordered else None, 3),
        server_cpu_pct=rounded(server_pct, 1),
        client_cpu_pct=rounded(client_pct, 1),
    )


def log(message: str) -> None:
    """Progress goes to stderr so stdout holds only the results."""
    print(message, file=sys.stderr, flush=True)


async def run(cfg: Config, run_id: str) -> tuple[list[Cell], list[str]]:
    """Run every cell in order; return the cells and the setup failures."""
    try:
        stream = await trio.open_tcp_stream(cfg.target.addr, cfg.target.port)
    except OSError as exc:
        return [], [f"cannot connect to {cfg.url}: {exc}"]
    await stream.aclose()
    cells: list[Cell] = []
    failures: list[str] = []
    for workload in cfg.workloads:
        cache: dict[str, list[bytes]] = {}
        for clients in cfg.clients:
            label = f"{workload.name} x{clients}"
            log(f"{label}: setup")
            users = [f"bench_{run_id}_{i}" for i in range(clients)]
            try:
                requests = await prepare(
                    cfg.target, workload, users, cache, USER_SETUP_TIMEOUTS * cfg.timeout
                )
            except SetupError as exc:
                failures.append(f"{workload.name}: setup failed: {exc}")
                log(f"{label}: setup failed, skipping {workload.name}")
                break
            limits = f"{cfg.duration:g} s or {cfg.max_requests} requests"
            log(f"{label}: warmup {cfg.warmup:g} s, then {limits}")
            cells.append(await run_cell(cfg, workload, requests))
    return cells, failures


def ratios(cells: Sequence[Cell]) -> dict[str, float]:
    """Throughput of each workload relative to ``health`` at the same client count."""
    health = {cell.clients: cell.rps for cell in cells if cell.workload == "health"}
    return {
        f"{cell.workload}/health at {cell.clients} clients": round(
            cell.rps / health[cell.clients], 2
        )
        for cell in cells
        if cell.workload != "health" and health.get(cell.clients)
    }


def ms(value: float | None) -> str:
    """A latency cell of the table."""
    return "-" if value is None else f"{value:.2f}"


def align(rows: Sequence[Sequence[str]]) -> list[str]:
    """Table lines: the first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            text.ljust(width) if i == 0 else text.rjust(width)
            for i, (text, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]


def table(cells: Sequence[Cell], with_cpu: bool) -> str:
    """The human-readable results: one row per cell, numbers right-aligned."""
    header = ["workload", "clients", "requests", "errors", "req/s", "p50", "p95", "p99", "max"]
    if with_cpu:
        header.append("srv cpu%")
    rows = [header]
    for cell in cells:
        row = [cell.workload, str(cell.clients), str(cell.requests), str(cell.errors)]
        row += [f"{cell.rps:.1f}", ms(cell.p50_ms), ms(cell.p95_ms), ms(cell.p99_ms)]
        row.append(ms(cell.max_ms))
        if with_cpu:
            pct = cell.server_cpu_pct
            row.append("-" if pct is None else f"{pct:.1f}")
        rows.append(row)
    lines = align(rows)
    lines.append("(latency columns in ms)")
    for cell in cells:
        if cell.errors:
            kinds = " ".join(f"{kind}={count}" for kind, count in cell.errors_by_kind.items())
            lines.append(f"errors in {cell.workload} x{cell.clients}: {kinds}")
    return "\n".join(lines)


class Report(msgspec.Struct):
    """What ``--json`` writes."""

    run_id: str
    url: str
    started: str
    warmup: float
    duration: float
    max_requests: int
    cells: list[Cell]
    ratios: dict[str, float]
    failures: list[str]


def counts(text: str) -> list[int]:
    """Parse a comma list of positive integers."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma list of integers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"need positive integers: {text!r}")
    return values


def names(text: str) -> list[str]:
    """Parse a comma list of workload names."""
    values = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [value for value in values if value not in WORKLOADS]
    if unknown or not values:
        known = ", ".join(WORKLOADS)
        raise argparse.ArgumentTypeError(f"unknown workload {unknown or text!r} (known: {known})")
    return values


def seconds(text: str) -> float:
    """Parse a non-negative number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0: {text!r}")
    return value


def parse_args(argv: Sequence[str] | None) -> Config:
    """Read and check the command line; exit with a message if it is wrong."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.load",
        description="Drive an already started local exchange server with keep-alive clients.",
    )
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="loopback server URL")
    parser.add_argument(
        "--workload",
        action="append",
        type=names,
        help=f"workloads to run, repeatable or comma list (default health,deposit; "
        f"known: {', '.join(WORKLOADS)})",
    )
    parser.add_argument(
        "--clients", type=counts, default=[50, 10], help="client counts (default 50,10)"
    )
    parser.add_argument("--duration", type=seconds, default=10.0, help="timed seconds per cell")
    parser.add_argument("--warmup", type=seconds, default=1.0, help="uncounted seconds first")
    parser.add_argument(
        "--max-requests", type=int, default=200_000, help="cap on timed requests per cell"
    )
    parser.add_argument("--timeout", type=seconds, default=10.0, help="seconds per request")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument(
        "--server-pid", type=int, help="report the CPU use of this process and its children"
    )
    args = parser.parse_args(argv)
    try:
        target = parse_target(args.url)
    except ValueError as exc:
        parser.exit(2, f"{parser.prog}: {exc}\n")
    if args.duration <= 0 or args.timeout <= 0 or args.max_requests < 1:
        parser.error("--duration, --timeout and --max-requests must be positive")
    if args.server_pid is not None and cpu_seconds(args.server_pid) is None:
        parser.error(f"cannot read /proc/{args.server_pid}/stat")
    chosen = [name for group in args.workload or [["health", "deposit"]] for name in group]
    return Config(
        target=target,
        url=args.url,
        workloads=[WORKLOADS[name] for name in dict.fromkeys(chosen)],
        clients=list(dict.fromkeys(args.clients)),
        duration=args.duration,
        warmup=args.warmup,
        max_requests=args.max_requests,
        timeout=args.timeout,
        json=args.json,
        server_pid=args.server_pid,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table; non-zero exit if a workload could not run."""
    cfg = parse_args(argv)
    run_id = secrets.token_hex(4)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    log(f"run {run_id} against {cfg.url}")
    cells, failures = trio.run(run, cfg, run_id)
    if cells:
        print(table(cells, cfg.server_pid is not None))
    found = ratios(cells)
    for line, ratio in found.items():
        print(f"{line}: {ratio:.2f}")
    for failure in failures:
        log(failure)
    if cfg.json is not None:
        report = Report(
            run_id=run_id,
            url=cfg.url,
            started=started,
            warmup=cfg.warmup,
            duration=cfg.duration,
            max_requests=cfg.max_requests,
            cells=cells,
            ratios=found,
            failures=failures,
        )
        cfg.json.write_bytes(msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
