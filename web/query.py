"""Query-string parameters, validated into 422 field errors."""

from __future__ import annotations

import re

from quart import request

from web.errors import field_error, invalid

SQL_INT_MAX = 2**63 - 1


def int_param(name: str, default: int, low: int, high: int | None = None) -> int:
    """An integer query parameter within ``[low, high]``."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid([field_error(["query", name], "Must be an integer", "int_parsing")]) from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise invalid([field_error(["query", name], f"Must be {bound}", "range")])
    if value > SQL_INT_MAX:
        # Larger does not fit a database integer (it would fail the query, a 500).
        raise invalid([field_error(["query", name], f"Must be at most {SQL_INT_MAX}", "range")])
    return value


def choice_param(name: str, choices: tuple[str, ...]) -> str | None:
    """An optional query parameter that must be one of ``choices``."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if raw not in choices:
        message = f"Must be one of: {', '.join(choices)}"
        raise invalid([field_error(["query", name], message, "enum")])
    return raw


def pattern_param(name: str, pattern: re.Pattern[str], message: str) -> str | None:
    """An optional query parameter that must match ``pattern``."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if not pattern.fullmatch(raw):
        raise invalid([field_error(["query", name], message, "string_pattern_mismatch")])
    return raw
