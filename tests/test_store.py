"""The store: group commit, isolated conflicts, migrations and strict tables."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import trio

from exchange.errors import UsernameTaken
from exchange.schema import MIGRATIONS
from exchange.store import Store, Write, connect


def _insert_revoked(jti: str) -> Write:
    return Write(
        [("INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?)", (jti, 1))],
        result=jti,
        conflicts={"revoked_tokens.jti": lambda: UsernameTaken("duplicate")},
    )


async def test_pending_writes_share_one_commit(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "db"))
    results: list[str] = []

    async def write(jti: str) -> None:
        results.append(await store.write(_insert_revoked(jti)))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(store.serve)
        async with trio.open_nursery() as writers:
            for i in range(50):
                writers.start_soon(write, f"t{i}")
        nursery.cancel_scope.cancel()
    assert sorted(results) == sorted(f"t{i}" for i in range(50))
    assert store.stats.writes == 50
    assert store.stats.commits < 50
    assert store.stats.max_batch > 1


async def test_a_conflict_rejects_only_its_own_write(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "db"))
    outcomes: dict[str, str] = {}

    async def write(name: str, jti: str) -> None:
        try:
            await store.write(_insert_revoked(jti))
            outcomes[name] = "ok"
        except UsernameTaken:
            outcomes[name] = "conflict"

    async with trio.open_nursery() as nursery:
        nursery.start_soon(store.serve)
        await store.write(_insert_revoked("taken"))
        async with trio.open_nursery() as writers:
            writers.start_soon(write, "before", "a")
            writers.start_soon(write, "clash", "taken")
            writers.start_soon(write, "after", "b")
        nursery.cancel_scope.cancel()
    assert outcomes == {"before": "ok", "clash": "conflict", "after": "ok"}
    conn = sqlite3.connect(tmp_path / "db")
    assert sorted(r[0] for r in conn.execute("SELECT jti FROM revoked_tokens")) == [
        "a",
        "b",
        "taken",
    ]


def test_migrations_are_versioned_and_idempotent(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    connect(path).close()
    conn = connect(path)
    assert conn.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_tables_are_strict(tmp_path: Path) -> None:
    conn = connect(str(tmp_path / "db"))
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO revoked_tokens (jti, expires_at) VALUES ('x', '12.5')")
