"""Who may touch a class, and a class's rules from a request body (422 field errors)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from functools import wraps
from typing import Any, TypeVar, cast

from exchange.classes import ClassInfo, ClassRules, join_path
from exchange.clock import iso_ms
from exchange.leaderboard import Standing
from exchange.money import CENTS, MoneyFormatError, format_usd, parse_usd
from web.auth import authenticated, current_claims
from web.classwire import ClassView, RulesBody, RulesView, StandingView
from web.errors import ApiError, FieldError, field_error
from web.state import app_state

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

STAFF = ("admin", "teacher")
MAX_CASH = 1_000_000 * CENTS
MAX_FEE_BPS = 1_000
MAX_ORDER_RATE = 600
MAX_NAME = 100


def staff_only(handler: F) -> F:
    """Require a valid token (401) of a teacher or an admin (403)."""

    @wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_claims().role not in STAFF:
            raise ApiError(403, "forbidden", "Teacher or admin role required")
        return await handler(*args, **kwargs)

    return authenticated(cast(F, wrapper))


def owned_class(class_id: str) -> ClassInfo:
    """The class, if the caller is its teacher or an admin: 404 unknown, 403 someone else's."""
    info = app_state().exchange.classroom.get(class_id)
    claims = current_claims()
    if claims.role == "admin" or (claims.role == "teacher" and info.teacher == claims.sub):
        return info
    raise ApiError(403, "forbidden", "Only the class's teacher or an admin may do this")


def _usd(errors: list[FieldError], name: str, value: Decimal | None, low: int) -> int | None:
    if value is None:
        return None
    try:
        cents = parse_usd(value)
    except MoneyFormatError as exc:
        errors.append(field_error(["body", "rules", name], str(exc), "decimal_places"))
        return None
    if not low <= cents <= MAX_CASH:
        message = f"Must be between {format_usd(low)} and {format_usd(MAX_CASH)}"
        errors.append(field_error(["body", "rules", name], message, "range"))
        return None
    return cents


def _time(errors: list[FieldError], name: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        message = "Must be an ISO-8601 time with a time zone (e.g. Z)"
        errors.append(field_error(["body", "rules", name], message, "datetime_parsing"))
        return None
    return round(moment.timestamp() * 1000)


def _range(errors: list[FieldError], name: str, value: int | None, low: int, high: int) -> None:
    if value is not None and not low <= value <= high:
        errors.append(
            field_error(["body", "rules", name], f"Must be between {low} and {high}", "range")
        )


def parse_rules(body: RulesBody, errors: list[FieldError]) -> ClassRules:
    """The engine's rules from a body; problems are appended to ``errors``."""
    exchange = app_state().exchange
    known_assets = {asset.asset_id for asset in exchange.assets}
    known_categories = {asset.category for asset in exchange.assets}
    assets = None
    if body.allowed_assets is not None:
        assets = tuple(sorted({a.upper() for a in body.allowed_assets}))
        unknown = [a for a in assets if a not in known_assets]
        if unknown or not assets:
            message = f"Unknown assets: {', '.join(unknown)}" if unknown else "Must not be empty"
            errors.append(field_error(["body", "rules", "allowed_assets"], message, "enum"))
    categories = None
    if body.allowed_categories is not None:
        categories = tuple(sorted(set(body.allowed_categories)))
        unknown = [c for c in categories if c not in known_categories]
        if unknown or not categories:
            message = f"Must be among: {', '.join(sorted(known_categories))}"
            errors.append(field_error(["body", "rules", "allowed_categories"], message, "enum"))
    _range(errors, "fee_bps", body.fee_bps, 0, MAX_FEE_BPS)
    _range(errors, "max_position_pct", body.max_position_pct, 1, 100)
    _range(errors, "orders_per_minute", body.orders_per_minute, 1, MAX_ORDER_RATE)
    opens_at = _time(errors, "opens_at", body.opens_at)
    closes_at = _time(errors, "closes_at", body.closes_at)
    if opens_at is not None and closes_at is not None and closes_at <= opens_at:
        errors.append(
            field_error(["body", "rules", "closes_at"], "Must be after opens_at", "range")
        )
    return ClassRules(
        starting_cash=_usd(errors, "starting_cash", body.starting_cash, 0) or 0,
        allowed_assets=assets,
        allowed_categories=categories,
        fee_bps=body.fee_bps,
        max_order_value=_usd(errors, "max_order_value", body.max_order_value, 1),
        max_position_pct=body.max_position_pct,
        orders_per_minute=body.orders_per_minute,
        deposits_allowed=body.deposits_allowed,
        withdrawals_allowed=body.withdrawals_allowed,
        opens_at=opens_at,
        closes_at=closes_at,
        leaderboard_visible=body.leaderboard_visible,
        review_above=_usd(errors, "review_above", body.review_above, 0),
    )


def class_name(value: str, errors: list[FieldError]) -> str:
    """A class's name: 1-100 characters, trimmed, without markup or control characters."""
    text = value.strip()
    if not text or len(text) > MAX_NAME:
        errors.append(field_error(["body", "name"], f"Must be 1-{MAX_NAME} characters", "length"))
    elif any(c in "<>" or ord(c) < 32 for c in text):
        message = "Must not contain '<', '>' or control characters"
        errors.append(field_error(["body", "name"], message, "markup"))
    return text


def _iso(ms: int | None) -> str | None:
    return None if ms is None else iso_ms(ms)


def rules_view(rules: ClassRules) -> RulesView:
    """A class's rules on the wire."""
    return RulesView(
        starting_cash=format_usd(rules.starting_cash),
        allowed_assets=None if rules.allowed_assets is None else list(rules.allowed_assets),
        allowed_categories=None
        if rules.allowed_categories is None
        else list(rules.allowed_categories),
        fee_bps=rules.fee_bps,
        max_order_value=None
        if rules.max_order_value is None
        else format_usd(rules.max_order_value),
        max_position_pct=rules.max_position_pct,
        orders_per_minute=rules.orders_per_minute,
        deposits_allowed=rules.deposits_allowed,
        withdrawals_allowed=rules.withdrawals_allowed,
        opens_at=_iso(rules.opens_at),
        closes_at=_iso(rules.closes_at),
        leaderboard_visible=rules.leaderboard_visible,
        review_above=None if rules.review_above is None else format_usd(rules.review_above),
    )


def class_view(info: ClassInfo) -> ClassView:
    """A class on the wire."""
    students = len(app_state().exchange.classroom.usernames(info.class_id))
    return ClassView(
        class_id=info.class_id,
        name=info.name,
        teacher=info.teacher,
        code=info.code,
        join_path=join_path(info.code),
        status=info.status,
        rules=rules_view(info.rules),
        students=students,
        created_at=iso_ms(info.created_at),
        updated_at=iso_ms(info.updated_at),
    )


def standing_view(s: Standing) -> StandingView:
    """A leaderboard row on the wire."""
    return StandingView(
        rank=s.rank,
        username=s.username,
        cash=format_usd(s.cash),
        holdings_value=format_usd(s.holdings_value),
        total_value=format_usd(s.total_value),
        basis=format_usd(s.basis),
        pnl=format_usd(s.pnl),
        return_pct=None if s.return_pct is None else f"{s.return_pct:.2f}",
        trades=s.trades,
    )
