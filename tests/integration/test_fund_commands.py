"""The loan use cases (`ledger.funds.loan_commands`) at the domain level.

Each use case run twice with one key makes one effect and one audit event; the
same key with another request is a conflict that writes nothing; two
concurrent requests with one key make one repayment (PostgreSQL, where they
really race). The fund use cases (create, deposit) are tested with the command
machinery in test_commands.py.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.audit.models import AuditEvent
from ledger.commands import Origin
from ledger.core.clock import FixedClock
from ledger.core.errors import IdempotencyConflictError
from ledger.core.intents import FLUSHES, pending
from ledger.core.journal import get_entry
from ledger.core.service import Ledger
from ledger.funds import lending, loan_commands
from ledger.funds import service as funds
from ledger.funds.accounts import FundAccounts
from ledger.funds.errors import InvalidLoanError, LoanStateError
from ledger.funds.models import Loan, LoanRepayment
from ledger.people.models import Person
from tests.integration.commands_helpers import assert_once, footprint

TREASURER = Origin(channel="api", user_id=None, source="127.0.0.1")
FIRST_DUE = date(2026, 7, 15)


def fund_with_product(ledger: Ledger, money_in: int = 1_000_000) -> tuple[int, int]:
    """A revolving fund with `money_in` and a 6% product (set up through the services)."""

    def work(session: Session) -> tuple[int, int]:
        fund = funds.create_fund(
            session, name="Fondo rotativo", kind="revolving", clock=ledger.clock
        )
        funds.deposit(
            session, fund.id, money_in, source="foundation_grant", key="seed", clock=ledger.clock
        )
        product = lending.create_loan_product(
            session,
            fund_id=fund.id,
            name="Microcredito 6%",
            min_amount_minor=50_000,
            max_amount_minor=1_000_000,
            annual_rate="0.06",
            method="declining_equal_instalments",
            min_term_months=6,
            max_term_months=24,
            clock=ledger.clock,
        )
        return fund.id, product.id

    return ledger.run(work)


def person(ledger: Ledger, email: str = "anna@example.org") -> int:
    def work(session: Session) -> int:
        row = Person(full_name="Anna Verdi", email=email, created_at=ledger.clock.now())
        session.add(row)
        session.flush()
        return row.id

    return ledger.run(work)


def granted(ledger: Ledger, fund_id: int, product_id: int, principal: int = 200_000) -> int:
    """A loan granted (not yet paid out) through the use case, with no key reuse."""
    borrower = person(ledger, f"b{principal}-{product_id}@example.org")
    return ledger.run(
        lambda s: loan_commands.open_loan(
            s,
            fund_id,
            product_id,
            borrower_person_id=borrower,
            principal_minor=principal,
            term_months=6,
            first_due_on=FIRST_DUE,
            origin=TREASURER,
            clock=ledger.clock,
            key=f"grant-{principal}",
        )
    ).value.id


def paid_out(ledger: Ledger, fund_id: int, product_id: int, principal: int = 200_000) -> int:
    loan_id = granted(ledger, fund_id, product_id, principal)
    ledger.run(
        lambda s: loan_commands.disburse_loan(s, loan_id, origin=TREASURER, clock=ledger.clock)
    )
    return loan_id


def entry_kind(ledger: Ledger, entry_id: str | None) -> str:
    """The kind of the journal entry a loan row names (it must name one)."""
    assert entry_id is not None
    return ledger.read(lambda s: get_entry(s, entry_id=entry_id)).kind


def audited(ledger: Ledger, action: str) -> list[tuple[str | None, dict[str, Any]]]:
    return ledger.read(
        lambda s: [
            (e.subject_id, dict(e.details or {}))
            for e in s.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        ]
    )


def test_creating_a_loan_product_twice_with_one_key_creates_one_and_audits_once(
    ledger: Ledger,
) -> None:
    fund_id, _product = fund_with_product(ledger)

    def act(s: Session, key: str, rate: str = "0.06") -> Any:
        return loan_commands.create_loan_product(
            s,
            fund_id,
            name="Prestito d'onore",
            min_amount_minor=10_000,
            max_amount_minor=300_000,
            annual_rate=rate,
            method="equal_principal",
            min_term_months=6,
            max_term_months=12,
            origin=TREASURER,
            clock=ledger.clock,
            key=key,
        )

    first = assert_once(ledger, act, lambda s, key: act(s, key, "0"))
    assert audited(ledger, "loan_product.create") == [
        (str(first.value.id), {"fund_id": fund_id, "annual_rate": "0.06"})
    ]


def test_opening_a_loan_by_e_mail_twice_with_one_key_opens_one(ledger: Ledger) -> None:
    fund_id, product_id = fund_with_product(ledger)
    borrower = person(ledger, "anna@example.org")

    def act(s: Session, key: str, principal: int = 500_000) -> Any:
        return loan_commands.open_loan(
            s,
            fund_id,
            product_id,
            borrower_email=" Anna@Example.org ",
            principal_minor=principal,
            term_months=12,
            first_due_on=FIRST_DUE,
            origin=TREASURER,
            clock=ledger.clock,
            key=key,
        )

    first = assert_once(ledger, act, lambda s, key: act(s, key, 400_000))
    loan_id = first.value.id

    def facts(s: Session) -> tuple[int, str, str | None]:
        loan = lending.get_loan(s, loan_id)
        return loan.borrower_person_id, loan.status, loan.request_key

    # Lending's own key on the row is the caller's scoped key, as before the use cases.
    assert ledger.read(facts) == (borrower, "approved", f"fund:{fund_id}:loan:api:anon:request-1")
    assert audited(ledger, "loan.open") == [
        (
            str(loan_id),
            {
                "fund_id": fund_id,
                "product_id": product_id,
                "principal": "5000.00",
                "term_months": 12,
            },
        )
    ]


def test_a_loan_for_an_unknown_e_mail_or_no_borrower_is_refused_with_nothing_written(
    ledger: Ledger,
) -> None:
    fund_id, product_id = fund_with_product(ledger)
    before = footprint(ledger)

    def open_for(**borrower: Any) -> Any:
        return ledger.run(
            lambda s: loan_commands.open_loan(
                s,
                fund_id,
                product_id,
                principal_minor=100_000,
                term_months=6,
                first_due_on=FIRST_DUE,
                origin=TREASURER,
                clock=ledger.clock,
                key="k",
                **borrower,
            )
        )

    with pytest.raises(InvalidLoanError) as unknown:
        open_for(borrower_email="nessuno@example.org")
    assert unknown.value.details["field"] == "borrower_email"
    assert unknown.value.message == "Nessuna persona registrata con questa e-mail."
    with pytest.raises(InvalidLoanError) as nobody:
        open_for()
    assert nobody.value.details["field"] == "borrower"
    assert footprint(ledger) == before


def test_disbursing_twice_with_one_key_pays_out_once(ledger: Ledger) -> None:
    fund_id, product_id = fund_with_product(ledger)
    loan_id = granted(ledger, fund_id, product_id)

    def act(s: Session, key: str, on: date | None = None) -> Any:
        return loan_commands.disburse_loan(
            s, loan_id, disbursed_on=on, origin=TREASURER, clock=ledger.clock, key=key
        )

    first = assert_once(ledger, act, lambda s, key: act(s, key, date(2026, 6, 1)))
    assert first.value.status == "disbursed"
    a = FundAccounts(fund_id)
    assert (ledger.balance(a.cash).posted, ledger.balance(a.loans_receivable).posted) == (
        800_000,
        200_000,
    )
    assert audited(ledger, "loan.disburse") == [
        (str(loan_id), {"amount": "2000.00", "sequence": first.value.disbursement_sequence})
    ]


def test_a_loan_already_paid_out_is_answered_unchanged_under_another_key_and_not_audited(
    ledger: Ledger,
) -> None:
    fund_id, product_id = fund_with_product(ledger)
    loan_id = paid_out(ledger, fund_id, product_id)
    before = footprint(ledger)
    again = ledger.run(
        lambda s: loan_commands.disburse_loan(s, loan_id, origin=TREASURER, clock=ledger.clock)
    )
    assert (again.created, again.value.status) == (False, "disbursed")
    assert footprint(ledger) == before
    assert len(audited(ledger, "loan.disburse")) == 1


def test_cancelling_twice_with_one_key_releases_once(ledger: Ledger) -> None:
    fund_id, product_id = fund_with_product(ledger)
    loan_id = granted(ledger, fund_id, product_id)
    other = granted(ledger, fund_id, product_id, 300_000)

    def act(s: Session, key: str, loan: int = loan_id) -> Any:
        return loan_commands.cancel_loan(s, loan, origin=TREASURER, clock=ledger.clock, key=key)

    first = assert_once(ledger, act, lambda s, key: act(s, key, other))
    assert first.value.status == "cancelled"
    assert ledger.read(lambda s: lending.get_loan(s, other).status) == "approved"
    assert audited(ledger, "loan.cancel") == [(str(loan_id), {})]
    # Without a key a cancelled loan is answered unchanged; one paid out is refused.
    again = ledger.run(
        lambda s: loan_commands.cancel_loan(s, loan_id, origin=TREASURER, clock=ledger.clock)
    )
    assert again.created is False
    out = paid_out(ledger, fund_id, product_id, 100_000)
    with pytest.raises(LoanStateError):
        ledger.run(
            lambda s: loan_commands.cancel_loan(s, out, origin=TREASURER, clock=ledger.clock)
        )


def test_a_repayment_twice_with_one_key_books_once(ledger: Ledger, clock: FixedClock) -> None:
    fund_id, product_id = fund_with_product(ledger)
    loan_id = paid_out(ledger, fund_id, product_id)
    clock.instant = datetime(2026, 7, 20, 9, tzinfo=UTC)

    def act(s: Session, key: str, amount: int = 40_000) -> Any:
        return loan_commands.record_repayment(
            s,
            loan_id,
            amount,
            received_on=date(2026, 7, 20),
            origin=TREASURER,
            clock=ledger.clock,
            key=key,
        )

    first = assert_once(ledger, act, lambda s, key: act(s, key, 41_000))
    row = first.value
    assert row.request_key == f"loan:{loan_id}:repayment:api:anon:request-1"
    assert ledger.balance(FundAccounts(fund_id).cash).posted == 800_000 + 40_000
    assert audited(ledger, "loan.repayment") == [
        (
            str(loan_id),
            {
                "repayment_id": row.id,
                "amount": "400.00",
                "overpayment": "0.00",
                "entry_id": row.entry_id,
            },
        )
    ]
    assert entry_kind(ledger, row.entry_id) == "repayment"


def test_a_write_off_twice_with_one_key_writes_off_once(ledger: Ledger, clock: FixedClock) -> None:
    fund_id, product_id = fund_with_product(ledger)
    loan_id = paid_out(ledger, fund_id, product_id)
    clock.instant = datetime(2026, 12, 1, 10, tzinfo=UTC)

    def act(s: Session, key: str, on: date | None = None) -> Any:
        return loan_commands.write_off_loan(
            s, loan_id, on=on, origin=TREASURER, clock=ledger.clock, key=key
        )

    first = assert_once(ledger, act, lambda s, key: act(s, key, date(2026, 11, 30)))
    a = FundAccounts(fund_id)
    assert ledger.balance(a.loans_receivable).posted == 0
    assert ledger.balance(a.loan_losses).posted == 200_000
    assert audited(ledger, "loan.write_off") == [
        (str(loan_id), {"principal": "2000.00", "entry_id": first.value.entry_id})
    ]
    assert entry_kind(ledger, first.value.entry_id) == "write_off"


def test_a_recovery_twice_with_one_key_books_once(ledger: Ledger, clock: FixedClock) -> None:
    fund_id, product_id = fund_with_product(ledger)
    loan_id = paid_out(ledger, fund_id, product_id)
    clock.instant = datetime(2026, 12, 1, 10, tzinfo=UTC)
    ledger.run(
        lambda s: loan_commands.write_off_loan(
            s, loan_id, origin=TREASURER, clock=ledger.clock, key="w"
        )
    )

    def act(s: Session, key: str, amount: int = 50_000) -> Any:
        return loan_commands.record_recovery(
            s,
            loan_id,
            amount,
            received_on=date(2026, 12, 1),
            origin=TREASURER,
            clock=ledger.clock,
            key=key,
        )

    first = assert_once(ledger, act, lambda s, key: act(s, key, 60_000))
    assert ledger.balance(FundAccounts(fund_id).recoveries).posted == 50_000
    assert audited(ledger, "loan.recovery") == [
        (
            str(loan_id),
            {
                "recovery_id": first.value.id,
                "amount": "500.00",
                "entry_id": first.value.entry_id,
            },
        )
    ]
    assert entry_kind(ledger, first.value.entry_id) == "recovery"


def test_an_overpayment_refund_twice_with_one_key_pays_back_once(ledger: Ledger) -> None:
    fund_id, product_id = fund_with_product(ledger)
    loan_id = paid_out(ledger, fund_id, product_id)
    # Paid off on the day it was paid out: principal only, 100.00 too much.
    ledger.run(
        lambda s: loan_commands.record_repayment(
            s,
            loan_id,
            210_000,
            received_on=date(2026, 6, 15),
            origin=TREASURER,
            clock=ledger.clock,
            key="p",
        )
    )

    def act(s: Session, key: str, amount: int = 10_000) -> Any:
        return loan_commands.refund_overpayment(
            s, loan_id, amount, origin=TREASURER, clock=ledger.clock, key=key
        )

    first = assert_once(ledger, act, lambda s, key: act(s, key, 5_000))
    a = FundAccounts(fund_id)
    assert ledger.balance(a.overpayments).posted == 0
    assert ledger.balance(a.cash).posted == 1_000_000
    assert audited(ledger, "loan.overpayment_refund") == [
        (
            str(loan_id),
            {
                "refund_id": first.value.id,
                "amount": "100.00",
                "entry_id": first.value.entry_id,
            },
        )
    ]
    assert entry_kind(ledger, first.value.entry_id) == "overpayment_refund"


def test_one_key_may_serve_two_different_acts(ledger: Ledger) -> None:
    """Keys are scoped by command: the same form key on a loan's two forms never meets."""
    fund_id, product_id = fund_with_product(ledger)
    loan_id = granted(ledger, fund_id, product_id)
    ledger.run(
        lambda s: loan_commands.disburse_loan(
            s, loan_id, origin=TREASURER, clock=ledger.clock, key="same"
        )
    )
    repaid = ledger.run(
        lambda s: loan_commands.record_repayment(
            s,
            loan_id,
            10_000,
            received_on=date(2026, 6, 15),
            origin=TREASURER,
            clock=ledger.clock,
            key="same",
        )
    )
    assert repaid.created is True


