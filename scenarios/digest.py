"""Digests of a run's ledgers and orders that are the same for the same scenario and seed.

Ids carry a random per-process prefix, so each order id is replaced by its number in creation
order (``o1``, ``o2``...) and transaction ids are left out. Ledgers are taken per user in the
user's own order (one writer each), so accounts that acted at the same instant in any order of
their actors give the same rows.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from exchange.store import Store

_ORDER_FIELDS = (
    "order_id, username, order_type, asset_id, quantity, price, stop_price, time_in_force, "
    "expires_at, status, triggered, reserved_cash, reserved_quantity, filled_price, "
    "total_amount, fee, fill_seq, model_price, reason, created_at, updated_at"
)


def order_numbers(store: Store) -> dict[str, str]:
    """Every order id and its stable name, by creation order."""
    rows = store.read("SELECT order_id FROM orders ORDER BY seq")
    return {order_id: f"o{number}" for number, (order_id,) in enumerate(rows, start=1)}


def _hash(rows: list[Any]) -> str:
    text = json.dumps(rows, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _rename(text: str | None, names: dict[str, str]) -> str | None:
    if not text:
        return text
    for word in text.split():
        if word in names:
            text = text.replace(word, names[word])
    return text


def digests(store: Store, usernames: list[str]) -> dict[str, Any]:
    """One digest per ledger (cash and asset) and of the orders, overall and per user."""
    names = order_numbers(store)
    per_user: dict[str, dict[str, str]] = {}
    all_cash: list[Any] = []
    all_assets: list[Any] = []
    all_orders: list[Any] = []
    for username in usernames:
        cash = [
            [kind, amount, after, status, _rename(text, names), names.get(ref or "", ref), at]
            for kind, amount, after, status, text, ref, at in store.read(
                "SELECT transaction_type, amount, balance_after, status, description, "
                "reference_id, created_at FROM transactions WHERE username = ? ORDER BY seq",
                (username,),
            )
        ]
        assets = [
            [asset, names.get(order_id, order_id), *rest]
            for asset, order_id, *rest in store.read(
                "SELECT asset_id, order_id, transaction_type, quantity, price, total, "
                "balance_after, status, created_at FROM asset_transactions WHERE username = ? "
                "ORDER BY seq",
                (username,),
            )
        ]
        orders = [
            [names[row[0]], *row[1:]]
            for row in store.read(
                f"SELECT {_ORDER_FIELDS} FROM orders WHERE username = ? ORDER BY seq",  # noqa: S608
                (username,),
            )
        ]
        per_user[username] = {
            "cash_ledger": _hash(cash),
            "asset_ledger": _hash(assets),
            "orders": _hash(orders),
            "rows": f"{len(cash)}/{len(assets)}/{len(orders)}",
        }
        all_cash.append([username, cash])
        all_assets.append([username, assets])
        all_orders.append([username, orders])
    return {
        "cash_ledger": _hash(all_cash),
        "asset_ledger": _hash(all_assets),
        "orders": _hash(all_orders),
        "per_user": per_user,
    }
