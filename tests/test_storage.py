"""Storage failures: a commit the database refuses answers 503 and leaves memory equal to disk.

The database file is made "full" without root with SQLite's ``max_page_count`` (the file may
not grow by a page), and space comes back by raising it again.
"""

from __future__ import annotations

import resource
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

import exchange.store
from exchange.engine import Exchange, open_exchange
from exchange.errors import StorageUnavailable
from exchange.money import QTY_SCALE
from exchange.orders import OrderRequest
from exchange.store import FAILING_HOLD, Store
from tests.conftest import PASSWORD, engine_settings, signed_up, user_body
from tests.live import command, open_server, server_env
from tests.trading_helpers import (
    DEPOSIT,
    DOLLAR,
    add_user,
    running_app,
    settle,
    small_catalogue,
)

# More writes than one batch of the store takes (2048): the tail lands in a later batch.
PIPELINE = 2100
NO_LIMIT = 1_073_741_823
FAILED_METRIC = "exchange_store_failed_commits_total "


def fill(store: Store) -> None:
    """Make the database full: from now on it cannot grow by a single page."""
    row = store.read_one("PRAGMA page_count")
    assert row is not None
    store.read(f"PRAGMA max_page_count = {int(row[0])}")


def make_room(store: Store) -> None:
    """Space is back."""
    store.read(f"PRAGMA max_page_count = {NO_LIMIT}")


def disk_cash(store: Store, username: str) -> tuple[int, int]:
    """Cash and reserved cash as committed."""
    row = store.read_one("SELECT cash, reserved FROM accounts WHERE username = ?", (username,))
    assert row is not None
    return int(row[0]), int(row[1])


async def deposit_until_refused(exchange: Exchange, username: str) -> int:
    """Deposit a cent at a time until the full database refuses one; the count committed."""
    for committed in range(2000):
        try:
            await exchange.deposit(username, 1)
        except StorageUnavailable:
            return committed
    raise AssertionError("the database never filled up")


async def test_a_refused_batch_and_the_writes_decided_after_it_leave_no_trace(
    tmp_path: Path,
) -> None:
    async with open_exchange(engine_settings(tmp_path, account_inbox_size=4096)) as running:
        await add_user(running, "alice")
        await running.deposit("alice", 100 * DOLLAR)
        store = running.store
        fill(store)
        outcomes: list[str] = []

        async def deposit() -> None:
            try:
                await running.deposit("alice", 1)
            except StorageUnavailable as refused:
                assert refused.status == 503
                outcomes.append("refused")
                # Space comes back before the store takes its next batch: the tail of the
                # pipeline would fit, but it was decided on deposits that never reached disk.
                make_room(store)
            else:
                outcomes.append("committed")

        async with trio.open_nursery() as nursery:
            for _ in range(PIPELINE):
                nursery.start_soon(deposit)
        assert outcomes == ["refused"] * PIPELINE
        # One batch failed; the writes after it were refused although they would have fit.
        assert store.stats.failed_commits == 1
        assert store.stats.refused_writes == PIPELINE
        # Memory was rolled back to what the disk holds; the ledger still adds up.
        assert (await running.balance("alice")).cash == 100 * DOLLAR
        assert disk_cash(store, "alice") == (100 * DOLLAR, 0)
        assert running.verify() == []
        assert store.unavailable() is not None
        # Writes succeed again by themselves, on the committed balance.
        entry = await running.deposit("alice", 1)
        assert entry.balance_after == 100 * DOLLAR + 1
        assert disk_cash(store, "alice") == (100 * DOLLAR + 1, 0)
        assert running.verify() == []
        (count,) = store.read_one("SELECT COUNT(*) FROM transactions") or (0,)
        assert count == 2