def test_a_conflicting_repayment_key_is_refused_before_lending_sees_it(ledger: Ledger) -> None:
    fund_id, product_id = fund_with_product(ledger)
    loan_id = paid_out(ledger, fund_id, product_id)

    def pay(amount: int) -> Any:
        return ledger.run(
            lambda s: loan_commands.record_repayment(
                s,
                loan_id,
                amount,
                received_on=date(2026, 6, 15),
                origin=TREASURER,
                clock=ledger.clock,
                key="k",
            )
        )

    pay(10_000)
    before = footprint(ledger)
    with pytest.raises(IdempotencyConflictError):
        pay(20_000)
    assert footprint(ledger) == before


@pytest.mark.postgres_only
def test_concurrent_repayments_with_one_key_make_one_repayment(pg_ledger: Ledger) -> None:
    ledger = pg_ledger
    fund_id, product_id = fund_with_product(ledger)
    loan_id = paid_out(ledger, fund_id, product_id)
    start = threading.Barrier(6)

    def one(_: int) -> bool:
        start.wait()
        outcome = ledger.run(
            lambda s: loan_commands.record_repayment(
                s,
                loan_id,
                10_000,
                received_on=date(2026, 6, 15),
                origin=TREASURER,
                clock=ledger.clock,
                key="once",
            )
        )
        return outcome.created

    with ThreadPoolExecutor(6) as pool:
        created = list(pool.map(one, range(6)))
    assert sorted(created) == [False] * 5 + [True]
    assert ledger.balance(FundAccounts(fund_id).cash).posted == 800_000 + 10_000
    rows = ledger.read(
        lambda s: list(s.scalars(select(LoanRepayment.id).where(LoanRepayment.loan_id == loan_id)))
    )
    assert len(rows) == 1
    assert len(audited(ledger, "loan.repayment")) == 1
    assert ledger.read(lambda s: s.get(Loan, loan_id).status) == "disbursed"  # type: ignore[union-attr]


