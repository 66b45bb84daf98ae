"""Money: the one place that parses, rounds and formats amounts.

Inside the engine every amount is an integer in minor units:

* USD in cents (``CENTS`` per dollar),
* asset quantities in 1e-8 units (``QTY_SCALE`` per unit),
* prices in 1e-8 USD per unit (``PRICE_SCALE`` per dollar).

A buy's cost rounds up to the cent and a sale's proceeds round down; nothing else in the
project does arithmetic on ``Decimal`` or ``float`` money.
"""

from __future__ import annotations

import re
from decimal import Decimal

CENTS = 100
QTY_SCALE = 10**8
PRICE_SCALE = 10**8

# The one accepted form of a decimal, for JSON numbers and numeric strings alike: JSON's own
# number grammar in ASCII digits (no spaces, signs other than a leading "-", underscores,
# leading zeros, or digits of other scripts, all of which ``Decimal()`` would take).
NUMBER = re.compile(r"(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?)(?:[eE]([+-]?[0-9]+))?")
MAX_NUMBER_LENGTH = 40
# Decimal() refuses exponents beyond 10**18; one beyond a million already decides the outcome
# (out of range, or too many decimals), so larger ones are read as a million.
MAX_EXPONENT = 999_999
# Values of 10**15 or more (in dollars, units or dollars per unit) are refused before they are
# scaled: every bound of the API is far below, and scaling a huge exponent would build an
# integer of as many digits.
MAX_WHOLE_DIGITS = 15


class MoneyFormatError(ValueError):
    """A value is not a well-formed amount for the field it was given for."""

    kind = "decimal_parsing"


class TooManyDecimals(MoneyFormatError):
    """An amount has more decimal places than its field allows."""

    kind = "decimal_places"


class OutOfRange(MoneyFormatError):
    """An amount too far from zero for any field, refused before it is scaled."""

    kind = "range"

    def __init__(self, message: str, negative: bool) -> None:
        super().__init__(message)
        self.negative = negative


def to_decimal(value: object) -> Decimal:
    """Read a numeric string (in ``NUMBER``'s form), a number or a Decimal exactly."""
    if isinstance(value, bool):
        raise MoneyFormatError("must be a number")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        # A float reaching here was already parsed by someone else; repr keeps its shortest form.
        result = Decimal(repr(value))
    elif isinstance(value, str):
        # The length is checked first, so the pattern and Decimal() only ever see short text.
        if len(value) > MAX_NUMBER_LENGTH:
            raise MoneyFormatError(f"must be a number of at most {MAX_NUMBER_LENGTH} characters")
        match = NUMBER.fullmatch(value)
        if not match:
            raise MoneyFormatError("must be a decimal number such as 1500.50")
        mantissa, exponent = match.groups()
        if exponent is not None and len(exponent.lstrip("+-").lstrip("0")) > 6:
            exponent = f"{'-' if exponent.startswith('-') else ''}{MAX_EXPONENT}"
        result = Decimal(mantissa if exponent is None else f"{mantissa}E{exponent}")
    else:
        raise MoneyFormatError("must be a number")
    if not result.is_finite():
        raise MoneyFormatError("must be a finite number")
    return result


def _scaled(value: Decimal, places: int, what: str) -> int:
    # adjusted() (the power of ten of the leading digit) costs nothing whatever the exponent.
    if not value.is_zero() and value.adjusted() >= MAX_WHOLE_DIGITS:
        raise OutOfRange(f"{what} is out of range", negative=value < 0)
    exact = value.quantize(Decimal(1).scaleb(-places))
    if exact != value:
        raise TooManyDecimals(f"{what} must have at most {places} decimal places")
    return int(exact.scaleb(places))


def parse_usd(value: object) -> int:
    """Parse a USD amount with at most 2 decimals into cents."""
    return _scaled(to_decimal(value), 2, "amount")


def parse_quantity(value: object) -> int:
    """Parse an asset quantity with at most 8 decimals into 1e-8 units."""
    return _scaled(to_decimal(value), 8, "quantity")


def parse_price(value: object) -> int:
    """Parse a price with at most 8 decimals into 1e-8 USD per unit."""
    return _scaled(to_decimal(value), 8, "price")


def format_usd(cents: int) -> str:
    """Format cents as a decimal string with exactly two places: ``-1500.5 -> "-1500.50"``."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), CENTS)
    return f"{sign}{whole}.{part:02d}"


def _format_scaled(value: int, scale: int, digits: int) -> str:
    sign = "-" if value < 0 else ""
    whole, part = divmod(abs(value), scale)
    frac = f"{part:0{digits}d}".rstrip("0")
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"


def format_quantity(units: int) -> str:
    """Format a quantity in 1e-8 units without trailing zeros: ``150000000 -> "1.5"``."""
    return _format_scaled(units, QTY_SCALE, 8)


def format_price(units: int) -> str:
    """Format a price in 1e-8 USD without trailing zeros."""
    return _format_scaled(units, PRICE_SCALE, 8)


def price_to_float(units: int) -> float:
    """A price as a JSON number, for catalogue market data only."""
    return units / PRICE_SCALE


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


_VALUE_DIVISOR = QTY_SCALE * PRICE_SCALE // CENTS


def cost_cents(quantity: int, price: int) -> int:
    """What a buy of ``quantity`` at ``price`` costs, rounded up to the cent."""
    return _ceil_div(quantity * price, _VALUE_DIVISOR)


def proceeds_cents(quantity: int, price: int) -> int:
    """What a sale of ``quantity`` at ``price`` pays, rounded down to the cent."""
    return (quantity * price) // _VALUE_DIVISOR


def fee_cents(value_cents: int, bps: int) -> int:
    """A fee of ``bps`` basis points on a value, rounded up to the cent (in the house's favour)."""
    return _ceil_div(value_cents * bps, 10_000)


def display_usd(cents: int) -> str:
    """Cents for people to read, with a sign, a dollar sign and thousands separators."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), CENTS)
    return f"{sign}${whole:,}.{part:02d}"
