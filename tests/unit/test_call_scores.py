"""The committee's arithmetic: weighted means are exact fractions, shown half-even."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from ledger.funds.reviews import _weighted, shown


def test_a_reviews_score_is_the_exact_weighted_mean_of_its_criteria():
    weights = {1: 3, 2: 2, 3: 1}
    assert _weighted({1: 8, 2: 6, 3: 10}, weights) == Fraction(46, 6)
    assert _weighted({1: 10, 2: 10, 3: 10}, weights) == 10
    assert _weighted({1: 0, 2: 0, 3: 1}, weights) == Fraction(1, 6)


def test_a_score_is_shown_to_two_decimals_rounding_half_to_even():
    assert shown(Fraction(46, 6)) == Decimal("7.67")
    assert shown(Fraction(65, 8)) == Decimal("8.12")  # 8.125: the even neighbour
    assert shown(Fraction(651, 80)) == Decimal("8.14")  # 8.1375
    assert shown(Fraction(67, 8)) == Decimal("8.38")  # 8.375 -> 8.38 (8 is even)
    assert shown(None) is None
