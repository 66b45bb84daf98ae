"""The store: the only SQLite writer, committing everything pending in one transaction.

sqlite3 runs inline on the Trio thread (a commit costs microseconds; a worker thread would
break virtual time). The store drains its mailbox, applies every pending write inside one
transaction (each in its own savepoint, so one write's constraint violation rejects only that
write), commits, and only then answers every waiter.

When the database refuses a commit for a reason outside the program (disk full, an I/O error, a
lock held by another process, a read-only file) the whole batch is rolled back and every waiter
is answered ``StorageUnavailable``; the store goes on with the next batch, so writes succeed
again by themselves once the cause is gone. Writes of one ``Chain`` after a failed one are
refused without being applied: they were decided on a state that never reached the disk.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from typing import Any

import trio

from exchange.actor import Envelope, Mailbox, Reply, open_mailbox
from exchange.buckets import Buckets
from exchange.errors import DomainError, Overloaded, StorageUnavailable
from exchange.schema import migrate

Statement = tuple[str, Sequence[Any]]

log = logging.getLogger("exchange.store")

# SQLite primary result codes that say the storage, not the program, refused a write. Anything
# else (a constraint nobody expected, a malformed statement, a corrupt file) is a bug or damage
# and still stops the process rather than writing on.
_STORAGE_FAULTS = {
    sqlite3.SQLITE_FULL: "the disk is full",
    sqlite3.SQLITE_IOERR: "a disk I/O error",
    sqlite3.SQLITE_BUSY: "the database is locked by another process",
    sqlite3.SQLITE_LOCKED: "the database is locked",
    sqlite3.SQLITE_READONLY: "the database is read-only",
    sqlite3.SQLITE_CANTOPEN: "a database file cannot be opened",
    sqlite3.SQLITE_NOMEM: "the database is out of memory",
}
# How long /health keeps reporting storage as failing after a failed commit, in seconds: a
# single successful write (the price feed's, say) does not prove that the next one will fit.
FAILING_HOLD = StorageUnavailable.retry_after or 5.0
# An outside writer holding the lock makes writes fail fast instead of freezing the Trio thread
# for sqlite3's default 5 s.
BUSY_TIMEOUT = 0.1


def storage_fault(exc: sqlite3.Error) -> StorageUnavailable | None:
    """The rejection for an error of the storage (retrying may succeed), or None for a bug."""
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return None
    cause = _STORAGE_FAULTS.get(code & 0xFF)
    if cause is None:
        return None
    return StorageUnavailable(f"Storage is unavailable ({cause}); nothing was changed, retry later")


class Chain:
    """Writes of one actor in order, each decided on the state the ones before it left.

    Once a write of the chain fails, ``broken`` holds the failure, ``on_break`` is called (to
    wake the owner) and the store refuses every later write of the chain without applying it.
    The owner starts a new chain after it has reloaded its state from the database.
    """

    __slots__ = ("broken", "on_break")

    def __init__(self, on_break: Callable[[], None] | None = None) -> None:
        self.broken: StorageUnavailable | None = None
        self.on_break = on_break

    def successor(self) -> Chain:
        """A new, unbroken chain that wakes the same owner."""
        return Chain(self.on_break)


class Write:
    """Statements applied atomically, and the value answered once they are committed.

    ``conflicts`` maps a fragment of a constraint-violation message (for example
    ``"users.email"``) to the rejection that answers it instead of a crash. ``on_commit`` runs
    (synchronously, before the reply) once the write is durable. ``chain`` ties the write to
    the ones its owner made before it (see ``Chain``).

    The statements of writes without ``conflicts`` are grouped by SQL text across a batch and
    run with ``executemany`` (in order within each text), so such statements must not depend
    on the order of statements with a different text: they insert rows or set absolute values.
    """

    __slots__ = ("chain", "conflicts", "on_commit", "result", "statements")

    def __init__(
        self,
        statements: Sequence[Statement],
        result: object = None,
        conflicts: Mapping[str, Callable[[], DomainError]] | None = None,
        on_commit: Callable[[], None] | None = None,
        chain: Chain | None = None,
    ) -> None:
        self.statements = statements
        self.result = result
        self.conflicts = conflicts
        self.on_commit = on_commit
        self.chain = chain


class StoreStats:
    """Counters for metrics and tests: commits, writes, batch sizes, latency and failures."""

    __slots__ = (
        "batches",
        "commit_seconds",
        "commits",
        "failed_commits",
        "last_batch",
        "latency",
        "max_batch",
        "refused_writes",
        "writes",
    )

    def __init__(self) -> None:
        self.commits = 0
        self.writes = 0
        self.failed_commits = 0
        self.refused_writes = 0
        self.max_batch = 0
        self.last_batch = 0
        self.commit_seconds = 0.0
        self.latency = Buckets((0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
        self.batches = Buckets((1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000))


def connect(path: str, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """Open a database with the exchange's settings and bring its schema up to date."""
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
    )
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {'FULL' if synchronous.upper() == 'FULL' else 'NORMAL'}")
    conn.execute("PRAGMA foreign_keys = ON")
    # Small, frequent checkpoints keep each inline stall short.
    conn.execute("PRAGMA wal_autocheckpoint = 256")
    migrate(conn)
    return conn


