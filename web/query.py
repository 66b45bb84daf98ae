"""Query-string parameters, validated into 422 field errors, and the one integer grammar."""

from __future__ import annotations

import re

from quart import request

from web.errors import field_error, invalid

SQL_INT_MAX = 2**63 - 1
# ASCII digits only (``int()`` also takes "\uff11\uff10\uff10", " 100 " and "1_000"), with an
# optional minus sign. 19 digits hold every database integer: longer is out of range unread.
INTEGER = re.compile(r"-?[0-9]+")
MAX_DIGITS = 19


class BadInteger(ValueError):
    """Text that is not an integer in the accepted form and range; ``kind`` names the failure."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def parse_int(text: str, low: int, high: int | None = None) -> int:
    """An integer in ``INTEGER``'s form within ``[low, high]`` (and a database integer)."""
    if not INTEGER.fullmatch(text):
        raise BadInteger("Must be an integer", "int_parsing")
    # Beyond a database integer the query would fail (a 500), so that is the highest bound.
    cap = SQL_INT_MAX if high is None else min(high, SQL_INT_MAX)
    if len(text.lstrip("-")) > MAX_DIGITS or not low <= int(text) <= cap:
        raise BadInteger(f"Must be between {low} and {cap}", "range")
    return int(text)


def int_param(name: str, default: int, low: int, high: int | None = None) -> int:
    """An integer query parameter within ``[low, high]``."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return parse_int(raw, low, high)
    except BadInteger as exc:
        raise invalid([field_error(["query", name], str(exc), exc.kind)]) from None


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
