"""Class routes: create and list classes, rules, lifecycle, joining, students and exports.

Every route of one class answers only its teacher or an admin (403 otherwise); a student
reaches their own class through ``/classes/mine`` and ``/classes/join``, and its leaderboard
when the class shows it.
"""

from __future__ import annotations

import re

from quart import Blueprint, Response
from quart_schema import document_request, document_response

from exchange.classes import STATUSES, check_joinable
from exchange.clock import iso_ms
from exchange.errors import Conflict, Forbidden, NotFound
from exchange.exports import KINDS, export, to_csv
from exchange.money import MoneyFormatError, format_quantity, format_usd, parse_usd, proceeds_cents
from exchange.orders import order_view
from exchange.users import NewUser
from web.auth import authenticated, current_claims
from web.body import BodyDecoder
from web.classrules import (
    MAX_CASH,
    class_name,
    class_view,
    owned_class,
    parse_rules,
    staff_only,
    standing_view,
)
from web.classwire import (
    AdjustRequest,
    ClassCreateRequest,
    ClassListResponse,
    ClassResponse,
    GenerateRequest,
    HoldingView,
    JoinRequest,
    LeaderboardResponse,
    MonitorResponse,
    MyClassResponse,
    NoteView,
    ResetResponse,
    RosterResponse,
    RulesBody,
    StatusRequest,
    StudentView,
)
from web.errors import ApiError, FieldError, field_error, invalid
from web.logins import csv_response, generated_password, hash_all
from web.openapi import documented
from web.query import IntQuery
from web.reply import json_response
from web.state import app_state
from web.validation import USERNAME

blueprint = Blueprint("classes", __name__, url_prefix="/api/v1/classes")

PREFIX = re.compile(r"[A-Za-z0-9_]{3,24}")
MAX_GENERATED = 100
MAX_REASON = 255
RECENT = 50
# Class ids and usernames in paths are looked up as given: an unknown one is a 404.
CLASS_PATH: dict[str, re.Pattern[str]] = {}
STUDENT_PATH: dict[str, re.Pattern[str]] = {}
EXPORT_PATH = {"kind": re.compile("|".join(KINDS))}
BOARD_LIMIT = IntQuery("limit", 0, 0, 100_000, "Only the first rows (0: every row)")

_create_body = BodyDecoder(ClassCreateRequest)
_rules_body = BodyDecoder(RulesBody)
_status_body = BodyDecoder(StatusRequest)
_join_body = BodyDecoder(JoinRequest)
_generate_body = BodyDecoder(GenerateRequest)
_adjust_body = BodyDecoder(AdjustRequest)


@blueprint.post("")
@document_request(ClassCreateRequest)
@document_response(ClassResponse, 201)
@documented(busy=True)
@staff_only
async def create_class() -> Response:
    """Create a class in draft, with its rules and a join code."""
    body = await _create_body.read()
    errors: list[FieldError] = []
    name = class_name(body.name, errors)
    rules = parse_rules(body.rules, errors)
    if errors:
        raise invalid(errors)
    info = await app_state().exchange.classroom.create(current_claims().sub, name, rules)
    return json_response(ClassResponse(class_view(info)), 201)


@blueprint.get("")
@document_response(ClassListResponse)
@documented()
@staff_only
async def list_classes() -> Response:
    """A teacher's own classes; an admin sees every class."""
    claims = current_claims()
    teacher = None if claims.role == "admin" else claims.sub
    found = app_state().exchange.classroom.listing(teacher)
    return json_response(ClassListResponse([class_view(info) for info in found]))


@blueprint.get("/mine")
@document_response(MyClassResponse)
@documented()
@authenticated
async def my_class() -> Response:
    """The caller's class (``data`` null when in none) and standing when the class shows it."""
    classroom = app_state().exchange.classroom
    username = current_claims().sub
    info = classroom.class_of(username)
    if info is None:
        return json_response(MyClassResponse(None, None))
    standing = None
    if info.rules.leaderboard_visible:
        for row in classroom.leaderboard(info.class_id):
            if row.username == username:
                standing = standing_view(row)
    return json_response(MyClassResponse(class_view(info), standing))


