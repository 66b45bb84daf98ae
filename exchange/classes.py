"""Classes: their rules, lifecycle and join codes, and the checks a student's order must pass.

Pure and synchronous: the classroom shell (``exchange.classroom``) keeps the records and writes
them through the store; the account actor calls ``check_order`` and friends on its own state.
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass, field

import msgspec

from exchange.errors import Conflict, DomainError, Forbidden, RateLimited, Rejected
from exchange.money import CENTS, format_usd, proceeds_cents

# Letters and digits that cannot be mistaken for one another (no 0/O, 1/I/L, 5/S, 2/Z, 8/B).
CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
CODE_LENGTH = 6
STATUSES = ("draft", "open", "paused", "closed")
# Which lifecycle moves a teacher may make.
TRANSITIONS = {
    "draft": ("open", "closed"),
    "open": ("paused", "closed"),
    "paused": ("open", "closed"),
    "closed": (),
}
DEFAULT_STARTING_CASH = 10_000 * CENTS
DEFAULT_ORDER_RATE = 30  # orders per student per minute
ORDER_WINDOW_MS = 60_000


class ClassRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A class's rules; amounts in cents, times in epoch milliseconds, ``None`` is no limit."""

    starting_cash: int = DEFAULT_STARTING_CASH
    allowed_assets: tuple[str, ...] | None = None
    allowed_categories: tuple[str, ...] | None = None
    fee_bps: int = 0
    max_order_value: int | None = None
    max_position_pct: int | None = None
    orders_per_minute: int = DEFAULT_ORDER_RATE
    deposits_allowed: bool = False
    withdrawals_allowed: bool = False
    opens_at: int | None = None
    closes_at: int | None = None
    leaderboard_visible: bool = True
    review_above: int | None = None


class ClassInfo(msgspec.Struct, frozen=True):
    """One class as the engine knows it."""

    class_id: str
    name: str
    teacher: str
    code: str
    status: str
    rules: ClassRules
    created_at: int
    updated_at: int


@dataclass
class Membership:
    """A student's place in a class, held by their account actor.

    ``basis`` is what the student was given (the starting cash, the value they brought, and
    every adjustment, deposit and withdrawal since): the leaderboard's return is measured
    against it. ``trades`` counts fills since joining or the last reset.
    """

    class_id: str
    basis: int
    trades: int
    joined_at: int
    # Times (ms) of this student's recent orders, for the per-minute order rate.
    recent: deque[int] = field(default_factory=deque)


def new_code() -> str:
    """A fresh join code of ``CODE_LENGTH`` unambiguous characters."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normal_code(code: str) -> str:
    """A typed join code as stored: upper case, spaces and dashes dropped."""
    return code.strip().upper().replace("-", "").replace(" ", "")


def join_path(code: str) -> str:
    """The join link of a code."""
    return f"/join/{code}"


def check_transition(current: str, wanted: str) -> None:
    """Refuse a lifecycle move that is not allowed (409 ``invalid_transition``)."""
    if wanted not in TRANSITIONS.get(current, ()):
        raise Conflict(f"A {current} class cannot become {wanted}", "invalid_transition")


def check_joinable(info: ClassInfo) -> None:
    """Students may join a class until it closes."""
    if info.status == "closed":
        raise Conflict("This class is closed", "class_closed")


def check_trading(info: ClassInfo, now_ms: int) -> None:
    """Refuse a new order outside the class's open state or trading window (409)."""
    if info.status == "draft":
        raise Conflict("The class has not opened yet", "class_not_open")
    if info.status == "paused":
        raise Conflict("The class is paused: only cancels are accepted", "class_paused")
    if info.status == "closed":
        raise Conflict("The class is closed", "class_closed")
    rules = info.rules
    if rules.opens_at is not None and now_ms < rules.opens_at:
        raise Conflict("Trading in this class has not started yet", "outside_trading_window")
    if rules.closes_at is not None and now_ms >= rules.closes_at:
        raise Conflict("Trading in this class has ended", "outside_trading_window")


def trading_now(info: ClassInfo, now_ms: int) -> bool:
    """True when orders of the class may fill (resting orders wait otherwise)."""
    try:
        check_trading(info, now_ms)
    except DomainError:
        return False
    return True


def check_asset(rules: ClassRules, asset_id: str, category: str | None) -> None:
    """Refuse an asset outside the class's allowed assets or categories (422)."""
    assets, categories = rules.allowed_assets, rules.allowed_categories
    if assets is None and categories is None:
        return
    if assets is not None and asset_id in assets:
        return
    if categories is not None and category in categories:
        return
    raise Rejected(f"{asset_id} may not be traded in this class", "asset_not_allowed")


def check_rate(member: Membership, rules: ClassRules, now_ms: int) -> None:
    """Count an order against the student's per-minute rate; 429 with a wait when over."""
    recent = member.recent
    while recent and recent[0] <= now_ms - ORDER_WINDOW_MS:
        recent.popleft()
    if len(recent) >= rules.orders_per_minute:
        wait = (recent[0] + ORDER_WINDOW_MS - now_ms) / 1000
        message = f"At most {rules.orders_per_minute} orders per minute in this class"
        raise RateLimited(message, wait, "class_order_rate_limited")
    recent.append(now_ms)


def check_position(
    rules: ClassRules, asset_id: str, held_value: int, order_value: int, equity: int
) -> None:
    """Refuse a buy that would put more than ``max_position_pct`` of equity in one asset."""
    pct = rules.max_position_pct
    if pct is None:
        return
    after = held_value + order_value
    if after * 100 > pct * equity:
        raise Rejected(
            f"{asset_id} would be ${format_usd(after)} of equity ${format_usd(equity)}: "
            f"at most {pct}% in one asset",
            "position_limit_exceeded",
        )


def check_cash_flow(rules: ClassRules, deposit: bool) -> None:
    """Refuse a deposit or withdrawal the class does not allow (403)."""
    if deposit and not rules.deposits_allowed:
        raise Forbidden("Deposits are not allowed in this class", "deposits_not_allowed")
    if not deposit and not rules.withdrawals_allowed:
        raise Forbidden("Withdrawals are not allowed in this class", "withdrawals_not_allowed")


def holdings_value(quantities: dict[str, int], prices: dict[str, int]) -> int:
    """What holdings are worth at the given prices, in cents (each rounded down)."""
    return sum(proceeds_cents(qty, prices.get(asset_id, 0)) for asset_id, qty in quantities.items())
