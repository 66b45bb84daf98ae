"""Money parsing, formatting and rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.money import (
    MoneyFormatError,
    cost_cents,
    fee_cents,
    format_price,
    format_quantity,
    format_usd,
    parse_price,
    parse_quantity,
    parse_usd,
    proceeds_cents,
)


@pytest.mark.parametrize(
    ("value", "cents"),
    [
        ("100.50", 10050),
        (100, 10000),
        ("0.01", 1),
        (Decimal("1.10"), 110),
        ("1.000", 100),
        (" 7 ", 700),
    ],
)
def test_parse_usd(value: object, cents: int) -> None:
    assert parse_usd(value) == cents


@pytest.mark.parametrize(
    "value", ["1.001", "abc", "", "NaN", "Infinity", "-Infinity", True, None, [1], "1e400.5"]
)
def test_parse_usd_rejects(value: object) -> None:
    with pytest.raises(MoneyFormatError):
        parse_usd(value)


def test_format() -> None:
    assert format_usd(150050) == "1500.50"
    assert format_usd(-5) == "-0.05"
    assert format_usd(0) == "0.00"
    assert format_quantity(150_000_000) == "1.5"
    assert format_quantity(1) == "0.00000001"
    assert format_price(6_400_000_000_000) == "64000"
    assert parse_quantity("0.001") == 100_000
    assert parse_price("0.00001823") == 1823


def test_rounding_favours_the_house() -> None:
    # 0.00000001 units at $1.5 is $0.000000015: a buy costs a cent, a sale pays nothing.
    assert cost_cents(1, parse_price("1.5")) == 1
    assert proceeds_cents(1, parse_price("1.5")) == 0
    assert cost_cents(parse_quantity("0.1"), parse_price("64000")) == 640_000
    assert fee_cents(10_001, 10) == 11


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_usd_round_trip(cents: int) -> None:
    assert parse_usd(format_usd(cents)) == cents


@given(
    st.integers(min_value=1, max_value=10**14),
    st.integers(min_value=1, max_value=10**14),
)
def test_cost_and_proceeds_bracket_the_exact_value(quantity: int, price: int) -> None:
    exact = Decimal(quantity) * Decimal(price) / Decimal(10**14)
    assert cost_cents(quantity, price) >= exact >= proceeds_cents(quantity, price)
    assert cost_cents(quantity, price) - proceeds_cents(quantity, price) <= 1
