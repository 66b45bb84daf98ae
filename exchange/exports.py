"""A class's exports as CSV that spreadsheet programs open correctly, and safely.

UTF-8 with a byte-order mark (so Excel reads it as UTF-8), a header row, CRLF line ends, and
every text cell that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return) prefixed with a single quote. Numbers we produce ourselves
(amounts, quantities, prices, counts) are written as plain numbers, negative ones included.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import msgspec

from exchange.classroom import Classroom, Student
from exchange.clock import iso_ms
from exchange.leaderboard import Standing
from exchange.money import format_price, format_quantity
from exchange.store import Store

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
Cell = str | int | Decimal | None
_params_decoder = msgspec.json.Decoder(dict[str, Any])
_params_encoder = msgspec.json.Encoder()
# The upper bound of an open class's lifetime (ms): every scheduled action is in it.
_FOREVER = 2**62
KINDS = ("roster", "leaderboard", "trades", "orders", "actions")

ROSTER = (
    "username",
    "first_name",
    "last_name",
    "joined_at",
    "cash",
    "total_value",
    "pnl",
    "return_pct",
    "trades",
    "open_orders",
)
LEADERBOARD = (
    "rank",
    "username",
    "cash",
    "holdings_value",
    "total_value",
    "basis",
    "pnl",
    "return_pct",
    "trades",
)
TRADES = (
    "time",
    "username",
    "order_id",
    "order_type",
    "asset_id",
    "quantity",
    "price",
    "total",
    "fee",
    "tick",
)
ORDERS = (
    "created_at",
    "username",
    "order_id",
    "order_type",
    "asset_id",
    "quantity",
    "price",
    "stop_price",
    "status",
    "filled_price",
    "total",
    "fee",
    "tick",
    "reason",
    "note",
    "review_status",
    "review_note",
    "reviewed_by",
    "reviewed_at",
)
ACTIONS = ("time", "source", "actor", "action", "username", "status", "detail")


def safe_cell(value: Cell) -> str:
    """A cell's text: numbers as they are, text guarded against formula injection."""
    if value is None:
        return ""
    if isinstance(value, int | Decimal):
        return str(value)
    if value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    """The CSV bytes of a header and rows."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([safe_cell(cell) for cell in row] for row in rows)
    return out.getvalue().encode("utf-8")


def usd(cents: int | None) -> Decimal | None:
    """Cents as a dollar number with 2 places."""
    return None if cents is None else Decimal(cents).scaleb(-2)


def _qty(units: int | None) -> Decimal | None:
    return None if units is None else Decimal(format_quantity(units))


def _price(units: int | None) -> Decimal | None:
    return None if units is None else Decimal(format_price(units))


def _time(ms: int | None) -> str | None:
    return None if ms is None else iso_ms(ms)


def roster_rows(students: list[Student]) -> list[list[Cell]]:
    """One row per student."""
    rows: list[list[Cell]] = []
    for s in students:
        st = s.standing
        rows.append(
            [
                s.username,
                s.first_name,
                s.last_name,
                iso_ms(s.joined_at),
                usd(st.cash) if st else None,
                usd(st.total_value) if st else None,
                usd(st.pnl) if st else None,
                st.return_pct if st else None,
                st.trades if st else None,
                s.open_orders,
            ]
        )
    return rows


def leaderboard_rows(ranking: list[Standing]) -> list[list[Cell]]:
    """One row per student, in rank order."""
    return [
        [
            s.rank,
            s.username,
            usd(s.cash),
            usd(s.holdings_value),
            usd(s.total_value),
            usd(s.basis),
            usd(s.pnl),
            s.return_pct,
            s.trades,
        ]
        for s in ranking
    ]


def trade_rows(store: Store, class_id: str) -> list[list[Cell]]:
    """Every fill of the class's students since they joined, oldest first."""
    rows = store.read(
        "SELECT o.updated_at, o.username, o.order_id, o.order_type, o.asset_id, o.quantity, "
        "o.filled_price, o.total_amount, o.fee, o.fill_seq FROM orders o "
        "JOIN class_members m ON m.username = o.username "
        "WHERE m.class_id = ? AND o.status = 'completed' AND o.created_at >= m.joined_at "
        "ORDER BY o.seq",
        (class_id,),
    )
    return [
        [
            iso_ms(t),
            user,
            order_id,
            kind,
            asset,
            _qty(qty),
            _price(price),
            usd(total),
            usd(fee),
            seq,
        ]
        for t, user, order_id, kind, asset, qty, price, total, fee, seq in rows
    ]


