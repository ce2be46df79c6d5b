"""Tables of funds, loan products, loans and their repayments (migration 0004).

Amounts are integer minor units in the fund's currency. A loan names its
borrower by `persons.id` only; names never enter these tables' money columns or
the journal. Rates are stored as decimal text ("0.06" is 6 % a year) so no
backend ever rounds them.

A loan's terms are copied from its product when it is opened, so changing a
product never changes the schedule of a loan already granted; the schedule
itself is stored (`loan_instalments`). Repayments, write-offs, recoveries and
overpayment refunds are one row each, never updated, each booked by one entry
whose idempotency key is derived from the row.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from ledger.core.models import Base, UtcDateTime

FUND_KINDS = ("microgrant", "revolving")
FUND_SOURCES = ("donation", "foundation_grant", "transfer")
RESERVATION_PURPOSES = ("grant", "loan")
LOAN_STATES = ("approved", "disbursed", "repaid", "written_off", "cancelled")


class Fund(Base):
    """A microgrant fund or a revolving microcredit fund with its own accounts."""

    __tablename__ = "funds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(12))
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str | None] = mapped_column(String(255))


class LoanProductRow(Base):
    """The terms a fund lends on (see `ledger.funds.loans.LoanProduct`)."""

    __tablename__ = "loan_products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fund_id: Mapped[int] = mapped_column(ForeignKey("funds.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    min_amount_minor: Mapped[int] = mapped_column(BigInteger)
    max_amount_minor: Mapped[int] = mapped_column(BigInteger)
    annual_rate: Mapped[str] = mapped_column(String(24))
    method: Mapped[str] = mapped_column(String(32))
    min_term_months: Mapped[int] = mapped_column(Integer)
    max_term_months: Mapped[int] = mapped_column(Integer)
    grace_months: Mapped[int] = mapped_column(Integer)
    day_count: Mapped[str] = mapped_column(String(12))
    rounding: Mapped[str] = mapped_column(String(20))
    fee_per_instalment_minor: Mapped[int] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    @property
    def rate(self) -> Decimal:
        return Decimal(self.annual_rate)


class Loan(Base):
    """A microloan: its frozen terms, its state and how it was disbursed."""

    __tablename__ = "loans"
    __table_args__ = (CheckConstraint("principal_minor > 0", name="principal_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fund_id: Mapped[int] = mapped_column(ForeignKey("funds.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("loan_products.id"))
    borrower_person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    principal_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    term_months: Mapped[int] = mapped_column(Integer)
    annual_rate: Mapped[str] = mapped_column(String(24))
    method: Mapped[str] = mapped_column(String(32))
    grace_months: Mapped[int] = mapped_column(Integer)
    day_count: Mapped[str] = mapped_column(String(12))
    rounding: Mapped[str] = mapped_column(String(20))
    fee_per_instalment_minor: Mapped[int] = mapped_column(BigInteger)
    first_due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), index=True)
    # The reservation (engine hold on the fund's cash) the disbursement posts, if any.
    hold_id: Mapped[str | None] = mapped_column(ForeignKey("holds.id"), unique=True)
    request_key: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str | None] = mapped_column(String(255))
    disbursed_on: Mapped[date | None] = mapped_column(Date)
    disbursement_sequence: Mapped[int | None] = mapped_column(BigInteger)
    closed_on: Mapped[date | None] = mapped_column(Date)
    # The loan's ISO 11649 creditor reference (`ledger.payments.references`,
    # `RF..L<id>`): the borrower's transfers carry it (migration 0013).
    transfer_reference: Mapped[str | None] = mapped_column(String(35), unique=True)

    @property
    def rate(self) -> Decimal:
        return Decimal(self.annual_rate)


class LoanInstalment(Base):
    """One row of a loan's stored schedule."""

    __tablename__ = "loan_instalments"

    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    due_on: Mapped[date] = mapped_column(Date)
    starts_on: Mapped[date] = mapped_column(Date)
    days: Mapped[int] = mapped_column(Integer)
    principal_minor: Mapped[int] = mapped_column(BigInteger)
    interest_minor: Mapped[int] = mapped_column(BigInteger)
    fee_minor: Mapped[int] = mapped_column(BigInteger)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    balance_after_minor: Mapped[int] = mapped_column(BigInteger)


class LoanRepayment(Base):
    """A payment received from the borrower and how it was allocated."""

    __tablename__ = "loan_repayments"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(
            "fees_minor + interest_minor + principal_minor + overpayment_minor = amount_minor",
            name="allocated_in_full",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    received_on: Mapped[date] = mapped_column(Date)
    fees_minor: Mapped[int] = mapped_column(BigInteger)
    interest_minor: Mapped[int] = mapped_column(BigInteger)
    principal_minor: Mapped[int] = mapped_column(BigInteger)
    overpayment_minor: Mapped[int] = mapped_column(BigInteger)
    paid_off_early: Mapped[bool] = mapped_column(Boolean)
    waived_interest_minor: Mapped[int] = mapped_column(BigInteger)
    waived_fees_minor: Mapped[int] = mapped_column(BigInteger)
    request_key: Mapped[str] = mapped_column(String(255), unique=True)
    entry_id: Mapped[str | None] = mapped_column(String(36), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recorded_by: Mapped[str | None] = mapped_column(String(255))


class LoanWriteOff(Base):
    """A loan written off: principal against the provision and the loss expense.

    Interest and fees that fell due unpaid are recorded here for the statement;
    they were never booked (interest is recognised when received), so the entry
    carries the principal only.
    """

    __tablename__ = "loan_write_offs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), unique=True)
    written_off_on: Mapped[date] = mapped_column(Date)
    principal_minor: Mapped[int] = mapped_column(BigInteger)
    interest_minor: Mapped[int] = mapped_column(BigInteger)
    fees_minor: Mapped[int] = mapped_column(BigInteger)
    from_provision_minor: Mapped[int] = mapped_column(BigInteger)
    request_key: Mapped[str] = mapped_column(String(255), unique=True)
    entry_id: Mapped[str | None] = mapped_column(String(36), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recorded_by: Mapped[str | None] = mapped_column(String(255))


class LoanRecovery(Base):
    """Money received on a written-off loan (principal, then interest, then fees)."""

    __tablename__ = "loan_recoveries"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    received_on: Mapped[date] = mapped_column(Date)
    principal_minor: Mapped[int] = mapped_column(BigInteger)
    interest_minor: Mapped[int] = mapped_column(BigInteger)
    fees_minor: Mapped[int] = mapped_column(BigInteger)
    excess_minor: Mapped[int] = mapped_column(BigInteger)
    request_key: Mapped[str] = mapped_column(String(255), unique=True)
    entry_id: Mapped[str | None] = mapped_column(String(36), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recorded_by: Mapped[str | None] = mapped_column(String(255))


class OverpaymentRefund(Base):
    """Money the fund paid back to a borrower who had paid more than was owed."""

    __tablename__ = "loan_overpayment_refunds"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    refunded_on: Mapped[date] = mapped_column(Date)
    request_key: Mapped[str] = mapped_column(String(255), unique=True)
    entry_id: Mapped[str | None] = mapped_column(String(36), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recorded_by: Mapped[str | None] = mapped_column(String(255))
