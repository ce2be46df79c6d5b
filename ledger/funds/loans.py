"""Microloan mathematics: schedules, repayment allocation, arrears, PAR, write-off.

Pure functions on amounts in integer minor units (cents for EUR); nothing here
touches a database or knows the currency. Rates are `Decimal` fractions per year
(``Decimal("0.06")`` is 6 %). Every step from a Decimal back to minor units goes
through `to_minor`, which requires the rounding mode by name. Amounts are positive;
signs (debit, credit) are the caller's business when it books them. The module
is about 800 lines because it is one body of arithmetic (schedule, allocation,
arrears, PAR, write-off) whose parts share the day count and rounding; each part
below is documented here and tested in tests/unit/test_loans.py.

Schedule (`schedule`)
    Instalments fall monthly on the day of `first_due` (clamped to the end of
    shorter months: 31 January, 28/29 February, 31 March, ...). The first period
    runs from the disbursement date (one month before `first_due` unless given) to
    `first_due`; each later period from one due date to the next. `term_months`
    counts every instalment, the grace instalments included.

    Grace: only *interest-only* grace is supported. The first `grace_months`
    instalments pay the period's interest (and fee) and no principal; the
    principal is amortised over the remaining ``n = term_months - grace_months``
    instalments. Full grace (nothing paid, interest capitalised or waived) is not
    offered: a later `first_due` with a stated `disbursed_on` expresses a longer
    first period instead.

    Day count. The interest of a period on balance B is
    ``B x annual_rate x days / basis``, rounded to a minor unit with the product's
    `rounding` (ROUND_HALF_EVEN unless stated):
      * ``30/360``: a scheduled month counts 30 days, basis 360, so a regular
        period's interest is B x rate / 12. A span that is not a scheduled month
        (a stated first period, an early repayment) counts 30 days per whole
        calendar month plus the 30E/360 days left over.
      * ``actual/365``: the calendar days of the period, basis 365 (fixed: leap
        years are not special).
      * ``actual/360``: the calendar days of the period, basis 360.

    Methods, where r = annual_rate / 12 is the nominal monthly rate:
      * ``declining_equal_instalments`` (annuity): instalment
        ``A = P x r / (1 - (1 + r)^-n)`` (``P / n`` at 0 %), rounded with the
        product's rounding; each period's interest is computed on the balance
        by the day count, principal = A - interest (never below zero, so a
        period whose interest exceeds A pays its interest and no principal:
        no negative amortisation), never more than the balance.
        Worked figure: 5,000.00 at 6 % over 12 months: A = 430.33
        (430.3321...), last 430.35, interest 163.98.
      * ``equal_principal``: each instalment repays ``P / n`` rounded down
        (ROUND_DOWN, so the last share is the largest and never negative) plus
        the interest on the balance by the day count.
      * ``flat``: interest on the original principal for the whole term,
        ``I = P x annual_rate x total_days / basis`` rounded with the product's
        rounding (5,000.00 at 6 % for 12 months: 300.00; 1,000.00 at 20 % a month,
        i.e. 240 % a year, for 30 days on a 360 basis: 200.00). I is spread
        evenly over all instalments and P over the amortising ones, each share
        rounded down (ROUND_DOWN).
    The last instalment absorbs every rounding: its principal is whatever
    balance is left and, under the flat method, its interest whatever of I is
    left. The principal of a schedule therefore always sums to the loan. A fixed
    fee per instalment (`fee_per_instalment`, 0 by default) is added to each one.

Repayment allocation (`allocate_repayment`)
    A payment received on date D goes, oldest instalment first, to each
    instalment's fee, then its interest, then its principal:
      1. instalments due on or before D, in full;
      2. if what is left covers the early-repayment amount (`payoff_amount`),
         the loan is paid off: the outstanding principal in full, plus the
         interest of the current period (the first instalment not yet due)
         accrued up to D pro rata by the day count,
         ``scheduled interest x elapsed days / period days`` rounded with the
         product's rounding, less any interest already paid on it; the rest of
         the scheduled interest and the fees of instalments not yet due are
         waived. Interest already paid ahead on instalments not yet due is not
         given back;
      3. otherwise what is left pays the next instalments in advance, in the
         same order, as scheduled (the schedule is not recalculated);
      4. whatever remains is an overpayment, returned in `Allocation.overpayment`
         for the caller to refund or hold as a liability: never kept silently.
    fees + interest + principal + overpayment always equals the amount paid.

Arrears and portfolio at risk
    An instalment is past due from the day after its due date while any part of
    it is unpaid (more than an optional tolerance). `days_past_due` counts from
    the due date of the oldest such instalment; `arrears_amount` sums what is
    unpaid on past-due instalments. PARx (`par`) is the outstanding principal of
    the loans more than x days past due (x = 30: exactly 30 days is not late
    enough) divided by the outstanding principal of all loans; 0 for an empty
    or fully repaid portfolio. The numerator takes the whole outstanding principal
    of a late loan, not only its arrears: 25 late loans owing 200,000.00 out of a
    5,000,000.00 portfolio give 4 %, not the 1 % their 50,000.00 of arrears would.

Write-off and recovery
    Interest and fees are recognised when they fall due, so a write-off on date D
    covers all the outstanding principal plus the interest and fees of
    instalments due on or before D that are still unpaid; interest of periods not
    yet due was never recognised and is not written off (`write_off_amounts`).
    A later recovery (`split_recovery`) repays the written-off principal first,
    then the interest, then the fees; anything beyond what was written off is
    returned as `excess`.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import (
    ROUND_05UP,
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
    localcontext,
)
from typing import Final, Literal, NamedTuple, get_args

from ledger.core.errors import InvalidAmountError, LedgerError

Method = Literal["declining_equal_instalments", "equal_principal", "flat"]
DayCount = Literal["30/360", "actual/365", "actual/360"]

METHODS: Final[tuple[str, ...]] = get_args(Method)
DAY_COUNTS: Final[tuple[str, ...]] = get_args(DayCount)
ROUNDING_MODES: Final[frozenset[str]] = frozenset(
    {
        ROUND_05UP,
        ROUND_CEILING,
        ROUND_DOWN,
        ROUND_FLOOR,
        ROUND_HALF_DOWN,
        ROUND_HALF_EVEN,
        ROUND_HALF_UP,
        ROUND_UP,
    }
)

# Ample for 19-digit balances times a rate times a day count; the result is
# quantised to a whole minor unit anyway.
_PRECISION: Final = 60


# --------------------------------------------------------------------------- errors


class LoanError(LedgerError):
    """Base of the loan-mathematics errors."""

    code = "loan_error"


class InvalidLoanProductError(LoanError):
    code = "invalid_loan_product"


class LoanAmountOutOfRangeError(LoanError):
    code = "loan_amount_out_of_range"


class InvalidLoanDateError(LoanError):
    code = "invalid_loan_date"


# --------------------------------------------------------------------------- helpers


def _minor(value: object, what: str) -> int:
    # bool is an int subclass; floats and Decimals are never amounts.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmountError(
            f"{what} is integer minor units, not {type(value).__name__}", field=what
        )
    return value


def _non_negative(value: object, what: str) -> int:
    minor = _minor(value, what)
    if minor < 0:
        raise InvalidAmountError(f"{what} cannot be negative", field=what)
    return minor


def to_minor(value: Decimal, *, rounding: str) -> int:
    """Round a Decimal count of minor units to a whole one with the named `rounding`."""
    if not isinstance(value, Decimal):
        raise InvalidAmountError("to_minor takes a Decimal")
    if rounding not in ROUNDING_MODES:
        raise LoanError(f"unknown rounding mode {rounding!r}")
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return int(value.quantize(Decimal(1), rounding=rounding))


def add_months(start: date, months: int) -> date:
    """`start` moved by `months` calendar months, the day clamped to the month's end."""
    index = start.year * 12 + (start.month - 1) + months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(start.day, last))


