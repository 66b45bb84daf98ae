"""Server memory under a password-hashing burst: RSS idle, during and after, read from /proc.

Usage: ``python -m bench.rss [--users 1000] [--clients 40] [--settle 5] [--json out.json]``.

It starts a fresh ``exchange serve`` on a free loopback port with a temporary database and the
shipped scrypt cost, reads the server's ``VmRSS`` once it is idle, then has ``--clients``
keep-alive clients register ``--users`` users between them (every registration hashes a
password), then log each one in (every login hashes again). While each burst runs, ``VmRSS`` is
sampled every ``--interval`` seconds; ``VmHWM`` (the kernel's own peak of resident memory, so no
spike between samples is missed) is read at the end. ``--settle`` seconds after the bursts the
resident size is read again, and the server is stopped with SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import trio

from bench.load import PASSWORD, Conn, Target, parse_target
from bench.run import start_server, stop_server

# A registration waits behind the others' hashes; this is far beyond any fair wait.
REQUEST_TIMEOUT = 120.0


@dataclass
class Memory:
    """Resident memory of one process at one instant, in MiB."""

    rss: float
    hwm: float


def memory(pid: int) -> Memory:
    """``VmRSS`` and ``VmHWM`` of ``pid`` from ``/proc/<pid>/status``."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024  # reported in kB
    return Memory(rss=fields["VmRSS"], hwm=fields["VmHWM"])


@dataclass
class Burst:
    """One burst of hashing requests and the memory it took."""

    name: str
    requests: int
    seconds: float
    max_latency: float
    sampled_peak_rss: float
    hwm_after: float


@dataclass
class Report:
    """Every figure of one run, in MiB and seconds."""

    users: int
    clients: int
    idle_rss: float
    idle_hwm: float
    bursts: list[Burst]
    settled_rss: float
    settle_seconds: float


def account(user: str) -> dict[str, str]:
    """The registration body of one throwaway user."""
    return {
        "username": user,
        "email": f"{user}@example.com",
        "password": PASSWORD,
        "first_name": "Bench",
        "last_name": "User",
    }


async def burst(
    target: Target, pid: int, name: str, requests: list[bytes], clients: int, interval: float
) -> Burst:
    """Send ``requests`` over ``clients`` connections while sampling the server's RSS."""
    todo: Iterator[bytes] = iter(requests)
    latencies: list[float] = []
    peak = memory(pid).rss

    async def client() -> None:
        conn = Conn(target)
        try:
            for request in todo:
                started = time.perf_counter()
                with trio.fail_after(REQUEST_TIMEOUT):
                    status, body = await conn.request(request)
                if status not in (200, 201):
                    raise SystemExit(f"{name}: HTTP {status}: {body[:200]!r}")
                latencies.append(time.perf_counter() - started)
        finally:
            await conn.aclose()

    async def sampler(done: trio.Event) -> None:
        nonlocal peak
        while not done.is_set():
            # /proc reads are served from memory and never block, so the event loop can do them.
            peak = max(peak, memory(pid).rss)
            with trio.move_on_after(interval):
                await done.wait()

    started = time.perf_counter()
    done = trio.Event()
    async with trio.open_nursery() as outer:
        outer.start_soon(sampler, done)
        async with trio.open_nursery() as nursery:
            for _ in range(clients):
                nursery.start_soon(client)
        done.set()
    elapsed = time.perf_counter() - started
    after = memory(pid)
    return Burst(name, len(latencies), elapsed, max(latencies), max(peak, after.rss), after.hwm)


async def measure(
    url: str, pid: int, users: int, clients: int, settle: float, interval: float
) -> Report:
    """Idle, burst and settled memory of the server at ``url``."""
    target = parse_target(url)
    await trio.sleep(settle)  # let start-up (history synthesis, first ticks) finish
    idle = memory(pid)
    names = [f"rss_{n:05d}" for n in range(users)]
    register = [target.build("POST", "/api/v1/auth/register", account(u)) for u in names]
    login = [
        target.build("POST", "/api/v1/auth/login", {"username": u, "password": PASSWORD})
        for u in names
    ]
    bursts = [
        await burst(target, pid, "register", register, clients, interval),
        await burst(target, pid, "login", login, clients, interval),
    ]
    await trio.sleep(settle)
    return Report(users, clients, idle.rss, idle.hwm, bursts, memory(pid).rss, settle)


def show(report: Report) -> None:
    """Print the figures as a short table."""
    print(f"{report.users} users, {report.clients} concurrent clients (RSS in MiB)")
    print(f"idle                  RSS {report.idle_rss:7.1f}   peak so far {report.idle_hwm:7.1f}")
    for b in report.bursts:
        print(
            f"{b.name:<9} burst       peak RSS {b.sampled_peak_rss:7.1f}   VmHWM {b.hwm_after:7.1f}"
            f"   {b.requests} requests in {b.seconds:.1f} s, slowest {b.max_latency:.2f} s"
        )
    print(f"after ({report.settle_seconds:g} s idle)    RSS {report.settled_rss:7.1f}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the measurement against a fresh server."""
    parser = argparse.ArgumentParser(prog="python -m bench.rss", description=__doc__)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--settle", type=float, default=5.0, help="idle seconds before and after")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between samples")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.users < 1 or args.clients < 1:
        parser.error("--users and --clients must be positive")
    # Every client is 127.0.0.1, so the per-IP limit is raised so that none is refused.
    env = {"EXCHANGE_RATE_LIMIT_PER_MINUTE": str(10**9)}
    with tempfile.TemporaryDirectory(prefix="exchange-rss-") as workdir:
        process, url = start_server(workdir, env)
        try:
            print(f"server pid {process.pid} at {url}", file=sys.stderr, flush=True)
            report = trio.run(
                measure, url, process.pid, args.users, args.clients, args.settle, args.interval
            )
        finally:
            stop_server(process)
    show(report)
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
