"""Websocket fan-out benchmark: many ``/ws/prices`` clients on loopback, every tick to every one.

Against a server you started::

    python -m bench.fanout --url http://127.0.0.1:8080 --clients 1000 --duration 30 \\
        [--server-pid PID] [--json PATH] [--list-requests]

or against a fresh ``exchange serve --port 0`` with a temporary database, 1 s ticks, no per-IP
rate limit and a websocket cap of at least ``--clients``, stopped with SIGTERM at the end (the
server's pid is passed in for you)::

    python -m bench.fanout --start-server --clients 1000 --duration 30 --list-requests

Other options (see ``--help``): ``--batch 50`` connections opened at a time, ``--connect-timeout
10`` seconds per client to get its snapshot, ``--http-clients 50`` and ``--http-duration 10``
for ``--list-requests``.

Clients connect in batches, each batch waiting for every snapshot before the next starts, so
the server's listen backlog (hypercorn's default is 100) is not overrun; the ramp stops early
once half a batch gets no snapshot, or after ``RAMP_LIMIT`` seconds. Then, for
``--duration`` seconds, every client records each tick ``seq`` it receives and the delay from
the frame's ``time`` (the exchange clock, which is wall time in serve mode) to two moments on
this machine's wall clock: when the driver read the bytes (``recv``) and when the kernel queued
them on the socket (``arrival``, from ``SO_TIMESTAMPNS``; the driver's own scheduling does not
inflate it). The ticks of a window are those whose time falls in it; a client's share is the
part of them it got, in its own frame or folded into a merged one (``first_seq``).

With ``--list-requests`` the same run then measures ``catalogue`` (``GET /api/v1/inventory/
assets``) and ``health`` (``GET /health``) with bench.load's driver while the websocket clients
stay connected (each a websocket phase of its own), and again after they have closed. Every
client comes from one loopback address, so a server you start yourself should run with
``EXCHANGE_RATE_LIMIT_PER_MINUTE=0`` or the catalogue cells count 429s.

The tables go to stdout, progress to stderr; the exit status is 1 if the server cannot be
reached or not every client got its snapshot. Only loopback targets are accepted; every phase
is bounded in time and the client count is bounded by the file-descriptor limit, whose soft
value is raised to the hard one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import secrets
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import ProtocolError

from bench import load, run
from bench.load import Sample, Target, align, log, ms, percentile, rounded

PATH = "/ws/prices"
RECV_SIZE = 65536
# Linux's SO_TIMESTAMPNS (asm-generic); Python does not export it.
SO_TIMESTAMPNS = 35
ANC_SIZE = socket.CMSG_SPACE(16)
# File descriptors the driver needs besides one per websocket client.
SPARE_FDS = 200
MAX_CLIENTS = 100_000
# Seconds after which the ramp opens no more connections.
RAMP_LIMIT = 300.0
# Seconds of server CPU sampled with no client connected, for comparison.
IDLE_SECONDS = 5.0
# Seconds between phases, so that one phase's deliveries do not run into the next.
PHASE_GAP = 1.0
# Seconds to go on listening after the last phase for frames of ticks inside it.
GRACE = 3.0
# Seconds for the clients' closing handshakes before their sockets are dropped.
CLOSE_TIMEOUT = 5.0
HTTP_WARMUP = 1.0
HTTP_TIMEOUT = 10.0
HTTP_MAX_REQUESTS = 1_000_000
STOP_TIMEOUT = 15.0
# The server's default cap on websocket connections (EXCHANGE_MAX_WEBSOCKETS).
SERVER_MAX_WEBSOCKETS = 10_000


class WsFrame(msgspec.Struct):
    """The fields of a stream message the driver reads; ``prices`` is skipped."""

    type: str
    seq: int = -1
    time: str = ""
    first_seq: int | None = None


_decoder = msgspec.json.Decoder(WsFrame)


class TickTimes:
    """The exchange time of each tick seq seen, parsed once and shared by every client."""

    def __init__(self) -> None:
        self.ns: dict[int, int] = {}
        self.size: dict[int, int] = {}

    def of(self, seq: int, stamp: str, size: int) -> int:
        """Unix nanoseconds of the tick ``seq`` whose ISO time is ``stamp``; notes its size."""
        found = self.ns.get(seq)
        if found is None:
            millis = round(datetime.fromisoformat(stamp).timestamp() * 1000)
            found = self.ns[seq] = millis * 1_000_000
            self.size[seq] = size
        return found


def kernel_time(ancillary: list[tuple[int, int, bytes]]) -> int | None:
    """The kernel's receive timestamp (unix ns) from ``recvmsg`` ancillary data, if present."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanos = struct.unpack("qq", data[:16])
            return int(seconds) * 1_000_000_000 + int(nanos)
    return None


