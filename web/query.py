"""Query-string parameters, validated into 422 field errors and documented in the spec.

A route declares each parameter once as an object (``IntQuery`` ...): the route reads it with
``read()`` and lists it in ``documented(query=...)``, which puts its bounds in the spec. Every
integer goes through one grammar (``parse_int``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

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


TRUE_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def bool_param(name: str, default: bool) -> bool:
    """An optional boolean query parameter: true/false, 1/0 or yes/no, any case."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    value = TRUE_WORDS.get(raw.lower())
    if value is None:
        raise invalid([field_error(["query", name], "Must be true or false", "bool_parsing")])
    return value


def _parameter(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        # Every reader here takes an empty value (``?limit=``) as the parameter left out.
        "allowEmptyValue": True,
        "description": description,
        "schema": schema,
    }


@dataclass(frozen=True)
class IntQuery:
    """An integer parameter within ``[low, high]``: read by the route, documented by the spec."""

    name: str
    default: int
    low: int
    high: int | None = None
    description: str = ""

    def read(self) -> int:
        """The current request's value."""
        return int_param(self.name, self.default, self.low, self.high)

    def parameter(self) -> dict[str, Any]:
        """The OpenAPI parameter object."""
        schema = {
            "type": "integer",
            "minimum": self.low,
            "maximum": SQL_INT_MAX if self.high is None else self.high,
            "default": self.default,
        }
        return _parameter(self.name, self.description, schema)


@dataclass(frozen=True)
class ChoiceQuery:
    """An optional parameter that must be one of ``choices``."""

    name: str
    choices: tuple[str, ...]
    description: str = ""
    default: str | None = None

    def read(self) -> str | None:
        """The current request's value, or ``default`` when absent."""
        return choice_param(self.name, self.choices) or self.default

    def parameter(self) -> dict[str, Any]:
        """The OpenAPI parameter object."""
        schema: dict[str, Any] = {"type": "string", "enum": list(self.choices)}
        if self.default is not None:
            schema["default"] = self.default
        return _parameter(self.name, self.description, schema)


@dataclass(frozen=True)
class PatternQuery:
    """An optional parameter that must match ``pattern`` in full."""

    name: str
    pattern: re.Pattern[str]
    message: str
    description: str = ""

    def read(self) -> str | None:
        """The current request's value, or None when absent."""
        return pattern_param(self.name, self.pattern, self.message)

    def parameter(self) -> dict[str, Any]:
        """The OpenAPI parameter object."""
        schema = {"type": "string", "pattern": anchored(self.pattern)}
        return _parameter(self.name, self.description, schema)


@dataclass(frozen=True)
class BoolQuery:
    """An optional boolean parameter."""

    name: str
    default: bool
    description: str = ""

    def read(self) -> bool:
        """The current request's value."""
        return bool_param(self.name, self.default)

    def parameter(self) -> dict[str, Any]:
        """The OpenAPI parameter object (also accepted: 1/0, yes/no, any case)."""
        schema = {"type": "boolean", "default": self.default}
        return _parameter(self.name, self.description, schema)


@dataclass(frozen=True)
class TextQuery:
    """An optional free-text parameter."""

    name: str
    description: str = ""

    def read(self) -> str | None:
        """The current request's value, or None when absent or empty."""
        return request.args.get(self.name) or None

    def parameter(self) -> dict[str, Any]:
        """The OpenAPI parameter object."""
        return _parameter(self.name, self.description, {"type": "string"})


QueryParam = IntQuery | ChoiceQuery | PatternQuery | BoolQuery | TextQuery


def anchored(pattern: re.Pattern[str]) -> str:
    """``pattern`` as a JSON Schema pattern, which must match the whole value as ``fullmatch``."""
    return f"^(?:{pattern.pattern})$"
