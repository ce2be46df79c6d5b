"""Money: integer minor units, strict parsing, exact splits, named rounding."""

from __future__ import annotations

from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core.errors import (
    CurrencyMismatchError,
    InvalidAmountError,
    LedgerError,
    UnknownCurrencyError,
)
from ledger.core.money import (
    MAX_MINOR,
    Money,
    allocate_minor,
    format_it,
    format_minor,
)

# --------------------------------------------------------------------------- refusals


def test_a_float_amount_is_refused_by_the_constructor():
    with pytest.raises(InvalidAmountError):
        Money(1.5, "EUR")  # type: ignore[arg-type]


def test_a_float_that_happens_to_be_whole_is_refused_too():
    with pytest.raises(InvalidAmountError):
        Money(2.0, "EUR")  # type: ignore[arg-type]


def test_a_float_given_to_parse_is_refused():
    with pytest.raises(InvalidAmountError):
        Money.parse(1.5, "EUR")  # type: ignore[arg-type]


def test_a_decimal_given_to_the_constructor_is_refused():
    with pytest.raises(InvalidAmountError):
        Money(Decimal("1.50"), "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize("flag", [True, False])
def test_a_boolean_is_not_an_amount(flag):
    with pytest.raises(InvalidAmountError):
        Money(flag, "EUR")


@pytest.mark.parametrize("currency", ["XXX", "eur", "EURO", "", None])
def test_an_unknown_currency_is_refused(currency):
    with pytest.raises(UnknownCurrencyError):
        Money(100, currency)  # type: ignore[arg-type]


def test_parse_refuses_an_unknown_currency():
    with pytest.raises(UnknownCurrencyError):
        Money.parse("1.00", "ZZZ")


def test_refusals_carry_stable_codes():
    with pytest.raises(LedgerError) as amount:
        Money(1.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(LedgerError) as currency:
        Money(1, "XXX")
    assert amount.value.code == "invalid_amount"
    assert currency.value.code == "unknown_currency"


# --------------------------------------------------------------------------- parsing


def test_parsing_excess_precision_for_eur_is_an_error_not_a_rounding():
    with pytest.raises(InvalidAmountError):
        Money.parse("12.345", "EUR")


def test_parsing_a_fraction_of_a_yen_is_an_error():
    with pytest.raises(InvalidAmountError):
        Money.parse("1.5", "JPY")


def test_parsing_a_yen_amount_with_a_zero_fraction_is_still_refused():
    with pytest.raises(InvalidAmountError):
        Money.parse("1.0", "JPY")


def test_kuwaiti_dinar_accepts_three_decimals():
    assert Money.parse("1.234", "KWD") == Money(1234, "KWD")


def test_kuwaiti_dinar_refuses_four_decimals():
    with pytest.raises(InvalidAmountError):
        Money.parse("1.2345", "KWD")


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.50", "EUR", 1250),
        ("12.5", "EUR", 1250),
        ("12", "EUR", 1200),
        ("0.07", "EUR", 7),
        ("-3", "EUR", -300),
        ("-0.01", "EUR", -1),
        ("1500", "JPY", 1500),
        ("-7", "JPY", -7),
        ("0.001", "KWD", 1),
    ],
)
def test_parse_reads_decimal_strings_into_minor_units(text, currency, minor):
    assert Money.parse(text, currency) == Money(minor, currency)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "abc",
        "1,50",
        "1.234,56",
        "1e3",
        "+5",
        ".5",
        "5.",
        "--1",
        "1.2.3",
        "€5",
        "5 EUR",
        "0x10",
        "1_000",
        "NaN",
        "Infinity",
        "- 1",
    ],
)
def test_parse_refuses_malformed_strings(text):
    with pytest.raises(InvalidAmountError):
        Money.parse(text, "EUR")


@pytest.mark.parametrize("text", ["١٢.٥٠", "１２.５０", "12.5٠"])
def test_parse_refuses_digits_outside_ascii(text):
    with pytest.raises(InvalidAmountError):
        Money.parse(text, "EUR")


def test_parse_refuses_an_amount_beyond_bigint():
    with pytest.raises(InvalidAmountError):
        Money.parse("92233720368547758.08", "EUR")


