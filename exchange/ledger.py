"""Reading the cash ledger, and checking that every balance equals the sum of its ledger."""

from __future__ import annotations

import sqlite3

from exchange.state import AssetEntry, Entry
from exchange.store import Store

_ENTRY_COLUMNS = (
    "transaction_id, username, transaction_type, amount, balance_after, status, "
    "description, reference_id, created_at"
)


def list_entries(
    store: Store, username: str, limit: int, offset: int, kind: str | None = None
) -> tuple[list[Entry], int]:
    """A page of a user's ledger, newest first, and the total count."""
    filters = {"username": username, "transaction_type": kind or None}
    rows, total = store.page(_ENTRY_COLUMNS, "transactions", filters, limit, offset)
    return [Entry(*row) for row in rows], total


def list_asset_entries(
    store: Store, username: str, asset_id: str, limit: int, offset: int
) -> tuple[list[AssetEntry], bool]:
    """A page of a user's ledger for one asset, newest first, and whether more follow."""
    rows = store.read(
        "SELECT username, asset_id, order_id, transaction_type, quantity, price, total, "
        "balance_after, status, created_at FROM asset_transactions "
        "WHERE username = ? AND asset_id = ? ORDER BY seq DESC LIMIT ? OFFSET ?",
        (username, asset_id, limit + 1, offset),
    )
    return [AssetEntry(*row) for row in rows[:limit]], len(rows) > limit


def find_mismatches(conn: sqlite3.Connection) -> list[str]:
    """Every disagreement between balances, ledgers and open orders, described.

    Cash must equal the sum of its ledger (and the last row's balance after), holdings the sum
    of their asset ledger, reserved cash and quantities the sums over open orders; nothing may
    be negative, and nothing may be reserved beyond what is held.
    """
    return _cash_mismatches(conn) + _holding_mismatches(conn) + _reservation_mismatches(conn)


def _cash_mismatches(conn: sqlite3.Connection) -> list[str]:
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


def _holding_mismatches(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT h.username, h.asset_id, h.quantity, h.reserved, "
        "(SELECT COALESCE(SUM(quantity), 0) FROM asset_transactions t "
        " WHERE t.username = h.username AND t.asset_id = h.asset_id) "
        "FROM holdings h ORDER BY h.username, h.asset_id"
    ).fetchall()
    problems = []
    for username, asset_id, quantity, reserved, ledger_sum in rows:
        if quantity != ledger_sum:
            problems.append(
                f"{username}: {asset_id} quantity {quantity} != asset ledger sum {ledger_sum}"
            )
        elif quantity < 0 or reserved < 0 or reserved > quantity:
            problems.append(f"{username}: {asset_id} quantity {quantity}, reserved {reserved}")
    orphans = conn.execute(
        "SELECT DISTINCT t.username, t.asset_id FROM asset_transactions t "
        "LEFT JOIN holdings h ON h.username = t.username AND h.asset_id = t.asset_id "
        "WHERE h.username IS NULL"
    ).fetchall()
    problems.extend(f"{u}: {a} has ledger rows but no holding" for u, a in orphans)
    return problems


def _reservation_mismatches(conn: sqlite3.Connection) -> list[str]:
    problems = []
    for username, reserved, cash, open_sum in conn.execute(
        "SELECT a.username, a.reserved, a.cash, (SELECT COALESCE(SUM(reserved_cash), 0) "
        "FROM orders o WHERE o.username = a.username AND o.status IN ('pending', 'review')) "
        "FROM accounts a ORDER BY a.username"
    ):
        if reserved != open_sum:
            problems.append(f"{username}: reserved cash {reserved} != open orders {open_sum}")
        elif reserved > cash:
            problems.append(f"{username}: reserved cash {reserved} exceeds cash {cash}")
    for username, asset_id, reserved, open_sum in conn.execute(
        "SELECT h.username, h.asset_id, h.reserved, (SELECT COALESCE(SUM(reserved_quantity), 0) "
        "FROM orders o WHERE o.username = h.username AND o.asset_id = h.asset_id "
        "AND o.status IN ('pending', 'review')) FROM holdings h ORDER BY h.username, h.asset_id"
    ):
        if reserved != open_sum:
            problems.append(f"{username}: {asset_id} reserved {reserved} != open orders {open_sum}")
    return problems
