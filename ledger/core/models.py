"""Tables of the engine (SQLAlchemy 2 typed models).

The schema itself is created only by the Alembic migrations in `migrations/`;
these classes describe it for queries. Append-only tables (entries, postings,
holds, hold resolutions, idempotency keys, periods) are protected by database
triggers; `balances` and `ledger_heads` are the only rows the engine updates.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC timestamp on every backend (SQLite stores naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


ACCOUNT_TYPES = ("asset", "liability", "equity", "income", "expense")


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("id", "currency", name="uq_accounts_id_currency"),
        CheckConstraint("type IN ('asset','liability','equity','income','expense')", name="type"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    no_overdraft: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Balance(Base):
    """Maintained totals of one account. Amounts are non-negative minor units."""

    __tablename__ = "balances"
    __table_args__ = (
        CheckConstraint(
            "posted_debits >= 0 AND posted_credits >= 0 AND pending_debits >= 0 "
            "AND pending_credits >= 0",
            name="non_negative",
        ),
    )

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    posted_debits: Mapped[int] = mapped_column(BigInteger, default=0)
    posted_credits: Mapped[int] = mapped_column(BigInteger, default=0)
    pending_debits: Mapped[int] = mapped_column(BigInteger, default=0)
    pending_credits: Mapped[int] = mapped_column(BigInteger, default=0)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class LedgerHead(Base):
    """The single row holding the end of the journal and its hash chain."""

    __tablename__ = "ledger_heads"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_sequence: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))
    last_recorded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The last day of the latest closed month (max(periods.ends_on)), set by a close.
    locked_through: Mapped[date | None] = mapped_column(Date)


class JournalEntry(Base):
    __tablename__ = "journal_entries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger, unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64))
    effective_on: Mapped[date] = mapped_column(Date, index=True)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str | None] = mapped_column(String(255))
    narration: Mapped[str] = mapped_column(Text, default="")
    metadata_json: Mapped[str] = mapped_column(Text, default="{}")
    reverses_entry_id: Mapped[str | None] = mapped_column(
        ForeignKey("journal_entries.id"), unique=True
    )
    hold_id: Mapped[str | None] = mapped_column(ForeignKey("holds.id"), unique=True)
    hash: Mapped[str] = mapped_column(String(64))


class Posting(Base):
    __tablename__ = "postings"
    __table_args__ = (
        CheckConstraint("amount_minor <> 0", name="non_zero"),
        UniqueConstraint("entry_id", "leg", name="uq_postings_entry_leg"),
        ForeignKeyConstraint(
            ["account_id", "currency"],
            ["accounts.id", "accounts.currency"],
            name="fk_postings_account_currency",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    leg: Mapped[int] = mapped_column(SmallInteger)
    account_id: Mapped[int] = mapped_column(Integer, index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)


class Hold(Base):
    """A pending transfer: `amount` reserved from the debit to the credit account."""

    __tablename__ = "holds"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="two_accounts"),
        ForeignKeyConstraint(
            ["debit_account_id", "currency"],
            ["accounts.id", "accounts.currency"],
            name="fk_holds_debit_account_currency",
        ),
        ForeignKeyConstraint(
            ["credit_account_id", "currency"],
            ["accounts.id", "accounts.currency"],
            name="fk_holds_credit_account_currency",
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64))
    debit_account_id: Mapped[int] = mapped_column(Integer, index=True)
    credit_account_id: Mapped[int] = mapped_column(Integer, index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    narration: Mapped[str] = mapped_column(Text, default="")
    metadata_json: Mapped[str] = mapped_column(Text, default="{}")
    actor: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)


class HoldResolution(Base):
    """How a hold ended. One row per hold at most (unique), never updated."""

    __tablename__ = "hold_resolutions"
    __table_args__ = (
        CheckConstraint("outcome IN ('posted','voided','expired')", name="outcome"),
        CheckConstraint("amount_minor >= 0", name="amount"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    hold_id: Mapped[str] = mapped_column(ForeignKey("holds.id"), unique=True)
    outcome: Mapped[str] = mapped_column(String(16))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    entry_id: Mapped[str | None] = mapped_column(ForeignKey("journal_entries.id"), unique=True)
    resolved_at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str | None] = mapped_column(String(255))


class IdempotencyKey(Base):
    """Every write request's key and the hash of its canonical request."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    operation: Mapped[str] = mapped_column(String(32))
    request_hash: Mapped[str] = mapped_column(String(64))
    entry_id: Mapped[str | None] = mapped_column(ForeignKey("journal_entries.id"))
    hold_id: Mapped[str | None] = mapped_column(ForeignKey("holds.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Period(Base):
    """A closed calendar month. Nothing may be dated on or before `ends_on` afterwards."""

    __tablename__ = "periods"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    ends_on: Mapped[date] = mapped_column(Date, unique=True)
    closed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(255))
    # The last journal sequence when the month closed: entries after it are checked (I8).
    closed_after_sequence: Mapped[int] = mapped_column(BigInteger)
    # The chain hash at that sequence: anchors the journal up to the close (I9).
    head_hash: Mapped[str] = mapped_column(String(64))


class PeriodTotal(Base):
    """One account's posted debits and credits dated on or before a closed month's end.

    Written by the close, never changed (append-only): a balance as of a later date
    is these plus the postings after the close (migration 0028_period_totals).
    """

    __tablename__ = "period_totals"
    __table_args__ = (CheckConstraint("debits >= 0 AND credits >= 0", name="non_negative"),)

    period: Mapped[str] = mapped_column(ForeignKey("periods.period"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    debits: Mapped[int] = mapped_column(BigInteger)
    credits: Mapped[int] = mapped_column(BigInteger)