@settings(max_examples=300)
@given(
    minor=st.integers(min_value=-MAX_MINOR, max_value=MAX_MINOR),
    currency=st.sampled_from(["EUR", "JPY", "KWD", "USD", "XOF"]),
)
def test_format_then_parse_returns_the_same_money(minor, currency):
    money = Money(minor, currency)
    assert Money.parse(money.amount_string(), currency) == money


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (-1250, "EUR", "-12.50"),
        (-1, "EUR", "-0.01"),
        (5, "EUR", "0.05"),
        (0, "EUR", "0.00"),
        (1500, "JPY", "1500"),
        (-42, "JPY", "-42"),
        (1234, "KWD", "1.234"),
    ],
)
def test_amount_string_uses_the_currency_scale(minor, currency, text):
    assert Money(minor, currency).amount_string() == text
    assert Money.parse(text, currency).minor == minor


def test_str_names_the_currency():
    assert str(Money(-1250, "EUR")) == "-12.50 EUR"


# --------------------------------------------------------------------------- allocation


def test_ten_euros_in_three_equal_parts_gives_the_extra_cent_to_the_first():
    parts = Money.parse("10.00", "EUR").allocate([1, 1, 1])
    assert [p.amount_string() for p in parts] == ["3.34", "3.33", "3.33"]


def test_minus_ten_euros_in_three_parts_mirrors_the_positive_split():
    parts = Money.parse("-10.00", "EUR").allocate([1, 1, 1])
    assert [p.minor for p in parts] == [-334, -333, -333]


def test_the_largest_remainder_wins_the_leftover_unit_before_earlier_parts():
    # Shares of 100 by 1:2:2 are 20, 40, 40 exactly; by 3:3:4 of 101 they are
    # 30.3, 30.3, 40.4, so the leftover cent goes to the largest remainder (the third).
    assert allocate_minor(100, [1, 2, 2]) == [20, 40, 40]
    assert allocate_minor(101, [3, 3, 4]) == [30, 30, 41]


def test_a_zero_weight_gets_nothing():
    assert allocate_minor(5, [0, 1, 1]) == [0, 3, 2]


def test_allocation_keeps_the_currency():
    parts = Money(7, "JPY").allocate([1, 1])
    assert parts == [Money(4, "JPY"), Money(3, "JPY")]


@pytest.mark.parametrize("weights", [[], [0, 0], [1, -1], [1.5, 1]])
def test_allocation_refuses_weights_that_cannot_split(weights):
    with pytest.raises(InvalidAmountError):
        allocate_minor(100, weights)


@settings(max_examples=500)
@given(
    total=st.integers(min_value=-(10**15), max_value=10**15),
    weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=12).filter(
        lambda ws: sum(ws) > 0
    ),
)
def test_allocated_parts_always_sum_to_the_whole(total, weights):
    parts = allocate_minor(total, weights)
    assert len(parts) == len(weights)
    assert sum(parts) == total
    wsum = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        # Each part is the floor of its exact share or one unit more, with the sign
        # of the total; zero weight gets nothing.
        floor_share = abs(total) * weight // wsum
        assert abs(part) in (floor_share, floor_share + 1)
        assert part == 0 or (part > 0) == (total > 0)
        if weight == 0:
            assert part == 0


@settings(max_examples=200)
@given(
    total=st.integers(min_value=0, max_value=10**9),
    n=st.integers(min_value=1, max_value=20),
)
def test_equal_weights_differ_by_at_most_one_unit_with_the_larger_ones_first(total, n):
    parts = allocate_minor(total, [1] * n)
    assert sum(parts) == total
    assert max(parts) - min(parts) <= 1
    assert parts == sorted(parts, reverse=True)


# --------------------------------------------------------------------------- rates


def test_times_multiplies_by_a_decimal_rate_and_floors_by_default():
    assert Money(1000, "EUR").times(Decimal("0.3333")) == Money(333, "EUR")
    assert Money(999, "EUR").times(Decimal("2")) == Money(1998, "EUR")


def test_times_floors_negative_products_towards_minus_infinity():
    assert Money(-1000, "EUR").times(Decimal("0.3333")) == Money(-334, "EUR")


def test_times_uses_the_rounding_mode_it_is_given():
    assert Money(5, "EUR").times(Decimal("0.5"), rounding=ROUND_HALF_UP) == Money(3, "EUR")
    assert Money(5, "EUR").times(Decimal("0.5"), rounding=ROUND_HALF_EVEN) == Money(2, "EUR")


def test_times_refuses_a_float_rate():
    with pytest.raises(InvalidAmountError):
        Money(100, "EUR").times(0.5)  # type: ignore[arg-type]


def test_from_decimal_requires_a_rounding_mode():
    with pytest.raises(TypeError):
        Money.from_decimal(Decimal("1.005"), "EUR")  # type: ignore[call-arg]