class WsClient:
    """One websocket connection to ``/ws/prices`` that records every tick it receives."""

    def __init__(self, target: Target, ticks: TickTimes) -> None:
        self._target = target
        self._ticks = ticks
        self._ws = WSConnection(ConnectionType.CLIENT)
        self._sock: trio.socket.SocketType | None = None
        self._send_lock = trio.Lock()
        self._scope: trio.CancelScope | None = None
        self._text: list[str] = []
        self._last_seq = -1
        self.settled = trio.Event()
        self.finished = trio.Event()
        self.ready_ns: int | None = None
        self.closed_ns: int | None = None
        self.close_code: str | None = None
        self.close_reason = ""
        self.closing = False
        self.timestamps = False
        # seq -> (recv delay, arrival delay) in ns from the tick's time
        self.received: dict[int, tuple[int, int | None]] = {}
        self.merged: set[int] = set()
        self.out_of_order = 0

    async def run(self, connect_timeout: float) -> None:
        """Connect, wait up to ``connect_timeout`` s for the snapshot, then read until closed."""
        try:
            with trio.CancelScope(deadline=trio.current_time() + connect_timeout) as scope:
                self._scope = scope
                await self._connect()
                await self._read()
            if scope.cancelled_caught:
                self._end("timeout", f"no snapshot within {connect_timeout:g} s")
        except (OSError, trio.BrokenResourceError, ProtocolError, msgspec.MsgspecError) as exc:
            self._end("error", f"{type(exc).__name__}: {exc}")
        finally:
            self.settled.set()
            self.finished.set()
            if self._sock is not None:
                self._sock.close()

    async def close(self) -> None:
        """Start a normal close (1000); the read loop ends when the server answers."""
        if self._sock is None or self._ws.state is not ConnectionState.OPEN:
            return
        self.closing = True
        with contextlib.suppress(OSError, trio.BrokenResourceError, ProtocolError):
            await self._send(self._ws.send(CloseConnection(code=1000)))

    def _end(self, code: str, reason: str) -> None:
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason
            self.closed_ns = time.time_ns()

    async def _send(self, data: bytes) -> None:
        sock = self._sock
        assert sock is not None
        async with self._send_lock:
            view = memoryview(data)
            while view:
                sent = await sock.send(view)
                view = view[sent:]

    async def _connect(self) -> None:
        family = socket.AF_INET6 if ":" in self._target.addr else socket.AF_INET
        sock = self._sock = trio.socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            self.timestamps = True
        except OSError:
            pass
        await sock.connect((self._target.addr, self._target.port))
        path = f"{self._target.prefix}{PATH}"
        await self._send(self._ws.send(Request(host=self._target.host, target=path)))

    async def _read(self) -> None:
        sock = self._sock
        assert sock is not None
        while True:
            data, ancillary, _, _ = await sock.recvmsg(RECV_SIZE, ANC_SIZE)
            recv_ns = time.time_ns()
            arrival_ns = kernel_time(ancillary)
            self._ws.receive_data(data or None)
            for event in self._ws.events():
                if isinstance(event, TextMessage):
                    self._text.append(event.data)
                    if event.message_finished:
                        text = "".join(self._text)
                        self._text.clear()
                        self._message(text, recv_ns, arrival_ns)
                elif isinstance(event, Ping):
                    await self._send(self._ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    if not self.closing:
                        self._end(str(event.code), event.reason or "")
                        if self._ws.state is ConnectionState.REMOTE_CLOSING:
                            await self._send(self._ws.send(event.response()))
                    return
                elif isinstance(event, RejectConnection):
                    self._end("rejected", f"HTTP {event.status_code}")
                    return
                # AcceptConnection needs nothing; pongs and binary messages are not the stream.
            if not data:
                self._end("eof", "connection closed without a close frame")
                return

    def _message(self, text: str, recv_ns: int, arrival_ns: int | None) -> None:
        frame = _decoder.decode(text)
        if frame.type == "tick":
            tick_ns = self._ticks.of(frame.seq, frame.time, len(text))
            arrival = None if arrival_ns is None else arrival_ns - tick_ns
            self.received[frame.seq] = (recv_ns - tick_ns, arrival)
            if frame.first_seq is not None:
                self.merged.update(range(frame.first_seq, frame.seq))
            if frame.seq <= self._last_seq:
                self.out_of_order += 1
            self._last_seq = max(self._last_seq, frame.seq)
        elif frame.type == "snapshot" and self.ready_ns is None:
            self.ready_ns = recv_ns
            self._last_seq = frame.seq
            if self._scope is not None:
                self._scope.deadline = float("inf")
            self.settled.set()


@dataclass(frozen=True)
class Span:
    """A measured phase: its wall-clock window and the CPU use in it."""

    name: str
    start_ns: int
    stop_ns: int
    server_cpu_pct: float | None
    driver_cpu_pct: float | None
    other_cpu_pct: float | None


class Phase(msgspec.Struct):
    """What the websocket clients got for the ticks of one phase."""

    name: str
    seconds: float
    clients: int
    ticks: int
    first_seq: int | None
    last_seq: int | None
    frames: int
    frames_per_s: float
    frame_bytes: int | None
    share_mean_pct: float | None
    share_min_pct: float | None
    complete_clients: int
    merged_pairs: int
    missing_pairs: int
    recv_p50_ms: float | None
    recv_p95_ms: float | None
    recv_p99_ms: float | None
    recv_max_ms: float | None
    arrival_p50_ms: float | None
    arrival_p95_ms: float | None
    arrival_p99_ms: float | None
    arrival_max_ms: float | None
    slowest_tick_seq: int | None
    slowest_tick_p50_ms: float | None
    disconnects: int
    close_codes: dict[str, int]
    server_cpu_pct: float | None
    driver_cpu_pct: float | None
    other_cpu_pct: float | None


def summarize(span: Span, clients: Sequence[WsClient], ticks: TickTimes) -> Phase:
    """The delivery and delay of the ticks whose time falls in ``span``."""
    seqs = [seq for seq, ns in ticks.ns.items() if span.start_ns <= ns < span.stop_ns]
    window = range(min(seqs), max(seqs) + 1) if seqs else range(0)
    present = [
        c
        for c in clients
        if c.ready_ns is not None
        and c.ready_ns <= span.start_ns
        and (c.closed_ns is None or c.closed_ns > span.start_ns)
    ]
    recv: list[int] = []
    arrival: list[int] = []
    # The arrival delay (or recv, without kernel timestamps) of every client, per tick.
    per_tick: dict[int, list[int]] = {seq: [] for seq in window}
    shares: list[float] = []
    merged = missing = complete = 0
    for client in present:
        got = 0
        for seq in window:
            entry = client.received.get(seq)
            if entry is not None:
                got += 1
                recv.append(entry[0])
                if entry[1] is not None:
                    arrival.append(entry[1])
                per_tick[seq].append(entry[0] if entry[1] is None else entry[1])
            elif seq in client.merged:
                got += 1
                merged += 1
            else:
                missing += 1
        if window:
            shares.append(got / len(window))
            complete += got == len(window)
    recv.sort()
    arrival.sort()
    medians = {seq: percentile(sorted(found), 50) for seq, found in per_tick.items() if found}
    slowest = max(medians, key=lambda seq: medians[seq] or 0.0) if medians else None
    codes = Counter(
        c.close_code or "?"
        for c in present
        if c.closed_ns is not None and c.closed_ns < span.stop_ns and not c.closing
    )
    seconds = (span.stop_ns - span.start_ns) / 1e9
    sizes = [ticks.size[seq] for seq in window if seq in ticks.size]
    return Phase(
        name=span.name,
        seconds=round(seconds, 3),
        clients=len(present),
        ticks=len(window),
        first_seq=window.start if window else None,
        last_seq=window.stop - 1 if window else None,
        frames=len(recv),
        frames_per_s=round(len(recv) / seconds, 1) if seconds > 0 else 0.0,
        frame_bytes=round(sum(sizes) / len(sizes)) if sizes else None,
        share_mean_pct=rounded(100 * sum(shares) / len(shares), 2) if shares else None,
        share_min_pct=rounded(100 * min(shares), 2) if shares else None,
        complete_clients=complete,
        merged_pairs=merged,
        missing_pairs=missing,
        recv_p50_ms=rounded(percentile(recv, 50), 2),
        recv_p95_ms=rounded(percentile(recv, 95), 2),
        recv_p99_ms=rounded(percentile(recv, 99), 2),
        recv_max_ms=rounded(recv[-1] / 1e6 if recv else None, 2),
        arrival_p50_ms=rounded(percentile(arrival, 50), 2),
        arrival_p95_ms=rounded(percentile(arrival, 95), 2),
        arrival_p99_ms=rounded(percentile(arrival, 99), 2),
        arrival_max_ms=rounded(arrival[-1] / 1e6 if arrival else None, 2),
        slowest_tick_seq=slowest,
        slowest_tick_p50_ms=None if slowest is None else rounded(medians[slowest], 2),
        disconnects=sum(codes.values()),
        close_codes=dict(codes.most_common()),
        server_cpu_pct=span.server_cpu_pct,
        driver_cpu_pct=span.driver_cpu_pct,
        other_cpu_pct=span.other_cpu_pct,
    )


class Disconnect(msgspec.Struct):
    """Clients the server closed (or that failed), by close code and reason."""

    code: str
    reason: str
    clients: int


class Report(msgspec.Struct):
    """What ``--json`` writes."""

    run_id: str
    url: str
    started: str
    clients: int
    batch: int
    duration: float
    connected: int
    ramp_seconds: float
    kernel_timestamps: bool
    idle_server_cpu_pct: float | None
    idle_other_cpu_pct: float | None
    phases: list[Phase]
    http: list[load.Cell]
    disconnects: list[Disconnect]
    out_of_order: int
    failures: list[str]


@dataclass(frozen=True)
class Config:
    """The command line, checked."""

    target: Target
    url: str
    clients: int
    duration: float
    batch: int
    connect_timeout: float
    json: Path | None
    server_pid: int | None
    list_requests: bool
    http_clients: int
    http_duration: float


def machine_busy() -> float:
    """CPU seconds all cores have spent busy since boot (``/proc/stat``), or NaN."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return float("nan")
    # user nice system idle iowait irq softirq steal: all but idle and iowait are busy.
    ticks = [int(value) for value in fields[1:9]]
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Usage:
    """CPU counters at one instant: the server's and the driver's, and the whole machine's."""

    sample: Sample
    machine: float

    @classmethod
    def now(cls, pid: int | None) -> Usage:
        """Read every counter."""
        return cls(load.sample(pid), machine_busy())


def cpu_use(first: Usage, last: Usage) -> tuple[float | None, float | None, float | None]:
    """Server, driver and everything else between two readings, in percent of one core."""
    server = load.cpu_pct(first.sample, last.sample, server=True)
    driver = load.cpu_pct(first.sample, last.sample, server=False)
    wall = (last.sample.wall - first.sample.wall) / 1e9
    other = None
    busy = last.machine - first.machine
    if server is not None and driver is not None and wall > 0 and busy == busy:
        other = max(0.0, 100 * busy / wall - server - driver)
    return rounded(server, 1), rounded(driver, 1), rounded(other, 1)


async def measure(name: str, seconds: float, pid: int | None) -> Span:
    """Wait ``seconds`` while the clients record; return the window and the CPU used in it."""
    first, start_ns = Usage.now(pid), time.time_ns()
    await trio.sleep(seconds)
    last, stop_ns = Usage.now(pid), time.time_ns()
    return Span(name, start_ns, stop_ns, *cpu_use(first, last))


async def http_cell(cfg: Config, workload_name: str, label: str) -> tuple[load.Cell, Span]:
    """One bench.load cell of ``--http-clients`` clients, and its timed window as a span."""
    workload = load.WORKLOADS[workload_name]
    users = [f"fanout_{i}" for i in range(cfg.http_clients)]
    requests = await load.prepare(
        cfg.target, workload, users, {}, load.USER_SETUP_TIMEOUTS * HTTP_TIMEOUT
    )
    http = load.Config(
        target=cfg.target,
        url=cfg.url,
        workloads=[workload],
        clients=[cfg.http_clients],
        duration=cfg.http_duration,
        warmup=HTTP_WARMUP,
        max_requests=HTTP_MAX_REQUESTS,
        timeout=HTTP_TIMEOUT,
        json=None,
        server_pid=cfg.server_pid,
    )
    log(f"{label} x{cfg.http_clients}: warmup {HTTP_WARMUP:g} s, then {cfg.http_duration:g} s")
    first = Usage.now(cfg.server_pid)
    start_ns = time.time_ns() + int(HTTP_WARMUP * 1e9)
    cell = msgspec.structs.replace(await load.run_cell(http, workload, requests), workload=label)
    stop_ns = start_ns + int(cell.seconds * 1e9)
    # CPU over the warmup and the window, so that the three shares add up on the same span.
    return cell, Span(label, start_ns, stop_ns, *cpu_use(first, Usage.now(cfg.server_pid)))


async def ramp(nursery: trio.Nursery, clients: list[WsClient], cfg: Config) -> float:
    """Open the clients ``--batch`` at a time, each batch settled before the next; seconds.

    Stops early once half of a batch gets no snapshot (the server takes no more) or after
    ``RAMP_LIMIT`` seconds, and drops the clients it did not start from ``clients``.
    """
    begin = time.perf_counter()
    for start in range(0, len(clients), cfg.batch):
        group = clients[start : start + cfg.batch]
        for client in group:
            nursery.start_soon(client.run, cfg.connect_timeout)
        for client in group:
            await client.settled.wait()
        done = start + len(group)
        ready = sum(c.ready_ns is not None for c in clients[:done])
        if done % (cfg.batch * 10) == 0 or done == len(clients):
            log(f"ramp: {ready}/{done} clients have their snapshot")
        failed = sum(c.ready_ns is None for c in group)
        spent = time.perf_counter() - begin
        if done < len(clients) and (2 * failed > len(group) or spent > RAMP_LIMIT):
            why = f"{failed} of a batch of {len(group)} failed" if failed else f"{spent:.0f} s"
            log(f"ramp: stopped at {ready}/{done} clients ({why})")
            del clients[done:]
            break
    return time.perf_counter() - begin


async def close_all(clients: Sequence[WsClient]) -> None:
    """Close every open client normally, waiting at most ``CLOSE_TIMEOUT`` seconds."""
    with trio.move_on_after(CLOSE_TIMEOUT) as timer:
        for client in clients:
            await client.close()
        for client in clients:
            await client.finished.wait()
    left = sum(not c.finished.is_set() for c in clients)
    if timer.cancelled_caught and left:
        log(f"{left} clients did not finish their closing handshake in {CLOSE_TIMEOUT:g} s")


@dataclass
class Outcome:
    """Everything one run measured."""

    clients: list[WsClient]
    ramp_seconds: float
    idle_server_cpu_pct: float | None
    idle_other_cpu_pct: float | None
    phases: list[Phase]
    cells: list[load.Cell]
    failures: list[str]


async def bench(cfg: Config) -> Outcome:
    """Idle CPU, ramp, the websocket window, the HTTP cells with and without the clients."""
    outcome = Outcome([], 0.0, None, None, [], [], [])
    try:
        stream = await trio.open_tcp_stream(cfg.target.addr, cfg.target.port)
    except OSError as exc:
        outcome.failures.append(f"cannot connect to {cfg.url}: {exc}")
        return outcome
    await stream.aclose()
    if cfg.server_pid is not None:
        log(f"idle: {IDLE_SECONDS:g} s of server CPU with no client")
        idle = await measure("idle", IDLE_SECONDS, cfg.server_pid)
        outcome.idle_server_cpu_pct = idle.server_cpu_pct
        outcome.idle_other_cpu_pct = idle.other_cpu_pct
    ticks = TickTimes()
    clients = outcome.clients = [WsClient(cfg.target, ticks) for _ in range(cfg.clients)]
    spans: list[Span] = []
    async with trio.open_nursery() as nursery:
        log(f"ramp: {cfg.clients} clients in batches of {cfg.batch}")
        outcome.ramp_seconds = await ramp(nursery, clients, cfg)
        connected = sum(c.ready_ns is not None and c.closed_ns is None for c in clients)
        if connected < cfg.clients:
            outcome.failures.append(f"only {connected} of {cfg.clients} clients got a snapshot")
        if connected:
            log(f"ws: {connected} clients, {cfg.duration:g} s")
            spans.append(await measure("ws", cfg.duration, cfg.server_pid))
            if cfg.list_requests:
                for name in ("catalogue", "health"):
                    await trio.sleep(PHASE_GAP)
                    cell, span = await http_cell(cfg, name, f"{name}+ws")
                    outcome.cells.append(cell)
                    spans.append(span)
            log(f"grace: {GRACE:g} s for late frames")
            await trio.sleep(GRACE)
        outcome.phases = [summarize(span, clients, ticks) for span in spans]
        log("closing the websocket clients")
        await close_all(clients)
        nursery.cancel_scope.cancel()
    if connected and cfg.list_requests:
        for name in ("catalogue", "health"):
            await trio.sleep(PHASE_GAP)
            cell, _ = await http_cell(cfg, name, name)
            outcome.cells.append(cell)
    return outcome


def opt(value: float | None, digits: int = 1) -> str:
    """A number cell of a table, ``-`` for none."""
    return "-" if value is None else f"{value:.{digits}f}"


def phase_tables(phases: Sequence[Phase]) -> list[str]:
    """Delivery per phase, then the delay percentiles per phase."""
    header = ["phase", "clients", "ticks", "frames/s", "bytes", "share mean%", "share min%"]
    header.append("complete")
    header += ["merged", "missing", "disconnects", "srv cpu%", "drv cpu%", "other cpu%"]
    rows = [header]
    for p in phases:
        row = [p.name, str(p.clients), str(p.ticks), f"{p.frames_per_s:.1f}"]
        row.append("-" if p.frame_bytes is None else str(p.frame_bytes))
        row += [opt(p.share_mean_pct, 2), opt(p.share_min_pct, 2), str(p.complete_clients)]
        row += [str(p.merged_pairs), str(p.missing_pairs), str(p.disconnects)]
        row += [opt(p.server_cpu_pct), opt(p.driver_cpu_pct), opt(p.other_cpu_pct)]
        rows.append(row)
    lines = align(rows)
    lines.append(
        f"(cpu: percent of one core, {os.cpu_count()} here; other = the rest of the machine; "
        "share: of the phase's ticks)"
    )
    lines.append("")
    header = ["delay from tick time", "recv p50", "p95", "p99", "max"]
    header += ["arrival p50", "p95", "p99", "max"]
    rows = [header]
    for p in phases:
        row = [p.name, ms(p.recv_p50_ms), ms(p.recv_p95_ms), ms(p.recv_p99_ms), ms(p.recv_max_ms)]
        row += [ms(p.arrival_p50_ms), ms(p.arrival_p95_ms), ms(p.arrival_p99_ms)]
        row.append(ms(p.arrival_max_ms))
        rows.append(row)
    lines += align(rows)
    lines.append(
        "(bytes: mean tick message; delays in ms: recv = read by the driver, "
        "arrival = queued by the kernel)"
    )
    for p in phases:
        if p.slowest_tick_seq is not None:
            lines.append(
                f"slowest tick in {p.name}: seq {p.slowest_tick_seq}, "
                f"median delay {ms(p.slowest_tick_p50_ms)} ms"
            )
    for p in phases:
        if p.close_codes:
            codes = " ".join(f"{code}={count}" for code, count in p.close_codes.items())
            lines.append(f"closed during {p.name}: {codes}")
    return lines


def disconnects(clients: Sequence[WsClient]) -> list[Disconnect]:
    """Clients that ended other than by the driver's close, grouped by code and reason."""
    found = Counter(
        (c.close_code or "?", c.close_reason) for c in clients if c.close_code and not c.closing
    )
    return [Disconnect(code, reason, n) for (code, reason), n in found.most_common()]


def report(cfg: Config, outcome: Outcome, run_id: str, started: str) -> int:
    """Print the tables, write ``--json`` if asked; the exit status."""
    clients = outcome.clients
    connected = sum(c.ready_ns is not None for c in clients)
    timestamps = any(c.timestamps for c in clients)
    lost = disconnects(clients)
    out_of_order = sum(c.out_of_order for c in clients)
    if clients:
        print(
            f"fan-out: {connected}/{cfg.clients} clients connected in "
            f"{outcome.ramp_seconds:.1f} s (batches of {cfg.batch}); "
            f"with no client: server cpu {opt(outcome.idle_server_cpu_pct)}%, "
            f"other processes {opt(outcome.idle_other_cpu_pct)}%"
        )
    if outcome.phases:
        print("\n".join(phase_tables(outcome.phases)))
    for item in lost:
        print(f"disconnected: {item.clients} clients, code {item.code}: {item.reason}")
    if out_of_order:
        print(f"out-of-order or repeated tick frames: {out_of_order}")
    if outcome.cells:
        print()
        print(load.table(outcome.cells, cfg.server_pid is not None))
        print(f"(name+ws: while the websocket clients are connected; x{cfg.http_clients} clients)")
    for failure in outcome.failures:
        log(failure)
    if cfg.json is not None:
        body = Report(
            run_id=run_id,
            url=cfg.url,
            started=started,
            clients=cfg.clients,
            batch=cfg.batch,
            duration=cfg.duration,
            connected=connected,
            ramp_seconds=round(outcome.ramp_seconds, 3),
            kernel_timestamps=timestamps,
            idle_server_cpu_pct=outcome.idle_server_cpu_pct,
            idle_other_cpu_pct=outcome.idle_other_cpu_pct,
            phases=outcome.phases,
            http=outcome.cells,
            disconnects=lost,
            out_of_order=out_of_order,
            failures=outcome.failures,
        )
        cfg.json.write_bytes(msgspec.json.format(msgspec.json.encode(body), indent=2) + b"\n")
    return 1 if outcome.failures else 0


def raise_fd_limit() -> int:
    """Raise this process's soft file-descriptor limit to the hard one; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def server_fd_limit(pid: int) -> int | None:
    """The soft ``Max open files`` of process ``pid``, if it can be read."""
    try:
        text = Path(f"/proc/{pid}/limits").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Max open files"):
            value = line.split()[3]
            return int(value) if value.isdigit() else None
    return None


def positive_int(text: str) -> int:
    """Parse a positive integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def parse_args(argv: Sequence[str] | None) -> tuple[Config, bool]:
    """Read and check the command line; the config and whether to start a server."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.fanout",
        description="Connect many /ws/prices clients on loopback and measure tick delivery.",
    )
    parser.add_argument("--url", help="loopback server URL (default http://127.0.0.1:8080)")
    parser.add_argument(
        "--start-server",
        action="store_true",
        help="start a fresh exchange serve (temp db, 1 s ticks) and stop it at the end",
    )
    parser.add_argument("--clients", type=positive_int, default=1000, help="websocket clients")
    parser.add_argument("--duration", type=load.seconds, default=30.0, help="measured seconds")
    parser.add_argument("--batch", type=positive_int, default=50, help="connections at a time")
    parser.add_argument(
        "--connect-timeout", type=load.seconds, default=10.0, help="seconds to get a snapshot"
    )
    parser.add_argument(
        "--list-requests",
        action="store_true",
        help="then also measure GET /api/v1/inventory/assets and GET /health req/s",
    )
    parser.add_argument(
        "--http-clients", type=positive_int, default=50, help="HTTP clients (default 50)"
    )
    parser.add_argument(
        "--http-duration", type=load.seconds, default=10.0, help="seconds per HTTP cell"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument(
        "--server-pid", type=int, help="report the CPU use of this process and its children"
    )
    args = parser.parse_args(argv)
    if args.start_server and (args.url is not None or args.server_pid is not None):
        parser.error("--start-server picks --url and --server-pid itself")
    url = args.url or "http://127.0.0.1:8080"
    try:
        target = load.parse_target(url)
    except ValueError as exc:
        parser.exit(2, f"{parser.prog}: {exc}\n")
    if args.duration <= 0 or args.connect_timeout <= 0 or args.http_duration <= 0:
        parser.error("--duration, --connect-timeout and --http-duration must be positive")
    fds = raise_fd_limit()
    if args.clients > min(MAX_CLIENTS, fds - SPARE_FDS - args.http_clients):
        parser.error(f"--clients {args.clients} is more than the file-descriptor limit allows")
    if args.server_pid is not None:
        if load.cpu_seconds(args.server_pid) is None:
            parser.error(f"cannot read /proc/{args.server_pid}/stat")
        limit = server_fd_limit(args.server_pid)
        if limit is not None and limit < args.clients + args.http_clients + SPARE_FDS:
            log(f"warning: the server may open only {limit} files")
    cfg = Config(
        target=target,
        url=url,
        clients=args.clients,
        duration=args.duration,
        batch=args.batch,
        connect_timeout=args.connect_timeout,
        json=args.json,
        server_pid=args.server_pid,
        list_requests=args.list_requests,
        http_clients=args.http_clients,
        http_duration=args.http_duration,
    )
    return cfg, args.start_server


def execute(cfg: Config) -> int:
    """Run the benchmark against ``cfg.url`` and print the results."""
    run_id = secrets.token_hex(4)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    log(f"run {run_id} against {cfg.url}")
    outcome = trio.run(bench, cfg)
    return report(cfg, outcome, run_id, started)


class Drain:
    """Reads the server's output in a thread so a full pipe never blocks it; keeps the tail."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines = 0
        self.tail: deque[str] = deque(maxlen=20)
        self._process = process
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.lines += 1
            self.tail.append(line.rstrip("\n"))

    def join(self) -> None:
        """Wait briefly for the end of the output."""
        self._thread.join(timeout=5)


def server_env(cfg: Config) -> dict[str, str]:
    """A started server's settings: 1 s ticks, room for every client, no per-IP rate limit."""
    return {
        "EXCHANGE_TICK_INTERVAL": "1.0",
        "EXCHANGE_MAX_WEBSOCKETS": str(max(SERVER_MAX_WEBSOCKETS, cfg.clients)),
        # All clients share 127.0.0.1, so the limit would measure itself, not the endpoints.
        "EXCHANGE_RATE_LIMIT_PER_MINUTE": "0",
    }


def with_server(cfg: Config) -> int:
    """Start a fresh server, run the benchmark against it, stop it with SIGTERM."""
    with tempfile.TemporaryDirectory(prefix="exchange-bench-") as workdir:
        process, url = run.start_server(workdir, server_env(cfg))
        drain = Drain(process)
        try:
            log(f"server pid {process.pid} at {url}")
            cfg = replace(cfg, target=load.parse_target(url), url=url, server_pid=process.pid)
            return execute(cfg)
        finally:
            code = run.stop_server(process, STOP_TIMEOUT)
            drain.join()
            log(f"server exited with {code}; {drain.lines} lines of output after start")
            for line in drain.tail:
                log(f"  server: {line}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fan-out benchmark, against a fresh server with ``--start-server``."""
    cfg, start = parse_args(argv)
    return with_server(cfg) if start else execute(cfg)


if __name__ == "__main__":
    sys.exit(main())
