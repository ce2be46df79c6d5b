"""The reconciliation of a bank account as of a date: the bank's balance, the books',
the reconciling items, and a difference that must be zero. A read: nothing is written.

The bank balance (`bank_balance`), from the imported statements:

- Each statement of the account gives balance points: its closing balance on
  its closing date (the stated closing; opening + its lines when the bank
  stated none), and its opening balance on the day before its first day.
  Booked balances are used when any statement has them, the available ones
  (OPAV/CLAV) only when none has.
- The point taken is the latest one on or before `as_of` (a closing before an
  opening on the same day); the balance is that point's amount plus the lines
  booked after its date up to `as_of`.
- Only top-level lines count: a batch split into its details is counted once,
  as the entry the bank booked (its child lines are what gets explained, not
  what makes the balance; see `models.py`).
- A statement accepted although it did not add up keeps the bank's stated
  figures: the report tells the bank's word, and the acceptance is on record.
- With no balance point on or before `as_of` (as_of before the first statement,
  or files without balances, such as most CSV exports) the balance is the sum
  of the lines up to `as_of` from zero; `bank_basis` says `lines`.

The book balance (`book_balance`): the balances as of `as_of` (postings with
`effective_on` on or before it; `ledger.core.balances.balance`) of every ledger
account the bank account holds (`holdings.held_accounts`), added together.

The reconciling items:

- (a) `unexplained_lines`: the lines to explain booked on or before `as_of`
  with something left to explain, signed like the line (what is left);
- (b) `ignored_lines`: the lines explained as ignored (no concern to the
  books, or booked elsewhere): in the bank balance, never in the books;
- (c) `entries_not_on_bank`: the journal entries posting to the held accounts,
  effective from the first imported statement's first day up to `as_of`, that
  no bank line explains, with their net amount on the held accounts (debit,
  money in, positive). Entries before that first day are covered by the
  statement's opening balance and are not items; an entry moving money between
  two held accounts nets to zero and is not an item; an entry and its reversal
  both unexplained cancel out and are not items.

An entry is explained by a line when one of the line's allocations points at
it: `entry` (the entry's sequence), `booked` (the entry's id), `gift` (the donation's
settlement entry, journal key `donation:<id>:settle`), `repayment` (the loan
repayment's entry), `payout` (the entries carrying metadata
`stripe_payout: <id>`); and any entry whose metadata names the line
(`bank_line: <line id>`, as `book_line` and the payout's arrival write).
Allocations are read as they are now, whatever their date.

    difference = bank_balance - book_balance
                 - sum(unexplained lines) - sum(ignored lines)
                 + sum(entries not on the bank)

It is zero when the bank and the books agree but for the items listed; it is
not zero when they truly disagree (an entry booked with another amount than
the line it explains, an opening balance the books do not have).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.core.balances import balance
from ledger.core.models import JournalEntry, Posting
from ledger.core.money import format_minor
from ledger.events import PeriodClosing
from ledger.funds.models import LoanRepayment
from ledger.reconcile import matching
from ledger.reconcile.commands import get_bank_account
from ledger.reconcile.holdings import held_accounts
from ledger.reconcile.models import BankAccount, BankAllocation, BankLine, BankStatement


@dataclass(frozen=True, slots=True)
class LineItem:
    """A bank line that is a reconciling item: what is left of it (or all of it, ignored)."""

    id: int
    booked_on: date
    amount_minor: int  # the line's amount
    left_minor: int  # the part that is an item, signed like the line
    text: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class EntryItem:
    """A journal entry on the held accounts that no bank line explains."""

    sequence: int
    effective_on: date
    kind: str
    narration: str
    amount_minor: int  # net on the held accounts: money in positive


@dataclass(frozen=True, slots=True)
class StatementUsed:
    id: int
    statement_id: str | None
    balance_kind: str | None
    first_day: date | None
    closing_on: date | None
    opening_minor: int | None
    closing_minor: int | None
    anchor: bool  # the statement whose balance the bank balance starts from


@dataclass(frozen=True, slots=True)
class HeldBalance:
    code: str
    balance_minor: int


@dataclass(frozen=True, slots=True)
class Reconciliation:
    iban: str
    name: str
    currency: str
    as_of: date
    held: tuple[HeldBalance, ...]
    bank_balance_minor: int
    bank_basis: str  # closing | opening | computed | lines
    bank_basis_on: date | None  # the date of the balance point the bank balance starts from
    book_balance_minor: int
    from_date: date | None  # the first imported statement's first day
    unexplained_lines: tuple[LineItem, ...]
    ignored_lines: tuple[LineItem, ...]
    entries_not_on_bank: tuple[EntryItem, ...]
    statements_used: tuple[StatementUsed, ...]

    @property
    def unexplained_minor(self) -> int:
        return sum(item.left_minor for item in self.unexplained_lines)

    @property
    def ignored_minor(self) -> int:
        return sum(item.left_minor for item in self.ignored_lines)

    @property
    def not_on_bank_minor(self) -> int:
        return sum(item.amount_minor for item in self.entries_not_on_bank)

    @property
    def difference_minor(self) -> int:
        return (
            self.bank_balance_minor
            - self.book_balance_minor
            - self.unexplained_minor
            - self.ignored_minor
            + self.not_on_bank_minor
        )

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON: amounts as decimal strings."""

        def money(minor: int | None) -> str | None:
            return None if minor is None else format_minor(minor, self.currency)

        def day(value: date | None) -> str | None:
            return None if value is None else value.isoformat()

        return {
            "iban": self.iban,
            "name": self.name,
            "currency": self.currency,
            "as_of": self.as_of.isoformat(),
            "bank_balance": money(self.bank_balance_minor),
            "bank_basis": self.bank_basis,
            "bank_basis_on": day(self.bank_basis_on),
            "book_balance": money(self.book_balance_minor),
            "held_accounts": [
                {"account": h.code, "balance": money(h.balance_minor)} for h in self.held
            ],
            "from": day(self.from_date),
            "unexplained_lines": [
                {
                    "id": i.id,
                    "booked_on": i.booked_on.isoformat(),
                    "amount": money(i.amount_minor),
                    "left": money(i.left_minor),
                    "text": i.text,
                }
                for i in self.unexplained_lines
            ],
            "unexplained_total": money(self.unexplained_minor),
            "ignored_lines": [
                {
                    "id": i.id,
                    "booked_on": i.booked_on.isoformat(),
                    "amount": money(i.left_minor),
                    "text": i.text,
                    "reason": i.reason,
                }
                for i in self.ignored_lines
            ],
            "ignored_total": money(self.ignored_minor),
            "entries_not_on_bank": [
                {
                    "sequence": e.sequence,
                    "effective_on": e.effective_on.isoformat(),
                    "kind": e.kind,
                    "narration": e.narration,
                    "amount": money(e.amount_minor),
                }
                for e in self.entries_not_on_bank
            ],
            "entries_not_on_bank_total": money(self.not_on_bank_minor),
            "difference": money(self.difference_minor),
            "statements_used": [
                {
                    "id": s.id,
                    "statement_id": s.statement_id,
                    "balance_kind": s.balance_kind,
                    "first_day": day(s.first_day),
                    "closing_on": day(s.closing_on),
                    "opening": money(s.opening_minor),
                    "closing": money(s.closing_minor),
                    "anchor": s.anchor,
                }
                for s in self.statements_used
            ],
        }