class Store:
    """Owner of the database connection: reads inline, writes through its mailbox."""

    def __init__(
        self, path: str, synchronous: str = "NORMAL", inbox_size: int = 8192, batch_max: int = 2048
    ) -> None:
        self.path = path
        self.conn = connect(path, synchronous)
        self.stats = StoreStats()
        self._batch_max = batch_max
        self.mailbox: Mailbox[Write]
        self.mailbox, self._inbox = open_mailbox("store", inbox_size)
        self._failure: StorageUnavailable | None = None
        self._failed_at = float("-inf")
        self._last_failed = False
        self._outage = False

    @property
    def refusing(self) -> bool:
        """True while the latest commit failed."""
        return self._last_failed

    def unavailable(self) -> StorageUnavailable | None:
        """The latest failure while storage counts as failing, else None.

        Failing means: the latest commit failed, or one failed less than ``FAILING_HOLD``
        seconds ago.
        """
        if self._last_failed or trio.current_time() - self._failed_at < FAILING_HOLD:
            return self._failure
        return None

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query inline. Safe: no transaction is ever open across a checkpoint."""
        return self.conn.execute(sql, params).fetchall()

    def read_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first row of a query, or None."""
        row: tuple[Any, ...] | None = self.conn.execute(sql, params).fetchone()
        return row

    def page(
        self,
        columns: str,
        table: str,
        filters: Mapping[str, object],
        limit: int,
        offset: int,
    ) -> tuple[list[tuple[Any, ...]], int]:
        """A page of ``table``, newest (highest ``seq``) first, and the count of all matches.

        ``filters`` are ``column = value`` conditions (``None`` values are skipped); the column
        and table names come from the calling code, the values travel as parameters.
        """
        conditions = {column: value for column, value in filters.items() if value is not None}
        where = " AND ".join(f"{column} = ?" for column in conditions) or "1 = 1"
        values = tuple(conditions.values())
        rows = self.read(
            f"SELECT {columns} FROM {table} WHERE {where} "  # noqa: S608
            "ORDER BY seq DESC LIMIT ? OFFSET ?",
            (*values, limit, offset),
        )
        (total,) = self.read_one(
            f"SELECT COUNT(*) FROM {table} WHERE {where}",  # noqa: S608
            values,
        ) or (0,)
        return rows, int(total)

    def bulk_now(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Insert many rows in one transaction at once, for start-up loads.

        Safe at any time on the Trio thread: batches never hold a transaction across a
        checkpoint, so this cannot interleave with one.
        """
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(sql, rows)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            failure = storage_fault(exc)
            if failure is None or conn.in_transaction:
                raise
            self._failed(failure)
            raise failure from exc
        self._succeeded()

    async def write(self, write: Write) -> Any:
        """Apply a write and wait for its commit; ``Overloaded`` if the store is backed up."""
        return await self.mailbox.call(write)

    async def submit(self, write: Write, reply: Reply[Any]) -> None:
        """Queue a write whose reply the store answers after commit, waiting for room.

        Actors use this to pipeline: they apply a change, hand the caller's reply to the
        store, and go on to their next message while the commit happens.
        """
        try:
            self.mailbox.post_nowait(write, reply)
        except Overloaded:
            await self.mailbox.post(write, reply)

    async def barrier(self) -> None:
        """Wait until every write queued before this call is committed or refused."""
        await self.submit(Write(()), reply := Reply[None]())
        # Refused writes before it are settled all the same: nothing of them will change.
        with suppress(StorageUnavailable):
            await reply.wait()

    async def serve(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Commit batches until cancelled; the connection closes on the way out."""
        task_status.started()
        try:
            async for first in self._inbox:
                # One scheduling round lets every ready producer queue its write: group commit.
                await trio.lowlevel.checkpoint()
                batch = [first]
                while len(batch) < self._batch_max:
                    try:
                        batch.append(self._inbox.receive_nowait())
                    except trio.WouldBlock:
                        break
                self._commit(batch)
        finally:
            self.conn.close()

    def _commit(self, batch: list[Envelope[Write]]) -> None:
        started = time.perf_counter()
        conn = self.conn
        outcomes: list[DomainError | None] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                grouped: dict[str, list[Sequence[Any]]] = {}
                for write, _ in batch:
                    chain = write.chain
                    if chain is not None and chain.broken is not None:
                        outcomes.append(_again(chain.broken))
                        continue
                    if write.conflicts is None:
                        for sql, params in write.statements:
                            grouped.setdefault(sql, []).append(params)
                        outcomes.append(None)
                        continue
                    _flush(conn, grouped)
                    outcomes.append(self._apply(conn, write))
                _flush(conn, grouped)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            failure = storage_fault(exc)
            # A transaction still open after its rollback is a state nobody can vouch for.
            if failure is None or conn.in_transaction:
                raise
            self._refuse(batch, failure)
            return
        self._succeeded()
        stats = self.stats
        stats.commits += 1
        stats.writes += len(batch)
        stats.last_batch = len(batch)
        stats.max_batch = max(stats.max_batch, len(batch))
        elapsed = time.perf_counter() - started
        stats.commit_seconds += elapsed
        stats.latency.observe(elapsed)
        stats.batches.observe(len(batch))
        for (write, reply), outcome in zip(batch, outcomes, strict=True):
            if outcome is None:
                if write.on_commit is not None:
                    write.on_commit()
                reply.set(write.result)
            else:
                if isinstance(outcome, StorageUnavailable):
                    stats.refused_writes += 1
                reply.fail(outcome)

    def _refuse(self, batch: list[Envelope[Write]], failure: StorageUnavailable) -> None:
        """Answer every waiter of a rolled-back batch, and break the chains it carried."""
        self._failed(failure)
        self.stats.refused_writes += len(batch)
        for write, reply in batch:
            chain = write.chain
            if chain is not None and chain.broken is None:
                chain.broken = failure
                if chain.on_break is not None:
                    chain.on_break()
            reply.fail(_again(failure))

    def _failed(self, failure: StorageUnavailable) -> None:
        # One line per outage, however many commits fail (or fit in between) during it.
        if not self._outage:
            log.warning("storage unavailable: %s", failure.message)
            self._outage = True
        self.stats.failed_commits += 1
        self._failure = failure
        self._failed_at = trio.current_time()
        self._last_failed = True

    def _succeeded(self) -> None:
        self._last_failed = False
        if self._outage and trio.current_time() - self._failed_at >= FAILING_HOLD:
            log.warning("storage available again")
            self._outage = False

    @staticmethod
    def _apply(conn: sqlite3.Connection, write: Write) -> DomainError | None:
        assert write.conflicts is not None
        conn.execute("SAVEPOINT w")
        try:
            for sql, params in write.statements:
                conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            conn.execute("ROLLBACK TO w")
            conn.execute("RELEASE w")
            for fragment, rejection in write.conflicts.items():
                if fragment in str(exc):
                    return rejection()
            raise
        conn.execute("RELEASE w")
        return None


def _again(failure: StorageUnavailable) -> StorageUnavailable:
    """A fresh exception per waiter: one raised in many tasks would share its traceback."""
    return StorageUnavailable(failure.message)


def _flush(conn: sqlite3.Connection, grouped: dict[str, list[Sequence[Any]]]) -> None:
    """Run grouped statements, each text once with all its parameter rows, in first-seen order."""
    for sql, rows in grouped.items():
        if len(rows) == 1:
            conn.execute(sql, rows[0])
        else:
            conn.executemany(sql, rows)
    grouped.clear()
