"""A bank line that is a Stripe payout arriving: the candidates, and the booking.

A paid payout was booked as money in transit (`payouts.record_payout`):

    payout paid          Dr assets:bank:transit:stripe   Cr assets:stripe:clearing

When its money reaches the bank, the bank line is matched to the payout and the
money moves from transit to the bank account's mirrored ledger account, on the
line's booking date:

    line <-> payout      Dr <bank's mirrored account>    Cr assets:bank:transit:stripe

One entry per allocation (a line may pay part of a payout, a payout may arrive
in parts), keyed by the line, the payout and the allocation's ordinal on that
pair, so a repeat books nothing twice. An allocation above what is left of the
payout (its amount minus what lines already took) is refused, nothing written.

The candidates of a line (`candidate_payouts`) are the paid payouts in the
line's currency whose amount is the line's, with something left to allocate,
whose expected arrival date is in a window around the line's booking or value
date: the line may come from one business day before the announced arrival to
five business days after it (Monday to Friday; bank holidays are not known
here, and five days cover a bank holiday or two). A payout's statement
descriptor or trace id found in the line (text, end-to-end id, structured
reference or counterparty name, compared upper case with everything but letters
and digits removed) makes the candidate `confident`; only a line with exactly
one candidate, and that one confident, is matched automatically.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from ledger.core.clock import Clock
from ledger.core.intents import defer_entry
from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.models import Account
from ledger.core.money import Money, format_minor
from ledger.reconcile import matching
from ledger.reconcile.errors import InvalidAllocationError, OverAllocationError
from ledger.reconcile.models import BankAccount, BankAllocation, BankLine, StripePayout
from ledger.reconcile.payouts import TRANSIT

# The window of a line's date around the payout's announced arrival, in business days.
DAYS_BEFORE = 1
DAYS_AFTER = 5
# A descriptor shorter than this says nothing (it would be found in any text).
MIN_MARK = 3
_NOT_ALNUM = re.compile(r"[^0-9A-Z]+")


@dataclass(frozen=True, slots=True)
class PayoutCandidate:
    """A payout a line may be: what is left of it, and what in the line points at it."""

    payout_id: str
    amount_minor: int
    left_minor: int
    arrival_date: date | None
    trace_id_found: bool
    descriptor_found: bool

    @property
    def confident(self) -> bool:
        return self.trace_id_found or self.descriptor_found


def normalise(text: str | None) -> str:
    """Upper case, letters and digits only: how a descriptor or trace id is looked for."""
    return _NOT_ALNUM.sub("", (text or "").upper())


def add_business_days(day: date, days: int) -> date:
    """`day` moved by `days` business days (Monday to Friday), either way."""
    step = 1 if days >= 0 else -1
    left = abs(days)
    while left:
        day += timedelta(days=step)
        if day.weekday() < 5:
            left -= 1
    return day


def in_window(arrival: date, line_day: date) -> bool:
    """Whether a line of `line_day` may carry a payout announced for `arrival`."""
    return (
        add_business_days(arrival, -DAYS_BEFORE)
        <= line_day
        <= add_business_days(arrival, DAYS_AFTER)
    )


def allocated_minor(session: Session, payout_id: str) -> int:
    """What bank lines have taken of a payout so far (signed like the payout)."""
    total = session.scalar(
        select(func.coalesce(func.sum(BankAllocation.amount_minor), 0)).where(
            BankAllocation.kind == "payout", BankAllocation.record_id == payout_id
        )
    )
    return int(total or 0)


def _line_marks(line: BankLine) -> str:
    parts = (line.text, line.end_to_end_id, line.reference, line.counterparty_name)
    return " ".join(normalise(p) for p in parts if p)


def _found(mark: str | None, marks: str) -> bool:
    wanted = normalise(mark)
    return len(wanted) >= MIN_MARK and wanted in marks


def _arrived(currency: str) -> tuple[ColumnElement[bool], ...]:
    """The payouts a line in `currency` may be: paid, booked, with an arrival date."""
    return (
        StripePayout.status == "paid",
        StripePayout.currency == currency,
        StripePayout.entry_id.is_not(None),
        StripePayout.arrival_date.is_not(None),
    )


def candidate_payouts(session: Session, line: BankLine) -> list[PayoutCandidate]:
    """The paid payouts this line may be, the confident ones first (see the module)."""
    account = session.get(BankAccount, line.bank_account_id)
    if account is None or line.amount_minor == 0:
        return []
    rows = session.scalars(
        select(StripePayout)
        .where(*_arrived(account.currency), StripePayout.amount_minor == line.amount_minor)
        .order_by(StripePayout.arrival_date, StripePayout.id)
    )
    days = [d for d in (line.booked_on, line.value_on) if d is not None]
    marks = _line_marks(line)
    found: list[PayoutCandidate] = []
    for row in rows:
        assert row.arrival_date is not None
        if not any(in_window(row.arrival_date, d) for d in days):
            continue
        left = row.amount_minor - allocated_minor(session, row.id)
        if left == 0 or (left > 0) != (row.amount_minor > 0):
            continue
        found.append(
            PayoutCandidate(
                payout_id=row.id,
                amount_minor=row.amount_minor,
                left_minor=left,
                arrival_date=row.arrival_date,
                trace_id_found=_found(row.trace_id, marks),
                descriptor_found=_found(row.statement_descriptor, marks),
            )
        )
    found.sort(key=lambda c: not c.confident)
    return found


def check_payout_parts(
    session: Session, account: BankAccount, parts: list[tuple[str, int]]
) -> None:
    """Refuse (nothing written) payout allocations that cannot be: a payout not paid
    or not booked, in another currency, or asked more than is left of it."""
    asked: dict[str, int] = {}
    for payout_id, amount in parts:
        asked[payout_id] = asked.get(payout_id, 0) + amount
    for payout_id, amount in asked.items():
        row = session.scalars(
            select(StripePayout).where(StripePayout.id == payout_id).with_for_update()
        ).first()
        if row is None or row.status != "paid" or row.entry_id is None:
            state = "unknown" if row is None else row.status
            raise InvalidAllocationError(
                f"payout {payout_id} is {state}: only a paid, booked payout reaches the bank",
                field="record",
                kind="payout",
                record=payout_id,
            )
        if row.currency != account.currency:
            raise InvalidAllocationError(
                f"payout {payout_id} is in {row.currency}, the bank account in {account.currency}",
                field="record",
                kind="payout",
                record=payout_id,
            )
        left = row.amount_minor - allocated_minor(session, payout_id)
        if amount == 0 or (amount > 0) != (row.amount_minor > 0) or abs(amount) > abs(left):
            raise OverAllocationError(
                f"the allocations to payout {payout_id} ({format_minor(amount, row.currency)}) "
                f"exceed what is left of it ({format_minor(left, row.currency)})",
                payout=payout_id,
                amount=format_minor(row.amount_minor, row.currency),
                left=format_minor(left, row.currency),
                asked=format_minor(amount, row.currency),
            )


def book_payout_arrival(
    session: Session,
    line: BankLine,
    account: BankAccount,
    payout_id: str,
    amount_minor: int,
    *,
    ordinal: int,
    clock: Clock,
    actor: str,
) -> str:
    """Book `amount_minor` of payout `payout_id` arriving on the bank with `line`:
    Dr the bank's mirrored account, Cr money in transit, on the line's booking date.
    `ordinal` numbers the allocations of this line to this payout (from 1). Returns
    the entry's id: the entry is written when the unit commits (`defer_entry`), so
    a month's run of `apply_references` takes the journal head only there. The
    entry names the line and the payout in its metadata, which is how the
    reconciliation report finds it."""
    mirrored = session.get(Account, account.account_id)
    assert mirrored is not None
    amount = Money(amount_minor, account.currency)
    booked = defer_entry(
        session,
        EntrySpec(
            idempotency_key=f"bank-line-payout:{line.id}:{payout_id}:{ordinal}",
            kind="stripe_payout_arrival",
            postings=[PostingSpec(mirrored.code, amount), PostingSpec(TRANSIT, -amount)],
            effective_on=line.booked_on,
            narration=f"Versamento Stripe {payout_id} accreditato in banca",
            metadata={"bank_line": line.id, "payout": payout_id},
            actor=actor,
        ),
        clock=clock,
    )
    return booked.id


def allocate_to_payouts(
    session: Session,
    line: BankLine,
    account: BankAccount,
    parts: list[tuple[str, int]],
    *,
    clock: Clock,
    actor: str,
) -> list[BankAllocation]:
    """Explain (part of) a line locked by `matching.lock_line` by payouts: check, then
    allocate, then book each part's arrival (see the module)."""
    check_payout_parts(session, account, parts)
    rows = matching.allocate(
        session,
        line,
        [("payout", payout_id, amount, None) for payout_id, amount in parts],
        currency=account.currency,
        actor=actor,
        now=clock.now(),
    )
    book_allocated(session, line, account, rows, clock=clock, actor=actor)
    return rows


