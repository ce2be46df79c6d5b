"""Matching-grant rules: worked figures, window edges, clawbacks and properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core.clock import ROME
from ledger.core.errors import InvalidAmountError
from ledger.grants.rules import (
    CompletionBonusRule,
    Gift,
    InvalidGiftError,
    InvalidRuleError,
    MatchState,
    RatioRule,
    Reason,
    ThresholdRule,
    Window,
    completion_bonus,
    match_after_refund,
    match_gift,
    match_gifts,
    threshold_after_refund,
    threshold_met,
    threshold_reached,
    topup_amount,
)

ALL_METHODS = frozenset({"card", "bank_transfer", "cash"})
JUNE = Window.rome_days(date(2026, 6, 1), date(2026, 6, 30))
IN_JUNE = datetime(2026, 6, 15, 12, 0, tzinfo=ROME)
BIG_POOL = 10**12


def euros(text: str) -> int:
    """'1,000.00' -> 100000 minor units; test figures read as the brief states them."""
    whole, _, cents = text.replace(",", "").partition(".")
    return int(whole) * 100 + int(cents.ljust(2, "0") or "0")


def ratio_rule(ratio: str = "1", window: Window = JUNE, **settings_: object) -> RatioRule:
    return RatioRule(
        ratio=Decimal(ratio),
        window_start=window.start,
        window_end=window.end,
        methods=settings_.pop("methods", ALL_METHODS),  # type: ignore[arg-type]
        **settings_,  # type: ignore[arg-type]
    )


def gift(
    amount: int,
    donor: str = "d1",
    *,
    fee: int = 0,
    method: str = "card",
    at: datetime = IN_JUNE,
) -> Gift:
    return Gift(amount, fee, donor, method, at)


def fresh(pool: int = BIG_POOL) -> MatchState:
    return MatchState(pool_remaining=pool)


def matches_of(rule: RatioRule, gifts: list[Gift], state: MatchState | None = None) -> list[int]:
    return [r.match_minor for r in match_gifts(rule, state or fresh(), gifts).results]


# --------------------------------------------------------------------------- cumulative rounding


def test_ten_gifts_of_33_33_at_ratio_0_30_from_ten_donors_are_matched_99_99_not_99_90():
    rule = ratio_rule("0.30")
    run = match_gifts(rule, fresh(), [gift(euros("33.33"), f"d{i}") for i in range(10)])

    per_gift = [r.match_minor for r in run.results]
    assert per_gift == [999] + [1000] * 9
    assert sum(per_gift) == run.state.campaign_matched == euros("99.99")
    per_gift_floors = 10 * ratio_rule("0.30").target(euros("33.33"))
    assert per_gift_floors == euros("99.90") < run.state.campaign_matched


def test_ten_gifts_of_33_33_from_one_donor_are_matched_99_99_too():
    run = match_gifts(ratio_rule("0.30"), fresh(), [gift(euros("33.33"))] * 10)
    assert run.state.campaign_matched == euros("99.99")
    assert run.state.matched_of("d1") == euros("99.99")
    assert run.state.eligible_of("d1") == euros("333.30")


def test_ten_gifts_of_33_33_never_go_over_a_campaign_cap_of_99_95():
    rule = ratio_rule("0.30", campaign_cap=euros("99.95"))
    run = match_gifts(rule, fresh(), [gift(euros("33.33"), f"d{i}") for i in range(10)])
    assert run.state.campaign_matched == euros("99.95")
    assert run.results[-1].match_minor == euros("9.96")
    assert run.results[-1].reason is Reason.CAMPAIGN_CAP


def test_a_gift_too_small_to_earn_a_cent_is_matched_0_and_its_cent_carries_to_the_next():
    rule = ratio_rule("0.30")
    assert matches_of(rule, [gift(1), gift(1), gift(1), gift(1)]) == [0, 0, 0, 1]


# --------------------------------------------------------------------------- caps and the pool


def test_a_donor_cap_of_1000_matches_600_then_400_then_nothing():
    rule = ratio_rule("1", donor_cap=euros("1,000.00"))
    run = match_gifts(rule, fresh(), [gift(euros("600.00"))] * 3)

    assert [r.match_minor for r in run.results] == [euros("600.00"), euros("400.00"), 0]
    assert [r.reason for r in run.results] == [Reason.MATCHED, Reason.DONOR_CAP, Reason.DONOR_CAP]
    assert run.state.matched_of("d1") == euros("1,000.00")
    assert run.state.eligible_of("d1") == euros("1,800.00")


def test_a_donor_at_their_cap_does_not_hold_back_another_donor():
    rule = ratio_rule("1", donor_cap=euros("1,000.00"))
    gifts = [gift(euros("1,200.00"), "a"), gift(euros("100.00"), "b")]
    assert matches_of(rule, gifts) == [euros("1,000.00"), euros("100.00")]


def test_a_donor_capped_earlier_does_not_give_the_next_donor_a_catch_up():
    rule = ratio_rule("1", donor_cap=euros("1,000.00"))
    run = match_gifts(rule, fresh(), [gift(euros("1,200.00"), "a"), gift(euros("10.00"), "b")])
    assert run.results[1].match_minor == euros("10.00")
    assert run.state.campaign_matched == euros("1,010.00")


def test_the_last_10_of_a_pool_goes_to_the_first_of_two_gifts_each_eligible_for_20():
    rule = ratio_rule("1")
    run = match_gifts(
        rule, fresh(pool=euros("10.00")), [gift(euros("20.00"), "a"), gift(euros("20.00"), "b")]
    )

    assert [r.match_minor for r in run.results] == [euros("10.00"), 0]
    assert [r.reason for r in run.results] == [Reason.POOL_LIMIT, Reason.POOL_LIMIT]
    assert run.state.pool_remaining == 0


def test_the_tightest_clamp_decides_and_is_named():
    rule = ratio_rule("1", donor_cap=euros("1,000.00"))
    state = MatchState(pool_remaining=euros("50.00"), donor_matched={"d1": euros("600.00")})
    result = match_gift(rule, state, gift(euros("600.00")))
    assert (result.match_minor, result.reason) == (euros("50.00"), Reason.POOL_LIMIT)


def test_a_campaign_above_its_cap_after_a_kept_refund_matches_nothing_more():
    rule = ratio_rule("1", campaign_cap=euros("100.00"))
    state = MatchState(
        pool_remaining=BIG_POOL, campaign_eligible=0, campaign_matched=euros("100.00")
    )
    result = match_gift(rule, state, gift(euros("50.00")))
    assert (result.match_minor, result.reason) == (0, Reason.CAMPAIGN_CAP)


# --------------------------------------------------------------------------- ratio, gift limits


def test_two_euros_for_every_euro_matches_a_10_euro_gift_with_20():
    assert matches_of(ratio_rule("2"), [gift(euros("10.00"))]) == [euros("20.00")]


def test_one_to_one_makes_your_10_euros_become_20():
    (result,) = match_gifts(ratio_rule("1"), fresh(), [gift(euros("10.00"))]).results
    assert euros("10.00") + result.match_minor == euros("20.00")


@pytest.mark.parametrize(
    ("amount", "expected", "reason"),
    [
        ("99.99", "0.00", Reason.BELOW_MINIMUM),
        ("100.00", "100.00", Reason.MATCHED),
        ("1,000.00", "1,000.00", Reason.MATCHED),
        ("1,000.01", "1,000.00", Reason.MAX_GIFT),
    ],
)
def test_min_and_max_gift_boundaries_are_inclusive_and_the_max_caps_the_eligible_part(
    amount, expected, reason
):
    rule = ratio_rule("1", min_gift=euros("100.00"), max_gift=euros("1,000.00"))
    result = match_gift(rule, fresh(), gift(euros(amount)))
    assert (result.match_minor, result.reason) == (euros(expected), reason)


def test_a_gift_below_the_minimum_adds_nothing_to_the_eligible_money():
    rule = ratio_rule("1", min_gift=euros("100.00"))
    result = match_gift(rule, fresh(), gift(euros("99.99")))
    assert result.state == fresh()


def test_a_gift_by_a_method_the_rule_excludes_is_matched_0_with_a_reason():
    rule = ratio_rule("1", methods=frozenset({"card"}))
    result = match_gift(rule, fresh(), gift(euros("50.00"), method="cash"))
    assert (result.match_minor, result.reason, result.state) == (
        0,
        Reason.METHOD_NOT_ELIGIBLE,
        fresh(),
    )


def test_net_of_fees_counting_matches_the_amount_minus_the_fee():
    net, gross = ratio_rule("1", count_net=True), ratio_rule("1")
    given_ = gift(euros("100.00"), fee=euros("1.65"))
    assert match_gift(net, fresh(), given_).match_minor == euros("98.35")
    assert match_gift(gross, fresh(), given_).match_minor == euros("100.00")


def test_the_minimum_is_judged_on_the_gross_gift_so_a_fee_does_not_disqualify_the_donor():
    rule = ratio_rule("1", count_net=True, min_gift=euros("100.00"))
    result = match_gift(rule, fresh(), gift(euros("100.00"), fee=euros("1.65")))
    assert result.match_minor == euros("98.35")


def test_the_max_gift_caps_the_net_counted_part():
    rule = ratio_rule("1", count_net=True, max_gift=euros("1,000.00"))
    result = match_gift(rule, fresh(), gift(euros("1,010.00"), fee=euros("5.00")))
    assert (result.match_minor, result.reason) == (euros("1,000.00"), Reason.MAX_GIFT)


def test_a_fee_that_eats_the_whole_gift_leaves_nothing_to_match_net():
    rule = ratio_rule("1", count_net=True)
    result = match_gift(rule, fresh(), gift(50, fee=60))
    assert (result.match_minor, result.reason) == (0, Reason.NOTHING_TO_MATCH)


def test_quoting_a_gift_leaves_the_given_state_as_it_was():
    state = fresh(pool=euros("500.00"))
    match_gift(ratio_rule("1"), state, gift(euros("20.00")))
    assert state == fresh(pool=euros("500.00"))
    assert dict(state.donor_matched) == {}


def test_the_result_unpacks_as_match_state_and_reason():
    match, state, reason = match_gift(ratio_rule("1"), fresh(), gift(euros("5.00")))
    assert (match, state.campaign_matched, reason) == (euros("5.00"), euros("5.00"), Reason.MATCHED)


# --------------------------------------------------------------------------- windows


def test_a_gift_at_23_59_59_999_rome_on_the_last_day_is_in_and_one_at_midnight_is_out():
    rule = ratio_rule("1")
    last_second = datetime(2026, 6, 30, 23, 59, 59, 999_999, tzinfo=ROME)
    midnight = datetime(2026, 7, 1, 0, 0, 0, tzinfo=ROME)
    assert match_gift(rule, fresh(), gift(100, at=last_second)).match_minor == 100
    result = match_gift(rule, fresh(), gift(100, at=midnight))
    assert (result.match_minor, result.reason) == (0, Reason.OUTSIDE_WINDOW)


def test_the_first_instant_of_the_first_day_is_in_and_the_one_before_is_out():
    assert JUNE.contains(datetime(2026, 6, 1, 0, 0, 0, tzinfo=ROME))
    assert not JUNE.contains(datetime(2026, 5, 31, 23, 59, 59, 999_999, tzinfo=ROME))


def test_the_window_compares_instants_whatever_zone_the_gift_time_is_given_in():
    # 23:59:59 CEST on 30 June is 21:59:59 UTC.
    assert JUNE.contains(datetime(2026, 6, 30, 21, 59, 59, 500_000, tzinfo=UTC))
    assert not JUNE.contains(datetime(2026, 6, 30, 22, 0, 0, tzinfo=UTC))


def test_a_window_ending_on_the_spring_daylight_saving_day_ends_at_21_59_59_utc():
    window = Window.rome_days(date(2026, 3, 1), date(2026, 3, 29))
    assert window.contains(datetime(2026, 3, 29, 21, 59, 59, 999_999, tzinfo=UTC))
    assert not window.contains(datetime(2026, 3, 29, 22, 0, 0, tzinfo=UTC))


def test_a_window_ending_on_the_autumn_daylight_saving_day_ends_at_22_59_59_utc():
    window = Window.rome_days(date(2026, 10, 1), date(2026, 10, 25))
    assert window.contains(datetime(2026, 10, 25, 22, 59, 59, 999_999, tzinfo=UTC))
    assert not window.contains(datetime(2026, 10, 25, 23, 0, 0, tzinfo=UTC))


def test_a_window_starting_on_the_autumn_daylight_saving_day_starts_at_22_00_utc_the_day_before():
    window = Window.rome_days(date(2026, 10, 25), date(2026, 10, 31))
    assert window.contains(datetime(2026, 10, 24, 22, 0, 0, tzinfo=UTC))
    assert not window.contains(datetime(2026, 10, 24, 21, 59, 59, 999_999, tzinfo=UTC))


def test_a_single_day_window_across_the_spring_change_lasts_23_hours():
    window = Window.rome_days(date(2026, 3, 29), date(2026, 3, 29))
    assert window.end.astimezone(UTC) - window.start.astimezone(UTC) == timedelta(
        hours=22, minutes=59, seconds=59
    )


def test_a_window_ending_in_the_repeated_autumn_hour_compares_instants_not_wall_clocks():
    # The window ends at the second 02:30 (CET, 01:30 UTC); 02:45 of the first
    # pass (CEST, 00:45 UTC) came earlier although its wall clock reads later.
    end = datetime(2026, 10, 25, 2, 30, 0, tzinfo=ROME, fold=1)
    window = Window(datetime(2026, 10, 1, tzinfo=ROME), end)
    assert window.contains(datetime(2026, 10, 25, 2, 45, 0, tzinfo=ROME, fold=0))
    assert not window.contains(datetime(2026, 10, 25, 2, 45, 0, tzinfo=ROME, fold=1))


# --------------------------------------------------------------------------- refusals


def test_a_naive_window_or_gift_time_is_refused():
    with pytest.raises(InvalidRuleError):
        Window(datetime(2026, 6, 1), datetime(2026, 6, 30, tzinfo=ROME))
    with pytest.raises(InvalidGiftError):
        gift(100, at=datetime(2026, 6, 15, 12, 0))
    with pytest.raises(InvalidGiftError):
        JUNE.contains(datetime(2026, 6, 15, 12, 0))


def test_a_window_that_ends_before_it_starts_is_refused():
    with pytest.raises(InvalidRuleError):
        Window.rome_days(date(2026, 6, 30), date(2026, 6, 1))


@pytest.mark.parametrize("ratio", [0.3, Decimal("0"), Decimal("-1"), Decimal("NaN"), "0.3"])
def test_a_ratio_that_is_not_a_positive_decimal_is_refused(ratio):
    with pytest.raises(InvalidRuleError):
        RatioRule(ratio=ratio, window_start=JUNE.start, window_end=JUNE.end, methods=ALL_METHODS)


def test_float_amounts_are_refused_in_rules_and_gifts():
    with pytest.raises(InvalidAmountError):
        ratio_rule("1", donor_cap=1000.0)
    with pytest.raises(InvalidAmountError):
        gift(10.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidAmountError):
        MatchState(pool_remaining=True)


def test_a_string_given_as_the_methods_is_refused_rather_than_read_as_letters():
    with pytest.raises(InvalidRuleError):
        ratio_rule("1", methods="card")


def test_a_max_gift_below_the_min_gift_is_refused():
    with pytest.raises(InvalidRuleError):
        ratio_rule("1", min_gift=euros("100.00"), max_gift=euros("99.99"))


def test_a_negative_gift_is_refused():
    with pytest.raises(InvalidGiftError):
        gift(-1)


def test_the_state_mappings_cannot_be_changed_behind_its_back():
    source = {"d1": 5}
    state = MatchState(pool_remaining=0, donor_matched=source)
    source["d1"] = 500
    assert state.matched_of("d1") == 5
    with pytest.raises(TypeError):
        state.donor_matched["d1"] = 7  # type: ignore[index]


# --------------------------------------------------------------------------- threshold top-up


def threshold_rule(**settings_: object) -> ThresholdRule:
    base: dict[str, object] = {
        "budget_minor": euros("50,000.00"),
        "threshold": Decimal("0.40"),
        "topup": Decimal("0.60"),
        "cap_minor": euros("48,000.00"),
        "window": JUNE,
    }
    base.update(settings_)
    return ThresholdRule(**base)  # type: ignore[arg-type]


def test_19_999_99_of_a_40_percent_threshold_on_50_000_is_not_reached_and_a_cent_more_is():
    rule = threshold_rule()
    assert rule.threshold_minor == euros("20,000.00")
    assert not threshold_reached(rule, euros("19,999.99"), 300, IN_JUNE)
    assert threshold_reached(rule, euros("19,999.99") + euros("0.01"), 301, IN_JUNE)


def test_a_threshold_given_as_an_amount_is_reached_at_that_amount():
    rule = threshold_rule(threshold=euros("20,000.00"))
    assert not threshold_met(rule, euros("19,999.99"), 1)
    assert threshold_met(rule, euros("20,000.00"), 1)


def test_a_share_threshold_that_is_not_a_whole_cent_rounds_up_so_it_is_never_reached_early():
    rule = threshold_rule(budget_minor=euros("100.00"), threshold=Decimal(1) / Decimal(3))
    assert rule.threshold_minor == euros("33.34")
    assert not threshold_met(rule, euros("33.33"), 1)
    assert threshold_met(rule, euros("33.34"), 1)


def test_a_threshold_with_a_minimum_of_donors_waits_for_them():
    rule = threshold_rule(min_donors=30)
    assert not threshold_reached(rule, euros("25,000.00"), 29, IN_JUNE)
    assert threshold_reached(rule, euros("25,000.00"), 30, IN_JUNE)


def test_a_threshold_reached_after_the_window_does_not_count():
    rule = threshold_rule()
    assert threshold_reached(
        rule, euros("20,000.00"), 1, datetime(2026, 6, 30, 23, 59, 59, tzinfo=ROME)
    )
    assert not threshold_reached(
        rule, euros("20,000.00"), 1, datetime(2026, 7, 1, 0, 0, tzinfo=ROME)
    )


@pytest.mark.parametrize(
    ("last_day", "last_in_utc"),
    [
        (date(2026, 3, 29), datetime(2026, 3, 29, 21, 59, 59, 999_999, tzinfo=UTC)),
        (date(2026, 10, 25), datetime(2026, 10, 25, 22, 59, 59, 999_999, tzinfo=UTC)),
    ],
)
def test_a_threshold_window_ending_on_a_daylight_saving_day_ends_at_23_59_59_rome(
    last_day, last_in_utc
):
    rule = threshold_rule(window=Window.rome_days(date(2026, 3, 1), last_day))
    assert threshold_reached(rule, euros("20,000.00"), 1, last_in_utc)
    assert not threshold_reached(
        rule, euros("20,000.00"), 1, last_in_utc + timedelta(microseconds=1)
    )


def test_an_overshoot_to_27_000_under_the_fixed_policy_still_tops_up_60_percent_of_the_budget():
    assert topup_amount(threshold_rule(policy="fixed"), euros("27,000.00")) == euros("30,000.00")


def test_the_fixed_top_up_is_the_cap_when_the_cap_is_lower():
    rule = threshold_rule(policy="fixed", cap_minor=euros("25,000.00"))
    assert topup_amount(rule, euros("27,000.00")) == euros("25,000.00")


def test_an_overshoot_to_27_000_under_remaining_to_goal_tops_up_only_the_23_000_missing():
    rule = threshold_rule(policy="remaining_to_goal")
    assert topup_amount(rule, euros("27,000.00")) == euros("23,000.00")
    assert topup_amount(rule, euros("20,000.00")) == euros("30,000.00")


def test_remaining_to_goal_tops_up_nothing_once_the_crowd_reached_the_budget():
    rule = threshold_rule(policy="remaining_to_goal")
    assert topup_amount(rule, euros("50,000.00")) == 0
    assert topup_amount(rule, euros("51,000.00")) == 0


def test_milano_raise_40_percent_and_we_add_60_percent_up_to_48_000_on_80_000_gives_48_000():
    rule = threshold_rule(budget_minor=euros("80,000.00"))
    assert threshold_met(rule, euros("32,000.00"), 1)
    assert topup_amount(rule, euros("32,000.00")) == euros("48,000.00")


@pytest.mark.parametrize(
    ("budget", "topup"),
    [("79,999.99", "47,999.99"), ("80,000.00", "48,000.00"), ("90,000.00", "48,000.00")],
)
def test_the_milano_cap_binds_only_above_a_budget_of_80_000(budget, topup):
    rule = threshold_rule(budget_minor=euros(budget))
    assert topup_amount(rule, rule.threshold_minor) == euros(topup)


@pytest.mark.parametrize(
    ("budget", "topup"),
    [("29,999.99", "7,499.99"), ("30,000.00", "7,500.00"), ("30,000.01", "7,500.00")],
)
def test_the_impatto_cap_of_7_500_binds_only_above_a_budget_of_30_000(budget, topup):
    rule = threshold_rule(
        budget_minor=euros(budget),
        threshold=Decimal("0.75"),
        topup=Decimal("0.25"),
        cap_minor=euros("7,500.00"),
    )
    assert topup_amount(rule, rule.threshold_minor) == euros(topup)


def test_a_fixed_amount_top_up_is_released_as_stated_under_its_cap():
    rule = threshold_rule(topup=euros("10,000.00"), cap_minor=None)
    assert topup_amount(rule, euros("20,000.00")) == euros("10,000.00")


@pytest.mark.parametrize("field", ["threshold", "topup"])
def test_a_share_written_as_a_percentage_number_is_refused(field):
    with pytest.raises(InvalidRuleError):
        threshold_rule(**{field: Decimal("40")})


def test_an_unknown_top_up_policy_is_refused():
    with pytest.raises(InvalidRuleError):
        threshold_rule(policy="generous")


# --------------------------------------------------------------------------- completion bonus


def test_impatto_reach_75_percent_and_we_add_25_percent_up_to_7_500_or_5_percent_on_completion():
    budget = euros("30,000.00")
    topup = threshold_rule(
        budget_minor=budget,
        threshold=Decimal("0.75"),
        topup=Decimal("0.25"),
        cap_minor=euros("7,500.00"),
    )
    bonus = CompletionBonusRule(share=Decimal("0.05"))

    assert not threshold_met(topup, euros("22,499.99"), 1)
    assert threshold_met(topup, euros("22,500.00"), 1)
    assert topup_amount(topup, euros("22,500.00")) == euros("7,500.00")
    assert completion_bonus(bonus, euros("29,999.99"), budget) == 0
    assert completion_bonus(bonus, euros("30,000.00"), budget) == euros("1,500.00")


def test_the_completion_bonus_is_floored_and_capped():
    assert completion_bonus(CompletionBonusRule(share=Decimal("0.05")), 33_333, 33_333) == 1666
    capped = CompletionBonusRule(share=Decimal("0.05"), cap_minor=euros("1,000.00"))
    assert completion_bonus(capped, euros("40,000.00"), euros("30,000.00")) == euros("1,000.00")


# --------------------------------------------------------------------------- refunds


def test_a_refunded_matched_gift_under_keep_claws_back_nothing_but_reports_the_excess():
    rule = ratio_rule("1")
    gifts = [gift(euros("50.00"))]
    state = match_gifts(rule, fresh(pool=euros("100.00")), gifts).state

    outcome = match_after_refund(rule, state, gifts, 0, euros("50.00"), "keep")

    assert (outcome.clawback_minor, outcome.excess_minor) == (0, euros("50.00"))
    assert outcome.match_after == euros("50.00")
    assert outcome.state.campaign_matched == euros("50.00")
    assert outcome.state.campaign_eligible == 0
    assert outcome.state.pool_remaining == euros("50.00")


def test_a_fully_refunded_matched_gift_under_claw_back_returns_its_match_to_the_pool():
    rule = ratio_rule("1")
    gifts = [gift(euros("50.00"))]
    state = match_gifts(rule, fresh(pool=euros("100.00")), gifts).state

    outcome = match_after_refund(rule, state, gifts, 0, euros("50.00"), "claw_back")

    assert outcome.clawback_minor == euros("50.00")
    assert outcome.state == MatchState(
        pool_remaining=euros("100.00"), donor_eligible={}, donor_matched={}
    )


def test_a_partial_refund_claws_back_the_match_of_the_part_refunded():
    rule = ratio_rule("2")
    gifts = [gift(euros("50.00"))]
    state = match_gifts(rule, fresh(), gifts).state
    outcome = match_after_refund(rule, state, gifts, 0, euros("20.00"), "claw_back")
    assert (outcome.clawback_minor, outcome.match_after) == (euros("40.00"), euros("60.00"))


def test_refunding_the_first_of_two_600_gifts_under_a_1000_donor_cap_claws_back_400():
    rule = ratio_rule("1", donor_cap=euros("1,000.00"))
    gifts = [gift(euros("600.00")), gift(euros("600.00"))]
    state = match_gifts(rule, fresh(), gifts).state

    outcome = match_after_refund(rule, state, gifts, 0, euros("600.00"), "claw_back")

    # The freed cap now matches the second gift in full.
    assert outcome.clawback_minor == euros("400.00")
    assert outcome.state.matched_of("d1") == euros("600.00")


def test_a_refund_that_takes_a_gift_below_the_minimum_claws_back_its_whole_match():
    rule = ratio_rule("1", min_gift=euros("100.00"))
    gifts = [gift(euros("150.00"))]
    state = match_gifts(rule, fresh(), gifts).state
    outcome = match_after_refund(rule, state, gifts, 0, euros("50.01"), "claw_back")
    assert outcome.clawback_minor == euros("150.00")


def test_a_clawback_keeps_the_cumulative_floor_even_when_that_takes_a_cent_more_than_the_gift_had():
    rule = ratio_rule("0.30")
    gifts = [gift(euros("33.33"), f"d{i}") for i in range(3)]
    run = match_gifts(rule, fresh(), gifts)
    assert [r.match_minor for r in run.results] == [999, 1000, 1000]

    outcome = match_after_refund(rule, run.state, gifts, 0, euros("33.33"), "claw_back")

    assert outcome.clawback_minor == euros("10.00")
    assert outcome.match_after == euros("19.99") == rule.target(euros("66.66"))


def test_a_refund_whose_freed_match_another_standing_gift_was_denied_stays_in_the_campaign():
    rule = ratio_rule("1")
    gifts = [gift(euros("20.00"), "a"), gift(euros("20.00"), "b")]
    state = match_gifts(rule, fresh(pool=euros("10.00")), gifts).state

    outcome = match_after_refund(rule, state, gifts, 0, euros("20.00"), "claw_back")

    assert outcome.clawback_minor == 0
    assert outcome.state.matched_of("b") == euros("10.00")
    assert outcome.state.pool_remaining == 0


def test_a_refund_of_more_than_the_gift_or_of_nothing_is_refused():
    rule = ratio_rule("1")
    gifts = [gift(euros("20.00"))]
    state = match_gifts(rule, fresh(), gifts).state
    for refund in (0, euros("20.01")):
        with pytest.raises(InvalidGiftError):
            match_after_refund(rule, state, gifts, 0, refund, "claw_back")
    with pytest.raises(InvalidRuleError):
        match_after_refund(rule, state, gifts, 0, 100, "forgive")  # type: ignore[arg-type]


def test_a_refund_that_drops_the_crowd_below_a_released_threshold_is_clawed_back_under_claw_back():
    rule = threshold_rule()
    outcome = threshold_after_refund(rule, euros("30,000.00"), euros("19,999.99"), 300, "claw_back")
    assert (outcome.still_met, outcome.clawback_minor) == (False, euros("30,000.00"))


def test_the_same_refund_under_keep_leaves_the_release_but_says_the_threshold_is_no_longer_met():
    rule = threshold_rule()
    outcome = threshold_after_refund(rule, euros("30,000.00"), euros("19,999.99"), 300, "keep")
    assert (outcome.still_met, outcome.clawback_minor) == (False, 0)


def test_a_refund_that_leaves_the_threshold_met_claws_back_nothing():
    rule = threshold_rule()
    outcome = threshold_after_refund(rule, euros("30,000.00"), euros("20,000.00"), 300, "claw_back")
    assert (outcome.still_met, outcome.clawback_minor) == (True, 0)


def test_a_refund_that_leaves_too_few_donors_loses_the_threshold():
    rule = threshold_rule(min_donors=30)
    outcome = threshold_after_refund(rule, euros("30,000.00"), euros("25,000.00"), 29, "claw_back")
    assert (outcome.still_met, outcome.clawback_minor) == (False, euros("30,000.00"))


# --------------------------------------------------------------------------- properties

RATIOS = st.sampled_from(["0.30", "0.5", "1", "2", "0.333", "1.25", "3"])
DONORS = st.sampled_from(["a", "b", "c", "d"])
METHODS = st.sampled_from(["card", "bank_transfer", "cash"])
OFFSETS = st.integers(min_value=-3 * 86400, max_value=33 * 86400)  # around June, in seconds


@st.composite
def gifts_(draw: st.DrawFn, max_size: int = 25) -> list[Gift]:
    start = JUNE.start.astimezone(UTC)
    return draw(
        st.lists(
            st.builds(
                lambda amount, fee, donor, method, offset: Gift(
                    amount, min(fee, amount), donor, method, start + timedelta(seconds=offset)
                ),
                st.integers(min_value=0, max_value=200_000),
                st.integers(min_value=0, max_value=500),
                DONORS,
                METHODS,
                OFFSETS,
            ),
            max_size=max_size,
        )
    )


@st.composite
def rules_(draw: st.DrawFn) -> RatioRule:
    caps = st.none() | st.integers(min_value=0, max_value=300_000)
    min_gift = draw(st.integers(min_value=0, max_value=10_000))
    max_gift = draw(st.none() | st.integers(min_value=max(1, min_gift), max_value=150_000))
    return ratio_rule(
        draw(RATIOS),
        min_gift=min_gift,
        max_gift=max_gift,
        donor_cap=draw(caps),
        campaign_cap=draw(caps),
        count_net=draw(st.booleans()),
        methods=draw(st.sets(METHODS, min_size=1).map(frozenset)),
    )


@settings(max_examples=300)
@given(rule=rules_(), gifts=gifts_(), pool=st.integers(min_value=0, max_value=500_000))
def test_the_cumulative_match_never_exceeds_a_cap_the_pool_or_the_floor_of_ratio_times_eligible(
    rule, gifts, pool
):
    run = match_gifts(rule, fresh(pool=pool), gifts)
    final = run.state

    assert all(r.match_minor >= 0 for r in run.results)
    assert final.campaign_matched <= rule.target(final.campaign_eligible)
    assert final.campaign_matched <= pool
    assert final.pool_remaining == pool - final.campaign_matched >= 0
    if rule.campaign_cap is not None:
        assert final.campaign_matched <= rule.campaign_cap
    if rule.donor_cap is not None:
        assert all(m <= rule.donor_cap for m in final.donor_matched.values())


@settings(max_examples=300)
@given(rule=rules_(), gifts=gifts_(), pool=st.integers(min_value=0, max_value=500_000))
def test_the_per_gift_matches_sum_to_the_cumulative_total_for_the_campaign_and_each_donor(
    rule, gifts, pool
):
    run = match_gifts(rule, fresh(pool=pool), gifts)
    assert sum(r.match_minor for r in run.results) == run.state.campaign_matched
    assert sum(run.state.donor_matched.values()) == run.state.campaign_matched
    assert sum(run.state.donor_eligible.values()) == run.state.campaign_eligible
    for donor in run.state.donor_matched:
        mine = [
            r.match_minor for r, g in zip(run.results, gifts, strict=True) if g.donor_key == donor
        ]
        assert sum(mine) == run.state.matched_of(donor)


@settings(max_examples=300)
@given(ratio=RATIOS, gifts=gifts_(), data=st.data())
def test_with_no_cap_binding_the_total_is_floor_of_ratio_times_eligible_in_any_order(
    ratio, gifts, data
):
    rule = ratio_rule(ratio)
    shuffled = data.draw(st.permutations(gifts))

    first = match_gifts(rule, fresh(), gifts).state
    second = match_gifts(rule, fresh(), shuffled).state

    assert first.campaign_matched == rule.target(first.campaign_eligible)
    assert second.campaign_matched == first.campaign_matched
    assert second.donor_eligible == first.donor_eligible


@settings(max_examples=200)
@given(
    rule=rules_(),
    gifts=gifts_(max_size=12),
    pool=st.integers(min_value=0, max_value=500_000),
    data=st.data(),
)
def test_a_clawback_never_leaves_the_campaign_above_the_rule_or_the_pool_below_zero(
    rule, gifts, pool, data
):
    refundable = [i for i, g in enumerate(gifts) if g.amount_minor > 0]
    if not refundable:
        return
    state = match_gifts(rule, fresh(pool=pool), gifts).state
    index = data.draw(st.sampled_from(refundable))
    refund = data.draw(st.integers(min_value=1, max_value=gifts[index].amount_minor))

    outcome = match_after_refund(rule, state, gifts, index, refund, "claw_back")
    after = outcome.state

    assert 0 <= outcome.clawback_minor <= state.campaign_matched
    assert after.campaign_matched == state.campaign_matched - outcome.clawback_minor
    assert after.campaign_matched <= rule.target(after.campaign_eligible)
    assert after.pool_remaining == state.pool_remaining + outcome.clawback_minor
    if rule.donor_cap is not None:
        assert all(m <= rule.donor_cap for m in after.donor_matched.values())
    kept = match_after_refund(rule, state, gifts, index, refund, "keep")
    assert (kept.clawback_minor, kept.excess_minor) == (0, outcome.excess_minor)