@dataclass(frozen=True, slots=True)
class _Point:
    on: date
    rank: int  # on one day a closing (1) comes after an opening (0)
    minor: int
    basis: str
    statement_id: int


def _points(statements: list[BankStatement], last_line_on: dict[int, date]) -> list[_Point]:
    kinds = {s.balance_kind for s in statements}
    kind = "booked" if "booked" in kinds else "available"
    points: list[_Point] = []
    for s in statements:
        if s.balance_kind != kind:
            continue
        closing_on = s.closing_on or last_line_on.get(s.id) or s.first_booked_on
        if s.closing_minor is not None and closing_on is not None:
            points.append(_Point(closing_on, 1, s.closing_minor, "closing", s.id))
        elif s.computed_closing_minor is not None and closing_on is not None:
            points.append(_Point(closing_on, 1, s.computed_closing_minor, "computed", s.id))
        if s.opening_minor is not None and s.first_booked_on is not None:
            before = s.first_booked_on - timedelta(days=1)
            points.append(_Point(before, 0, s.opening_minor, "opening", s.id))
    return points


def _bank_balance(
    session: Session, account: BankAccount, statements: list[BankStatement], as_of: date
) -> tuple[int, str, date | None, int | None]:
    """(balance, basis, the balance point's date, the anchor statement's row id)."""
    top = (BankLine.bank_account_id == account.id, BankLine.parent_line_id.is_(None))
    last_line_on = {
        statement_id: on
        for statement_id, on in session.execute(
            select(BankLine.statement_id, func.max(BankLine.booked_on))
            .where(*top)
            .group_by(BankLine.statement_id)
        )
    }
    candidates = [p for p in _points(statements, last_line_on) if p.on <= as_of]
    if candidates:
        point = max(candidates, key=lambda p: (p.on, p.rank, p.statement_id))
        after = session.scalar(
            select(func.coalesce(func.sum(BankLine.amount_minor), 0)).where(
                *top, BankLine.booked_on > point.on, BankLine.booked_on <= as_of
            )
        )
        return point.minor + int(after or 0), point.basis, point.on, point.statement_id
    lines = session.scalar(
        select(func.coalesce(func.sum(BankLine.amount_minor), 0)).where(
            *top, BankLine.booked_on <= as_of
        )
    )
    return int(lines or 0), "lines", None, None