def book_allocated(
    session: Session,
    line: BankLine,
    account: BankAccount,
    rows: list[BankAllocation],
    *,
    clock: Clock,
    actor: str,
) -> None:
    """Book the arrival entry of each `payout` allocation among `rows` just added."""
    for row in rows:
        if row.kind != "payout" or row.record_id is None:
            continue
        ordinal = session.scalar(
            select(func.count(BankAllocation.id)).where(
                BankAllocation.line_id == line.id,
                BankAllocation.kind == "payout",
                BankAllocation.record_id == row.record_id,
                BankAllocation.id <= row.id,
            )
        )
        book_payout_arrival(
            session,
            line,
            account,
            row.record_id,
            row.amount_minor,
            ordinal=int(ordinal or 1),
            clock=clock,
            actor=actor,
        )


def match_payouts(
    session: Session,
    account: BankAccount,
    *,
    today: date,
    clock: Clock,
    actor: str,
    closed_through: date | None = None,
) -> int:
    """Match each wholly unexplained incoming line of `account` that has exactly one
    candidate payout, a confident one, to it; how many lines were matched. A line
    dated on or before `closed_through` (a closed month) is left."""
    matched = 0
    # A line can only be a payout of its very amount: the others are not locked or read.
    amounts = set(
        session.scalars(select(StripePayout.amount_minor).where(*_arrived(account.currency)))
    )
    for view in matching.line_views(session, account, "unexplained"):
        if view.amount_minor <= 0 or view.amount_minor not in amounts:
            continue
        if closed_through is not None and view.booked_on <= closed_through:
            continue
        line = matching.lock_line(session, view.id)
        if line.booked_on > today:
            continue
        if matching.state_of(session, line).left_minor != line.amount_minor:
            continue  # partly explained by hand: the rest is the treasurer's
        found = candidate_payouts(session, line)
        if len(found) != 1 or not found[0].confident or found[0].left_minor != line.amount_minor:
            continue
        allocate_to_payouts(
            session,
            line,
            account,
            [(found[0].payout_id, line.amount_minor)],
            clock=clock,
            actor=actor,
        )
        matched += 1
    return matched