@blueprint.post("/join")
@document_request(JoinRequest)
@document_response(ClassResponse, 201)
@documented(
    busy=True,
    errors={
        403: ("forbidden",),
        404: ("invalid_class_code",),
        409: ("already_in_class", "class_closed"),
    },
)
@authenticated
async def join_class() -> Response:
    """Join a class with its code; its starting cash is granted at once."""
    claims = current_claims()
    if claims.role != "customer":
        raise ApiError(403, "forbidden", "Only students join classes")
    body = await _join_body.read()
    classroom = app_state().exchange.classroom
    info = classroom.by_code(body.code)
    check_joinable(info)
    await classroom.join(claims.sub, info)
    return json_response(ClassResponse(class_view(info)), 201)


@blueprint.get("/<class_id>")
@document_response(ClassResponse)
@documented(path=CLASS_PATH, errors={403: ("forbidden",), 404: ("class_not_found",)})
@authenticated
async def get_class(class_id: str) -> Response:
    """One class."""
    return json_response(ClassResponse(class_view(owned_class(class_id))))


@blueprint.put("/<class_id>/rules")
@document_request(RulesBody)
@document_response(ClassResponse)
@documented(
    path=CLASS_PATH,
    busy=True,
    errors={403: ("forbidden",), 404: ("class_not_found",), 409: ("class_closed",)},
)
@authenticated
async def update_rules(class_id: str) -> Response:
    """Replace a class's rules (any field left out takes its default); not once closed."""
    info = owned_class(class_id)
    body = await _rules_body.read()
    errors: list[FieldError] = []
    rules = parse_rules(body, errors)
    if errors:
        raise invalid([{**e, "loc": ["body", *e["loc"][2:]]} for e in errors])
    updated = await app_state().exchange.classroom.update_rules(info, rules, current_claims().sub)
    return json_response(ClassResponse(class_view(updated)))


@blueprint.post("/<class_id>/status")
@document_request(StatusRequest)
@document_response(ClassResponse)
@documented(
    path=CLASS_PATH,
    busy=True,
    errors={403: ("forbidden",), 404: ("class_not_found",), 409: ("invalid_transition",)},
)
@authenticated
async def set_status(class_id: str) -> Response:
    """Open, pause (cancel-only) or close a class; closing keeps the final ranking."""
    info = owned_class(class_id)
    body = await _status_body.read()
    if body.status not in STATUSES[1:]:
        message = f"Must be one of: {', '.join(STATUSES[1:])}"
        raise invalid([field_error(["body", "status"], message, "enum")])
    classroom = app_state().exchange.classroom
    updated = await classroom.set_status(info, body.status, current_claims().sub)
    return json_response(ClassResponse(class_view(updated)))


@blueprint.get("/<class_id>/leaderboard")
@document_response(LeaderboardResponse)
@documented(
    query=(BOARD_LIMIT,),
    path=CLASS_PATH,
    errors={403: ("forbidden", "leaderboard_hidden"), 404: ("class_not_found",)},
)
@authenticated
async def leaderboard(class_id: str) -> Response:
    """The ranking by total value (``limit``: the first rows only, e.g. a projector's top ten).

    Students of the class see it only when the class allows; its teacher and admins always.
    """
    exchange = app_state().exchange
    classroom = exchange.classroom
    claims = current_claims()
    info = classroom.get(class_id)
    if claims.role == "customer":
        if not classroom.is_member(class_id, claims.sub):
            raise ApiError(403, "forbidden", "Only the class's students see its leaderboard")
        if not info.rules.leaderboard_visible:
            raise Forbidden("The teacher has hidden this leaderboard", "leaderboard_hidden")
    else:
        info = owned_class(class_id)
    limit = BOARD_LIMIT.read() or None
    rows = [standing_view(row) for row in classroom.leaderboard(class_id, limit)]
    final = info.status == "closed"
    return json_response(LeaderboardResponse(class_id, info.status, final, exchange.feed.seq, rows))