def _line_items(
    session: Session, account: BankAccount, as_of: date
) -> tuple[list[LineItem], list[LineItem]]:
    views = [v for v in matching.line_views(session, account) if v.booked_on <= as_of]
    states = matching.explained(session, views)
    unexplained: list[LineItem] = []
    ignored: list[LineItem] = []
    ignored_ids = [v.id for v in views if states[v.id].status == "ignored"]
    reasons: dict[int, str | None] = {}
    for start in range(0, len(ignored_ids), 500):
        for line_id, reason in session.execute(
            select(BankAllocation.line_id, BankAllocation.reason).where(
                BankAllocation.line_id.in_(ignored_ids[start : start + 500]),
                BankAllocation.kind == "ignored",
            )
        ):
            reasons[line_id] = reason
    for v in views:
        state = states[v.id]
        if state.status == "ignored":
            ignored.append(
                LineItem(
                    v.id, v.booked_on, v.amount_minor, v.amount_minor, v.text, reasons.get(v.id)
                )
            )
        elif state.status == "unexplained" and state.left_minor != 0:
            unexplained.append(
                LineItem(v.id, v.booked_on, v.amount_minor, state.left_minor, v.text)
            )
    return unexplained, ignored


def _explained_sequences(
    session: Session, account: BankAccount
) -> tuple[set[int], set[str], set[int]]:
    """(entry sequences the account's lines point at, payout ids, the account's line ids)."""
    line_ids = set(
        session.scalars(select(BankLine.id).where(BankLine.bank_account_id == account.id))
    )
    sequences: set[int] = set()
    gift_keys: list[str] = []
    repayment_ids: list[int] = []
    payouts: set[str] = set()
    rows = session.execute(
        select(BankAllocation.kind, BankAllocation.record_id)
        .join(BankLine, BankLine.id == BankAllocation.line_id)
        .where(BankLine.bank_account_id == account.id, BankAllocation.record_id.is_not(None))
    )
    for kind, record_id in rows:
        if record_id is None:
            continue
        if kind == "entry" and record_id.isdigit():
            sequences.add(int(record_id))
        # "booked" names its entry by id, and the entry names the line (`bank_line`
        # in its metadata): the metadata explains it below.
        elif kind == "gift" and record_id.isdigit():
            gift_keys.append(f"donation:{record_id}:settle")
        elif kind == "repayment" and record_id.isdigit():
            repayment_ids.append(int(record_id))
        elif kind == "payout":
            payouts.add(record_id)
    for start in range(0, len(gift_keys), 500):
        sequences.update(
            session.scalars(
                select(JournalEntry.sequence).where(
                    JournalEntry.idempotency_key.in_(gift_keys[start : start + 500])
                )
            )
        )
    for start in range(0, len(repayment_ids), 500):
        sequences.update(
            session.scalars(
                select(JournalEntry.sequence)
                .join(LoanRepayment, LoanRepayment.entry_id == JournalEntry.id)
                .where(LoanRepayment.id.in_(repayment_ids[start : start + 500]))
            )
        )
    return sequences, payouts, line_ids