def test_a_repayment_booked_before_request_keys_were_kept_is_answered_as_a_repeat(
    ledger: Ledger, clock: FixedClock
) -> None:
    """A retry of a request made before migration 0007: lending already holds its key."""
    fund_id, product_id = fund_with_product(ledger)
    loan_id = paid_out(ledger, fund_id, product_id)
    clock.instant = datetime(2026, 7, 20, 9, tzinfo=UTC)
    earlier = ledger.run(
        lambda s: lending.record_repayment(
            s,
            loan_id,
            40_000,
            received_on=date(2026, 7, 20),
            key=TREASURER.scoped("before-0007"),
            clock=ledger.clock,
        )
    )

    def retry(s: Session) -> Any:
        return loan_commands.record_repayment(
            s,
            loan_id,
            40_000,
            received_on=date(2026, 7, 20),
            origin=TREASURER,
            clock=ledger.clock,
            key="before-0007",
        )

    outcome = ledger.run(retry)
    assert (outcome.created, outcome.value.id) == (False, earlier.id)
    assert audited(ledger, "loan.repayment") == []
    assert ledger.balance(FundAccounts(fund_id).cash).posted == 800_000 + 40_000
    # Remembered now under the key: the next retry is answered by the key's row.
    after = footprint(ledger)
    again = ledger.run(retry)
    assert (again.created, again.value.id) == (False, earlier.id)
    assert footprint(ledger) == after


