"""Money parsing, formatting and rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.money import (
    MAX_NUMBER_LENGTH,
    MoneyFormatError,
    OutOfRange,
    TooManyDecimals,
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
        ("1e2", 10000),
        ("1E+2", 10000),
        ("12.5e-1", 125),
        ("-0.5", -50),
        ("0e999999999", 0),
        ("0e-99999999999999999999999999999", 0),
        ("1e0000001", 1000),
        ("-5e-0000000000000000000000001", -50),
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


@pytest.mark.parametrize(
    "text",
    [
        "\uff11\uff10\uff10",  # fullwidth 100
        "\u0661\u0660\u0660",  # Arabic-Indic 100
        "1\u00b2",
        "1_000",
        " 7 ",
        "7 ",
        "\t7",
        "7\n",
        "+1",
        "01",
        ".5",
        "5.",
        "1e",
        "1e+",
        "1,000",
        "0x10",
        "-",
        "--1",
        "1 000",
    ],
)
def test_only_the_documented_form_of_a_number_is_read(text: str) -> None:
    for parse in (parse_usd, parse_quantity, parse_price):
        with pytest.raises(MoneyFormatError):
            parse(text)


def test_text_longer_than_the_limit_is_refused_unread() -> None:
    assert parse_usd("1." + "0" * (MAX_NUMBER_LENGTH - 2)) == 100
    with pytest.raises(MoneyFormatError, match="at most 40 characters"):
        parse_usd("1." + "0" * (MAX_NUMBER_LENGTH - 1))
    with pytest.raises(MoneyFormatError, match="at most 40 characters"):
        parse_usd("1" * 1_000_000)


@pytest.mark.parametrize(
    "value",
    [
        "1e999990",
        "1e999999999",
        "-1e999999999",
        "1E+999999999999999999",
        "1E+9999999999999999999999999999",
        "-1e99999999999999999999999999999999999",
        Decimal("1e999999999"),
        Decimal("-1e999990"),
        "1000000000000000",
        10**15,
        Decimal("999999999999999.5e1"),
    ],
)
def test_huge_values_are_out_of_range_before_any_scaling(value: object) -> None:
    for parse in (parse_usd, parse_quantity, parse_price):
        with pytest.raises(OutOfRange) as refused:
            parse(value)
        assert refused.value.negative == str(value).startswith("-")


def test_the_largest_value_in_range_is_scaled_exactly() -> None:
    assert parse_usd("999999999999999.99") == 99_999_999_999_999_999
    assert parse_quantity("999999999999999.99999999") == 99_999_999_999_999_999_999_999
    assert parse_price("-999999999999999") == -99_999_999_999_999_900_000_000


@pytest.mark.parametrize(
    "value", ["1e-999999999", "1e-9999999999999999999999999999", "0.001", Decimal("1E-3")]
)
def test_tiny_values_have_too_many_decimals(value: object) -> None:
    with pytest.raises(TooManyDecimals):
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
