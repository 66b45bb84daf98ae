"""The built-in analyst: 2-4 plain sentences about a portfolio, written from its facts alone.

Deterministic (the same facts give the same text) and offline, so insights work without any
external model. The rules it follows are listed in docs/insights.md.
"""

from __future__ import annotations

from exchange.insights import (
    BALANCED,
    CASH_ONLY,
    CONCENTRATED,
    DIVERSIFIED,
    EMPTY,
    RECENT_ORDERS,
    SINGLE_ASSET,
    Facts,
)
from exchange.money import display_usd

MODEL = "builtin-analyst/1"
CASH_HEAVY_PCT = 80.0

EMPTY_TEXT = (
    "Your portfolio is empty for now, so there is nothing to analyse yet. "
    "Deposit some USD and make a first trade, even a small one, to start building it and "
    "see how the market moves."
)


def _pct(value: float) -> str:
    return f"{value:.1f}%"


def _signed(value: float) -> str:
    return f"{value:+.1f}%"


def _asset(name: str | None, asset_id: str | None) -> str:
    return f"{name} ({asset_id})"


def _cash_clause(facts: Facts) -> str:
    if not facts.cash_cents:
        return "no cash left"
    return f"{display_usd(facts.cash_cents)} ({_pct(facts.cash_share_pct)}) in cash"


def _overview(facts: Facts) -> str:
    total = display_usd(facts.total_value_cents)
    if facts.diversification == SINGLE_ASSET:
        only = _asset(facts.largest_asset_name, facts.largest_asset)
        return (
            f"Your portfolio is worth {total}, with {only} as your only holding and "
            f"{_cash_clause(facts)}."
        )
    return (
        f"Your portfolio is worth {total} across {facts.holdings_count} assets, with "
        f"{_cash_clause(facts)}."
    )


def _allocation(facts: Facts) -> str:
    largest = _asset(facts.largest_asset_name, facts.largest_asset)
    share = _pct(facts.largest_share_pct or 0.0)
    verdict = facts.diversification
    if verdict == SINGLE_ASSET:
        text = (
            "Everything you have invested rides on one asset, so its swings are your swings; "
            "a second or third asset would spread that risk"
        )
    elif verdict == CONCENTRATED:
        text = (
            f"{largest} makes up {share} of your holdings, a concentrated position that "
            "drives most of your results; spreading new purchases over other assets would "
            "lower that risk"
        )
    elif verdict == BALANCED:
        text = (
            f"Your holdings are split between two assets, the larger being {largest} at "
            f"{share}; a third asset would diversify them further"
        )
    else:
        assert verdict == DIVERSIFIED
        text = (
            f"No single asset dominates: the largest, {largest}, is {share} of your "
            "holdings, so your portfolio is well diversified"
        )
    if facts.cash_share_pct >= CASH_HEAVY_PCT:
        text += ", though most of your value still sits in cash"
    return text + "."


def _performance(facts: Facts) -> str | None:
    parts = []
    if facts.cost_basis_cents:
        pnl = facts.unrealized_pnl_cents
        basis = display_usd(facts.cost_basis_cents)
        if pnl:
            direction = "up" if pnl > 0 else "down"
            pct = facts.unrealized_pnl_pct
            # A move that rounds to 0.0% says nothing the dollar amount does not.
            pct_text = "" if pct is None or round(pct, 1) == 0 else f" ({_signed(pct)})"
            parts.append(
                f"you are {direction} {display_usd(abs(pnl))}{pct_text} unrealized against a cost "
                f"basis of {basis}"
            )
        else:
            parts.append(f"your holdings are worth exactly their cost basis of {basis}")
    if facts.move_24h_pct is not None:
        move = f"your holdings moved {_signed(facts.move_24h_pct)} over the last 24 hours"
        if facts.holdings_count > 1 and facts.biggest_mover_pct_24h is not None:
            mover = _asset(facts.biggest_mover_name, facts.biggest_mover)
            move += f", the biggest mover being {mover} at {_signed(facts.biggest_mover_pct_24h)}"
        parts.append(move)
    if not parts:
        return None
    text = ", and ".join(parts)
    return text[0].upper() + text[1:] + "."


def _activity(facts: Facts) -> str | None:
    last = (
        None
        if facts.last_trade_side is None
        else f"your last trade was a {facts.last_trade_side} of {facts.last_trade_asset}"
    )
    count = facts.orders_7d
    if count:
        many = f"at least {count}" if count >= RECENT_ORDERS else str(count)
        text = f"You placed {many} order{'s' if count > 1 else ''} in the last 7 days"
        return f"{text}; {last}." if last else f"{text}."
    if last:
        return f"You placed no orders in the last 7 days; {last}."
    return None


def write_summary(facts: Facts) -> str:
    """Two to four sentences about the portfolio, the same for the same facts."""
    if facts.diversification == EMPTY:
        return EMPTY_TEXT
    if facts.diversification == CASH_ONLY:
        sentences = [
            f"You hold {display_usd(facts.cash_cents)}, all of it in cash, with nothing "
            "invested yet.",
            "Market moves cannot touch your balance until you buy; a small first trade in a "
            "large, liquid asset is a simple way to start.",
        ]
    else:
        sentences = [_overview(facts), _allocation(facts)]
        performance = _performance(facts)
        if performance:
            sentences.append(performance)
    activity = _activity(facts)
    if activity:
        sentences.append(activity)
    return " ".join(sentences)
