"""Exports of the whole journal: a beancount ledger and a CSV of postings.

Sign convention: amounts are written as the journal stores them, debit
positive, in the currency's own scale ("-12.50"). Beancount uses the same
convention, so an asset's balance is positive and an income's is negative.

The beancount export is the independent oracle of the books: it opens every
account, writes every entry as a balanced transaction and then asserts, the day
after the last entry, each account's balance as the engine maintains it. If
`bean-check` accepts the file, beancount's own replay of our postings agrees
with our balances to the minor unit (the assertions carry an explicit zero
tolerance, because beancount would otherwise forgive half a unit either way).

Both exports stream the journal in sequence order and only read. Run them in a
read-only unit of work (`Ledger.read`), which sees one snapshot on either
backend, so the balances asserted at the end are the balances of exactly the
entries written before them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TextIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from ledger.core.accounts import AccountView, list_accounts
from ledger.core.balances import trial_balance
from ledger.core.clock import ROME
from ledger.core.models import Account, JournalEntry, Posting
from ledger.core.money import format_minor
from ledger.statements.csv_cells import amount_cell, csv_writer

Progress = Callable[[int], None]
PROGRESS_EVERY = 1000

# Beancount's five roots, and the first code segments that already name them.
BEANCOUNT_ROOTS = {
    "asset": "Assets",
    "liability": "Liabilities",
    "equity": "Equity",
    "income": "Income",
    "expense": "Expenses",
}
ROOT_SEGMENTS = {
    "asset": frozenset({"asset", "assets"}),
    "liability": frozenset({"liability", "liabilities"}),
    "equity": frozenset({"equity", "net_assets", "net-assets", "netassets"}),
    "income": frozenset({"income", "incomes", "revenue", "revenues"}),
    "expense": frozenset({"expense", "expenses"}),
}
# A beancount account component after the root: an upper-case letter or a digit,
# then letters, digits or dashes.
_COMPONENT = re.compile(r"^[A-Z0-9][A-Za-z0-9-]*$")

CSV_HEADER = (
    "sequence",
    "entry_id",
    "effective_date",
    "kind",
    "narration",
    "account",
    "currency",
    "amount",
    "reverses_sequence",
)


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What an export wrote."""

    entries: int
    postings: int
    accounts: int


@dataclass(frozen=True, slots=True)
class _Leg:
    code: str
    currency: str
    amount_minor: int


@dataclass(frozen=True, slots=True)
class _Entry:
    sequence: int
    id: str
    effective_on: date
    kind: str
    narration: str
    metadata_json: str
    hold_id: str | None
    reverses_sequence: int | None
    legs: tuple[_Leg, ...]


# --------------------------------------------------------------------------- reading
def _entries(session: Session) -> Iterator[_Entry]:
    """Every entry with its postings, in sequence order, streamed."""
    reversed_entry = aliased(JournalEntry)
    stmt = (
        select(
            JournalEntry.sequence,
            JournalEntry.id,
            JournalEntry.effective_on,
            JournalEntry.kind,
            JournalEntry.narration,
            JournalEntry.metadata_json,
            JournalEntry.hold_id,
            reversed_entry.sequence.label("reverses_sequence"),
            Account.code,
            Posting.currency,
            Posting.amount_minor,
        )
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .join(Account, Account.id == Posting.account_id)
        .outerjoin(reversed_entry, reversed_entry.id == JournalEntry.reverses_entry_id)
        .order_by(JournalEntry.sequence, Posting.leg)
        .execution_options(yield_per=2000)
    )
    rows = session.execute(stmt)
    for _sequence, group in itertools.groupby(rows, key=lambda r: r.sequence):
        legs = list(group)
        first = legs[0]
        yield _Entry(
            first.sequence,
            first.id,
            first.effective_on,
            first.kind,
            first.narration,
            first.metadata_json,
            first.hold_id,
            first.reverses_sequence,
            tuple(_Leg(r.code, r.currency, r.amount_minor) for r in legs),
        )


def _tick(progress: Progress | None, count: int) -> None:
    if progress is not None and count % PROGRESS_EVERY == 0:
        progress(count)


# --------------------------------------------------------------------------- beancount
def _component(segment: str) -> str:
    """One code segment as a beancount component: '_' becomes '-', first letter upper."""
    text = re.sub(r"[^A-Za-z0-9-]", "-", segment.replace("_", "-"))
    text = text[:1].upper() + text[1:]
    if not _COMPONENT.match(text):
        text = "X" + text  # a segment starting with '-' cannot begin a component
    return text


def beancount_account_names(accounts: Iterable[AccountView]) -> dict[str, str]:
    """Map each account code to a valid, unique beancount account name.

    The root comes from the account type; a first code segment that already
    names that root is not repeated ("assets:bank:intesa" -> "Assets:Bank:Intesa").
    Two codes that sanitise to the same name are told apart deterministically:
    in code order, the first keeps the name and the others get "-2", "-3"...
    """
    taken: set[str] = set()
    out: dict[str, str] = {}
    for account in sorted(accounts, key=lambda a: a.code):
        segments = account.code.split(":")
        if len(segments) > 1 and segments[0] in ROOT_SEGMENTS[account.type]:
            segments = segments[1:]
        base = ":".join([BEANCOUNT_ROOTS[account.type], *(_component(s) for s in segments)])
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name)
        out[account.code] = name
    return out


