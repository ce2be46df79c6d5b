"""Funds and microloans through the real services, engine and migrations.

Every test runs on SQLite and (with LEDGER_TEST_POSTGRES_URL) on PostgreSQL.
Money tests assert every account of the fund after each step, and the books
must verify at the end. The concurrent disbursements test needs PostgreSQL's
row locks and says so when skipped.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from ledger.core.clock import FixedClock
from ledger.core.errors import IdempotencyConflictError, LedgerError
from ledger.core.models import Hold, JournalEntry
from ledger.core.service import Ledger
from ledger.core.uow import unit_of_work
from ledger.funds import lending
from ledger.funds import service as funds
from ledger.funds.accounts import FundAccounts
from ledger.funds.errors import (
    FundInsufficientError,
    InvalidFundError,
    InvalidLoanError,
    LoanStateError,
    ReservationError,
)
from ledger.funds.models import LoanRepayment
from ledger.people.models import Person

ZERO = {
    "cash": 0,
    "pending": 0,
    "loans_receivable": 0,
    "provision": 0,
    "capital": 0,
    "interest": 0,
    "fees": 0,
    "recoveries": 0,
    "grants": 0,
    "loan_losses": 0,
    "overpayments": 0,
}


def books(ledger: Ledger, fund_id: int) -> dict[str, int]:
    """Every account of the fund (posted, normal orientation) and the cash on hold."""
    a = FundAccounts(fund_id)
    cash = ledger.balance(a.cash)
    return {
        "cash": cash.posted,
        "pending": cash.pending,
        "loans_receivable": ledger.balance(a.loans_receivable).posted,
        "provision": ledger.balance(a.provision).posted,
        "capital": ledger.balance(a.capital).posted,
        "interest": ledger.balance(a.interest).posted,
        "fees": ledger.balance(a.fees).posted,
        "recoveries": ledger.balance(a.recoveries).posted,
        "grants": ledger.balance(a.grants).posted,
        "loan_losses": ledger.balance(a.loan_losses).posted,
        "overpayments": ledger.balance(a.overpayments).posted,
    }


def expect(**changes: int) -> dict[str, int]:
    return {**ZERO, **changes}


def trace(ledger: Ledger) -> tuple[int, int, int]:
    """Entries, holds and repayment rows: what a refused request must not change."""

    def read(session: Session) -> tuple[int, int, int]:
        return (
            int(session.scalar(select(func.count(JournalEntry.id))) or 0),
            int(session.scalar(select(func.count(Hold.id))) or 0),
            int(session.scalar(select(func.count(LoanRepayment.id))) or 0),
        )

    return ledger.read(read)


def new_fund(ledger: Ledger, money_in: int = 0, kind: str = "revolving") -> int:
    def work(session: Session) -> int:
        fund = funds.create_fund(session, name="Fondo di comunità", kind=kind, clock=ledger.clock)
        if money_in:
            funds.deposit(
                session,
                fund.id,
                money_in,
                source="foundation_grant",
                key="seed",
                clock=ledger.clock,
            )
        return fund.id

    return ledger.run(work)


def new_person(session: Session, n: int, clock: Any) -> int:
    person = Person(full_name=f"Persona {n}", email=f"p{n}@example.org", created_at=clock.now())
    session.add(person)
    session.flush()
    return person.id


def new_product(ledger: Ledger, fund_id: int, **terms: Any) -> int:
    values: dict[str, Any] = {
        "name": "Microcredito d'impresa",
        "min_amount_minor": 50_000,
        "max_amount_minor": 2_500_000,
        "annual_rate": "0.06",
        "method": "declining_equal_instalments",
        "min_term_months": 3,
        "max_term_months": 36,
    }
    values.update(terms)
    return ledger.run(
        lambda s: lending.create_loan_product(s, fund_id=fund_id, clock=ledger.clock, **values).id
    )


def new_loan(
    ledger: Ledger,
    fund_id: int,
    product_id: int,
    principal: int,
    *,
    term: int = 12,
    first_due: date = date(2026, 7, 15),
    disbursed_on: date = date(2026, 6, 15),
    key: str = "loan-1",
    hold_id: str | None = None,
) -> int:
    def work(session: Session) -> int:
        person = new_person(session, abs(hash(key)) % 10**8, ledger.clock)
        loan = lending.open_loan(
            session,
            fund_id=fund_id,
            product_id=product_id,
            borrower_person_id=person,
            principal_minor=principal,
            term_months=term,
            first_due_on=first_due,
            hold_id=hold_id,
            key=key,
            clock=ledger.clock,
        )
        lending.disburse_loan(session, loan.id, clock=ledger.clock, disbursed_on=disbursed_on)
        return loan.id

    return ledger.run(work)


def loan_facts(ledger: Ledger, loan_id: int) -> tuple[str, date | None, int | None]:
    """(status, closed_on, disbursement sequence) of a loan, read in its own session."""

    def read(session: Session) -> tuple[str, date | None, int | None]:
        loan = lending.get_loan(session, loan_id)
        return loan.status, loan.closed_on, loan.disbursement_sequence

    return ledger.read(read)


def at(ledger: Ledger, day: date) -> None:
    assert isinstance(ledger.clock, FixedClock)
    ledger.clock.instant = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


# --------------------------------------------------------------------------- funds


def test_money_in_is_booked_by_source_and_a_retry_books_it_once(ledger: Ledger) -> None:
    fund_id = new_fund(ledger)

    def give(session: Session, amount: int, key: str, source: str) -> funds.Booked:
        return funds.deposit(
            session, fund_id, amount, source=source, key=key, clock=ledger.clock, reference="camp:3"
        )

    first = ledger.run(lambda s: give(s, 950_000, "bonifico-1", "foundation_grant"))
    again = ledger.run(lambda s: give(s, 950_000, "bonifico-1", "foundation_grant"))
    ledger.run(lambda s: give(s, 50_000, "dono-1", "donation"))
    assert (first.created, again.created, again.sequence) == (True, False, first.sequence)
    assert books(ledger, fund_id) == expect(cash=1_000_000, capital=1_000_000)
    assert ledger.entry(first.sequence).metadata == {
        "fund_id": fund_id,
        "source": "foundation_grant",
        "reference": "camp:3",
    }
    with pytest.raises(IdempotencyConflictError):
        ledger.run(lambda s: give(s, 1, "bonifico-1", "foundation_grant"))
    assert books(ledger, fund_id) == expect(cash=1_000_000, capital=1_000_000)


@pytest.mark.parametrize(
    ("amount", "source", "message"),
    [
        (0, "donation", "maggiore di zero"),
        (-5, "donation", "maggiore di zero"),
        (10.5, "donation", "numero intero di centesimi"),
        (100, "lottery", "Provenienza sconosciuta"),
    ],
)
def test_bad_money_in_is_refused_in_italian_with_nothing_written(
    ledger: Ledger, amount: Any, source: str, message: str
) -> None:
    fund_id = new_fund(ledger)
    before = trace(ledger)
    with pytest.raises(InvalidFundError, match=message):
        ledger.run(
            lambda s: funds.deposit(s, fund_id, amount, source=source, key="k", clock=ledger.clock)
        )
    assert trace(ledger) == before
    assert books(ledger, fund_id) == ZERO


def test_a_fund_cannot_commit_more_than_it_holds_and_the_refusal_writes_nothing(
    ledger: Ledger,
) -> None:
    fund_id = new_fund(ledger, 500_000)
    hold = ledger.run(
        lambda s: funds.reserve(
            s, fund_id, 300_000, key="award-1", clock=ledger.clock, purpose="grant"
        )
    )
    before = trace(ledger)
    with pytest.raises(FundInsufficientError, match=r"disponibili 2\.000,00 EUR") as refused:
        ledger.run(
            lambda s: funds.reserve(
                s, fund_id, 200_001, key="award-2", clock=ledger.clock, purpose="grant"
            )
        )
    assert refused.value.http_status == 409
    assert trace(ledger) == before
    position = ledger.read(lambda s: funds.fund_position(s, fund_id, on=date(2026, 6, 15)))
    assert (position.cash_minor, position.committed_minor, position.available_minor) == (
        500_000,
        300_000,
        200_000,
    )
    # Nor can a payment without a reservation take the reserved money.
    with pytest.raises(FundInsufficientError):
        ledger.run(
            lambda s: funds.pay_grant(
                s, fund_id, 200_001, hold_id=None, key="direct", clock=ledger.clock
            )
        )
    # Releasing the reservation gives the money back.
    ledger.run(lambda s: funds.release_reservation(s, hold, key="withdrawn", clock=ledger.clock))
    assert books(ledger, fund_id) == expect(cash=500_000, capital=500_000)
    with pytest.raises(ReservationError, match="già liberato"):
        ledger.run(lambda s: funds.release_reservation(s, hold, key="again", clock=ledger.clock))


def test_a_grant_paid_in_two_tranches_keeps_the_rest_reserved_and_unspent_money_comes_back(
    ledger: Ledger,
) -> None:
    fund_id = new_fund(ledger, 950_000, kind="microgrant")
    hold = ledger.run(
        lambda s: funds.reserve(
            s, fund_id, 300_000, key="award-1", clock=ledger.clock, purpose="grant"
        )
    )
    assert books(ledger, fund_id) == expect(cash=950_000, pending=300_000, capital=950_000)

    first = ledger.run(
        lambda s: funds.pay_grant(s, fund_id, 180_000, hold_id=hold, key="t1", clock=ledger.clock)
    )
    assert first.remaining_hold_id is not None
    assert books(ledger, fund_id) == expect(
        cash=770_000, pending=120_000, capital=950_000, grants=180_000
    )
    # A competing commitment cannot take the second tranche's money.
    with pytest.raises(FundInsufficientError):
        ledger.run(
            lambda s: funds.reserve(
                s, fund_id, 650_001, key="other", clock=ledger.clock, purpose="grant"
            )
        )
    # A retried first tranche changes nothing and answers the same.
    retry = ledger.run(
        lambda s: funds.pay_grant(s, fund_id, 180_000, hold_id=hold, key="t1", clock=ledger.clock)
    )
    assert (retry.created, retry.sequence, retry.remaining_hold_id) == (
        False,
        first.sequence,
        first.remaining_hold_id,
    )
    rest = first.remaining_hold_id
    with pytest.raises(ReservationError, match="supera l'impegno"):
        ledger.run(
            lambda s: funds.pay_grant(
                s, fund_id, 120_001, hold_id=rest, key="t2", clock=ledger.clock
            )
        )
    second = ledger.run(
        lambda s: funds.pay_grant(s, fund_id, 120_000, hold_id=rest, key="t2", clock=ledger.clock)
    )
    assert second.remaining_hold_id is None
    assert books(ledger, fund_id) == expect(cash=650_000, capital=950_000, grants=300_000)

    ledger.run(lambda s: funds.return_unspent(s, fund_id, 25_000, key="r1", clock=ledger.clock))
    assert books(ledger, fund_id) == expect(cash=675_000, capital=950_000, grants=275_000)
    with pytest.raises(InvalidFundError, match="supera i contributi"):
        ledger.run(
            lambda s: funds.return_unspent(s, fund_id, 275_001, key="r2", clock=ledger.clock)
        )
    assert ledger.verify().ok


# --------------------------------------------------------------------------- loans


def test_a_repayment_pays_fees_then_interest_then_principal(ledger: Ledger) -> None:
    fund_id = new_fund(ledger, 1_000_000)
    product = new_product(ledger, fund_id, fee_per_instalment_minor=200)
    loan_id = new_loan(ledger, fund_id, product, 500_000)
    assert books(ledger, fund_id) == expect(
        cash=500_000, capital=1_000_000, loans_receivable=500_000
    )
    # Instalment 1: fee 2.00, interest 25.00 (5,000.00 x 6% / 12), principal 405.33.
    at(ledger, date(2026, 7, 20))
    partial = ledger.run(
        lambda s: lending.record_repayment(
            s, loan_id, 2_600, received_on=date(2026, 7, 20), key="p1", clock=ledger.clock
        )
    )
    assert (partial.fees_minor, partial.interest_minor, partial.principal_minor) == (200, 2_400, 0)
    assert books(ledger, fund_id) == expect(
        cash=502_600, capital=1_000_000, loans_receivable=500_000, fees=200, interest=2_400
    )
    rest = ledger.run(
        lambda s: lending.record_repayment(
            s, loan_id, 40_633, received_on=date(2026, 7, 20), key="p2", clock=ledger.clock
        )
    )
    assert (rest.fees_minor, rest.interest_minor, rest.principal_minor) == (0, 100, 40_533)
    assert books(ledger, fund_id) == expect(
        cash=543_233,
        capital=1_000_000,
        loans_receivable=459_467,
        fees=200,
        interest=2_500,
    )
    detail = ledger.read(lambda s: lending.loan_detail(s, loan_id, on=date(2026, 7, 20)))
    assert detail.lines[0].unpaid_minor == 0
    assert detail.days_past_due == 0
    assert ledger.verify().ok


def test_an_early_repayment_pays_off_the_loan_and_its_principal_is_lendable_again(
    ledger: Ledger,
) -> None:
    fund_id = new_fund(ledger, 500_000)
    product = new_product(ledger, fund_id)
    loan_id = new_loan(ledger, fund_id, product, 500_000)
    assert ledger.read(lambda s: funds.available_minor(s, fund_id)) == 0
    # Nothing left to lend: a second loan is refused and writes nothing.
    before = trace(ledger)
    with pytest.raises(FundInsufficientError):
        new_loan(ledger, fund_id, product, 50_000, key="loan-2")
    assert trace(ledger)[0] == before[0]

    at(ledger, date(2026, 7, 15))
    ledger.run(
        lambda s: lending.record_repayment(
            s, loan_id, 43_033, received_on=date(2026, 7, 15), key="i1", clock=ledger.clock
        )
    )
    # On 30 July, half of the second period: principal 459,467 + interest
    # 22.97 (459,467 x 0.5% = 2,297.335 cents, half-even) x 15/30 = 1,148.5 cents,
    # half-even 11.48; the rest of the period's interest is waived.
    at(ledger, date(2026, 7, 30))
    quote = ledger.read(lambda s: lending.loan_detail(s, loan_id, on=date(2026, 7, 30)))
    assert quote.payoff_minor == 459_467 + 1_148
    payoff = ledger.run(
        lambda s: lending.record_repayment(
            s, loan_id, 460_615, received_on=date(2026, 7, 30), key="payoff", clock=ledger.clock
        )
    )
    assert payoff.paid_off_early
    assert (payoff.interest_minor, payoff.principal_minor, payoff.overpayment_minor) == (
        1_148,
        459_467,
        0,
    )
    assert books(ledger, fund_id) == expect(cash=503_648, capital=500_000, interest=3_648)
    assert loan_facts(ledger, loan_id)[:2] == ("repaid", date(2026, 7, 30))
    with pytest.raises(LoanStateError, match="già estinto"):
        ledger.run(
            lambda s: lending.record_repayment(
                s, loan_id, 100, received_on=date(2026, 7, 30), key="late", clock=ledger.clock
            )
        )
    # The repaid principal lends again.
    new_loan(
        ledger,
        fund_id,
        product,
        500_000,
        key="loan-3",
        first_due=date(2026, 8, 30),
        disbursed_on=date(2026, 7, 30),
    )
    assert books(ledger, fund_id)["cash"] == 3_648
    assert ledger.verify().ok


def test_an_overpayment_is_owed_back_visibly_and_refunded(ledger: Ledger) -> None:
    fund_id = new_fund(ledger, 100_000)
    product = new_product(ledger, fund_id, annual_rate="0", min_amount_minor=10_000)
    loan_id = new_loan(ledger, fund_id, product, 30_000, term=3)
    at(ledger, date(2026, 7, 15))
    paid = ledger.run(
        lambda s: lending.record_repayment(
            s, loan_id, 35_000, received_on=date(2026, 7, 15), key="all", clock=ledger.clock
        )
    )
    assert (paid.principal_minor, paid.interest_minor, paid.overpayment_minor) == (30_000, 0, 5_000)
    assert books(ledger, fund_id) == expect(cash=105_000, capital=100_000, overpayments=5_000)
    with pytest.raises(InvalidLoanError, match="sono dovuti 50,00 EUR"):
        ledger.run(
            lambda s: lending.refund_overpayment(s, loan_id, 5_001, key="x", clock=ledger.clock)
        )
    ledger.run(
        lambda s: lending.refund_overpayment(s, loan_id, 5_000, key="back", clock=ledger.clock)
    )
    assert books(ledger, fund_id) == expect(cash=100_000, capital=100_000)
    assert ledger.verify().ok


def test_a_write_off_goes_against_the_provision_first_and_a_later_recovery_is_income(
    ledger: Ledger,
) -> None:
    fund_id = new_fund(ledger, 1_000_000)
    product = new_product(ledger, fund_id, fee_per_instalment_minor=100)
    loan_id = new_loan(ledger, fund_id, product, 600_000)
    ledger.run(
        lambda s: funds.provide_for_losses(s, fund_id, 200_000, key="2026-06", clock=ledger.clock)
    )
    assert books(ledger, fund_id) == expect(
        cash=400_000,
        capital=1_000_000,
        loans_receivable=600_000,
        provision=-200_000,
        loan_losses=200_000,
    )
    at(ledger, date(2026, 7, 15))
    first = ledger.run(
        lambda s: lending.record_repayment(
            s, loan_id, 51_740, received_on=date(2026, 7, 15), key="i1", clock=ledger.clock
        )
    )
    # 600,000 at 6% over 12: instalment 516.40 = interest 30.00 + principal 486.40, + fee 1.00.
    assert (first.fees_minor, first.interest_minor, first.principal_minor) == (100, 3_000, 48_640)
    at(ledger, date(2026, 11, 1))
    written = ledger.run(lambda s: lending.write_off_loan(s, loan_id, key="wo", clock=ledger.clock))
    # Principal left 551,360; three instalments (Aug, Sep, Oct) fell due unpaid.
    assert (written.principal_minor, written.from_provision_minor) == (551_360, 200_000)
    assert written.fees_minor == 300 and written.interest_minor > 0
    assert books(ledger, fund_id) == expect(
        cash=451_740,
        capital=1_000_000,
        loans_receivable=0,
        provision=0,
        loan_losses=551_360,
        fees=100,
        interest=3_000,
    )
    position = ledger.read(lambda s: funds.fund_position(s, fund_id, on=date(2026, 11, 1)))
    assert (position.loans_active, position.par30) == (0, Decimal(0))
    with pytest.raises(LoanStateError, match="registrare un recupero"):
        ledger.run(
            lambda s: lending.record_repayment(
                s, loan_id, 1_000, received_on=date(2026, 11, 1), key="r", clock=ledger.clock
            )
        )
    recovered = ledger.run(
        lambda s: lending.record_recovery(
            s, loan_id, 100_000, received_on=date(2026, 11, 1), key="rec1", clock=ledger.clock
        )
    )
    assert (recovered.principal_minor, recovered.interest_minor, recovered.excess_minor) == (
        100_000,
        0,
        0,
    )
    assert books(ledger, fund_id) == expect(
        cash=551_740,
        capital=1_000_000,
        loan_losses=551_360,
        fees=100,
        interest=3_000,
        recoveries=100_000,
    )
    # Recovering more than was written off: principal, interest, fees, then the excess is owed back.
    total_written = written.principal_minor + written.interest_minor + written.fees_minor
    last = ledger.run(
        lambda s: lending.record_recovery(
            s,
            loan_id,
            total_written - 100_000 + 700,
            received_on=date(2026, 11, 1),
            key="rec2",
            clock=ledger.clock,
        )
    )
    assert (last.principal_minor, last.interest_minor, last.fees_minor, last.excess_minor) == (
        451_360,
        written.interest_minor,
        300,
        700,
    )
    assert books(ledger, fund_id) == expect(
        cash=551_740 + total_written - 100_000 + 700,
        capital=1_000_000,
        loan_losses=551_360,
        fees=400,
        interest=3_000 + written.interest_minor,
        recoveries=551_360,
        overpayments=700,
    )
    assert ledger.verify().ok


def test_par30_of_25_late_loans_owing_200000_in_a_5000000_portfolio_is_4_percent(
    ledger: Ledger,
) -> None:
    """Through the real fund: 49 loans opened, disbursed and aged by the stored schedules."""
    fund_id = new_fund(ledger, 500_000_000)
    product = new_product(ledger, fund_id, max_amount_minor=20_000_000, annual_rate="0")
    for n in range(25):  # 8,000.00 each, first due 1 May: 45 days late on 15 June
        new_loan(
            ledger,
            fund_id,
            product,
            800_000,
            key=f"late-{n}",
            first_due=date(2026, 5, 1),
            disbursed_on=date(2026, 4, 1),
        )
    for n in range(24):  # 200,000.00 each, first due in July: current
        new_loan(ledger, fund_id, product, 20_000_000, key=f"current-{n}")
    position = ledger.read(lambda s: funds.fund_position(s, fund_id, on=date(2026, 6, 15)))
    assert position.loans_outstanding_minor == 500_000_000  # the engine's receivable
    assert position.at_risk_minor == 20_000_000
    assert (position.loans_active, position.loans_at_risk) == (49, 25)
    assert position.par30 == Decimal("0.04")
    # Exactly 30 days late is not late enough: on 31 May the same loans are 30 days late.
    early = ledger.read(lambda s: funds.fund_position(s, fund_id, on=date(2026, 5, 31)))
    assert early.par30 == Decimal(0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"principal_minor": 10}, "Il capitale deve essere tra 500,00 EUR e 25.000,00 EUR"),
        ({"term_months": 48}, "La durata deve essere tra 3 e 36 mesi"),
        ({"borrower_person_id": 99_999}, "Il beneficiario indicato non esiste"),
        ({"first_due_on": "2026-07-15"}, "Prima scadenza: serve una data"),
    ],
)
def test_a_bad_loan_is_refused_in_italian_and_nothing_is_written(
    ledger: Ledger, change: dict[str, Any], message: str
) -> None:
    fund_id = new_fund(ledger, 1_000_000)
    product = new_product(ledger, fund_id)

    def work(session: Session) -> None:
        args: dict[str, Any] = {
            "fund_id": fund_id,
            "product_id": product,
            "borrower_person_id": new_person(session, 1, ledger.clock),
            "principal_minor": 100_000,
            "term_months": 12,
            "first_due_on": date(2026, 7, 15),
        }
        args.update(change)
        lending.open_loan(session, key="bad", clock=ledger.clock, **args)

    with pytest.raises(InvalidLoanError, match=message):
        ledger.run(work)
    assert ledger.read(lending.list_loans) == []


def test_a_loan_from_an_approved_award_is_disbursed_from_its_reservation(ledger: Ledger) -> None:
    fund_id = new_fund(ledger, 400_000)
    product = new_product(ledger, fund_id)
    hold = ledger.run(
        lambda s: funds.reserve(
            s, fund_id, 300_000, key="award-9", clock=ledger.clock, purpose="loan"
        )
    )
    grant_hold = ledger.run(
        lambda s: funds.reserve(
            s, fund_id, 10_000, key="award-10", clock=ledger.clock, purpose="grant"
        )
    )
    with pytest.raises(ReservationError, match="per un contributo"):
        new_loan(ledger, fund_id, product, 250_000, key="wrong", hold_id=grant_hold)
    loan_id = new_loan(ledger, fund_id, product, 250_000, key="award-9-loan", hold_id=hold)
    # The disbursement posted 2,500.00 of the 3,000.00 reservation and released the rest.
    assert books(ledger, fund_id) == expect(
        cash=150_000, pending=10_000, capital=400_000, loans_receivable=250_000
    )
    assert ledger.entry(loan_facts(ledger, loan_id)[2] or 0).kind == "loan_disbursement"
    # Disbursing twice books nothing more.
    ledger.run(lambda s: lending.disburse_loan(s, loan_id, clock=ledger.clock))
    assert books(ledger, fund_id)["cash"] == 150_000


def test_repayment_rows_are_append_only_in_the_database(ledger: Ledger) -> None:
    fund_id = new_fund(ledger, 100_000)
    product = new_product(ledger, fund_id)
    loan_id = new_loan(ledger, fund_id, product, 60_000)
    at(ledger, date(2026, 7, 15))
    ledger.run(
        lambda s: lending.record_repayment(
            s, loan_id, 5_000, received_on=date(2026, 7, 15), key="p", clock=ledger.clock
        )
    )
    for sql in (
        "UPDATE loan_repayments SET amount_minor = 1",
        "DELETE FROM loan_repayments",
    ):
        with pytest.raises((IntegrityError, DBAPIError)), ledger.engine.begin() as conn:
            conn.execute(text(sql))
    assert ledger.read(lambda s: s.scalar(select(LoanRepayment.amount_minor))) == 5_000


# --------------------------------------------------------------------------- concurrency


@pytest.mark.postgres_only
def test_concurrent_disbursements_never_pay_out_more_than_the_fund_holds(pg_url: str) -> None:
    """Eight loans of 3,000.00 race for 10,000.00: exactly three are paid, cash never negative."""
    clock = FixedClock(datetime(2026, 6, 15, 12, tzinfo=UTC))
    ledger = Ledger.from_url(pg_url, clock=clock)
    try:
        fund_id = new_fund(ledger, 1_000_000)
        product = new_product(ledger, fund_id)

        def open_one(session: Session, n: int) -> int:
            loan = lending.open_loan(
                session,
                fund_id=fund_id,
                product_id=product,
                borrower_person_id=new_person(session, n, clock),
                principal_minor=300_000,
                term_months=12,
                first_due_on=date(2026, 7, 15),
                key=f"race-{n}",
                clock=clock,
            )
            return loan.id

        loan_ids = [ledger.run(lambda s, n=n: open_one(s, n)) for n in range(8)]
        barrier = threading.Barrier(len(loan_ids), timeout=15)

        def disburse(loan_id: int) -> str:
            barrier.wait()
            try:
                ledger.run(
                    lambda s: lending.disburse_loan(
                        s, loan_id, clock=clock, disbursed_on=date(2026, 6, 15)
                    )
                )
                return "paid"
            except FundInsufficientError:
                return "refused"
            except LedgerError as exc:  # anything else is a failure the test shows
                return exc.code

        with ThreadPoolExecutor(max_workers=len(loan_ids)) as pool:
            outcomes = list(pool.map(disburse, loan_ids))
        assert sorted(outcomes) == ["paid"] * 3 + ["refused"] * 5
        assert books(ledger, fund_id) == expect(
            cash=100_000, capital=1_000_000, loans_receivable=900_000
        )
        statuses = ledger.read(lambda s: sorted(loan.status for loan in lending.list_loans(s)))
        assert statuses == ["approved"] * 5 + ["disbursed"] * 3
        assert ledger.verify().ok
    finally:
        ledger.engine.dispose()


@pytest.mark.postgres_only
def test_two_write_offs_at_once_charge_the_provision_once(pg_ledger: Ledger) -> None:
    """A write-off reads the provision it charges; a second write-off on the same fund
    waits for the first's COMMIT (the fund's row) and finds what is left of it."""
    ledger = pg_ledger
    fund_id = new_fund(ledger, 1_000_000)
    product = new_product(ledger, fund_id)
    loans = [new_loan(ledger, fund_id, product, 200_000, key=f"lost-{n}") for n in range(2)]
    ledger.run(
        lambda s: funds.provide_for_losses(s, fund_id, 100_000, key="2026-06", clock=ledger.clock)
    )
    at(ledger, date(2026, 11, 1))
    charged: list[int] = []

    def second() -> None:
        row = ledger.run(
            lambda s: lending.write_off_loan(s, loans[1], key="wo-1", clock=ledger.clock)
        )
        charged.append(row.from_provision_minor)

    with unit_of_work(ledger.sessions) as session:
        first = lending.write_off_loan(session, loans[0], key="wo-0", clock=ledger.clock)
        charged.append(first.from_provision_minor)
        racer = threading.Thread(target=second)
        racer.start()
        racer.join(timeout=1.0)
        waited = racer.is_alive()
    racer.join(timeout=30)
    assert (waited, charged) == (True, [100_000, 0])
    assert books(ledger, fund_id)["provision"] == 0
    assert ledger.verify().ok


@pytest.mark.postgres_only
def test_concurrent_reservations_never_commit_more_than_the_fund_holds(pg_url: str) -> None:
    """Eight awards of 3,000.00 reserve at once on 10,000.00: three holds, the rest refused;
    then every reservation is paid and the fund's cash never goes below zero."""
    clock = FixedClock(datetime(2026, 6, 15, 12, tzinfo=UTC))
    ledger = Ledger.from_url(pg_url, clock=clock)
    try:
        fund_id = new_fund(ledger, 1_000_000, kind="microgrant")
        barrier = threading.Barrier(8, timeout=15)

        def reserve(n: int) -> str | None:
            barrier.wait()
            try:
                return ledger.run(
                    lambda s: funds.reserve(
                        s, fund_id, 300_000, key=f"award-{n}", clock=clock, purpose="grant"
                    )
                )
            except FundInsufficientError:
                return None

        with ThreadPoolExecutor(max_workers=8) as pool:
            holds = list(pool.map(reserve, range(8)))
        granted = [h for h in holds if h is not None]
        assert len(granted) == 3
        assert books(ledger, fund_id) == expect(cash=1_000_000, pending=900_000, capital=1_000_000)
        barrier = threading.Barrier(3, timeout=15)

        def pay(hold: str) -> int:
            barrier.wait()
            return ledger.run(
                lambda s: funds.pay_grant(
                    s, fund_id, 300_000, hold_id=hold, key=f"pay-{hold}", clock=clock
                )
            ).sequence

        with ThreadPoolExecutor(max_workers=3) as pool:
            sequences = sorted(pool.map(pay, granted))
        assert len(set(sequences)) == 3
        assert books(ledger, fund_id) == expect(cash=100_000, capital=1_000_000, grants=900_000)
        assert ledger.verify().ok
    finally:
        ledger.engine.dispose()


def test_a_fund_in_an_unknown_currency_is_refused_and_nothing_is_written(ledger: Ledger) -> None:
    from ledger.funds.errors import InvalidFundError
    from ledger.funds.models import Fund

    with pytest.raises(InvalidFundError) as refused:
        ledger.run(
            lambda s: funds.create_fund(
                s,
                name="Fondo in valuta strana",
                kind="revolving",
                currency="XYZ",
                clock=ledger.clock,
            )
        )
    assert refused.value.details["field"] == "currency"
    assert ledger.read(lambda s: s.scalars(select(Fund)).all()) == []
