"""Tables of bank accounts and imported statements (migration 0012_reconcile).

- `bank_accounts`: an account at a bank (IBAN, compact and validated; unique),
  its currency and the ledger account it mirrors (same currency).
- `statement_imports`: one row per file imported: its SHA-256, format, who
  (`actor`: `user:<id>` or the channel) and when, the counts, the ids of the
  stored lines the file repeated, and an explicit acceptance of statements that
  do not add up (who and why).
- `bank_statements`: one row per statement of an import, with the stated and
  the computed closing balance and whether it balanced.
- `bank_lines`: the lines as they came (raw text kept). A line is new once per
  account: `(bank_account_id, fingerprint, occurrence)` is unique, and so is
  `(bank_account_id, bank_ref, booked_on, amount_minor, ref_occurrence)` where
  the bank gives an id. A batch entry split into its details is stored as the
  entry (`parent_line_id` NULL: the bank balance is the sum of these) and its
  details as child lines (`parent_line_id` set), which are what gets explained.

The three import tables are append-only (triggers on both backends).

Stripe payouts (migration 0014_stripe_payouts):

- `stripe_payouts`: one row per payout seen paid or failed: amount (negative
  when refunds and disputes exceeded the balance), currency, Stripe's status,
  the expected arrival date and what the bank line may carry (statement
  descriptor, trace id), the sequence of the transfer entry (clearing ->
  money in transit) and of its reversal after a failure, and the differences
  the check found against the books (a JSON list). A bank line matches it
  later by amount, a window of arrival dates and the descriptor.
- `stripe_payout_items`: each balance transaction a payout paid out (its own
  excluded), once: what tells a booked record that no payout has covered.

An account's own preset (migration 0017_bank_presets): `bank_accounts.csv_preset`
holds the JSON settings of the columns of its bank's CSV or XLSX export, set
once by the treasurer and used by every import of such a file without a named
preset (`ledger.reconcile.formats.tabular.preset_from_settings`).

What explains a line (migration 0015_bank_matching):

- `bank_allocations`: one row per part of a line explained (append-only): the
  kind (`gift`, `repayment`, `entry`, `payout`, `booked`, `ignored`), the
  record it points at (donation id, loan repayment id, journal entry sequence
  for `entry`, journal entry id for `booked` (migration 0031), payout id; none
  for `ignored`), the amount signed like the line, the reason
  of an ignored line (or `rule:<id>`, the rule that booked the line), who and
  when. A line's status is derived from them.

The treasurer's rules (migration 0016_bank_rules):

- `bank_rules`: per bank account, in the treasurer's order (`position`, from
  1; first match wins): conditions on the counterparty IBAN, the text
  (contains, or a regular expression), an absolute amount range and the
  direction; the action books to an account (`book`) or proposes a record
  (`propose`: a campaign's gift or a loan's repayment). Never deleted:
  disabled.

Which ledger accounts a bank account holds (migration 0018_bank_holdings):

- `bank_account_holdings`: the asset accounts, beyond the one it mirrors,
  whose money sits in the bank account (a fund's cash, on which its loans are
  disbursed and repaid). An account is held by at most one bank account;
  append-only (who added it and when).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ledger.core.models import Base, BigId, UtcDateTime

ALLOCATION_KINDS = ("gift", "repayment", "entry", "payout", "booked", "ignored")


class BankAccount(Base):
    __tablename__ = "bank_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    iban: Mapped[str] = mapped_column(String(34), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str | None] = mapped_column(String(64))
    # The account's own CSV/XLSX column preset (JSON settings, migration 0017).
    csv_preset: Mapped[str | None] = mapped_column(Text)


class StatementImport(Base):
    __tablename__ = "statement_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bank_account_id: Mapped[int] = mapped_column(ForeignKey("bank_accounts.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    format: Mapped[str] = mapped_column(String(16))
    preset: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime())
    accepted_unbalanced: Mapped[bool] = mapped_column(Boolean, default=False)
    accepted_by: Mapped[str | None] = mapped_column(String(64))
    accepted_reason: Mapped[str | None] = mapped_column(Text)
    statement_count: Mapped[int] = mapped_column(Integer)
    line_count: Mapped[int] = mapped_column(Integer)
    new_count: Mapped[int] = mapped_column(Integer)
    already_count: Mapped[int] = mapped_column(Integer)
    already_line_ids: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of ids
    # Lines this file would have split, explained by then: kept whole (JSON list of ids).
    kept_whole_line_ids: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")


class BankStatement(Base):
    __tablename__ = "bank_statements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("statement_imports.id"), index=True)
    bank_account_id: Mapped[int] = mapped_column(ForeignKey("bank_accounts.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # its place in the file, from 1
    statement_id: Mapped[str | None] = mapped_column(String(140))
    balance_kind: Mapped[str | None] = mapped_column(String(9))  # booked | available | None
    opening_minor: Mapped[int | None] = mapped_column(BigInteger)
    closing_minor: Mapped[int | None] = mapped_column(BigInteger)
    computed_closing_minor: Mapped[int | None] = mapped_column(BigInteger)
    opening_on: Mapped[date | None] = mapped_column(Date)
    closing_on: Mapped[date | None] = mapped_column(Date, index=True)
    first_booked_on: Mapped[date | None] = mapped_column(Date)
    balanced: Mapped[bool | None] = mapped_column(Boolean)
    difference_minor: Mapped[int | None] = mapped_column(BigInteger)
    continuity_minor: Mapped[int | None] = mapped_column(BigInteger)  # opening - previous closing
    accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    line_count: Mapped[int] = mapped_column(Integer)


class BankLine(Base):
    __tablename__ = "bank_lines"
    __table_args__ = (
        UniqueConstraint(
            "bank_account_id", "fingerprint", "occurrence", name="uq_bank_lines_fingerprint"
        ),
        UniqueConstraint(
            "bank_account_id",
            "bank_ref",
            "booked_on",
            "amount_minor",
            "ref_occurrence",
            name="uq_bank_lines_bank_ref",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    bank_account_id: Mapped[int] = mapped_column(ForeignKey("bank_accounts.id"), index=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("statement_imports.id"), index=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("bank_statements.id"), index=True)
    parent_line_id: Mapped[int | None] = mapped_column(ForeignKey("bank_lines.id"), index=True)
    booked_on: Mapped[date] = mapped_column(Date, index=True)
    value_on: Mapped[date | None] = mapped_column(Date)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text)
    normalized_text: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)
    bank_ref: Mapped[str | None] = mapped_column(String(140))
    ref_occurrence: Mapped[int | None] = mapped_column(Integer)
    end_to_end_id: Mapped[str | None] = mapped_column(String(140))
    reference: Mapped[str | None] = mapped_column(String(140), index=True)
    counterparty_name: Mapped[str | None] = mapped_column(String(200))
    counterparty_iban: Mapped[str | None] = mapped_column(String(34))
    bank_code: Mapped[str | None] = mapped_column(String(64))
    reason_code: Mapped[str | None] = mapped_column(String(35))
    reversal: Mapped[bool] = mapped_column(Boolean, default=False)
    batch_count: Mapped[int | None] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64))
    occurrence: Mapped[int] = mapped_column(Integer)


class StripePayout(Base):
    __tablename__ = "stripe_payouts"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # Stripe's po_...
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))  # paid, failed
    arrival_date: Mapped[date | None] = mapped_column(Date, index=True)
    statement_descriptor: Mapped[str | None] = mapped_column(String(64))
    trace_id: Mapped[str | None] = mapped_column(String(255))
    # The payout's entry (stripe balance -> money in transit), written when its unit
    # commits; its number is read from the journal (migration 0032).
    entry_id: Mapped[str | None] = mapped_column(String(36), unique=True, index=True)
    reversal_sequence: Mapped[int | None] = mapped_column(BigInteger)
    transactions: Mapped[int] = mapped_column(Integer, default=0)
    differences: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of objects
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class StripePayoutItem(Base):
    __tablename__ = "stripe_payout_items"

    balance_transaction_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    payout_id: Mapped[str] = mapped_column(ForeignKey("stripe_payouts.id"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    source: Mapped[str | None] = mapped_column(String(255), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    fee_minor: Mapped[int] = mapped_column(BigInteger)
    net_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))


class BankAllocation(Base):
    __tablename__ = "bank_allocations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    line_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("bank_lines.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    record_id: Mapped[str | None] = mapped_column(String(255), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


RULE_DIRECTIONS = ("in", "out", "any")
RULE_ACTIONS = ("book", "propose")
RULE_PROPOSALS = ("campaign", "loan")


class BankRule(Base):
    __tablename__ = "bank_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bank_account_id: Mapped[int] = mapped_column(ForeignKey("bank_accounts.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    counterparty_iban: Mapped[str | None] = mapped_column(String(34))
    text_contains: Mapped[str | None] = mapped_column(String(200))
    text_regex: Mapped[str | None] = mapped_column(String(200))
    amount_min_minor: Mapped[int | None] = mapped_column(BigInteger)
    amount_max_minor: Mapped[int | None] = mapped_column(BigInteger)
    direction: Mapped[str] = mapped_column(String(3))
    action: Mapped[str] = mapped_column(String(8))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    narration: Mapped[str | None] = mapped_column(Text)
    propose_kind: Mapped[str | None] = mapped_column(String(16))
    propose_id: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    disabled_by: Mapped[str | None] = mapped_column(String(64))
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class BankAccountHolding(Base):
    __tablename__ = "bank_account_holdings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bank_account_id: Mapped[int] = mapped_column(ForeignKey("bank_accounts.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True)
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime())
