"""Reading the cash ledger, and checking that every balance equals the sum of its ledger."""

from __future__ import annotations

import sqlite3

from exchange.account import Entry
from exchange.store import Store

_ENTRY_COLUMNS = (
    "transaction_id, username, transaction_type, amount, balance_after, status, "
    "description, reference_id, created_at"
)


def list_entries(
    store: Store, username: str, limit: int, offset: int, kind: str | None = None
) -> tuple[list[Entry], int]:
    """A page of a user's ledger, newest first, and the total count."""
    where = "username = ?" + (" AND transaction_type = ?" if kind else "")
    params: tuple[object, ...] = (username, kind) if kind else (username,)
    rows = store.read(
        f"SELECT {_ENTRY_COLUMNS} FROM transactions WHERE {where} "  # noqa: S608
        "ORDER BY seq DESC LIMIT ? OFFSET ?",
        (*params, limit, offset),
    )
    (total,) = store.read_one(
        f"SELECT COUNT(*) FROM transactions WHERE {where}",  # noqa: S608
        params,
    ) or (0,)
    return [Entry(*row) for row in rows], int(total)


def find_mismatches(conn: sqlite3.Connection) -> list[str]:
    """Accounts whose cash differs from the sum of their ledger, or is negative, described."""
    rows = conn.execute(
        "SELECT a.username, a.cash, COALESCE(SUM(t.amount), 0), "
        "(SELECT balance_after FROM transactions WHERE username = a.username "
        " ORDER BY seq DESC LIMIT 1) "
        "FROM accounts a LEFT JOIN transactions t ON t.username = a.username "
        "GROUP BY a.username ORDER BY a.username"
    ).fetchall()
    problems = []
    for username, cash, ledger_sum, last_after in rows:
        if cash != ledger_sum:
            problems.append(f"{username}: cash {cash} != ledger sum {ledger_sum} (cents)")
        elif last_after is not None and last_after != cash:
            problems.append(f"{username}: cash {cash} != last balance_after {last_after}")
        elif cash < 0:
            problems.append(f"{username}: negative cash {cash}")
    return problems