def _entry_items(
    session: Session,
    account: BankAccount,
    held_ids: list[int],
    from_date: date | None,
    as_of: date,
) -> list[EntryItem]:
    if from_date is None or from_date > as_of:
        return []
    nets: dict[str, int] = defaultdict(int)
    for entry_id, amount in session.execute(
        select(Posting.entry_id, Posting.amount_minor)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(
            Posting.account_id.in_(held_ids),
            JournalEntry.effective_on >= from_date,
            JournalEntry.effective_on <= as_of,
        )
    ):
        nets[entry_id] += amount
    ids = [entry_id for entry_id, net in nets.items() if net != 0]
    if not ids:
        return []
    sequences, payouts, line_ids = _explained_sequences(session, account)
    entries: list[JournalEntry] = []
    for start in range(0, len(ids), 500):
        entries.extend(
            session.scalars(
                select(JournalEntry).where(JournalEntry.id.in_(ids[start : start + 500]))
            )
        )
    left: dict[str, JournalEntry] = {}
    for entry in entries:
        if entry.sequence in sequences:
            continue
        metadata = json.loads(entry.metadata_json or "{}")
        if metadata.get("bank_line") in line_ids:
            continue
        if metadata.get("stripe_payout") is not None and str(metadata["stripe_payout"]) in payouts:
            continue
        left[entry.id] = entry
    # An entry and its reversal, both unexplained, cancel out.
    for entry in list(left.values()):
        if entry.reverses_entry_id is not None and entry.reverses_entry_id in left:
            del left[entry.reverses_entry_id]
            del left[entry.id]
    items = [
        EntryItem(e.sequence, e.effective_on, e.kind, e.narration, nets[e.id])
        for e in left.values()
    ]
    return sorted(items, key=lambda i: (i.effective_on, i.sequence))


def reconciliation(session: Session, iban: str, as_of: date) -> Reconciliation:
    """The reconciliation of the bank account `iban` as of the end of `as_of` (see above)."""
    account = get_bank_account(session, iban)
    statements = list(
        session.scalars(
            select(BankStatement)
            .where(BankStatement.bank_account_id == account.id)
            .order_by(BankStatement.id)
        )
    )
    bank_minor, basis, basis_on, anchor = _bank_balance(session, account, statements, as_of)
    held = held_accounts(session, account)
    balances = tuple(HeldBalance(a.code, balance(session, a.code, as_of).posted) for a in held)
    days = [s.first_booked_on for s in statements if s.first_booked_on is not None]
    from_date = min(days) if days else None
    unexplained, ignored = _line_items(session, account, as_of)
    entries = _entry_items(session, account, [a.id for a in held], from_date, as_of)
    used = tuple(
        StatementUsed(
            id=s.id,
            statement_id=s.statement_id,
            balance_kind=s.balance_kind,
            first_day=s.first_booked_on,
            closing_on=s.closing_on,
            opening_minor=s.opening_minor,
            closing_minor=s.closing_minor,
            anchor=s.id == anchor,
        )
        for s in statements
        if s.first_booked_on is not None and s.first_booked_on <= as_of
    )
    return Reconciliation(
        iban=account.iban,
        name=account.name,
        currency=account.currency,
        as_of=as_of,
        held=balances,
        bank_balance_minor=bank_minor,
        bank_basis=basis,
        bank_basis_on=basis_on,
        book_balance_minor=sum(h.balance_minor for h in balances),
        from_date=from_date,
        unexplained_lines=tuple(unexplained),
        ignored_lines=tuple(ignored),
        entries_not_on_bank=tuple(entries),
        statements_used=used,
    )


@dataclass(frozen=True, slots=True)
class CloseWarning:
    """Unexplained bank lines dated on or before a period's last day."""

    iban: str
    currency: str
    count: int
    total_minor: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": "unexplained_bank_lines",
            "iban": self.iban,
            "currency": self.currency,
            "unexplained_lines": self.count,
            "total": format_minor(self.total_minor, self.currency),
        }


def unexplained_through(session: Session, ends_on: date) -> list[CloseWarning]:
    """Per bank account, its lines dated on or before `ends_on` still unexplained
    (how many, and what is left of them in total); accounts with none are left out."""
    out = []
    for account in session.scalars(select(BankAccount).order_by(BankAccount.id)):
        items, _ignored = _line_items(session, account, ends_on)
        if items:
            out.append(
                CloseWarning(
                    account.iban, account.currency, len(items), sum(i.left_minor for i in items)
                )
            )
    return out


def answer_period_closing(session: Session, question: PeriodClosing) -> list[dict[str, Any]]:
    """Reconcile's answer to the books closing a month: a warning per bank account with
    unexplained lines dated on or before the month's last day."""
    return [w.as_dict() for w in unexplained_through(session, question.ends_on)]