@blueprint.get("/<class_id>/students")
@document_response(RosterResponse)
@documented(path=CLASS_PATH, errors={403: ("forbidden",), 404: ("class_not_found",)})
@authenticated
async def roster(class_id: str) -> Response:
    """The class's students with their standing."""
    owned_class(class_id)
    students = app_state().exchange.classroom.roster(class_id)
    return json_response(
        RosterResponse(
            [
                StudentView(
                    s.username,
                    s.first_name,
                    s.last_name,
                    iso_ms(s.joined_at),
                    s.open_orders,
                    None if s.standing is None else standing_view(s.standing),
                )
                for s in students
            ]
        )
    )


def _member(class_id: str, username: str) -> str:
    username = username.lower()
    if not app_state().exchange.classroom.is_member(class_id, username):
        raise NotFound(f"{username} is not in this class", "student_not_found")
    return username


@blueprint.get("/<class_id>/students/<username>")
@document_response(MonitorResponse)
@documented(
    path=STUDENT_PATH, errors={403: ("forbidden",), 404: ("class_not_found", "student_not_found")}
)
@authenticated
async def monitor(class_id: str, username: str) -> Response:
    """One student: cash, holdings, open orders, recent trades and the notes on their orders."""
    owned_class(class_id)
    username = _member(class_id, username)
    exchange = app_state().exchange
    classroom = exchange.classroom
    joined = classroom.joined_at(username)
    portfolio = await exchange.portfolio(username)
    _, prices = exchange.prices()
    holdings = [
        HoldingView(
            h.asset_id,
            format_quantity(h.quantity),
            format_quantity(h.reserved),
            format_usd(proceeds_cents(h.quantity, prices.get(h.asset_id, 0))),
        )
        for h in portfolio.holdings
    ]
    orders = classroom.student_orders(username, joined)
    open_orders = [order_view(o) for o in orders if o.status in ("pending", "review")]
    trades = [order_view(o) for o in orders if o.status == "completed"][:RECENT]
    notes = [NoteView(o.order_id, iso_ms(o.created_at), o.note) for o in orders if o.note]
    standing = next((s for s in classroom.leaderboard(class_id) if s.username == username), None)
    return json_response(
        MonitorResponse(
            username=username,
            cash=format_usd(portfolio.cash),
            reserved=format_usd(portfolio.reserved),
            holdings=holdings,
            open_orders=open_orders,
            trades=trades,
            notes=notes[:RECENT],
            standing=None if standing is None else standing_view(standing),
        )
    )


@blueprint.post("/<class_id>/students/<username>/reset")
@document_response(ResetResponse)
@documented(
    path=STUDENT_PATH,
    busy=True,
    errors={
        403: ("forbidden",),
        404: ("class_not_found", "student_not_found"),
        409: ("class_closed",),
    },
)
@authenticated
async def reset_student(class_id: str, username: str) -> Response:
    """One student back to the starting cash: open orders cancelled, holdings removed."""
    info = owned_class(class_id)
    username = _member(class_id, username)
    await app_state().exchange.classroom.reset(info, username, current_claims().sub)
    return json_response(ResetResponse(1))


@blueprint.post("/<class_id>/reset")
@document_response(ResetResponse)
@documented(
    path=CLASS_PATH,
    busy=True,
    errors={403: ("forbidden",), 404: ("class_not_found",), 409: ("class_closed",)},
)
@authenticated
async def reset_class(class_id: str) -> Response:
    """Every student of the class back to the starting cash."""
    info = owned_class(class_id)
    count = await app_state().exchange.classroom.reset_all(info, current_claims().sub)
    return json_response(ResetResponse(count))


