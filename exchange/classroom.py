"""The classroom: the classes of this market, their boards, and the teacher's reads and actions.

The one writer of class records (created, status, rules) and of the class action log. Every
change to a student's money (the join grant, resets, adjustments, review decisions, orders
cancelled at close) is a command to that student's account actor, sent through ``call``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec

from exchange import classes
from exchange.account import AdjustCash, CancelOrder, Command, JoinClass, ResetAccount, ReviewOrder
from exchange.classes import ClassInfo, ClassRules
from exchange.clock import Clock
from exchange.errors import Conflict, NotFound, NotPending
from exchange.ids import new_id
from exchange.leaderboard import Board, Position, Standing
from exchange.money import format_usd
from exchange.orders import Order
from exchange.state import ORDER_COLUMNS, load_orders, order_from_row
from exchange.store import Store, Write

_CLASS_COLUMNS = "class_id, name, teacher, code, status, rules, created_at, updated_at"
_rules_decoder = msgspec.json.Decoder(ClassRules)
_ranking_decoder = msgspec.json.Decoder(list[Standing])
_encoder = msgspec.json.Encoder()
# Attempts at a fresh join code before giving up (25^6 codes: a clash is already rare).
_CODE_ATTEMPTS = 8


class ReviewItem(msgspec.Struct, frozen=True):
    """One order on the review desk, with its decision so far."""

    order: Order
    review_status: str
    value: int
    decision_note: str | None
    decided_by: str | None
    decided_at: int | None
    queued_at: int


class ReviewStats(msgspec.Struct, frozen=True):
    """The desk's counts; ``approval_rate`` is approved / decided (None before any decision)."""

    total: int
    pending: int
    approved: int
    rejected: int
    cancelled: int
    approval_rate: float | None


class ClassAction(msgspec.Struct, frozen=True):
    """One teacher's action on a class, as logged."""

    seq: int
    created_at: int
    actor: str
    action: str
    username: str | None
    detail: str


class Student(msgspec.Struct, frozen=True):
    """A roster row: who, since when, and their standing."""

    username: str
    first_name: str
    last_name: str
    joined_at: int
    open_orders: int
    standing: Standing | None


class _Codes(Conflict):
    """A generated join code clashed with an existing one."""

    code = "code_taken"


def _info(row: tuple[Any, ...]) -> ClassInfo:
    class_id, name, teacher, code, status, rules, created, updated = row
    return ClassInfo(
        class_id, name, teacher, code, status, _rules_decoder.decode(rules), created, updated
    )