def order_rows(store: Store, class_id: str) -> list[list[Cell]]:
    """Every order of the class's students since they joined, with its review and notes."""
    rows = store.read(
        "SELECT o.created_at, o.username, o.order_id, o.order_type, o.asset_id, o.quantity, "
        "o.price, o.stop_price, o.status, o.filled_price, o.total_amount, o.fee, o.fill_seq, "
        "o.reason, o.note, r.status, r.note, r.decided_by, r.decided_at FROM orders o "
        "JOIN class_members m ON m.username = o.username "
        "LEFT JOIN order_reviews r ON r.order_id = o.order_id "
        "WHERE m.class_id = ? AND o.created_at >= m.joined_at ORDER BY o.seq",
        (class_id,),
    )
    out: list[list[Cell]] = []
    for row in rows:
        (created, user, order_id, kind, asset, qty, price, stop, status, filled, total) = row[:11]
        fee, seq, reason, note, review, review_note, by, decided = row[11:]
        out.append(
            [
                iso_ms(created),
                user,
                order_id,
                kind,
                asset,
                _qty(qty),
                _price(price),
                _price(stop),
                status,
                _price(filled),
                usd(total),
                usd(fee),
                seq,
                reason,
                note,
                review,
                review_note,
                by,
                _time(decided),
            ]
        )
    return out


def action_rows(classroom: Classroom, store: Store, class_id: str) -> list[list[Cell]]:
    """The class's own actions, the market's actions and its headlines, oldest first.

    Market rows cover the class's lifetime: from its creation to its close (or now, and the
    actions scheduled beyond). A market action's time is when it took effect (applied,
    failed or cancelled; a pending one's scheduled time); its detail is its parameters as
    JSON, then when it was scheduled for, why it failed or who cancelled it.
    """
    info = classroom.get(class_id)
    until = info.updated_at if info.status == "closed" else None
    timed: list[tuple[int, int, list[Cell]]] = [
        (
            a.created_at,
            0,
            [iso_ms(a.created_at), "class", a.actor, a.action, a.username, "done", a.detail],
        )
        for a in classroom.actions(class_id)
    ]
    bounds = (info.created_at, _FOREVER if until is None else until)
    for row in store.read(
        "SELECT * FROM (SELECT COALESCE(applied_at, cancelled_at, run_at, created_at) AS at, "
        "seq, kind, params, status, run_at, created_by, cancelled_by, failure "
        "FROM market_actions) WHERE at BETWEEN ? AND ? ORDER BY at, seq",
        bounds,
    ):
        at, seq, kind, params, status, run_at, by, cancelled_by, failure = row
        timed.append(
            (
                at,
                1 + 2 * seq,
                [
                    iso_ms(at),
                    "market",
                    by,
                    kind,
                    None,
                    status,
                    _action_detail(params, run_at, cancelled_by, failure),
                ],
            )
        )
    for at, seq, headline, by in store.read(
        "SELECT n.created_at, a.seq, n.headline, a.created_by FROM news n "
        "LEFT JOIN market_actions a ON a.action_id = n.action_id "
        "WHERE n.created_at BETWEEN ? AND ? ORDER BY n.seq",
        bounds,
    ):
        # A headline follows the action that announced it.
        timed.append(
            (at, 2 + 2 * (seq or 0), [iso_ms(at), "market", by, "headline", None, None, headline])
        )
    timed.sort(key=lambda item: (item[0], item[1]))
    return [row for _, _, row in timed]


def _action_detail(
    params: str, run_at: int | None, cancelled_by: str | None, failure: str | None
) -> str:
    fields = _params_decoder.decode(params)
    fields.pop("type", None)
    parts = [_params_encoder.encode(fields).decode()]
    if run_at is not None:
        parts.append(f"scheduled for {iso_ms(run_at)}")
    if failure is not None:
        parts.append(f"failed: {failure}")
    if cancelled_by is not None:
        parts.append(f"cancelled by {cancelled_by}")
    return "; ".join(parts)


def export(classroom: Classroom, store: Store, class_id: str, kind: str) -> bytes:
    """One of the class's exports (``KINDS``) as CSV bytes."""
    if kind == "roster":
        return to_csv(ROSTER, roster_rows(classroom.roster(class_id)))
    if kind == "leaderboard":
        return to_csv(LEADERBOARD, leaderboard_rows(classroom.leaderboard(class_id)))
    if kind == "trades":
        return to_csv(TRADES, trade_rows(store, class_id))
    if kind == "orders":
        return to_csv(ORDERS, order_rows(store, class_id))
    if kind == "actions":
        return to_csv(ACTIONS, action_rows(classroom, store, class_id))
    raise ValueError(f"unknown export {kind!r}")
