"""The red-pocket promotion: configured phrases pay their amount once a day, others a token sum.

``data/red_pockets.json`` holds phrase/amount pairs and the default amount; it is validated at
start. A claim is a ``red_pocket`` credit that counts toward (and is bounded by) the daily
deposit limit.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import msgspec

from exchange.cash import Limits, credit_within_limit
from exchange.change import Change
from exchange.clock import day_of_ms
from exchange.errors import Rejected
from exchange.money import MoneyFormatError, format_usd, parse_usd
from exchange.resources import shipped
from exchange.state import Entry

DEFAULT_PATH = shipped("data", "red_pockets.json")
PHRASE_PREFIX = "phrase:"
MAX_PHRASE_LENGTH = 200


class RedPocketError(ValueError):
    """The red-pocket file is unusable; the message names the entry and the field."""


class _RawPhrase(msgspec.Struct, forbid_unknown_fields=True):
    phrase: str
    amount: str


class _RawConfig(msgspec.Struct, forbid_unknown_fields=True):
    version: int
    default_amount: str
    phrases: list[_RawPhrase]


class RedPockets(msgspec.Struct, frozen=True):
    """Amounts in cents: one per configured phrase, and the default."""

    amounts: dict[str, int]
    default_amount: int


class Claim(msgspec.Struct, frozen=True):
    """What a claim paid."""

    entry: Entry
    amount: int
    got_red_pocket: bool


def load_red_pockets(
    path: Path | str | None = None, default_override: Decimal | None = None
) -> RedPockets:
    """Read and validate the phrases; ``default_override`` replaces the file's default amount."""
    source = Path(path) if path else DEFAULT_PATH
    try:
        raw = msgspec.json.decode(source.read_bytes(), type=_RawConfig)
    except OSError as exc:
        raise RedPocketError(f"{source}: cannot read: {exc.strerror}") from None
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise RedPocketError(f"{source}: {exc}") from None

    def amount(where: str, text: object) -> int:
        try:
            cents = parse_usd(text)
        except MoneyFormatError as exc:
            raise RedPocketError(f"{source}: {where}: field 'amount': {exc}") from None
        if cents <= 0:
            raise RedPocketError(f"{source}: {where}: field 'amount': must be greater than 0")
        return cents

    amounts: dict[str, int] = {}
    for index, entry in enumerate(raw.phrases):
        where = f"entry {index}"
        phrase = entry.phrase.strip()
        if not phrase or len(phrase) > MAX_PHRASE_LENGTH:
            raise RedPocketError(
                f"{source}: {where}: field 'phrase': must be 1-{MAX_PHRASE_LENGTH} characters"
            )
        if phrase in amounts:
            raise RedPocketError(
                f"{source}: {where}: field 'phrase': duplicate of an earlier entry"
            )
        amounts[phrase] = amount(where, entry.amount)
    default = amount(
        "default", default_override if default_override is not None else raw.default_amount
    )
    return RedPockets(amounts, default)


def claim(change: Change, phrase: str, pockets: RedPockets, limits: Limits) -> Claim:
    """Pay a claim: a configured phrase once a day, any other phrase the default amount."""
    state = change.state
    today = day_of_ms(change.now)
    state.roll(today)
    text = phrase.strip()
    if state.red_pocket_day == today:
        raise Rejected(
            "A red pocket was already claimed today; come back tomorrow", "already_claimed_today"
        )
    configured = pockets.amounts.get(text)
    amount = pockets.default_amount if configured is None else configured
    reference = None if configured is None else PHRASE_PREFIX + text
    description = f"Red pocket of ${format_usd(amount)}"
    entry = credit_within_limit(change, "red_pocket", amount, limits, description, reference)
    if configured is not None:
        state.red_pocket_day = today
    return Claim(entry, amount, configured is not None)
