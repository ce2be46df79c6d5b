"""What a statement parser hands the importer: statements and their lines, as the file says.

Every format (camt.053, camt.054, MT940, CSV and XLSX presets) is read into
these records and nothing else; the importer checks, identifies and stores
them. Amounts are integer minor units, signed from the account holder's side:
money in (a credit on the bank statement) is positive, money out negative.
Balances are signed the same way (a debit balance, an overdraft, is negative).
Nothing here is rounded or guessed: a value the file does not carry is None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from ledger.core.errors import LedgerError


@dataclass(frozen=True, slots=True)
class Detail:
    """One transaction inside a batch entry (camt `TxDtls`, an MT940 collective's part)."""

    amount_minor: int
    text: str = ""
    end_to_end_id: str | None = None
    reference: str | None = None  # structured creditor reference (RF..., SCOR, QR)
    counterparty_name: str | None = None
    counterparty_iban: str | None = None
    reason_code: str | None = None  # a return's or reversal's reason (AC01, CUST, ...)


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """One booked line of a statement, as the bank wrote it."""

    booked_on: date
    amount_minor: int  # signed: money in > 0, money out < 0
    text: str  # the line's free text, as found (the importer normalises it for identity)
    raw: str  # the line's source text in the file (XML element, :61:+:86:, CSV row)
    value_on: date | None = None
    bank_ref: str | None = None  # the bank's own id (camt AcctSvcrRef/NtryRef, MT940 bank ref)
    end_to_end_id: str | None = None
    reference: str | None = None  # structured creditor reference (RF..., SCOR, QR)
    counterparty_name: str | None = None
    counterparty_iban: str | None = None
    bank_code: str | None = None  # domain/family/sub-family, BTC, MT940 GV code
    reason_code: str | None = None  # a return's or reversal's reason (AC01, CUST, ...)
    reversal: bool = False
    batch_count: int | None = None  # NbOfTxs of a batch entry
    details: tuple[Detail, ...] = ()  # a batch's transactions, when the file gives them


@dataclass(frozen=True, slots=True)
class ParsedStatement:
    """One statement of one account in one currency (a file may hold several)."""

    iban: str | None  # None when the format does not say (a CSV export)
    currency: str | None
    opening_minor: int | None  # booked opening balance (camt OPBD, MT940 :60F:/:60M:)
    closing_minor: int | None  # booked closing balance (camt CLBD, MT940 :62F:/:62M:)
    opening_on: date | None = None
    closing_on: date | None = None
    statement_id: str | None = None  # camt Stmt/Id, MT940 :20:/:28C:
    lines: tuple[ParsedLine, ...] = field(default_factory=tuple)
    # Balances of another kind a file may carry instead (camt OPAV/CLAV), kept apart.
    available_opening_minor: int | None = None
    available_closing_minor: int | None = None
    # The account as the file writes it when it is not an IBAN (MT940 `:25:` with a
    # bank code and account number): a file naming several such accounts is refused.
    account_ref: str | None = None


class StatementFormatError(LedgerError):
    """The file is not of the format asked for, or is malformed (with where and why).

    A `LedgerError` (code `statement_format`, 422), so the CLI, the API and the
    pages map it like every other refusal; `details` may say where (`at`).
    """

    code = "statement_format"
    http_status = 422