class Classroom:
    """Every class of this market, kept in memory and written through the store."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        prices: Callable[[], tuple[int, Mapping[str, int]]],
        call: Callable[[str, Command], Awaitable[Any]],
    ) -> None:
        self._store = store
        self._clock = clock
        self._prices = prices
        self._call = call
        self._classes: dict[str, ClassInfo] = {}
        self._codes: dict[str, str] = {}
        self._boards: dict[str, Board] = {}
        self._final: dict[str, list[Standing]] = {}

    def load(self) -> None:
        """Read every class, its final ranking if closed, and its students' positions."""
        for row in self._store.read(
            f"SELECT {_CLASS_COLUMNS}, final_ranking FROM classes"  # noqa: S608
        ):
            info = _info(row[:8])
            self._remember(info)
            if row[8] is not None:
                self._final[info.class_id] = _ranking_decoder.decode(row[8])
        held: dict[str, list[tuple[str, int]]] = {}
        for username, asset_id, quantity in self._store.read(
            "SELECT h.username, h.asset_id, h.quantity FROM holdings h "
            "JOIN class_members m ON m.username = h.username WHERE h.quantity > 0 "
            "ORDER BY h.username, h.asset_id"
        ):
            held.setdefault(username, []).append((asset_id, quantity))
        for username, class_id, basis, trades, cash in self._store.read(
            "SELECT m.username, m.class_id, m.basis, m.trades, a.cash FROM class_members m "
            "JOIN accounts a ON a.username = m.username"
        ):
            items = held.get(username, [])
            position = Position(
                cash, tuple(a for a, _ in items), tuple(q for _, q in items), basis, trades
            )
            self._boards.setdefault(class_id, Board()).update(username, position)

    def _remember(self, info: ClassInfo) -> None:
        self._classes[info.class_id] = info
        self._codes[info.code] = info.class_id
        self._boards.setdefault(info.class_id, Board())

    # Records

    def info(self, class_id: str) -> ClassInfo | None:
        """A class by id, or None."""
        return self._classes.get(class_id)

    def get(self, class_id: str) -> ClassInfo:
        """A class by id; ``NotFound`` (404 ``class_not_found``) if there is none."""
        info = self._classes.get(class_id)
        if info is None:
            raise NotFound("Class not found", "class_not_found")
        return info

    def by_code(self, code: str) -> ClassInfo:
        """The class a join code opens; 404 ``invalid_class_code`` for an unknown code."""
        class_id = self._codes.get(classes.normal_code(code))
        if class_id is None:
            raise NotFound("No class has this join code", "invalid_class_code")
        return self._classes[class_id]

    def listing(self, teacher: str | None) -> list[ClassInfo]:
        """The classes of one teacher (or with None, every class), newest first."""
        found = [c for c in self._classes.values() if teacher is None or c.teacher == teacher]
        return sorted(found, key=lambda c: (-c.created_at, c.class_id))

    def class_of(self, username: str) -> ClassInfo | None:
        """The class a student is in, if any."""
        row = self._store.read_one(
            "SELECT class_id FROM class_members WHERE username = ?", (username,)
        )
        return None if row is None else self._classes.get(str(row[0]))

    async def create(self, teacher: str, name: str, rules: ClassRules) -> ClassInfo:
        """A new class in draft with a fresh join code."""
        now = self._clock.now_ms()
        encoded = _encoder.encode(rules).decode()
        for _ in range(_CODE_ATTEMPTS):
            info = ClassInfo(
                "cls_" + new_id(), name, teacher, classes.new_code(), "draft", rules, now, now
            )
            write = Write(
                [
                    (
                        f"INSERT INTO classes ({_CLASS_COLUMNS}) "  # noqa: S608
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (info.class_id, name, teacher, info.code, "draft", encoded, now, now),
                    ),
                    self._action(info.class_id, teacher, "created", None, name),
                ],
                conflicts={"classes.code": lambda: _Codes("join code taken")},
            )
            try:
                await self._store.write(write)
            except _Codes:
                continue
            self._remember(info)
            return info
        raise Conflict("Could not find a free join code; try again", "code_exhausted")

    async def update_rules(self, info: ClassInfo, rules: ClassRules, by: str) -> ClassInfo:
        """Replace a class's rules (not once it is closed)."""
        if info.status == "closed":
            raise Conflict("The class is closed", "class_closed")
        now = self._clock.now_ms()
        encoded = _encoder.encode(rules).decode()
        await self._store.write(
            Write(
                [
                    (
                        "UPDATE classes SET rules = ?, updated_at = ? WHERE class_id = ?",
                        (encoded, now, info.class_id),
                    ),
                    self._action(info.class_id, by, "rules", None, encoded),
                ]
            )
        )
        updated = msgspec.structs.replace(info, rules=rules, updated_at=now)
        self._classes[info.class_id] = updated
        return updated

    async def set_status(self, info: ClassInfo, status: str, by: str) -> ClassInfo:
        """Move a class through its lifecycle; closing cancels open orders and keeps the ranking."""
        classes.check_transition(info.status, status)
        now = self._clock.now_ms()
        updated = msgspec.structs.replace(info, status=status, updated_at=now)
        # The new status applies at once (a closing class takes no order while it closes);
        # if it cannot be recorded, the class goes back to what the database says.
        self._classes[info.class_id] = updated
        ranking: list[Standing] = []
        try:
            final = None
            if status == "closed":
                await self._cancel_open_orders(info.class_id, "the class closed")
                ranking = self.leaderboard(info.class_id)
                final = _encoder.encode(ranking).decode()
            await self._store.write(
                Write(
                    [
                        (
                            "UPDATE classes SET status = ?, updated_at = ?, "
                            "final_ranking = COALESCE(?, final_ranking) WHERE class_id = ?",
                            (status, now, final, info.class_id),
                        ),
                        self._action(info.class_id, by, status, None, f"{info.status} -> {status}"),
                    ]
                )
            )
        except BaseException:
            self._classes[info.class_id] = info
            raise
        if status == "closed":
            self._final[info.class_id] = ranking
        return updated

    async def _cancel_open_orders(self, class_id: str, reason: str) -> None:
        for order in load_orders(
            self._store,
            "status IN ('pending', 'review') AND username IN "
            "(SELECT username FROM class_members WHERE class_id = ?)",
            (class_id,),
            "ORDER BY seq",
        ):
            try:
                await self._call(order.username, CancelOrder(order.order_id, reason))
            except NotPending:
                continue  # filled or cancelled meanwhile

    def _action(
        self, class_id: str, actor: str, action: str, username: str | None, detail: str
    ) -> tuple[str, tuple[object, ...]]:
        return (
            "INSERT INTO class_actions (class_id, created_at, actor, action, username, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (class_id, self._clock.now_ms(), actor, action, username, detail),
        )

    async def record(
        self, class_id: str, actor: str, action: str, username: str | None, detail: str
    ) -> None:
        """Log a teacher's action on a class durably."""
        await self._store.write(Write([self._action(class_id, actor, action, username, detail)]))

    def actions(self, class_id: str) -> list[ClassAction]:
        """The class's action log, oldest first."""
        rows = self._store.read(
            "SELECT seq, created_at, actor, action, username, detail FROM class_actions "
            "WHERE class_id = ? ORDER BY seq",
            (class_id,),
        )
        return [ClassAction(*row) for row in rows]

    # Students

    async def join(self, username: str, info: ClassInfo, by: str | None = None) -> None:
        """Put a student in a class; the grant is a ledger row written by their actor."""
        await self._call(username, JoinClass(info.class_id))
        await self.record(info.class_id, by or username, "joined", username, "")

    async def reset(self, info: ClassInfo, username: str, by: str) -> None:
        """One student back to the starting cash."""
        await self._call(username, ResetAccount(info.class_id, by))
        await self.record(info.class_id, by, "reset", username, "")

    async def reset_all(self, info: ClassInfo, by: str) -> int:
        """Every student of the class back to the starting cash; how many were reset."""
        students = self.usernames(info.class_id)
        for username in students:
            await self._call(username, ResetAccount(info.class_id, by))
        await self.record(info.class_id, by, "reset_all", None, f"{len(students)} students")
        return len(students)

    async def adjust(
        self, info: ClassInfo, username: str, amount: int, reason: str, by: str
    ) -> None:
        """Give or take one student's cash with a reason."""
        await self._call(username, AdjustCash(info.class_id, amount, reason))
        await self.record(info.class_id, by, "adjust", username, f"{format_usd(amount)}: {reason}")

    def usernames(self, class_id: str) -> list[str]:
        """The students of a class, by username."""
        rows = self._store.read(
            "SELECT username FROM class_members WHERE class_id = ? ORDER BY username", (class_id,)
        )
        return [str(row[0]) for row in rows]

    def joined_at(self, username: str) -> int:
        """When a student joined their class (ms); 0 when in none."""
        row = self._store.read_one(
            "SELECT joined_at FROM class_members WHERE username = ?", (username,)
        )
        return 0 if row is None else int(row[0])

    def is_member(self, class_id: str, username: str) -> bool:
        """True if the student is in the class."""
        row = self._store.read_one(
            "SELECT 1 FROM class_members WHERE class_id = ? AND username = ?", (class_id, username)
        )
        return row is not None

    def roster(self, class_id: str) -> list[Student]:
        """Every student with their standing and open orders."""
        by_name = {s.username: s for s in self.leaderboard(class_id)}
        rows = self._store.read(
            "SELECT m.username, u.first_name, u.last_name, m.joined_at, "
            "(SELECT COUNT(*) FROM orders o WHERE o.username = m.username "
            " AND o.status IN ('pending', 'review')) "
            "FROM class_members m JOIN users u ON u.username = m.username "
            "WHERE m.class_id = ? ORDER BY m.username",
            (class_id,),
        )
        return [
            Student(username, first, last, joined, int(open_count), by_name.get(username))
            for username, first, last, joined, open_count in rows
        ]

    def standing(self, class_id: str, username: str, position: Position | None) -> None:
        """A member's committed position (the account actors' callback)."""
        board = self._boards.get(class_id)
        if board is not None:
            board.update(username, position)

    def board(self, class_id: str) -> Board:
        """The live board of a class (its students' committed positions)."""
        return self._boards[class_id]

    def leaderboard(self, class_id: str, limit: int | None = None) -> list[Standing]:
        """The ranking at the latest tick (its first ``limit`` rows); a closed class's final one."""
        final = self._final.get(class_id)
        if final is not None:
            return final[:limit]
        seq, prices = self._prices()
        return self._boards[class_id].ranking(seq, prices, limit)

    def student_orders(
        self, username: str, since: int, statuses: tuple[str, ...] = ()
    ) -> list[Order]:
        """A student's orders since a time (optionally of some statuses), newest first."""
        where = "username = ? AND created_at >= ?"
        params: tuple[object, ...] = (username, since)
        if statuses:
            where += f" AND status IN ({', '.join('?' for _ in statuses)})"
            params = (*params, *statuses)
        return load_orders(self._store, where, params, "ORDER BY seq DESC")

    # The review desk

    async def decide(
        self, info: ClassInfo, order_id: str, decision: str, by: str, note: str | None
    ) -> Order:
        """Approve or reject a held order of the class; 404 if it is not the class's."""
        row = self._store.read_one(
            "SELECT username FROM order_reviews WHERE order_id = ? AND class_id = ?",
            (order_id, info.class_id),
        )
        if row is None:
            raise NotFound(f"Order {order_id} is not on this class's desk", "order_not_found")
        username = str(row[0])
        order: Order = await self._call(
            username, ReviewOrder(info.class_id, order_id, decision, by, note)
        )
        return order

    def reviews(
        self,
        class_id: str,
        status: str | None,
        username: str | None,
        partial: bool,
        limit: int,
        offset: int,
    ) -> tuple[list[ReviewItem], int]:
        """A page of the desk, newest first: by review status and username (exact or partial)."""
        where = "r.class_id = ?"
        params: list[object] = [class_id]
        if status is not None:
            where += " AND r.status = ?"
            params.append(status)
        if username:
            if partial:
                escaped = username.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                where += " AND r.username LIKE ? ESCAPE '\\'"
                params.append(f"%{escaped}%")
            else:
                where += " AND r.username = ?"
                params.append(username)
        columns = ", ".join(f"o.{c.strip()}" for c in ORDER_COLUMNS.split(","))
        rows = self._store.read(
            f"SELECT {columns}, r.status, r.value, r.note, r.decided_by, r.decided_at, "  # noqa: S608
            f"r.created_at FROM order_reviews r JOIN orders o ON o.order_id = r.order_id "
            f"WHERE {where} ORDER BY r.seq DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        (total,) = self._store.read_one(
            f"SELECT COUNT(*) FROM order_reviews r WHERE {where}",  # noqa: S608
            params,
        ) or (0,)
        width = len(ORDER_COLUMNS.split(","))
        items = [ReviewItem(order_from_row(row[:width]), *row[width:]) for row in rows]
        return items, int(total)

    def review_stats(self, class_id: str) -> ReviewStats:
        """Counts of the desk by outcome and the approval rate."""
        counts = dict(
            self._store.read(
                "SELECT status, COUNT(*) FROM order_reviews WHERE class_id = ? GROUP BY status",
                (class_id,),
            )
        )
        approved, rejected = int(counts.get("approved", 0)), int(counts.get("rejected", 0))
        decided = approved + rejected
        return ReviewStats(
            total=sum(int(n) for n in counts.values()),
            pending=int(counts.get("review", 0)),
            approved=approved,
            rejected=rejected,
            cancelled=int(counts.get("cancelled", 0)),
            approval_rate=round(approved / decided, 4) if decided else None,
        )