def test_a_repayment_an_earlier_act_of_the_unit_deferred_is_a_repeat_and_this_acts_own_is_not(
    ledger: Ledger, clock: FixedClock
) -> None:
    """`Claim.existed_entry`: the lending guard answers the key with the row an earlier
    act of the same unit wrote, whose entry is still to be written: a repeat. A first
    repayment's own entry, pending too, is new."""
    fund_id, product_id = fund_with_product(ledger)
    loan_id = paid_out(ledger, fund_id, product_id)
    clock.instant = datetime(2026, 7, 20, 9, tzinfo=UTC)

    def command(s: Session, key: str) -> Any:
        return loan_commands.record_repayment(
            s,
            loan_id,
            20_000,
            received_on=date(2026, 7, 20),
            origin=TREASURER,
            clock=ledger.clock,
            key=key,
        )

    def unit(s: Session) -> tuple[bool, bool, int, int]:
        earlier = lending.record_repayment(
            s,
            loan_id,
            20_000,
            received_on=date(2026, 7, 20),
            key=TREASURER.scoped("same-unit"),
            clock=ledger.clock,
        )
        again = command(s, "same-unit")
        fresh = command(s, "another")
        assert again.value.id == earlier.id and fresh.value.id != earlier.id
        return again.created, fresh.created, len(pending(s)), s.info.get(FLUSHES, 0)

    assert ledger.run(unit) == (False, True, 2, 0)
    assert [d["repayment_id"] for _s, d in audited(ledger, "loan.repayment")] == [
        ledger.read(lambda s: s.scalar(select(func.max(LoanRepayment.id))))
    ]
    assert ledger.balance(FundAccounts(fund_id).cash).posted == 800_000 + 40_000


def test_a_loan_opened_before_request_keys_were_kept_is_answered_as_a_repeat(
    ledger: Ledger,
) -> None:
    fund_id, product_id = fund_with_product(ledger)
    borrower = person(ledger)
    terms: dict[str, Any] = {
        "borrower_person_id": borrower,
        "principal_minor": 200_000,
        "term_months": 6,
        "first_due_on": FIRST_DUE,
    }
    earlier = ledger.run(
        lambda s: lending.open_loan(
            s,
            fund_id=fund_id,
            product_id=product_id,
            key=TREASURER.scoped("before-0007"),
            clock=ledger.clock,
            **terms,
        )
    )
    outcome = ledger.run(
        lambda s: loan_commands.open_loan(
            s,
            fund_id,
            product_id,
            origin=TREASURER,
            clock=ledger.clock,
            key="before-0007",
            **terms,
        )
    )
    assert (outcome.created, outcome.value.id) == (False, earlier.id)
    assert audited(ledger, "loan.open") == []
