"""Money: the one place that parses, rounds and formats amounts.

Inside the engine every amount is an integer in minor units:

* USD in cents (``CENTS`` per dollar),
* asset quantities in 1e-8 units (``QTY_SCALE`` per unit),
* prices in 1e-8 USD per unit (``PRICE_SCALE`` per dollar).

A buy's cost rounds up to the cent and a sale's proceeds round down; nothing else in the
project does arithmetic on ``Decimal`` or ``float`` money.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

CENTS = 100
QTY_SCALE = 10**8
PRICE_SCALE = 10**8


class MoneyFormatError(ValueError):
    """A value is not a well-formed amount for the field it was given for."""


def to_decimal(value: object) -> Decimal:
    """Read a JSON number, numeric string or Decimal exactly (never through float)."""
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
        text = value.strip()
        if not text:
            raise MoneyFormatError("must be a number")
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise MoneyFormatError("must be a number") from None
    else:
        raise MoneyFormatError("must be a number")
    if not result.is_finite():
        raise MoneyFormatError("must be a finite number")
    return result


def _scaled(value: Decimal, scale: int, places: int, what: str) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite values only
    if exponent < -places and value != value.quantize(Decimal(1).scaleb(-places)):
        raise MoneyFormatError(f"{what} must have at most {places} decimal places")
    return int(value * scale)


def parse_usd(value: object) -> int:
    """Parse a USD amount with at most 2 decimals into cents."""
    return _scaled(to_decimal(value), CENTS, 2, "amount")


def parse_quantity(value: object) -> int:
    """Parse an asset quantity with at most 8 decimals into 1e-8 units."""
    return _scaled(to_decimal(value), QTY_SCALE, 8, "quantity")


def parse_price(value: object) -> int:
    """Parse a price with at most 8 decimals into 1e-8 USD per unit."""
    return _scaled(to_decimal(value), PRICE_SCALE, 8, "price")


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
