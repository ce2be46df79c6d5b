"""Microloan mathematics: schedules, allocation, arrears, PAR, write-off and recovery."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core.errors import InvalidAmountError, LedgerError
from ledger.funds.loans import (
    InvalidLoanDateError,
    InvalidLoanProductError,
    LoanAmountOutOfRangeError,
    LoanProduct,
    LoanState,
    PortfolioLoan,
    WriteOff,
    add_months,
    allocate_repayment,
    arrears_amount,
    count_days,
    days_past_due,
    outstanding_principal,
    par,
    payoff_amount,
    schedule,
    split_recovery,
    to_minor,
    write_off_amounts,
)

EUR_5000 = 500_000
FIRST_DUE = date(2025, 2, 1)


def product(**changes: object) -> LoanProduct:
    base = LoanProduct(
        min_amount=10_000,
        max_amount=2_500_000,
        annual_rate=Decimal("0.06"),
        method="declining_equal_instalments",
        term_months=12,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def loan(**changes: object) -> LoanState:
    p = product(**changes)
    return LoanState.new(p, schedule(p, EUR_5000, FIRST_DUE))


# --------------------------------------------------------------------------- products


def test_a_float_rate_is_refused():
    with pytest.raises(InvalidLoanProductError):
        product(annual_rate=0.06)


def test_a_negative_rate_is_refused():
    with pytest.raises(InvalidLoanProductError):
        product(annual_rate=Decimal("-0.01"))


def test_a_float_limit_is_refused():
    with pytest.raises(InvalidAmountError):
        product(max_amount=5000.0)


@pytest.mark.parametrize(
    "changes",
    [
        {"min_amount": 0},
        {"min_amount": 3_000_000},
        {"method": "balloon"},
        {"day_count": "actual/actual"},
        {"rounding": "ROUND_NEAREST"},
        {"term_months": 0},
        {"grace_months": 12},
        {"grace_months": -1},
    ],
)
def test_a_product_with_impossible_terms_is_refused(changes):
    with pytest.raises(InvalidLoanProductError):
        product(**changes)


def test_a_negative_fee_is_refused():
    with pytest.raises(InvalidAmountError):
        product(fee_per_instalment=-1)


def test_a_zero_rate_product_is_allowed():
    assert product(annual_rate=Decimal(0)).annual_rate == 0


@pytest.mark.parametrize("amount", [9_999, 2_500_001])
def test_a_loan_outside_the_product_limits_is_refused(amount):
    with pytest.raises(LoanAmountOutOfRangeError):
        schedule(product(), amount, FIRST_DUE)


def test_a_loan_at_either_limit_is_accepted():
    assert sum(i.principal for i in schedule(product(), 10_000, FIRST_DUE)) == 10_000
    assert sum(i.principal for i in schedule(product(), 2_500_000, FIRST_DUE)) == 2_500_000


def test_a_float_principal_is_refused():
    with pytest.raises(InvalidAmountError):
        schedule(product(), 5000.0, FIRST_DUE)  # type: ignore[arg-type]


def test_a_first_due_date_on_or_before_the_disbursement_is_refused():
    with pytest.raises(InvalidLoanDateError):
        schedule(product(), EUR_5000, FIRST_DUE, disbursed_on=FIRST_DUE)


def test_to_minor_refuses_an_unnamed_rounding_mode():
    with pytest.raises(LedgerError):
        to_minor(Decimal("1.5"), rounding="nearest")


# --------------------------------------------------------------------------- worked schedules


def test_5000_at_6_percent_over_12_months_pays_430_33_a_month_and_430_35_at_the_end():
    rows = schedule(product(), EUR_5000, FIRST_DUE)
    assert [r.total for r in rows[:-1]] == [43_033] * 11
    assert rows[-1].total == 43_035
    assert sum(r.interest for r in rows) == 16_398
    assert sum(r.principal for r in rows) == EUR_5000
    assert rows[0].interest == 2_500  # 5,000.00 x 6 % / 12
    assert rows[0].principal == 40_533
    assert rows[-1].balance_after == 0


def test_the_flat_method_charges_300_00_on_5000_at_6_percent_for_a_year():
    rows = schedule(product(method="flat"), EUR_5000, FIRST_DUE)
    assert sum(r.interest for r in rows) == 30_000
    assert [r.interest for r in rows] == [2_500] * 12
    assert [r.principal for r in rows] == [41_666] * 11 + [41_674]
    assert rows[-1].balance_after == 0


def test_equal_principal_repays_416_66_a_month_and_the_last_instalment_absorbs_the_rest():
    rows = schedule(product(method="equal_principal"), EUR_5000, FIRST_DUE)
    assert [r.principal for r in rows] == [41_666] * 11 + [41_674]
    assert [r.interest for r in rows[:3]] == [2_500, 2_292, 2_083]
    assert rows[-1].interest == 208
    assert sum(r.interest for r in rows) == 16_250
    assert rows[0].total > rows[-1].total


def test_a_zero_percent_loan_charges_no_interest_and_splits_the_principal_evenly():
    rows = schedule(product(annual_rate=Decimal(0), term_months=3), 100_000, FIRST_DUE)
    assert [r.principal for r in rows] == [33_333, 33_333, 33_334]
    assert all(r.interest == 0 for r in rows)


@pytest.mark.parametrize("method", ["equal_principal", "flat"])
def test_a_zero_percent_loan_charges_no_interest_under_any_method(method):
    rows = schedule(product(annual_rate=Decimal(0), method=method), EUR_5000, FIRST_DUE)
    assert sum(r.interest for r in rows) == 0
    assert sum(r.principal for r in rows) == EUR_5000


def test_grace_months_pay_interest_only_and_the_rest_amortises_the_whole_principal():
    p = product(annual_rate=Decimal("0.12"), grace_months=3)
    rows = schedule(p, 600_000, FIRST_DUE)
    assert [(r.principal, r.interest, r.balance_after) for r in rows[:3]] == [
        (0, 6_000, 600_000)
    ] * 3
    # 6,000.00 over the 9 remaining months at 1 % a month: 700.44 an instalment.
    assert [r.total for r in rows[3:-1]] == [70_044] * 8
    assert rows[-1].total == 70_047
    assert sum(r.principal for r in rows) == 600_000


def test_grace_under_the_flat_method_spreads_the_principal_over_the_repaying_months():
    rows = schedule(product(method="flat", grace_months=2), EUR_5000, FIRST_DUE)
    assert [r.principal for r in rows[:2]] == [0, 0]
    assert [r.principal for r in rows[2:]] == [50_000] * 10
    assert sum(r.interest for r in rows) == 30_000


def test_a_fee_per_instalment_is_added_to_each_total():
    rows = schedule(product(fee_per_instalment=200), EUR_5000, FIRST_DUE)
    assert all(r.fee == 200 for r in rows)
    assert rows[0].total == 43_233
    assert all(r.total == r.principal + r.interest + r.fee for r in rows)


# --------------------------------------------------------------------------- day count


def flat_month(day_count: str) -> int:
    """1,000.00 at 20 % a month (240 % a year), flat, for the 30 days of April 2025."""
    p = product(
        min_amount=100_000,
        annual_rate=Decimal("2.40"),
        method="flat",
        term_months=1,
        day_count=day_count,
    )
    [only] = schedule(p, 100_000, date(2025, 5, 1), disbursed_on=date(2025, 4, 1))
    assert only.days == 30
    return only.interest


def test_flat_1000_at_20_percent_a_month_for_30_days_is_200_00_on_a_360_day_basis():
    assert flat_month("actual/360") == 20_000
    assert flat_month("30/360") == 20_000


def test_the_same_loan_on_a_365_day_basis_is_197_26_so_the_basis_is_honoured():
    # 1,000.00 x 2.40 x 30 / 365 = 197.260...; a 365 basis where 360 was meant
    # is the FINERACT-343 bug, so the two must differ.
    assert flat_month("actual/365") == 19_726


def test_actual_365_charges_each_period_for_its_calendar_days():
    rows = schedule(product(day_count="actual/365"), EUR_5000, FIRST_DUE)
    assert [r.days for r in rows[:3]] == [31, 28, 31]
    assert rows[0].interest == 2_548  # 5,000.00 x 0.06 x 31 / 365 = 25.479...
    assert rows[1].interest == 2_115  # 4,594.85 x 0.06 x 28 / 365 = 21.149...
    assert [r.total for r in rows[:-1]] == [43_033] * 11
    assert sum(r.principal for r in rows) == EUR_5000


def test_30_360_counts_a_stated_first_period_in_30_day_months():
    # 16 January to 1 March: one whole month (to 16 February) and 15 days.
    rows = schedule(product(), EUR_5000, date(2025, 3, 1), disbursed_on=date(2025, 1, 16))
    assert rows[0].days == 45
    assert rows[0].interest == 3_750  # 5,000.00 x 0.06 x 45 / 360
    assert all(r.days == 30 for r in rows[1:])


def test_the_product_rounding_mode_is_honoured_for_period_interest():
    # 1,000.00 x 10 % x 31 / 365 = 8.493... cents: half-even 8.49, up 8.50.
    def first_interest(rounding: str) -> int:
        p = product(annual_rate=Decimal("0.10"), day_count="actual/365", rounding=rounding)
        return schedule(p, 100_000, FIRST_DUE)[0].interest

    assert first_interest(ROUND_HALF_EVEN) == 849
    assert first_interest(ROUND_DOWN) == 849
    assert first_interest(ROUND_UP) == 850


def test_due_dates_keep_the_day_of_the_first_and_clamp_to_short_months():
    rows = schedule(product(term_months=4), EUR_5000, date(2025, 1, 31))
    assert [r.due_on for r in rows] == [
        date(2025, 1, 31),
        date(2025, 2, 28),
        date(2025, 3, 31),
        date(2025, 4, 30),
    ]


def test_30_360_counts_31_january_to_28_february_as_a_month_of_30_days():
    assert count_days(date(2025, 1, 31), date(2025, 2, 28), "30/360") == 30
    assert count_days(date(2025, 3, 15), date(2025, 4, 2), "30/360") == 17
    assert count_days(date(2025, 1, 31), date(2025, 2, 28), "actual/365") == 28


def test_add_months_clamps_to_the_end_of_a_leap_february():
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2025, 1, 15), -1) == date(2024, 12, 15)


# --------------------------------------------------------------------------- allocation


def test_a_repayment_goes_to_fees_then_interest_then_principal():
    state = loan(fee_per_instalment=200)
    a = allocate_repayment(state, 3_000, FIRST_DUE)
    assert (a.fees, a.interest, a.principal, a.overpayment) == (200, 2_500, 300, 0)
    assert a.instalments_touched == (1,)


def test_a_partial_repayment_smaller_than_the_fee_pays_only_part_of_the_fee():
    a = allocate_repayment(loan(fee_per_instalment=200), 150, FIRST_DUE)
    assert (a.fees, a.interest, a.principal) == (150, 0, 0)
    assert a.state_after.instalments[0].fee_unpaid == 50


def test_a_late_repayment_settles_the_oldest_instalment_first():
    state = loan()
    on = date(2025, 3, 10)  # instalments 1 and 2 both due, nothing paid
    a = allocate_repayment(state, 50_000, on)
    first, second = a.lines
    assert (first.number, first.interest, first.principal) == (1, 2_500, 40_533)
    assert (second.number, second.interest, second.principal) == (2, 2_297, 4_670)
    assert a.state_after.instalments[0].unpaid == 0
    assert a.state_after.instalments[1].principal_unpaid == 40_736 - 4_670


def test_paying_an_instalment_on_its_due_date_settles_it_and_the_loan_is_not_late():
    a = allocate_repayment(loan(), 43_033, FIRST_DUE)
    assert a.state_after.instalments[0].unpaid == 0
    assert days_past_due(a.state_after, FIRST_DUE + timedelta(days=20)) == 0
    assert a.state_after.outstanding_principal == EUR_5000 - 40_533


def test_money_beyond_what_is_due_pays_the_next_instalment_in_advance():
    a = allocate_repayment(loan(), 60_000, FIRST_DUE)
    assert a.instalments_touched == (1, 2)
    assert a.lines[1].interest == 2_297
    assert a.lines[1].principal == 60_000 - 43_033 - 2_297
    assert not a.paid_off_early
    assert a.overpayment == 0


def test_an_early_repayment_charges_interest_only_up_to_the_payment_date():
    state = loan()
    for month in range(3):
        state = allocate_repayment(state, 43_033, add_months(FIRST_DUE, month)).state_after
    on = date(2025, 4, 16)  # 15 days into the 30 of the fourth period
    quote = payoff_amount(state, on)
    outstanding = state.instalments[2].instalment.balance_after
    assert quote.principal == outstanding
    assert quote.interest == 944  # half of the scheduled 18.89 (18.89 x 15 / 30 = 9.445)
    assert quote.fees == 0

    a = allocate_repayment(state, quote.total, on)
    assert a.paid_off_early
    assert (a.principal, a.interest, a.overpayment) == (outstanding, 944, 0)
    scheduled_rest = sum(s.instalment.interest for s in state.instalments[3:])
    assert a.waived_interest == scheduled_rest - 944
    assert a.state_after.outstanding_principal == 0
    assert a.state_after.unpaid == 0
    assert a.state_after.closed_on == on


def test_an_early_repayment_on_a_due_date_pays_that_instalment_and_no_later_interest():
    state = loan()
    on = FIRST_DUE
    quote = payoff_amount(state, on)
    assert quote.interest == 2_500
    assert quote.principal == EUR_5000
    a = allocate_repayment(state, quote.total, on)
    assert a.paid_off_early
    assert a.state_after.closed_on == on


def test_an_early_repayment_waives_the_fees_of_instalments_not_yet_due():
    state = loan(fee_per_instalment=200)
    quote = payoff_amount(state, date(2025, 1, 11))  # 10 days into the first period
    assert quote.fees == 0
    assert quote.waived_fees == 12 * 200
    assert quote.interest == 833  # 25.00 x 10 / 30
    a = allocate_repayment(state, quote.total + 1_000, date(2025, 1, 11))
    assert a.overpayment == 1_000
    assert a.state_after.unpaid == 0


def test_an_overpayment_is_returned_separately_never_kept():
    state = loan()
    quote = payoff_amount(state, date(2025, 1, 21))
    a = allocate_repayment(state, 600_000, date(2025, 1, 21))
    assert a.principal + a.interest + a.fees == quote.total
    assert a.overpayment == 600_000 - quote.total
    assert a.fees + a.interest + a.principal + a.overpayment == 600_000


def test_money_paid_to_a_repaid_loan_is_all_overpayment():
    state = loan()
    closed = allocate_repayment(state, 600_000, FIRST_DUE).state_after
    a = allocate_repayment(closed, 1_000, date(2025, 3, 1))
    assert (a.overpayment, a.lines) == (1_000, ())
    assert a.state_after.closed_on == FIRST_DUE


def test_paying_every_instalment_on_time_closes_the_loan_on_the_last_due_date():
    state = loan()
    for inst in schedule(product(), EUR_5000, FIRST_DUE):
        a = allocate_repayment(state, inst.total, inst.due_on)
        assert a.overpayment == 0
        assert not a.paid_off_early
        state = a.state_after
    assert state.closed_on == date(2026, 1, 1)
    assert sum(s.interest_paid for s in state.instalments) == 16_398


@pytest.mark.parametrize("amount", [0, -100, 12.5, True])
def test_a_repayment_that_is_not_a_positive_whole_amount_is_refused(amount):
    with pytest.raises(InvalidAmountError):
        allocate_repayment(loan(), amount, FIRST_DUE)


# --------------------------------------------------------------------------- arrears


def test_an_instalment_is_not_late_on_its_due_date_and_one_day_late_the_day_after():
    state = loan()
    assert days_past_due(state, FIRST_DUE) == 0
    assert days_past_due(state, FIRST_DUE + timedelta(days=1)) == 1
    assert arrears_amount(state, FIRST_DUE) == 0
    assert arrears_amount(state, FIRST_DUE + timedelta(days=1)) == 43_033


def test_days_past_due_counts_from_the_oldest_unpaid_instalment():
    state = loan()
    on = date(2025, 3, 15)
    assert days_past_due(state, on) == (on - FIRST_DUE).days == 42
    assert arrears_amount(state, on) == 2 * 43_033
    state = allocate_repayment(state, 43_033, on).state_after
    assert days_past_due(state, on) == (on - date(2025, 3, 1)).days == 14
    assert arrears_amount(state, on) == 43_033


def test_a_partly_paid_instalment_still_ages_the_loan_unless_within_tolerance():
    state = allocate_repayment(loan(), 43_000, FIRST_DUE).state_after
    later = FIRST_DUE + timedelta(days=10)
    assert days_past_due(state, later) == 10
    assert arrears_amount(state, later) == 33
    assert days_past_due(state, later, tolerance_minor=50) == 0
    assert arrears_amount(state, later, tolerance_minor=50) == 0


def test_outstanding_principal_falls_only_by_principal_repaid():
    state = allocate_repayment(loan(), 43_033, FIRST_DUE).state_after
    assert outstanding_principal(state) == EUR_5000 - 40_533


# --------------------------------------------------------------------------- PAR


def test_25_late_loans_owing_200000_out_of_5000000_give_a_par30_of_exactly_4_percent():
    late = [PortfolioLoan(800_000, 45)] * 25  # 25 x 8,000.00 = 200,000.00
    current = [PortfolioLoan(1_000_000, 0)] * 480  # 480 x 10,000.00 = 4,800,000.00
    result = par(late + current)
    assert result == Decimal("0.04")
    assert str(result) == "0.04"


def test_par_counts_the_whole_outstanding_principal_of_a_late_loan_not_its_arrears():
    assert par([(200_000, 31), (800_000, 0)]) == Decimal("0.2")


def test_a_loan_exactly_30_days_late_is_not_at_risk_and_31_days_is():
    assert par([(100_000, 30), (100_000, 0)]) == 0
    assert par([(100_000, 31), (100_000, 0)]) == Decimal("0.5")


def test_an_empty_or_fully_repaid_portfolio_has_a_par_of_zero():
    assert par([]) == 0
    assert par([(0, 120)]) == 0


def test_par90_uses_the_days_given():
    loans = [(100_000, 60), (100_000, 91), (200_000, 0)]
    assert par(loans, days=90) == Decimal("0.25")
    assert par(loans) == Decimal("0.5")


def test_par_refuses_a_float_or_negative_outstanding_principal():
    with pytest.raises(InvalidAmountError):
        par([(1000.0, 40)])  # type: ignore[list-item]
    with pytest.raises(InvalidAmountError):
        par([(-1, 40)])


def test_par_of_loan_states_takes_their_outstanding_principal_and_days_past_due():
    on = date(2025, 3, 10)
    late = loan()  # nothing paid: 37 days past due on 10 March
    paid = allocate_repayment(loan(), 2 * 43_033, on).state_after
    loans = [(outstanding_principal(s), days_past_due(s, on)) for s in (late, paid)]
    expected = Decimal(EUR_5000) / Decimal(EUR_5000 + outstanding_principal(paid))
    assert par(loans) == expected


# --------------------------------------------------------------------------- write-off


def test_a_write_off_takes_all_principal_and_only_the_interest_already_due():
    state = allocate_repayment(loan(fee_per_instalment=200), 43_233, FIRST_DUE).state_after
    on = date(2025, 4, 20)  # instalments 2 and 3 due and unpaid; 4 to 12 not yet due
    w = write_off_amounts(state, on)
    assert w.principal == EUR_5000 - 40_533
    assert w.interest == 2_297 + 2_094
    assert w.fees == 2 * 200
    assert w.total == w.principal + w.interest + w.fees


def test_a_recovery_repays_principal_first_then_interest_then_fees():
    w = WriteOff(principal=10_000, interest=500, fees=200)
    r = split_recovery(w, 10_300)
    assert (r.principal, r.interest, r.fees, r.excess) == (10_000, 300, 0, 0)


def test_later_recoveries_never_recover_more_than_was_written_off():
    w = WriteOff(principal=10_000, interest=500, fees=200)
    first = split_recovery(w, 10_300)
    so_far = WriteOff(first.principal, first.interest, first.fees)
    second = split_recovery(w, 1_000, recovered_before=so_far)
    assert (second.principal, second.interest, second.fees, second.excess) == (0, 200, 200, 600)


def test_a_recovery_of_nothing_is_refused():
    with pytest.raises(InvalidAmountError):
        split_recovery(WriteOff(1, 0, 0), 0)


# --------------------------------------------------------------------------- properties

products = st.builds(
    LoanProduct,
    min_amount=st.just(1),
    max_amount=st.just(10**12),
    annual_rate=st.decimals(min_value=0, max_value=3, places=4),
    method=st.sampled_from(["declining_equal_instalments", "equal_principal", "flat"]),
    term_months=st.integers(1, 60),
    grace_months=st.just(0),
    day_count=st.sampled_from(["30/360", "actual/365", "actual/360"]),
    rounding=st.sampled_from([ROUND_HALF_EVEN, ROUND_UP, ROUND_DOWN]),
    fee_per_instalment=st.integers(0, 500),
).flatmap(lambda p: st.builds(replace, st.just(p), grace_months=st.integers(0, p.term_months - 1)))
first_dues = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))


@settings(max_examples=300, deadline=None)
@given(p=products, principal=st.integers(1, 10**10), first_due=first_dues)
def test_a_schedule_repays_exactly_the_loan_and_no_balance_is_ever_negative(
    p, principal, first_due
):
    rows = schedule(p, principal, first_due)
    assert len(rows) == p.term_months
    assert sum(r.principal for r in rows) == principal
    balance = principal
    for r in rows:
        assert r.principal >= 0 and r.interest >= 0
        assert r.total == r.principal + r.interest + r.fee
        assert r.balance_after == balance - r.principal
        assert 0 <= r.balance_after <= balance
        balance = r.balance_after
    assert rows[-1].balance_after == 0
    assert all(r.principal == 0 for r in rows[: p.grace_months])


@settings(max_examples=200, deadline=None)
@given(
    p=products,
    principal=st.integers(1, 10**8),
    payments=st.lists(st.tuples(st.integers(1, 10**8), st.integers(-40, 2_000)), max_size=12),
)
def test_allocations_account_for_every_cent_paid_and_never_overpay_a_part(p, principal, payments):
    state = LoanState.new(p, schedule(p, principal, FIRST_DUE))
    scheduled_total = sum(s.instalment.total for s in state.instalments)
    paid_in = returned = 0
    on = FIRST_DUE - timedelta(days=40)
    for amount, step in sorted(payments, key=lambda x: x[1]):
        on = max(on, FIRST_DUE + timedelta(days=step))
        a = allocate_repayment(state, amount, on)
        assert a.fees + a.interest + a.principal + a.overpayment == amount
        assert sum(line.total for line in a.lines) == amount - a.overpayment
        assert a.overpayment >= 0
        paid_in += amount
        returned += a.overpayment
        state = a.state_after
        for s in state.instalments:
            assert min(s.fee_unpaid, s.interest_unpaid, s.principal_unpaid) >= 0
        assert (
            state.outstanding_principal + sum(s.principal_paid for s in state.instalments)
            == principal
        )
        if a.overpayment:
            assert state.unpaid == 0
            assert state.closed_on is not None
    kept = sum(s.fee_paid + s.interest_paid + s.principal_paid for s in state.instalments)
    waived = sum(s.fee_waived + s.interest_waived for s in state.instalments)
    assert kept == paid_in - returned
    assert kept + waived + state.unpaid == scheduled_total


@settings(max_examples=200, deadline=None)
@given(
    principal=st.integers(0, 10**8),
    interest=st.integers(0, 10**6),
    fees=st.integers(0, 10**5),
    amounts=st.lists(st.integers(1, 10**8), min_size=1, max_size=5),
)
def test_recoveries_sum_to_what_was_paid_and_never_exceed_the_write_off(
    principal, interest, fees, amounts
):
    w = WriteOff(principal, interest, fees)
    so_far = WriteOff(0, 0, 0)
    for amount in amounts:
        r = split_recovery(w, amount, recovered_before=so_far)
        assert r.total == amount
        so_far = WriteOff(
            so_far.principal + r.principal, so_far.interest + r.interest, so_far.fees + r.fees
        )
        assert so_far.principal <= principal
        assert so_far.interest <= interest
        assert so_far.fees <= fees
        if r.interest or r.fees:
            assert so_far.principal == principal


@settings(max_examples=200, deadline=None)
@given(loans=st.lists(st.tuples(st.integers(0, 10**10), st.integers(0, 400)), max_size=50))
def test_par_is_a_fraction_between_zero_and_one(loans):
    result = par(loans)
    assert Decimal(0) <= result <= Decimal(1)
    if all(d <= 30 for _, d in loans):
        assert result == 0