async def test_refused_orders_leave_the_book_and_the_reservations_as_on_disk(
    tmp_path: Path,
) -> None:
    async with open_exchange(engine_settings(tmp_path, account_inbox_size=4096)) as running:
        await add_user(running, "alice")
        await running.deposit("alice", 5_000 * DOLLAR)
        half = running.quote("BTC").price // 2
        resting = await running.place_order(
            "alice", OrderRequest("limit_buy", "BTC", QTY_SCALE // 100, price=half)
        )
        assert len(running.triggers) == 1
        before = await running.portfolio("alice")
        assert before.reserved > 0
        retried = OrderRequest(
            "limit_buy", "BTC", QTY_SCALE // 100, price=half, client_order_id="again"
        )
        store = running.store
        fill(store)
        refused: list[str] = []

        async def attempt(name: str, command: Any) -> None:
            try:
                await command
            except StorageUnavailable:
                refused.append(name)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(attempt, "cancel", running.cancel_order("alice", resting.order_id))
            # The second is a retry of the first (same client order id) while it is in flight.
            nursery.start_soon(attempt, "place", running.place_order("alice", retried))
            nursery.start_soon(attempt, "place", running.place_order("alice", retried))
            for _ in range(PIPELINE):
                nursery.start_soon(attempt, "deposit", running.deposit("alice", 1))
        assert sorted(set(refused)) == ["cancel", "deposit", "place"]
        assert len(refused) == PIPELINE + 3
        # Without another command, the actor has put the book back as it is on disk: the
        # cancelled order is armed again, the new one is not.
        await settle()
        assert resting.order_id in running.triggers
        assert len(running.triggers) == 1
        assert await running.portfolio("alice") == before
        assert running.order("alice", resting.order_id).status == "pending"
        assert disk_cash(store, "alice") == (before.cash, before.reserved)
        make_room(store)
        # A retry of the refused order is a new order, not a memory of the refused one.
        placed = await running.place_order("alice", retried)
        assert running.order("alice", placed.order_id).status == "pending"
        assert len(running.triggers) == 2
        assert running.verify() == []


async def test_a_lock_held_by_another_process_refuses_writes_and_then_lets_them_through(
    tmp_path: Path,
) -> None:
    settings = engine_settings(tmp_path)
    async with open_exchange(settings) as running:
        await add_user(running, "alice")
        await running.deposit("alice", 10 * DOLLAR)
        other = sqlite3.connect(settings.db, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(StorageUnavailable, match="locked"):
                await running.deposit("alice", 5 * DOLLAR)
            assert (await running.balance("alice")).cash == 10 * DOLLAR
            other.execute("ROLLBACK")
        finally:
            other.close()
        entry = await running.deposit("alice", 5 * DOLLAR)
        assert entry.balance_after == 15 * DOLLAR
        assert running.verify() == []


async def test_a_restart_on_a_full_disk_serves_reads_refuses_writes_and_catches_up(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    one = small_catalogue(tmp_path, "BTC")
    async with open_exchange(engine_settings(tmp_path, catalogue=one)) as running:
        await add_user(running, "alice")
        await running.deposit("alice", 100 * DOLLAR)
    # The restart adds an asset whose day of history must be saved at start: the first write.
    (tmp_path / "two").mkdir()
    two = small_catalogue(tmp_path / "two", "BTC", "ETH")
    real_connect = exchange.store.connect

    def full_connect(path: str, synchronous: str = "NORMAL") -> sqlite3.Connection:
        conn = real_connect(path, synchronous)
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
        conn.execute(f"PRAGMA max_page_count = {int(pages)}")
        return conn

    monkeypatch.setattr(exchange.store, "connect", full_connect)
    settings = engine_settings(tmp_path, catalogue=two, history_days=1)
    async with open_exchange(settings) as running:
        store = running.store
        assert store.unavailable() is not None
        assert running.market("ETH").price > 0
        assert (await running.balance("alice")).cash == 100 * DOLLAR
        committed = await deposit_until_refused(running, "alice")
        assert (await running.balance("alice")).cash == 100 * DOLLAR + committed
        (saved,) = store.read_one("SELECT COUNT(*) FROM candles WHERE asset_id = 'ETH'") or (0,)
        assert saved == 0
        # Still full at the next tick: the feed's writes are refused, and it goes on ticking.
        await trio.sleep(settings.tick_interval)
        make_room(store)
        # One tick's write finds the space, the next one catches up.
        await trio.sleep(2 * settings.tick_interval)
        saved = set(store.read("SELECT width, start FROM candles WHERE asset_id = 'ETH'"))
        # Every closed candle in memory is on disk now (the last of a series may be open).
        closed = {
            (series.width, row[0])
            for series in running.feed.markets["ETH"].series.values()
            for row in list(series.rows())[:-1]
        }
        assert len(closed) > 100
        assert closed <= saved
        assert store.read_one("SELECT 1 FROM markets WHERE asset_id = 'ETH'") == (1,)
        entry = await running.deposit("alice", 1)
        assert entry.balance_after == 100 * DOLLAR + committed + 1
        assert running.verify() == []
        await trio.sleep(FAILING_HOLD + settings.tick_interval)
    # Many refused commits, some fitting ones in between: one line when it starts, one at the end.
    lines = [r.getMessage() for r in caplog.records if r.name == "exchange.store"]
    assert [line.split(":")[0] for line in lines] == [
        "storage unavailable",
        "storage available again",
    ]


async def test_http_a_full_disk_answers_503_keeps_reads_and_recovers_by_itself(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with running_app(tmp_path) as (running, client):
        headers = await signed_up(client)
        fill(running.store)
        acknowledged = 0
        for _ in range(2000):
            response = await client.post(DEPOSIT, json={"amount": "1.00"}, headers=headers)
            if response.status_code != 201:
                break
            acknowledged += 1
        assert response.status_code == 503
        body = await response.get_json()
        assert body["code"] == "storage_unavailable"
        assert response.headers["Retry-After"] == "5"
        balance = await client.get("/api/v1/balance", headers=headers)
        assert balance.status_code == 200
        assert (await balance.get_json())["current_balance"] == f"{acknowledged}.00"
        health = await client.get("/health")
        assert health.status_code == 503
        assert (await health.get_json())["checks"]["storage"] == "failing"
        metrics = await (await client.get("/metrics")).get_data(as_text=True)
        failed = [line for line in metrics.splitlines() if line.startswith(FAILED_METRIC)]
        assert len(failed) == 1
        assert float(failed[0].split()[1]) >= 1

        make_room(running.store)
        response = await client.post(DEPOSIT, json={"amount": "1.00"}, headers=headers)
        assert response.status_code == 201
        balance = await client.get("/api/v1/balance", headers=headers)
        assert (await balance.get_json())["current_balance"] == f"{acknowledged + 1}.00"
        await trio.sleep(FAILING_HOLD)
        health = await client.get("/health")
        assert health.status_code == 200
        assert (await health.get_json())["checks"]["storage"] == "ok"
        assert running.verify() == []


async def test_live_a_server_whose_files_cannot_grow_answers_503_and_lives_on(
    tmp_path: Path,
) -> None:
    db = tmp_path / "exchange.db"
    async with open_server(db) as server, httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post("/api/v1/auth/register", json=user_body("alice_01"))
        assert response.status_code == 201
        response = await http.post(
            "/api/v1/auth/login", json={"username": "alice_01", "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        response = await http.post(DEPOSIT, json={"amount": "10.00"}, headers=headers)
        assert response.status_code == 201
        # A real write error, not a simulation: the server's files may not grow at all (the
        # kernel answers EFBIG, SQLite SQLITE_IOERR_WRITE), as on a disk without a free block.
        pid = server.process.pid
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))
        response = await http.post(DEPOSIT, json={"amount": "5.00"}, headers=headers)
        assert response.status_code == 503
        assert response.json()["code"] == "storage_unavailable"
        assert response.headers["Retry-After"] == "5"
        balance = await http.get("/api/v1/balance", headers=headers)
        assert balance.json()["current_balance"] == "10.00"
        health = await http.get("/health")
        assert health.status_code == 503
        assert health.json()["checks"]["storage"] == "failing"
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
        response = await http.post(DEPOSIT, json={"amount": "5.00"}, headers=headers)
        assert response.status_code == 201
        balance = await http.get("/api/v1/balance", headers=headers)
        assert balance.json()["current_balance"] == "15.00"
        assert server.process.returncode is None
    done = await trio.run_process(
        command("verify", "--db", str(db)),
        capture_stdout=True,
        stderr=subprocess.STDOUT,
        check=False,
        env=server_env(),
    )
    assert done.returncode == 0, done.stdout.decode()
