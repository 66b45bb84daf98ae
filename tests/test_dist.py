"""The one-file build ``dist/exchange``, run from an empty directory with no virtualenv on PATH.

``make test-dist`` builds it and runs this module with ``EXCHANGE_DIST_BINARY`` naming the file;
without that variable (a plain ``make test``) the module is skipped, since building takes a
minute or two.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import trio

from tests.conftest import PASSWORD, user_body
from tests.live import open_program, read_rest, serve_args

BINARY = os.environ.get("EXCHANGE_DIST_BINARY", "")
MAX_BYTES = 60 * 1024 * 1024
# The path a landing page is served at; until the pages exist it is the JSON 404 and the
# offline API documentation stands in for it (see test_the_landing_page_or_the_docs_answer).
LANDING_PAGE = "/"

# `make test` leaves this file out; `make test-dist` builds the binary and names it here.
if not BINARY:
    pytest.fail("set EXCHANGE_DIST_BINARY (make test-dist builds dist/exchange and does)")


def bare_environment(home: Path) -> dict[str, str]:
    """Only system directories on PATH: no virtualenv, no Python of the project."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "EXCHANGE_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def empty_dir(tmp_path: Path) -> Path:
    """An empty directory holding only a copy of the binary."""
    where = tmp_path / "class"
    where.mkdir()
    shutil.copy2(BINARY, where / "exchange")
    return where


async def run(where: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """The copied binary run with ``args`` in ``where``, its output captured."""
    return await trio.run_process(
        [str(where / "exchange"), *args],
        cwd=where,
        env=bare_environment(where),
        capture_stdout=True,
        stderr=subprocess.STDOUT,
        check=False,
    )


def test_the_file_is_small_enough() -> None:
    size = Path(BINARY).stat().st_size
    print(f"\ndist/exchange: {size / 1024 / 1024:.1f} MiB")
    assert size < MAX_BYTES


async def test_every_subcommand_runs(empty_dir: Path) -> None:
    done = await run(empty_dir, "--help")
    assert done.returncode == 0, done.stdout.decode()
    found = re.search(r"\{([a-z,-]+)\}", done.stdout.decode())
    assert found, done.stdout.decode()
    subcommands = found.group(1).split(",")
    assert {"serve", "verify"} <= set(subcommands)
    for name in subcommands:
        helped = await run(empty_dir, name, "--help")
        assert helped.returncode == 0, f"{name}: {helped.stdout.decode()}"
    missing = await run(empty_dir, "verify", "--db", "nothing.db")
    assert missing.returncode == 2 and b"no database" in missing.stdout


async def test_serve_deposit_verify_and_a_clean_sigterm(empty_dir: Path) -> None:
    db = empty_dir / "exchange.db"
    started = time.monotonic()
    argv = [str(empty_dir / "exchange"), *serve_args(db)]
    async with open_program(db, argv, bare_environment(empty_dir)) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            while True:
                try:
                    health = await http.get("/health")
                    break
                except httpx.TransportError:
                    await trio.sleep(0.02)
            ready = time.monotonic() - started
            print(f"\nfirst start (fresh database) to /health answering: {ready:.2f} s")
            assert health.json()["status"] == "healthy"
            await check_landing_page(http)
            assert (await http.post("/api/v1/auth/register", json=user_body())).status_code == 201
            login = await http.post(
                "/api/v1/auth/login", json={"username": "alice_01", "password": PASSWORD}
            )
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            deposit = await http.post(
                "/api/v1/balance/deposit", json={"amount": "100.50"}, headers=headers
            )
            assert deposit.status_code == 201, deposit.text
            balance = await http.get("/api/v1/balance", headers=headers)
            assert balance.json()["current_balance"] == "100.50"
            assets = (await http.get("/api/v1/inventory/assets?limit=1")).json()["data"]
            assert assets and assets[0]["image"].endswith("/image.svg"), "the shipped catalogue"
        server.process.send_signal(signal.SIGTERM)
        with trio.fail_after(15):
            await server.process.wait()
        assert server.process.returncode == 0
        assert "Exchange stopped." in await read_rest(server)
    verified = await run(empty_dir, "verify", "--db", str(db))
    assert verified.returncode == 0, verified.stdout.decode()
    assert b"ok: 1 accounts" in verified.stdout
    left = sorted(p.name for p in await trio.Path(empty_dir).iterdir())
    assert left == [".exchange-jwt-secret", "exchange", "exchange.db"], "only the database is left"

    started = time.monotonic()
    async with open_program(db, argv, bare_environment(empty_dir)) as server:
        print(f"second start (existing database) to serving: {time.monotonic() - started:.2f} s")


SHORT_STORY = """
name = "short-story"
description = "Ten simulated minutes with a headline and a few bots."
duration = "10m"
tick_interval = 1.0
seed = 7
starting_cash = 10000
assets = ["BTC", "ETH"]
notes = "Teaching note: a smoke test of the one-file build."

[[timeline]]
at = "2m"
kind = "news"
headline = "A headline in the middle"

[[bots]]
kind = "noise"
count = 3
cash = 5000
params = { assets = ["BTC", "ETH"], rate = 0.05, usd_min = 50, usd_max = 400 }
"""


async def test_a_short_scenario_runs_and_the_bundled_ones_are_listed(empty_dir: Path) -> None:
    listed = await run(empty_dir, "scenario", "list")
    assert listed.returncode == 0, listed.stdout.decode()
    assert b"flash-crash" in listed.stdout, "the bundled scenarios are in the file"
    story = empty_dir / "short.toml"
    story.write_text(SHORT_STORY)
    done = await run(empty_dir, "scenario", "run", str(story), "--out", "out", "--quiet")
    assert done.returncode == 0, done.stdout.decode()
    written = sorted(p.name for p in (empty_dir / "out").iterdir())
    assert {"report.html", "summary.json", "trades.csv", "leaderboard.csv"} <= set(written)


async def check_landing_page(http: httpx.AsyncClient) -> None:
    """The landing page answers HTML; until it exists, ``/docs`` must."""
    landing = await http.get(LANDING_PAGE)
    if landing.status_code == 200:
        assert landing.headers["content-type"].startswith("text/html")
        return
    assert landing.status_code == 404 and landing.json()["code"] == "not_found"
    docs = await http.get("/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert (await http.get("/openapi.json")).json()["paths"]
