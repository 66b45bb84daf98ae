"""The browser front end, measured: page server time, tick-to-screen, and first-load weight.

Usage: ``python -m bench.browser [--clients 10] [--duration 5] [--ticks 60]``. Starts a fresh
``exchange serve`` (its own temporary database) and drives it three ways:

* **page server time**: ``--clients`` concurrent keep-alive clients, each with a session cookie,
  request each page's HTML for ``--duration`` seconds; p50/p95/p99 per page measured at the
  client on loopback (so it includes queueing and the client's own share of the two cores),
  and p50/p95 of the server's own ``Server-Timing`` (first hook to last, gzip included);
* **tick-to-screen**: the machine's Chromium opens ``/market?per=all`` (all 112 rows live) for
  ``--ticks`` ticks; for each tick, the time from the tick's server timestamp to the frame
  after the page updated its cells (``requestAnimationFrame``), and the page's own script time
  per tick (``performance.now()`` around its handler);
* **first-load weight**: bytes transferred (encoded bodies plus headers) for a first visit to
  ``/market`` with an empty cache, and how much of it was compressed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import httpx
import trio

from bench.run import start_server, stop_server
from tests.browser.harness import CHROMIUM, chromium_args

PASSWORD = "Secret-Passw0rd"  # noqa: S105 - a throwaway user of a throwaway server
PAGES = [
    "/",
    "/login",
    "/register",
    "/market",
    "/assets/BTC",
    "/dashboard",
    "/trade",
    "/orders",
    "/portfolio",
    "/account",
    "/profile",
    "/docs",
]


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def session_cookie(url: str) -> str:
    """Register a user and open a browser session; the session cookie's value."""
    with httpx.Client(base_url=url) as client:
        body = {
            "username": "bench_user",
            "email": "bench@example.com",
            "password": PASSWORD,
            "first_name": "Bench",
            "last_name": "User",
        }
        client.post("/api/v1/auth/register", json=body)
        answer = client.post(
            "/api/v1/auth/session", json={"username": "bench_user", "password": PASSWORD}
        )
        answer.raise_for_status()
        return answer.cookies["exchange_session"]


async def page_times(url: str, cookie: str, clients: int, duration: float) -> dict[str, Any]:
    """Latency of each page's HTML under ``clients`` concurrent clients."""
    results: dict[str, Any] = {}
    for path in PAGES:
        samples: list[float] = []
        server: list[float] = []

        async def client(
            path: str = path, samples: list[float] = samples, server: list[float] = server
        ) -> None:
            async with httpx.AsyncClient(
                base_url=url, cookies={"exchange_session": cookie}
            ) as http:
                end = time.perf_counter() + duration
                while time.perf_counter() < end:
                    began = time.perf_counter()
                    response = await http.get(path)
                    samples.append((time.perf_counter() - began) * 1000)
                    timing = response.headers.get("Server-Timing", "")
                    if "dur=" in timing:
                        server.append(float(timing.split("dur=", 1)[1]))
                    if response.status_code != 200:
                        raise SystemExit(f"{path}: HTTP {response.status_code}")

        async with trio.open_nursery() as nursery:
            for _ in range(clients):
                nursery.start_soon(client)
        results[path] = {
            "requests": len(samples),
            "p50_ms": round(quantile(samples, 0.50), 2),
            "p95_ms": round(quantile(samples, 0.95), 2),
            "p99_ms": round(quantile(samples, 0.99), 2),
            "server_p50_ms": round(quantile(server, 0.50), 2),
            "server_p95_ms": round(quantile(server, 0.95), 2),
        }
    return results


def browser_figures(url: str, cookie: str, ticks: int) -> dict[str, Any]:
    """Tick-to-screen and script time on the market page, and its first-load weight."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=chromium_args())
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.add_cookies([{"name": "exchange_session", "value": cookie, "url": url}])
        page = context.new_page()
        transferred: list[tuple[str, int, str]] = []

        def finished(request: Any) -> None:
            sizes = request.sizes()
            response = request.response()
            encoding = response.headers.get("content-encoding", "") if response else ""
            transferred.append(
                (request.url, sizes["responseBodySize"] + sizes["responseHeadersSize"], encoding)
            )

        page.on("requestfinished", finished)
        page.goto(url + "/market?per=all", wait_until="networkidle")
        weight = sum(size for _, size, _ in transferred)
        compressed = sum(size for _, size, enc in transferred if enc == "gzip")
        # market.js stamps each tick with the time of the next animation frame after it.
        deadline = time.monotonic() + ticks * 1.5 + 10
        while time.monotonic() < deadline:
            count = page.evaluate("window.__tickStats.filter(s => s.paintedAt).length")
            if count >= ticks:
                break
            page.wait_for_timeout(500)
        stats = page.evaluate("window.__tickStats.filter(s => s.paintedAt)")
        rows = page.evaluate("document.querySelectorAll('#market tbody tr').length")
        browser.close()
    latency = [s["paintedAt"] - s["serverTime"] for s in stats]
    script = [s["scriptMs"] for s in stats]
    return {
        "rows_live": rows,
        "ticks": len(stats),
        "tick_to_screen_p50_ms": round(quantile(latency, 0.5), 1),
        "tick_to_screen_p99_ms": round(quantile(latency, 0.99), 1),
        "script_ms_per_tick_mean": round(statistics.fmean(script), 3),
        "script_ms_per_tick_p99": round(quantile(script, 0.99), 3),
        "first_load_bytes": weight,
        "first_load_gzip_bytes": compressed,
        "first_load_requests": len(transferred),
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Run the three measurements against a fresh server and print them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--ticks", type=int, default=60)
    parser.add_argument("--tick-interval", default="0.5")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="exchange-bench-") as workdir:
        process, url = start_server(
            workdir,
            {
                "EXCHANGE_RATE_LIMIT_PER_MINUTE": str(10**9),
                "EXCHANGE_TICK_INTERVAL": args.tick_interval,
                "EXCHANGE_HISTORY_DAYS": "8",
            },
        )
        try:
            cookie = session_cookie(url)
            pages = trio.run(page_times, url, cookie, args.clients, args.duration)
            figures = browser_figures(url, cookie, args.ticks)
        finally:
            stop_server(process)
    print(json.dumps({"pages": pages, "market": figures}, indent=2))


if __name__ == "__main__":
    main()