def _days_30e_360(start: date, end: date) -> int:
    d1, d2 = min(start.day, 30), min(end.day, 30)
    return 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)


def count_days(start: date, end: date, day_count: DayCount) -> int:
    """Days from `start` to `end` by the day count (see the module docstring).

    Actual bases count calendar days. 30/360 counts 30 days per whole calendar
    month from `start` plus the 30E/360 days of the part left over, so 31 January
    to 28 February is 30 days and 15 March to 2 April is 17.
    """
    if end < start:
        raise InvalidLoanDateError(f"{end} is before {start}")
    if day_count != "30/360":
        return (end - start).days
    months = (end.year - start.year) * 12 + (end.month - start.month)
    if add_months(start, months) > end:
        months -= 1
    return 30 * months + _days_30e_360(add_months(start, months), end)


def days_in_year(day_count: DayCount) -> int:
    """The basis of the day count: 365 for actual/365, 360 otherwise."""
    return 365 if day_count == "actual/365" else 360


# --------------------------------------------------------------------------- product


@dataclass(frozen=True, slots=True)
class LoanProduct:
    """The terms a fund lends on.

    Amounts are minor units; `annual_rate` is a Decimal fraction (0 allowed);
    `grace_months` are interest-only instalments counted within `term_months`;
    `rounding` is a `decimal` rounding mode applied to the instalment amount and
    to each period's (or the flat) interest.
    """

    min_amount: int
    max_amount: int
    annual_rate: Decimal
    method: Method
    term_months: int
    grace_months: int = 0
    day_count: DayCount = "30/360"
    rounding: str = ROUND_HALF_EVEN
    fee_per_instalment: int = 0

    def __post_init__(self) -> None:
        if _non_negative(self.min_amount, "min_amount") == 0:
            raise InvalidLoanProductError("the minimum amount must be positive")
        if _minor(self.max_amount, "max_amount") < self.min_amount:
            raise InvalidLoanProductError("the maximum amount is below the minimum")
        if not isinstance(self.annual_rate, Decimal) or not self.annual_rate.is_finite():
            raise InvalidLoanProductError("the annual rate is a finite Decimal")
        if self.annual_rate < 0:
            raise InvalidLoanProductError("the annual rate cannot be negative")
        if self.method not in METHODS:
            raise InvalidLoanProductError(f"unknown schedule method {self.method!r}")
        if self.day_count not in DAY_COUNTS:
            raise InvalidLoanProductError(f"unknown day count {self.day_count!r}")
        if self.rounding not in ROUNDING_MODES:
            raise InvalidLoanProductError(f"unknown rounding mode {self.rounding!r}")
        for name in ("term_months", "grace_months"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidLoanProductError(f"{name} is a whole number of months")
        if self.term_months < 1:
            raise InvalidLoanProductError("a loan has at least one instalment")
        if not 0 <= self.grace_months < self.term_months:
            raise InvalidLoanProductError("grace must leave at least one repaying instalment")
        _non_negative(self.fee_per_instalment, "fee_per_instalment")


@dataclass(frozen=True, slots=True)
class Instalment:
    """One scheduled instalment; `days` is the period's length by the day count."""

    number: int
    due_on: date
    principal: int
    interest: int
    fee: int
    total: int
    balance_after: int
    starts_on: date
    days: int


# --------------------------------------------------------------------------- schedule


def schedule(
    product: LoanProduct,
    principal_minor: int,
    first_due: date,
    *,
    disbursed_on: date | None = None,
) -> list[Instalment]:
    """The repayment schedule of a loan of `principal_minor` under `product`.

    Formulas, day count, grace and rounding are in the module docstring. The
    principal column sums exactly to the loan, every balance is between 0 and the
    loan, the last balance is 0. `disbursed_on` (one month before `first_due` by
    default) starts the first period.
    """
    principal = _non_negative(principal_minor, "principal_minor")
    if not product.min_amount <= principal <= product.max_amount:
        raise LoanAmountOutOfRangeError(
            "the loan is outside the product's limits",
            min_amount=product.min_amount,
            max_amount=product.max_amount,
            principal=principal,
        )
    term = product.term_months
    dues = [add_months(first_due, k) for k in range(term)]
    if disbursed_on is None:
        starts = [add_months(first_due, -1), *dues[:-1]]
        days = [_regular_days(s, e, product.day_count) for s, e in zip(starts, dues, strict=True)]
    else:
        if disbursed_on >= first_due:
            raise InvalidLoanDateError("the first instalment falls due after the disbursement")
        starts = [disbursed_on, *dues[:-1]]
        days = [count_days(disbursed_on, first_due, product.day_count)] + [
            _regular_days(s, e, product.day_count)
            for s, e in zip(starts[1:], dues[1:], strict=True)
        ]

    if product.method == "flat":
        principals, interests = _flat(product, principal, days)
    else:
        principals, interests = _declining(product, principal, days)

    rows: list[Instalment] = []
    balance = principal
    fee = product.fee_per_instalment
    for k in range(term):
        balance -= principals[k]
        rows.append(
            Instalment(
                number=k + 1,
                due_on=dues[k],
                principal=principals[k],
                interest=interests[k],
                fee=fee,
                total=principals[k] + interests[k] + fee,
                balance_after=balance,
                starts_on=starts[k],
                days=days[k],
            )
        )
    assert balance == 0, "the last instalment absorbs the whole remaining balance"
    return rows


def _regular_days(start: date, end: date, day_count: DayCount) -> int:
    # A scheduled month is 30 days under 30/360 whatever the calendar says.
    return 30 if day_count == "30/360" else (end - start).days


def _period_interest(product: LoanProduct, balance: int, days: int) -> int:
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        exact = Decimal(balance) * product.annual_rate * days / days_in_year(product.day_count)
    return to_minor(exact, rounding=product.rounding)


def _declining(
    product: LoanProduct, principal: int, days: list[int]
) -> tuple[list[int], list[int]]:
    grace = product.grace_months
    n = product.term_months - grace
    if product.method == "declining_equal_instalments":
        with localcontext() as ctx:
            ctx.prec = _PRECISION
            r = product.annual_rate / 12
            exact = Decimal(principal) / n if r == 0 else principal * r / (1 - (1 + r) ** -n)
        instalment = to_minor(exact, rounding=product.rounding)
    else:
        share = to_minor(Decimal(principal) / n, rounding=ROUND_DOWN)

    principals: list[int] = []
    interests: list[int] = []
    balance = principal
    for k, period_days in enumerate(days):
        interest = _period_interest(product, balance, period_days)
        if k < grace:
            part = 0
        elif k == len(days) - 1:
            part = balance
        elif product.method == "declining_equal_instalments":
            part = min(max(instalment - interest, 0), balance)
        else:
            part = min(share, balance)
        principals.append(part)
        interests.append(interest)
        balance -= part
    return principals, interests


def _flat(product: LoanProduct, principal: int, days: list[int]) -> tuple[list[int], list[int]]:
    grace = product.grace_months
    term = product.term_months
    n = term - grace
    total_interest = _period_interest(product, principal, sum(days))
    interest_share = to_minor(Decimal(total_interest) / term, rounding=ROUND_DOWN)
    principal_share = to_minor(Decimal(principal) / n, rounding=ROUND_DOWN)
    interests = [interest_share] * (term - 1) + [total_interest - interest_share * (term - 1)]
    principals = [0] * grace + [principal_share] * (n - 1) + [principal - principal_share * (n - 1)]
    return principals, interests


# --------------------------------------------------------------------------- loan state


@dataclass(frozen=True, slots=True)
class InstalmentState:
    """An instalment with what has been paid and waived on each of its parts."""

    instalment: Instalment
    fee_paid: int = 0
    interest_paid: int = 0
    principal_paid: int = 0
    fee_waived: int = 0
    interest_waived: int = 0

    @property
    def number(self) -> int:
        return self.instalment.number

    @property
    def due_on(self) -> date:
        return self.instalment.due_on

    @property
    def fee_unpaid(self) -> int:
        return self.instalment.fee - self.fee_paid - self.fee_waived

    @property
    def interest_unpaid(self) -> int:
        return self.instalment.interest - self.interest_paid - self.interest_waived

    @property
    def principal_unpaid(self) -> int:
        return self.instalment.principal - self.principal_paid

    @property
    def unpaid(self) -> int:
        return self.fee_unpaid + self.interest_unpaid + self.principal_unpaid


@dataclass(frozen=True, slots=True)
class LoanState:
    """A loan's schedule and what has happened to it; replaced, never mutated."""

    product: LoanProduct
    instalments: tuple[InstalmentState, ...]
    closed_on: date | None = None

    @classmethod
    def new(cls, product: LoanProduct, instalments: Sequence[Instalment]) -> LoanState:
        """The state of a freshly disbursed loan: nothing paid yet."""
        if not instalments:
            raise LoanError("a loan has at least one instalment")
        return cls(product, tuple(InstalmentState(i) for i in instalments))

    @property
    def principal(self) -> int:
        return sum(s.instalment.principal for s in self.instalments)

    @property
    def outstanding_principal(self) -> int:
        return sum(s.principal_unpaid for s in self.instalments)

    @property
    def unpaid(self) -> int:
        return sum(s.unpaid for s in self.instalments)


def outstanding_principal(state: LoanState) -> int:
    """Principal not yet repaid (what PAR and the write-off count)."""
    return state.outstanding_principal


@dataclass(frozen=True, slots=True)
class InstalmentAllocation:
    """The part of one payment that went to one instalment."""

    number: int
    fee: int
    interest: int
    principal: int

    @property
    def total(self) -> int:
        return self.fee + self.interest + self.principal


@dataclass(frozen=True, slots=True)
class Allocation:
    """How a payment was split. fees + interest + principal + overpayment == amount."""

    amount: int
    on: date
    fees: int
    interest: int
    principal: int
    overpayment: int
    lines: tuple[InstalmentAllocation, ...]
    paid_off_early: bool
    waived_interest: int
    waived_fees: int
    state_after: LoanState = field(repr=False)

    @property
    def instalments_touched(self) -> tuple[int, ...]:
        """Numbers of the instalments that received something, oldest first."""
        return tuple(line.number for line in self.lines)


@dataclass(frozen=True, slots=True)
class Payoff:
    """What paying the loan off on `on` costs, and what it waives."""

    on: date
    fees: int
    interest: int
    principal: int
    waived_fees: int
    waived_interest: int

    @property
    def total(self) -> int:
        return self.fees + self.interest + self.principal


def _accrued_interest(state: LoanState, s: InstalmentState, on: date) -> int:
    """Interest of the current period accrued up to `on`, pro rata by the day count."""
    inst = s.instalment
    if on <= inst.starts_on or inst.days == 0:
        return 0
    elapsed = min(count_days(inst.starts_on, on, state.product.day_count), inst.days)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        exact = Decimal(inst.interest) * elapsed / inst.days
    return min(to_minor(exact, rounding=state.product.rounding), inst.interest)


def _payoff_plan(state: LoanState, on: date) -> tuple[Payoff, list[tuple[int, int, int, int, int]]]:
    """The payoff and, per instalment, (fee, interest, principal, fee waived, interest waived)."""
    plan: list[tuple[int, int, int, int, int]] = []
    current_seen = False
    for s in state.instalments:
        if s.due_on <= on:
            plan.append((s.fee_unpaid, s.interest_unpaid, s.principal_unpaid, 0, 0))
            continue
        interest = 0
        if not current_seen:
            current_seen = True
            accrued = _accrued_interest(state, s, on)
            interest = min(max(accrued - s.interest_paid, 0), s.interest_unpaid)
        plan.append((0, interest, s.principal_unpaid, s.fee_unpaid, s.interest_unpaid - interest))
    payoff = Payoff(
        on=on,
        fees=sum(p[0] for p in plan),
        interest=sum(p[1] for p in plan),
        principal=sum(p[2] for p in plan),
        waived_fees=sum(p[3] for p in plan),
        waived_interest=sum(p[4] for p in plan),
    )
    return payoff, plan


def payoff_amount(state: LoanState, on: date) -> Payoff:
    """The early-repayment quote on `on`: what is due, all principal, accrued interest."""
    return _payoff_plan(state, on)[0]


def _settle(s: InstalmentState, budget: int) -> tuple[InstalmentState, InstalmentAllocation]:
    fee = min(budget, s.fee_unpaid)
    budget -= fee
    interest = min(budget, s.interest_unpaid)
    budget -= interest
    principal = min(budget, s.principal_unpaid)
    settled = replace(
        s,
        fee_paid=s.fee_paid + fee,
        interest_paid=s.interest_paid + interest,
        principal_paid=s.principal_paid + principal,
    )
    return settled, InstalmentAllocation(s.number, fee, interest, principal)


def allocate_repayment(state: LoanState, amount_minor: int, on: date) -> Allocation:
    """Split a payment of `amount_minor` received on `on` (order in the module docstring).

    Partial payments settle the oldest instalments first; a payment that covers
    `payoff_amount` closes the loan early; the rest is `overpayment`, returned
    to the caller. The new state is `Allocation.state_after`.
    """
    amount = _minor(amount_minor, "amount_minor")
    if amount <= 0:
        raise InvalidAmountError("a repayment is a positive amount")
    remaining = amount
    states = list(state.instalments)
    lines: list[InstalmentAllocation] = []

    def pay(index: int) -> None:
        nonlocal remaining
        settled, line = _settle(states[index], remaining)
        if line.total:
            states[index] = settled
            lines.append(line)
            remaining -= line.total

    due = [k for k, s in enumerate(states) if s.due_on <= on and s.unpaid]
    for k in due:
        pay(k)

    paid_off_early = False
    waived_interest = waived_fees = 0
    ahead = [k for k, s in enumerate(states) if s.due_on > on and s.unpaid]
    if remaining and ahead:
        interim = replace(state, instalments=tuple(states))
        payoff, plan = _payoff_plan(interim, on)
        if remaining >= payoff.total:
            paid_off_early = True
            waived_interest, waived_fees = payoff.waived_interest, payoff.waived_fees
            for k in ahead:
                fee, interest, principal, fee_waived, interest_waived = plan[k]
                s = states[k]
                states[k] = replace(
                    s,
                    fee_paid=s.fee_paid + fee,
                    interest_paid=s.interest_paid + interest,
                    principal_paid=s.principal_paid + principal,
                    fee_waived=s.fee_waived + fee_waived,
                    interest_waived=s.interest_waived + interest_waived,
                )
                line = InstalmentAllocation(s.number, fee, interest, principal)
                if line.total:
                    lines.append(line)
                remaining -= line.total
        else:
            for k in ahead:
                if not remaining:
                    break
                pay(k)

    closed_on = state.closed_on
    if closed_on is None and all(s.unpaid == 0 for s in states):
        closed_on = on
    after = LoanState(state.product, tuple(states), closed_on)
    allocation = Allocation(
        amount=amount,
        on=on,
        fees=sum(line.fee for line in lines),
        interest=sum(line.interest for line in lines),
        principal=sum(line.principal for line in lines),
        overpayment=remaining,
        lines=tuple(lines),
        paid_off_early=paid_off_early,
        waived_interest=waived_interest,
        waived_fees=waived_fees,
        state_after=after,
    )
    assert (
        allocation.fees + allocation.interest + allocation.principal + allocation.overpayment
        == amount
    ), "an allocation neither loses nor invents money"
    return allocation


# --------------------------------------------------------------------------- arrears and PAR


def _late(state: LoanState, on: date, tolerance_minor: int) -> list[InstalmentState]:
    tolerance = _non_negative(tolerance_minor, "tolerance_minor")
    return [s for s in state.instalments if s.due_on < on and s.unpaid > tolerance]


def days_past_due(state: LoanState, on: date, *, tolerance_minor: int = 0) -> int:
    """Days since the due date of the oldest instalment still unpaid on `on` (0 if none).

    An instalment is late from the day after its due date; one whose unpaid part
    is at most `tolerance_minor` does not age the loan.
    """
    late = _late(state, on, tolerance_minor)
    return (on - late[0].due_on).days if late else 0


def arrears_amount(state: LoanState, on: date, *, tolerance_minor: int = 0) -> int:
    """Fees, interest and principal unpaid on instalments past due on `on`."""
    return sum(s.unpaid for s in _late(state, on, tolerance_minor))


class PortfolioLoan(NamedTuple):
    """One loan as PAR sees it."""

    outstanding_principal: int
    days_past_due: int


def par(loans: Iterable[tuple[int, int]], days: int = 30) -> Decimal:
    """Portfolio at risk: principal of loans more than `days` late over all principal.

    `loans` are (outstanding principal, days past due) pairs. The ratio is exact
    where it terminates (``Decimal("0.04")``) and 28 significant digits otherwise;
    presentation rounds it. Empty or fully repaid portfolio: 0.
    """
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise LoanError("PAR counts a non-negative whole number of days")
    at_risk = total = 0
    for outstanding, late_days in loans:
        principal = _non_negative(outstanding, "outstanding principal")
        if isinstance(late_days, bool) or not isinstance(late_days, int) or late_days < 0:
            raise LoanError("days past due is a non-negative whole number")
        total += principal
        if late_days > days:
            at_risk += principal
    if total == 0:
        return Decimal(0)
    with localcontext() as ctx:
        ctx.prec = 28
        return Decimal(at_risk) / Decimal(total)


# --------------------------------------------------------------------------- write-off


@dataclass(frozen=True, slots=True)
class WriteOff:
    """Amounts written off (or, as `recovered_before`, recovered so far)."""

    principal: int
    interest: int
    fees: int

    @property
    def total(self) -> int:
        return self.principal + self.interest + self.fees


@dataclass(frozen=True, slots=True)
class Recovery:
    """How a recovery on a written-off loan splits; `excess` goes back to the payer."""

    principal: int
    interest: int
    fees: int
    excess: int

    @property
    def total(self) -> int:
        return self.principal + self.interest + self.fees + self.excess


def write_off_amounts(state: LoanState, on: date) -> WriteOff:
    """What writing the loan off on `on` removes from the books.

    All outstanding principal, plus interest and fees of instalments due on or
    before `on` and still unpaid; interest not yet due was never recognised.
    """
    due = [s for s in state.instalments if s.due_on <= on]
    return WriteOff(
        principal=state.outstanding_principal,
        interest=sum(s.interest_unpaid for s in due),
        fees=sum(s.fee_unpaid for s in due),
    )


def split_recovery(
    written_off: WriteOff,
    amount_minor: int,
    *,
    recovered_before: WriteOff | None = None,
) -> Recovery:
    """Split money recovered after a write-off: principal first, then interest, then fees.

    `recovered_before` is what earlier recoveries already took back, so several
    recoveries never recover more than was written off; the rest is `excess`.
    """
    amount = _minor(amount_minor, "amount_minor")
    if amount <= 0:
        raise InvalidAmountError("a recovery is a positive amount")
    before = recovered_before or WriteOff(0, 0, 0)
    room = [
        written_off.principal - before.principal,
        written_off.interest - before.interest,
        written_off.fees - before.fees,
    ]
    if any(r < 0 for r in room):
        raise LoanError("more was recovered before than was written off")
    parts: list[int] = []
    remaining = amount
    for r in room:
        part = min(remaining, r)
        parts.append(part)
        remaining -= part
    return Recovery(principal=parts[0], interest=parts[1], fees=parts[2], excess=remaining)
