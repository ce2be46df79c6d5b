"""A loan's state and a fund's portfolio, rebuilt from the stored rows.

A loan's state is its stored schedule with every repayment replayed through
`ledger.funds.loans.allocate_repayment`, in the order they were received
(received date, then row id). The allocation is deterministic, so the replay
gives back exactly the split each repayment row recorded; repayments are
refused when dated before the loan's latest one, which keeps the order fixed.

PAR30 of a fund is the outstanding principal of its disbursed loans with an
instalment more than 30 days late over the outstanding principal of all its
disbursed loans (written-off and repaid loans are out of the portfolio;
rescheduling does not exist here, so nothing is excluded for it). The
denominator is outstanding, not original, principal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ledger.funds import loans as math
from ledger.funds.models import Loan, LoanInstalment, LoanRepayment

PAR_DAYS = 30


def product_of(loan: Loan) -> math.LoanProduct:
    """The loan's frozen terms as the loan mathematics takes them."""
    return math.LoanProduct(
        min_amount=loan.principal_minor,
        max_amount=loan.principal_minor,
        annual_rate=loan.rate,
        method=loan.method,  # type: ignore[arg-type]
        term_months=loan.term_months,
        grace_months=loan.grace_months,
        day_count=loan.day_count,  # type: ignore[arg-type]
        rounding=loan.rounding,
        fee_per_instalment=loan.fee_per_instalment_minor,
    )


def stored_schedule(session: Session, loan_id: int) -> list[math.Instalment]:
    rows = session.scalars(
        select(LoanInstalment)
        .where(LoanInstalment.loan_id == loan_id)
        .order_by(LoanInstalment.number)
    ).all()
    return [
        math.Instalment(
            number=r.number,
            due_on=r.due_on,
            principal=r.principal_minor,
            interest=r.interest_minor,
            fee=r.fee_minor,
            total=r.total_minor,
            balance_after=r.balance_after_minor,
            starts_on=r.starts_on,
            days=r.days,
        )
        for r in rows
    ]


def repayments_of(session: Session, loan_id: int) -> list[LoanRepayment]:
    return list(
        session.scalars(
            select(LoanRepayment)
            .where(LoanRepayment.loan_id == loan_id)
            .order_by(LoanRepayment.received_on, LoanRepayment.id)
        ).all()
    )


def loan_state(session: Session, loan: Loan, *, through: date | None = None) -> math.LoanState:
    """The schedule with every repayment received up to `through` (default: all) applied."""
    state = math.LoanState.new(product_of(loan), stored_schedule(session, loan.id))
    for repayment in repayments_of(session, loan.id):
        if through is not None and repayment.received_on > through:
            break
        state = math.allocate_repayment(
            state, repayment.amount_minor, repayment.received_on
        ).state_after
    return state


@dataclass(frozen=True, slots=True)
class LoanStanding:
    """One disbursed loan as the portfolio sees it on a date."""

    loan_id: int
    outstanding_principal_minor: int
    days_past_due: int
    arrears_minor: int


@dataclass(frozen=True, slots=True)
class Portfolio:
    """A fund's outstanding loans on `on` and its portfolio at risk (30 days)."""

    on: date
    loans: tuple[LoanStanding, ...]
    outstanding_minor: int
    at_risk_minor: int
    par30: Decimal

    @property
    def late_count(self) -> int:
        return sum(1 for s in self.loans if s.days_past_due > PAR_DAYS)


def standing(session: Session, loan: Loan, on: date) -> LoanStanding:
    state = loan_state(session, loan, through=on)
    return LoanStanding(
        loan.id,
        state.outstanding_principal,
        math.days_past_due(state, on),
        math.arrears_amount(state, on),
    )


def portfolio(session: Session, fund_id: int, on: date) -> Portfolio:
    """Outstanding principal, principal at risk and PAR30 of the fund's loans on `on`.

    As of `on`: the loans disbursed on or before it and not yet repaid or written
    off by then, with the repayments received up to it, so a statement of a past
    period sees the portfolio as it was.
    """
    rows = session.scalars(
        select(Loan)
        .where(
            Loan.fund_id == fund_id,
            Loan.status.in_(("disbursed", "repaid", "written_off")),
            Loan.disbursed_on <= on,
            or_(Loan.closed_on.is_(None), Loan.closed_on > on),
        )
        .order_by(Loan.id)
    ).all()
    standings = tuple(standing(session, loan, on) for loan in rows)
    pairs = [(s.outstanding_principal_minor, s.days_past_due) for s in standings]
    outstanding = sum(p for p, _ in pairs)
    at_risk = sum(p for p, late in pairs if late > PAR_DAYS)
    return Portfolio(on, standings, outstanding, at_risk, math.par(pairs, PAR_DAYS))


def loans_in_arrears(session: Session, on: date) -> int:
    """Disbursed loans, of every fund, with something due and unpaid on `on`."""
    rows = session.scalars(
        select(Loan).where(Loan.status == "disbursed", Loan.disbursed_on <= on).order_by(Loan.id)
    )
    return sum(1 for loan in rows if standing(session, loan, on).arrears_minor > 0)