def test_from_decimal_rounds_with_the_named_mode():
    value = Decimal("1.005")
    assert Money.from_decimal(value, "EUR", rounding=ROUND_HALF_UP) == Money(101, "EUR")
    assert Money.from_decimal(value, "EUR", rounding=ROUND_HALF_EVEN) == Money(100, "EUR")
    assert Money.from_decimal(Decimal("-1.001"), "EUR", rounding=ROUND_FLOOR) == Money(-101, "EUR")
    assert Money.from_decimal(Decimal("1234.5"), "JPY", rounding=ROUND_FLOOR) == Money(1234, "JPY")


def test_from_decimal_refuses_a_float():
    with pytest.raises(InvalidAmountError):
        Money.from_decimal(1.5, "EUR", rounding=ROUND_FLOOR)  # type: ignore[arg-type]


def test_from_decimal_refuses_infinity():
    with pytest.raises(InvalidAmountError):
        Money.from_decimal(Decimal("Infinity"), "EUR", rounding=ROUND_FLOOR)


# --------------------------------------------------------------------------- limits


def test_the_largest_bigint_is_an_amount():
    assert Money(MAX_MINOR, "EUR").minor == 2**63 - 1
    assert Money(-MAX_MINOR, "EUR").minor == -(2**63 - 1)


def test_one_past_the_largest_bigint_is_refused():
    with pytest.raises(InvalidAmountError):
        Money(2**63, "EUR")
    with pytest.raises(InvalidAmountError):
        Money(-(2**63), "EUR")


def test_adding_past_the_limit_is_refused_instead_of_wrapping():
    with pytest.raises(InvalidAmountError):
        Money(MAX_MINOR, "EUR") + Money(1, "EUR")


def test_multiplying_past_the_limit_is_refused():
    with pytest.raises(InvalidAmountError):
        Money(MAX_MINOR, "EUR").times(Decimal("1.0000001"))


def test_the_largest_amount_round_trips_through_its_string():
    money = Money(MAX_MINOR, "EUR")
    assert money.amount_string() == "92233720368547758.07"
    assert Money.parse("92233720368547758.07", "EUR") == money


def test_the_largest_amount_splits_exactly():
    parts = Money(MAX_MINOR, "EUR").allocate([1, 1, 1])
    assert sum(p.minor for p in parts) == MAX_MINOR


# --------------------------------------------------------------------------- arithmetic


def test_currencies_do_not_mix():
    with pytest.raises(CurrencyMismatchError):
        Money(1, "EUR") + Money(1, "USD")
    with pytest.raises(CurrencyMismatchError):
        _ = Money(1, "EUR") < Money(1, "JPY")


def test_arithmetic_stays_in_minor_units():
    assert Money(150, "EUR") + Money(-200, "EUR") == Money(-50, "EUR")
    assert Money(150, "EUR") - Money(200, "EUR") == Money(-50, "EUR")
    assert -Money(150, "EUR") == Money(-150, "EUR")
    assert Money(0, "EUR").is_zero()


# --------------------------------------------------------------------------- formatting


def test_format_it_groups_thousands_with_dots_and_decimals_with_a_comma():
    assert format_it(123456, "EUR") == "1.234,56 EUR"


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (-123456, "EUR", "-1.234,56 EUR"),
        (5, "EUR", "0,05 EUR"),
        (123456789, "EUR", "1.234.567,89 EUR"),
        (1234567, "JPY", "1.234.567 JPY"),
        (1234, "KWD", "1,234 KWD"),
    ],
)
def test_format_it_handles_signs_small_amounts_and_other_scales(minor, currency, text):
    assert format_it(minor, currency) == text


def test_minor_unit_scales_follow_iso_4217():
    assert Money.parse("1", "EUR").minor == 100
    assert Money.parse("1", "JPY").minor == 1
    assert Money.parse("1", "KWD").minor == 1000
    assert Money.parse("1", "XOF").minor == 1
    assert format_minor(1, "KWD") == "0.001"


def test_a_number_too_long_to_be_an_amount_is_refused_before_it_is_read():
    # Python itself refuses to read more than 4,300 digits (a ValueError, not ours).
    for text in ("9" * 5_000, "-" + "9" * 5_000, "1" + "0" * 19, "92233720368547758.08"):
        with pytest.raises(InvalidAmountError):
            Money.parse(text, "EUR")
    assert Money.parse("0" * 5_000 + "12.50", "EUR").minor == 1250
    assert Money.parse("92233720368547758.07", "EUR").minor == MAX_MINOR
