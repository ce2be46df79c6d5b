"""Demo of a revolving microcredit fund, loaded idempotently.

A revolving fund receives EUR 30,000 from a foundation and EUR 2,500 of
donations, and lends on two products (6 % with equal instalments, and a 0 %
"prestito d'onore"). Three microloans are disbursed about seven months before
today: one repaid on time every month, one paid off early in its third month,
and one whose borrower paid two instalments and then stopped, so it is more
than 30 days late and the fund's PAR30 is not zero. A provision for losses is
set aside for it. Repaid principal is back in the fund's available money.

Dates are anchored on the first loan's first due date once it exists (before
that: the first day of the month seven months before today), so a second run
asks for exactly the same things and changes nothing; every write goes through
the fund services with a fixed key. Borrowers are people without a user
account (they cannot sign in); the journal names them by id only.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.clock import Clock, rome_today
from ledger.funds import lending
from ledger.funds import service as funds
from ledger.funds.loans import add_months, payoff_amount
from ledger.funds.models import Fund, Loan, LoanProductRow
from ledger.funds.portfolio import loan_state, stored_schedule
from ledger.people.models import Person

DEMO_FUND_NAME = "Fondo rotativo di microcredito del quartiere"
KEY = "demo-loans:"
# (email, name) of the borrowers; persons only, no user.
DEMO_BORROWERS: tuple[tuple[str, str], ...] = (
    ("elena.sartoria@demo.registro.example", "Elena Sarti"),
    ("franco.ciclo@demo.registro.example", "Franco Ciclisti"),
    ("giulia.forno@demo.registro.example", "Giulia Fornai"),
)


def _person(session: Session, email: str, name: str, clock: Clock) -> int:
    found = session.scalar(select(Person.id).where(Person.email == email))
    if found is not None:
        return int(found)
    person = Person(full_name=name, email=email, created_at=clock.now())
    session.add(person)
    session.flush()
    return person.id


def _fund(session: Session, clock: Clock) -> tuple[Fund, bool]:
    fund = session.scalars(select(Fund).where(Fund.name == DEMO_FUND_NAME)).first()
    if fund is not None:
        return fund, False
    return funds.create_fund(
        session, name=DEMO_FUND_NAME, kind="revolving", clock=clock, actor="demo"
    ), True


def _product(session: Session, fund_id: int, name: str, clock: Clock, **terms: object) -> int:
    found = session.scalar(
        select(LoanProductRow.id).where(
            LoanProductRow.fund_id == fund_id, LoanProductRow.name == name
        )
    )
    if found is not None:
        return int(found)
    return lending.create_loan_product(
        session,
        fund_id=fund_id,
        name=name,
        clock=clock,
        **terms,  # type: ignore[arg-type]
    ).id


def _anchor(session: Session, fund_id: int, today: date) -> date:
    """The first due date of the demo's loans: stored once the first loan exists."""
    existing = session.scalar(
        select(Loan.first_due_on).where(
            Loan.fund_id == fund_id, Loan.request_key == f"fund:{fund_id}:loan:{KEY}loan-a"
        )
    )
    if existing is not None:
        return existing
    return add_months(date(today.year, today.month, 1), -6)


def load_demo_loans(session: Session, clock: Clock) -> int:
    """Seed the demo fund and its loans in the caller's transaction; 1 if the fund
    was created now, 0 if it was already there (nothing changes on a second run)."""
    today = rome_today(clock)
    fund, created = _fund(session, clock)
    first_due = _anchor(session, fund.id, today)
    start = add_months(first_due, -1)  # the day the loans were disbursed

    funds.deposit(
        session,
        fund.id,
        3_000_000,
        source="foundation_grant",
        key=KEY + "foundation",
        clock=clock,
        actor="demo",
        effective_on=start - timedelta(days=20),
        reference="convenzione 2026",
    )
    funds.deposit(
        session,
        fund.id,
        250_000,
        source="donation",
        key=KEY + "donations",
        clock=clock,
        actor="demo",
        effective_on=start - timedelta(days=10),
        reference="campagna 1",
    )
    standard = _product(
        session,
        fund.id,
        "Microcredito d'impresa al 6%",
        clock,
        min_amount_minor=100_000,
        max_amount_minor=1_500_000,
        annual_rate=Decimal("0.06"),
        method="declining_equal_instalments",
        min_term_months=6,
        max_term_months=36,
    )
    honour = _product(
        session,
        fund.id,
        "Prestito d'onore a tasso zero",
        clock,
        min_amount_minor=50_000,
        max_amount_minor=500_000,
        annual_rate=Decimal("0"),
        method="equal_principal",
        min_term_months=6,
        max_term_months=24,
    )
    people = [_person(session, email, name, clock) for email, name in DEMO_BORROWERS]

    def lend(name: str, product: int, person: int, principal: int, term: int) -> Loan:
        loan = lending.open_loan(
            session,
            fund_id=fund.id,
            product_id=product,
            borrower_person_id=person,
            principal_minor=principal,
            term_months=term,
            first_due_on=first_due,
            key=KEY + name,
            clock=clock,
            actor="demo",
        )
        return lending.disburse_loan(
            session, loan.id, clock=clock, actor="demo", disbursed_on=start
        )

    on_time = lend("loan-a", standard, people[0], 500_000, 12)
    late = lend("loan-b", honour, people[1], 300_000, 12)
    early = lend("loan-c", standard, people[2], 200_000, 6)

    def pay(loan: Loan, n: int, amount: int, day: date) -> None:
        if day <= today:
            lending.record_repayment(
                session,
                loan.id,
                amount,
                received_on=day,
                key=f"{KEY}pay-{n}",
                clock=clock,
                actor="demo",
            )

    # Loan A: 430.33 on each due date so far (the last instalment would be 430.35).
    for k in range(6):
        pay(on_time, k, 43_033, add_months(first_due, k))
    # Loan B (0 %, 250.00 a month): two instalments, then nothing.
    for k in range(2):
        pay(late, 10 + k, 25_000, add_months(first_due, k) + timedelta(days=3))
    # Loan C: one instalment, then paid off early halfway through its second period. The
    # quote leaves out the payoff itself, so a second run asks for the same amount.
    pay(early, 20, stored_schedule(session, early.id)[0].total, first_due)
    payoff_day = add_months(first_due, 1) + timedelta(days=15)
    before = loan_state(session, early, through=payoff_day - timedelta(days=1))
    pay(early, 21, payoff_amount(before, payoff_day).total, payoff_day)
    funds.provide_for_losses(
        session,
        fund.id,
        50_000,
        key=KEY + "provision",
        clock=clock,
        actor="demo",
        effective_on=min(add_months(first_due, 4), today),
    )
    return 1 if created else 0
