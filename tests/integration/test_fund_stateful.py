"""Random sequences of fund operations checked against a small in-memory model.

A hypothesis state machine drives one revolving fund through money in,
reservations (some larger than the money available), grant payments from them
(in part: the rest stays reserved), releases, unspent money returned, loans
opened and disbursed (some beyond the money available), repayments of any size
(partial, early payoff, overpayment), overpayments paid back, write-offs and
recoveries, with the clock moving forward. The model keeps each account of the
fund; loan allocations come from the pure loan mathematics
(`ledger.funds.loans`, tested on its own), replayed here on the model's own
copy of each loan. After every step the fund's balances must equal the model,
the available money may never be negative, the fund's position and a statement
from the first day must agree with the engine, and `verify()` must pass.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from ledger.core.clock import FixedClock, rome_today
from ledger.core.service import Ledger
from ledger.funds import lending
from ledger.funds import loans as math
from ledger.funds import service as funds
from ledger.funds.accounts import FundAccounts
from ledger.funds.errors import FundInsufficientError, InvalidFundError, InvalidLoanError
from ledger.people.models import Person
from ledger.statements.funds import fund_statement
from tests.conftest import make_database

START = datetime(2026, 1, 5, 10, tzinfo=UTC)
PRODUCT = math.LoanProduct(
    min_amount=10_000,
    max_amount=500_000,
    annual_rate=Decimal("0.08"),
    method="declining_equal_instalments",
    term_months=6,
    fee_per_instalment=150,
)
ACCOUNTS = (
    "cash",
    "pending",
    "capital",
    "grants",
    "loans_receivable",
    "interest",
    "fees",
    "overpayments",
    "provision",
    "loan_losses",
    "recoveries",
)


@dataclass
class ModelLoan:
    id: int
    state: math.LoanState
    disbursed_on: date
    last_paid: date
    written_off: math.WriteOff | None = None
    recovered: math.WriteOff = field(default_factory=lambda: math.WriteOff(0, 0, 0))
    owed_back: int = 0

    @property
    def open(self) -> bool:
        return self.written_off is None and self.state.unpaid > 0


class FundMachine(RuleBasedStateMachine):
    backend: ClassVar[str] = "sqlite"
    templates: ClassVar[dict[str, str]] = {}
    tmp_path: ClassVar[Path] = Path()

    def __init__(self) -> None:
        super().__init__()
        self._database: Iterator[str] = make_database(self.backend, self.templates, self.tmp_path)
        self.url = next(self._database)
        self.clock = FixedClock(START)
        self.ledger = Ledger.from_url(self.url, clock=self.clock)
        self.model = dict.fromkeys(ACCOUNTS, 0)
        self.holds: dict[str, int] = {}
        self.loans: list[ModelLoan] = []
        self.n = 0

    def teardown(self) -> None:
        self.ledger.engine.dispose()
        self._database.close()
        if self.backend == "sqlite":
            path = Path(self.url.removeprefix("sqlite:///"))
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{path}{suffix}").unlink()

    def key(self) -> str:
        self.n += 1
        return f"k{self.n}"

    def today(self) -> date:
        return rome_today(self.clock)

    @property
    def available(self) -> int:
        return self.model["cash"] - self.model["pending"]

    # ----------------------------------------------------------------- setup
    @initialize()
    def open_the_fund(self) -> None:
        def work(session):  # type: ignore[no-untyped-def]
            fund = funds.create_fund(session, name="Fondo", kind="revolving", clock=self.clock)
            product = lending.create_loan_product(
                session,
                fund_id=fund.id,
                name="8%",
                min_amount_minor=PRODUCT.min_amount,
                max_amount_minor=PRODUCT.max_amount,
                annual_rate=PRODUCT.annual_rate,
                method=PRODUCT.method,
                min_term_months=6,
                max_term_months=6,
                fee_per_instalment_minor=PRODUCT.fee_per_instalment,
                clock=self.clock,
            )
            person = Person(full_name="P", email="p@example.org", created_at=self.clock.now())
            session.add(person)
            session.flush()
            return fund.id, product.id, person.id

        self.fund_id, self.product_id, self.person_id = self.ledger.run(work)
        self.accounts = FundAccounts(self.fund_id)

    # ----------------------------------------------------------------- money in and out
    @rule(amount=st.integers(1, 400_000), source=st.sampled_from(["donation", "transfer"]))
    def money_in(self, amount: int, source: str) -> None:
        self.ledger.run(
            lambda s: funds.deposit(
                s, self.fund_id, amount, source=source, key=self.key(), clock=self.clock
            )
        )
        self.model["cash"] += amount
        self.model["capital"] += amount

    @rule(amount=st.integers(1, 300_000))
    def reserve_a_grant(self, amount: int) -> None:
        try:
            hold = self.ledger.run(
                lambda s: funds.reserve(
                    s, self.fund_id, amount, key=self.key(), clock=self.clock, purpose="grant"
                )
            )
        except FundInsufficientError:
            assert amount > self.available
            return
        assert amount <= self.available
        self.holds[hold] = amount
        self.model["pending"] += amount

    @precondition(lambda self: self.holds)
    @rule(data=st.data())
    def pay_part_of_a_reservation(self, data: st.DataObject) -> None:
        hold = data.draw(st.sampled_from(sorted(self.holds)))
        reserved = self.holds.pop(hold)
        amount = data.draw(st.integers(1, reserved))
        paid = self.ledger.run(
            lambda s: funds.pay_grant(
                s, self.fund_id, amount, hold_id=hold, key=self.key(), clock=self.clock
            )
        )
        if amount < reserved:
            assert paid.remaining_hold_id is not None
            self.holds[paid.remaining_hold_id] = reserved - amount
        else:
            assert paid.remaining_hold_id is None
        self.model["pending"] -= amount
        self.model["cash"] -= amount
        self.model["grants"] += amount

    @precondition(lambda self: self.holds)
    @rule(data=st.data())
    def release_a_reservation(self, data: st.DataObject) -> None:
        hold = data.draw(st.sampled_from(sorted(self.holds)))
        self.ledger.run(
            lambda s: funds.release_reservation(s, hold, key=self.key(), clock=self.clock)
        )
        self.model["pending"] -= self.holds.pop(hold)

    @rule(amount=st.integers(1, 100_000))
    def return_unspent_money(self, amount: int) -> None:
        try:
            self.ledger.run(
                lambda s: funds.return_unspent(
                    s, self.fund_id, amount, key=self.key(), clock=self.clock
                )
            )
        except InvalidFundError:
            assert amount > self.model["grants"]
            return
        self.model["cash"] += amount
        self.model["grants"] -= amount

    # ----------------------------------------------------------------- loans
    @rule(principal=st.integers(PRODUCT.min_amount, PRODUCT.max_amount))
    def lend(self, principal: int) -> None:
        today = self.today()
        first_due = math.add_months(today, 1)

        def work(session):  # type: ignore[no-untyped-def]
            loan = lending.open_loan(
                session,
                fund_id=self.fund_id,
                product_id=self.product_id,
                borrower_person_id=self.person_id,
                principal_minor=principal,
                term_months=6,
                first_due_on=first_due,
                key=self.key(),
                clock=self.clock,
            )
            lending.disburse_loan(session, loan.id, clock=self.clock)
            return loan.id

        try:
            loan_id = self.ledger.run(work)
        except FundInsufficientError:
            assert principal > self.available
            return
        assert principal <= self.available
        schedule = math.schedule(PRODUCT, principal, first_due)
        self.loans.append(ModelLoan(loan_id, math.LoanState.new(PRODUCT, schedule), today, today))
        self.model["cash"] -= principal
        self.model["loans_receivable"] += principal

    @precondition(lambda self: any(loan.open for loan in self.loans))
    @rule(data=st.data(), amount=st.integers(1, 600_000))
    def repay(self, data: st.DataObject, amount: int) -> None:
        loan = data.draw(st.sampled_from([loan for loan in self.loans if loan.open]))
        today = self.today()
        row = self.ledger.run(
            lambda s: lending.record_repayment(
                s, loan.id, amount, received_on=today, key=self.key(), clock=self.clock
            )
        )
        expected = math.allocate_repayment(loan.state, amount, today)
        assert (row.fees_minor, row.interest_minor, row.principal_minor, row.overpayment_minor) == (
            expected.fees,
            expected.interest,
            expected.principal,
            expected.overpayment,
        )
        loan.state = expected.state_after
        loan.owed_back += expected.overpayment
        self.model["cash"] += amount
        self.model["fees"] += expected.fees
        self.model["interest"] += expected.interest
        self.model["loans_receivable"] -= expected.principal
        self.model["overpayments"] += expected.overpayment

    @precondition(lambda self: any(loan.owed_back for loan in self.loans))
    @rule(data=st.data())
    def pay_an_overpayment_back(self, data: st.DataObject) -> None:
        loan = data.draw(st.sampled_from([loan for loan in self.loans if loan.owed_back]))
        amount = data.draw(st.integers(1, loan.owed_back))
        try:
            self.ledger.run(
                lambda s: lending.refund_overpayment(
                    s, loan.id, amount, key=self.key(), clock=self.clock
                )
            )
        except FundInsufficientError:
            assert amount > self.available
            return
        loan.owed_back -= amount
        self.model["cash"] -= amount
        self.model["overpayments"] -= amount

    @rule(amount=st.integers(1, 50_000))
    def provide_for_losses(self, amount: int) -> None:
        self.ledger.run(
            lambda s: funds.provide_for_losses(
                s, self.fund_id, amount, key=self.key(), clock=self.clock
            )
        )
        self.model["loan_losses"] += amount
        self.model["provision"] -= amount

    @precondition(lambda self: any(loan.open for loan in self.loans))
    @rule(data=st.data())
    def write_off(self, data: st.DataObject) -> None:
        loan = data.draw(st.sampled_from([loan for loan in self.loans if loan.open]))
        today = self.today()
        row = self.ledger.run(
            lambda s: lending.write_off_loan(s, loan.id, key=self.key(), clock=self.clock)
        )
        amounts = math.write_off_amounts(loan.state, today)
        from_provision = min(amounts.principal, -self.model["provision"])
        assert (row.principal_minor, row.interest_minor, row.fees_minor) == (
            amounts.principal,
            amounts.interest,
            amounts.fees,
        )
        assert row.from_provision_minor == from_provision
        loan.written_off = amounts
        self.model["loans_receivable"] -= amounts.principal
        self.model["provision"] += from_provision
        self.model["loan_losses"] += amounts.principal - from_provision

    @precondition(lambda self: any(loan.written_off for loan in self.loans))
    @rule(data=st.data(), amount=st.integers(1, 300_000))
    def recover(self, data: st.DataObject, amount: int) -> None:
        loan = data.draw(st.sampled_from([loan for loan in self.loans if loan.written_off]))
        assert loan.written_off is not None
        self.ledger.run(
            lambda s: lending.record_recovery(
                s, loan.id, amount, received_on=self.today(), key=self.key(), clock=self.clock
            )
        )
        split = math.split_recovery(loan.written_off, amount, recovered_before=loan.recovered)
        loan.recovered = math.WriteOff(
            loan.recovered.principal + split.principal,
            loan.recovered.interest + split.interest,
            loan.recovered.fees + split.fees,
        )
        loan.owed_back += split.excess
        self.model["cash"] += amount
        self.model["recoveries"] += split.principal
        self.model["interest"] += split.interest
        self.model["fees"] += split.fees
        self.model["overpayments"] += split.excess

    @rule(days=st.integers(1, 75))
    def time_passes(self, days: int) -> None:
        self.clock.instant += timedelta(days=days)

    @rule(amount=st.integers(-5, 0))
    def refuse_a_bad_amount(self, amount: int) -> None:
        try:
            self.ledger.run(
                lambda s: funds.deposit(
                    s, self.fund_id, amount, source="donation", key=self.key(), clock=self.clock
                )
            )
        except InvalidFundError:
            return
        raise AssertionError("a deposit of a non-positive amount was accepted")

    @precondition(lambda self: any(loan.open for loan in self.loans))
    @rule(data=st.data())
    def refuse_a_repayment_dated_in_the_future(self, data: st.DataObject) -> None:
        loan = data.draw(st.sampled_from([loan for loan in self.loans if loan.open]))
        try:
            self.ledger.run(
                lambda s: lending.record_repayment(
                    s,
                    loan.id,
                    100,
                    received_on=self.today() + timedelta(days=1),
                    key=self.key(),
                    clock=self.clock,
                )
            )
        except InvalidLoanError:
            return
        raise AssertionError("a repayment dated tomorrow was accepted")

    # ----------------------------------------------------------------- invariants
    @invariant()
    def the_books_equal_the_model(self) -> None:
        if not hasattr(self, "accounts"):
            return
        a = self.accounts
        cash = self.ledger.balance(a.cash)
        books = {
            "cash": cash.posted,
            "pending": cash.pending,
            "capital": self.ledger.balance(a.capital).posted,
            "grants": self.ledger.balance(a.grants).posted,
            "loans_receivable": self.ledger.balance(a.loans_receivable).posted,
            "interest": self.ledger.balance(a.interest).posted,
            "fees": self.ledger.balance(a.fees).posted,
            "overpayments": self.ledger.balance(a.overpayments).posted,
            "provision": self.ledger.balance(a.provision).posted,
            "loan_losses": self.ledger.balance(a.loan_losses).posted,
            "recoveries": self.ledger.balance(a.recoveries).posted,
        }
        assert books == self.model
        assert cash.available >= 0

    @invariant()
    def the_position_and_a_statement_agree_with_the_engine(self) -> None:
        if not hasattr(self, "accounts"):
            return
        today = self.today()

        def read(session):  # type: ignore[no-untyped-def]
            return (
                funds.fund_position(session, self.fund_id, on=today),
                fund_statement(session, self.fund_id, START.date(), today),
            )

        position, statement = self.ledger.read(read)
        assert position.available_minor == self.available
        assert position.loans_outstanding_minor == self.model["loans_receivable"]
        assert statement.closing_cash_minor == self.model["cash"]
        assert statement.opening_cash_minor + statement.cash_movement_minor == self.model["cash"]
        assert statement.loans_outstanding_minor == self.model["loans_receivable"]
        assert (
            statement.repaid_interest_minor + statement.recovered_interest_minor
            == (self.model["interest"])
        )
        assert self.ledger.verify().ok


def test_random_fund_operations_keep_the_books_equal_to_the_model(
    backend: str, _templates: dict[str, str], tmp_path: Path
) -> None:
    machine = type(
        f"FundMachine_{backend}",
        (FundMachine,),
        {"backend": backend, "templates": _templates, "tmp_path": tmp_path},
    )
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=10,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
