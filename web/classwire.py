"""Wire types of the class routes: teachers, classes, rosters, the leaderboard, the review desk."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from exchange.orders import OrderView


class TeacherRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /admin/teachers: a teacher account, with the registration's field rules."""

    username: str
    email: str
    password: str
    first_name: str
    last_name: str


class RulesBody(msgspec.Struct, forbid_unknown_fields=True):
    """A class's rules; every field is optional and has the default documented in classes.md."""

    starting_cash: Decimal = Decimal(10_000)
    allowed_assets: list[str] | None = None
    allowed_categories: list[str] | None = None
    fee_bps: int = 0
    max_order_value: Decimal | None = None
    max_position_pct: int | None = None
    orders_per_minute: int = 30
    deposits_allowed: bool = False
    withdrawals_allowed: bool = False
    opens_at: str | None = None
    closes_at: str | None = None
    leaderboard_visible: bool = True
    review_above: Decimal | None = None


class ClassCreateRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /classes."""

    name: str
    rules: RulesBody = msgspec.field(default_factory=RulesBody)


class StatusRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /classes/{id}/status: ``open``, ``paused`` or ``closed``."""

    status: str


class JoinRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /classes/join."""

    code: str


class GenerateRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /classes/{id}/students/generate: ``count`` logins named ``prefix`` + number."""

    count: int
    prefix: str


class AdjustRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /classes/{id}/students/{username}/adjust: a signed amount and a reason."""

    amount: Decimal
    reason: str


class DecisionRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of an approve or reject on the review desk: the note the student sees."""

    note: str | None = None


class RulesView(msgspec.Struct):
    """A class's rules on the wire: amounts as decimal strings, times ISO-8601."""

    starting_cash: str
    allowed_assets: list[str] | None
    allowed_categories: list[str] | None
    fee_bps: int
    max_order_value: str | None
    max_position_pct: int | None
    orders_per_minute: int
    deposits_allowed: bool
    withdrawals_allowed: bool
    opens_at: str | None
    closes_at: str | None
    leaderboard_visible: bool
    review_above: str | None


class ClassView(msgspec.Struct):
    """One class."""

    class_id: str
    name: str
    teacher: str
    code: str
    join_path: str
    status: str
    rules: RulesView
    students: int
    created_at: str
    updated_at: str


class ClassResponse(msgspec.Struct):
    """One class."""

    data: ClassView


class ClassListResponse(msgspec.Struct):
    """The caller's classes (an admin's: every class), newest first."""

    data: list[ClassView]


class StandingView(msgspec.Struct):
    """One row of the leaderboard."""

    rank: int
    username: str
    cash: str
    holdings_value: str
    total_value: str
    basis: str
    pnl: str
    return_pct: str | None
    trades: int


class LeaderboardResponse(msgspec.Struct):
    """The ranking at tick ``tick``; ``final`` once the class is closed."""

    class_id: str
    status: str
    final: bool
    tick: int
    data: list[StandingView]


class MyClassResponse(msgspec.Struct):
    """A student's class and, when the class shows the leaderboard, their standing."""

    data: ClassView | None
    standing: StandingView | None


class StudentView(msgspec.Struct):
    """A roster row."""

    username: str
    first_name: str
    last_name: str
    joined_at: str
    open_orders: int
    standing: StandingView | None


class RosterResponse(msgspec.Struct):
    """The class's students."""

    data: list[StudentView]


class HoldingView(msgspec.Struct):
    """A holding in the monitor, valued at the latest price."""

    asset_id: str
    quantity: str
    reserved: str
    value: str


class NoteView(msgspec.Struct):
    """A student's note on one of their orders."""

    order_id: str
    created_at: str
    note: str


class MonitorResponse(msgspec.Struct):
    """One student as the teacher monitors them."""

    username: str
    cash: str
    reserved: str
    holdings: list[HoldingView]
    open_orders: list[OrderView]
    trades: list[OrderView]
    notes: list[NoteView]
    standing: StandingView | None


class ResetResponse(msgspec.Struct):
    """How many students were reset."""

    reset: int


class ReviewView(msgspec.Struct):
    """An order on the review desk."""

    username: str
    review_status: str
    value: str
    decision_note: str | None
    decided_by: str | None
    decided_at: str | None
    queued_at: str
    order: OrderView


class ReviewListResponse(msgspec.Struct):
    """A page of the desk, newest first."""

    data: list[ReviewView]
    total: int
    has_more: bool


class ReviewStatsResponse(msgspec.Struct):
    """The desk's counts and approval rate (approved / decided)."""

    total: int
    pending: int
    approved: int
    rejected: int
    cancelled: int
    approval_rate: float | None


class TeacherResponse(msgspec.Struct):
    """The teacher account created."""

    username: str
    role: str