@blueprint.post("/<class_id>/students/<username>/adjust")
@document_request(AdjustRequest)
@document_response(ResetResponse)
@documented(
    path=STUDENT_PATH,
    busy=True,
    errors={
        403: ("forbidden",),
        404: ("class_not_found", "student_not_found"),
        409: ("class_closed",),
        422: ("insufficient_funds",),
    },
)
@authenticated
async def adjust_cash(class_id: str, username: str) -> Response:
    """Give (positive) or take (negative) a student's cash, with a reason."""
    info = owned_class(class_id)
    body = await _adjust_body.read()
    username = _member(class_id, username)
    errors: list[FieldError] = []
    amount = 0
    try:
        amount = parse_usd(body.amount)
    except MoneyFormatError as exc:
        errors.append(field_error(["body", "amount"], str(exc), "decimal_places"))
    if errors == [] and (amount == 0 or abs(amount) > MAX_CASH):
        message = f"Must be non-zero and at most {format_usd(MAX_CASH)} either way"
        errors.append(field_error(["body", "amount"], message, "range"))
    reason = body.reason.strip()
    if not reason or len(reason) > MAX_REASON or any(ord(c) < 32 for c in reason):
        message = f"Must be 1-{MAX_REASON} characters without control characters"
        errors.append(field_error(["body", "reason"], message, "length"))
    if errors:
        raise invalid(errors)
    classroom = app_state().exchange.classroom
    await classroom.adjust(info, username, amount, reason, current_claims().sub)
    return json_response(ResetResponse(1))


@blueprint.post("/<class_id>/students/generate")
@document_request(GenerateRequest)
@documented(
    path=CLASS_PATH,
    busy=True,
    errors={403: ("forbidden",), 404: ("class_not_found",), 409: ("class_closed",)},
    content=(201, "text/csv"),
)
@authenticated
async def generate_logins(class_id: str) -> Response:
    """Create ``count`` student accounts in the class; the CSV of their passwords is shown once."""
    info = owned_class(class_id)
    check_joinable(info)
    body = await _generate_body.read()
    errors: list[FieldError] = []
    if not 1 <= body.count <= MAX_GENERATED:
        errors.append(
            field_error(["body", "count"], f"Must be between 1 and {MAX_GENERATED}", "range")
        )
    if not PREFIX.fullmatch(body.prefix):
        message = "Must be 3-24 letters, digits or '_'"
        errors.append(field_error(["body", "prefix"], message, "string_pattern_mismatch"))
    if errors:
        raise invalid(errors)
    state = app_state()
    exchange = state.exchange
    prefix = body.prefix.lower()
    width = max(2, len(str(body.count)), 6 - len(prefix))
    created: list[tuple[str, str]] = []
    number = 0
    while len(created) < body.count:
        batch: list[tuple[str, str]] = []
        while len(created) + len(batch) < body.count:
            number += 1
            username = f"{prefix}{number:0{width}d}"
            if not USERNAME.fullmatch(username):
                message = "Too long for the count of logins"
                raise invalid([field_error(["body", "prefix"], message, "length")])
            if exchange.credentials(username) is None:
                batch.append((username, generated_password()))
        hashes = await hash_all(state, [password for _, password in batch])
        for (username, password), password_hash in zip(batch, hashes, strict=True):
            user = NewUser(
                username, f"{username}@students.invalid", password_hash, "Student", "Generated"
            )
            try:
                await exchange.register(user)
            except Conflict:
                continue  # registered meanwhile by someone else: the next round takes another
            await exchange.classroom.join(username, info, current_claims().sub)
            created.append((username, password))
    filename = f"{info.code}-logins.csv"
    return csv_response(to_csv(("username", "password"), created), filename, 201)


@blueprint.get("/<class_id>/exports/<kind>.csv")
@documented(
    path=EXPORT_PATH,
    errors={403: ("forbidden",), 404: ("class_not_found",)},
    content=(200, "text/csv"),
)
@authenticated
async def export_csv(class_id: str, kind: str) -> Response:
    """One of the class's exports: roster, leaderboard, trades, orders or actions."""
    info = owned_class(class_id)
    if kind not in KINDS:
        message = f"Must be one of: {', '.join(KINDS)}"
        raise invalid([field_error(["path", "kind"], message, "enum")])
    exchange = app_state().exchange
    data = export(exchange.classroom, exchange.store, class_id, kind)
    return csv_response(data, f"{info.code}-{kind}.csv")