def beancount_string(text: str) -> str:
    """A beancount string literal: quoted, with backslash, quote and control escapes."""
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


def _first_use(session: Session) -> dict[str, date]:
    rows = session.execute(
        select(Account.code, func.min(JournalEntry.effective_on))
        .join(Posting, Posting.account_id == Account.id)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .group_by(Account.code)
    )
    return {code: first for code, first in rows}


def export_beancount(
    session: Session,
    out: TextIO,
    *,
    progress: Progress | None = None,
    title: str = "Community ledger",
) -> ExportSummary:
    """Write the whole book as a beancount ledger to `out`.

    Order: options, `open` directives (each on the account's first use; unused
    accounts on the book's first date), one transaction per entry in sequence
    order with `seq`, `kind` and `entry-id` metadata, then one `balance`
    assertion per account dated the day after the last entry.
    """
    accounts = list_accounts(session)
    names = beancount_account_names(accounts)
    first_use = _first_use(session)
    bounds = session.execute(
        select(func.min(JournalEntry.effective_on), func.max(JournalEntry.effective_on))
    ).one()
    earliest: date | None = bounds[0]
    latest: date | None = bounds[1]
    if earliest is None or latest is None:
        created = [a.created_at.astimezone(ROME).date() for a in accounts]
        earliest = latest = min(created) if created else date(1970, 1, 1)

    out.write(f"; {title}: exported journal (beancount)\n")
    out.write(f'option "title" {beancount_string(title)}\n')
    currencies = sorted({a.currency for a in accounts})
    for currency in currencies:
        out.write(f'option "operating_currency" "{currency}"\n')
    out.write("\n")
    for account in accounts:
        opened = first_use.get(account.code, earliest)
        out.write(f"{opened.isoformat()} open {names[account.code]} {account.currency}\n")
        out.write(f"  code: {beancount_string(account.code)}\n")
        if account.name:
            out.write(f"  name: {beancount_string(account.name)}\n")
    out.write("\n")

    count = postings = 0
    for entry in _entries(session):
        out.write(f"{entry.effective_on.isoformat()} * {beancount_string(entry.narration)}\n")
        out.write(f"  seq: {entry.sequence}\n")
        out.write(f"  kind: {beancount_string(entry.kind)}\n")
        out.write(f"  entry-id: {beancount_string(entry.id)}\n")
        if entry.reverses_sequence is not None:
            out.write(f"  reverses: {entry.reverses_sequence}\n")
        if entry.hold_id is not None:
            out.write(f"  hold-id: {beancount_string(entry.hold_id)}\n")
        if entry.metadata_json not in ("", "{}"):
            out.write(f"  metadata: {beancount_string(entry.metadata_json)}\n")
        for leg in entry.legs:
            amount = format_minor(leg.amount_minor, leg.currency)
            out.write(f"  {names[leg.code]}  {amount} {leg.currency}\n")
        out.write("\n")
        count += 1
        postings += len(entry.legs)
        _tick(progress, count)

    # Beancount checks a balance at the start of its day, so the day after the
    # last entry sees every entry.
    asserted_on = latest + timedelta(days=1)
    for line in trial_balance(session):
        net = format_minor(line.debit - line.credit, line.account.currency)
        out.write(
            f"{asserted_on.isoformat()} balance {names[line.account.code]}  "
            f"{net} ~ 0 {line.account.currency}\n"
        )
    if progress is not None:
        progress(count)
    return ExportSummary(count, postings, len(accounts))


# --------------------------------------------------------------------------- csv
def export_csv(session: Session, out: TextIO, *, progress: Progress | None = None) -> ExportSummary:
    """Write one CSV row per posting, in sequence and leg order, with a header row.

    Columns: sequence, entry_id, effective_date, kind, narration, account,
    currency, amount (signed decimal string, debit positive), reverses_sequence
    (empty unless the entry is a reversal). Text cells are escaped where a
    spreadsheet would run them as formulas (`ledger.statements.csv_cells`);
    the amounts stay numbers.
    """
    writer = csv_writer(out)
    writer.writerow(CSV_HEADER)
    count = postings = 0
    for entry in _entries(session):
        for leg in entry.legs:
            writer.writerow(
                (
                    entry.sequence,
                    entry.id,
                    entry.effective_on,
                    entry.kind,
                    entry.narration,
                    leg.code,
                    leg.currency,
                    amount_cell(leg.amount_minor, leg.currency),
                    entry.reverses_sequence,
                )
            )
        count += 1
        postings += len(entry.legs)
        _tick(progress, count)
    if progress is not None:
        progress(count)
    accounts = session.scalar(select(func.count()).select_from(Account)) or 0
    return ExportSummary(count, postings, int(accounts))
