"""What explains a bank line: its allocations, the status derived from them, and
the creditor reference a line carries.

A line is explained by `bank_allocations` rows (append-only): each points at a
record (a gift, a loan repayment, a journal entry, a Stripe payout), at the
entry booked for the line (`booked`), or says why the line is `ignored`. The
status is derived, never stored:

- `ignored` / `booked` / `matched`: the allocations cover the amount exactly
  (an ignored or booked part names the whole: ignored before booked before
  matched);
- `unexplained`: anything else, with what is left to explain.

A split batch's parent line is explained through its children; it takes no
allocation itself. Allocations are added under a row lock on the line
(`lock_line`), so two treasurers matching one line at once allocate it once.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.intents import sequences
from ledger.core.money import format_minor
from ledger.payments.references import parse_reference
from ledger.reconcile.errors import (
    BankLineNotFoundError,
    InvalidAllocationError,
    OverAllocationError,
)
from ledger.reconcile.models import BankAccount, BankAllocation, BankLine
from ledger.reconcile.statements import LineView, lines_to_explain

STATUSES = ("unexplained", "matched", "booked", "ignored")
RECORD_KINDS = ("gift", "repayment", "entry", "payout")
# An RF reference in free text: "RF" and two check digits, then the body,
# compact or in groups of four (as printed for a person to type).
_RF_IN_TEXT = re.compile(r"RF[0-9]{2}(?: ?[A-Z0-9]{1,4})+")


@dataclass(frozen=True, slots=True)
class Explained:
    status: str
    left_minor: int  # what is still to explain, signed like the line


def derive(amount_minor: int, allocations: Iterable[tuple[str, int]]) -> Explained:
    """The status of a line of `amount_minor` with these (kind, amount) allocations."""
    kinds: set[str] = set()
    total = 0
    for kind, amount in allocations:
        kinds.add(kind)
        total += amount
    left = amount_minor - total
    if kinds and left == 0:
        if "ignored" in kinds:
            return Explained("ignored", 0)
        if "booked" in kinds:
            return Explained("booked", 0)
        return Explained("matched", 0)
    return Explained("unexplained", left)


class _Amounted(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def amount_minor(self) -> int: ...


def explained(session: Session, lines: Sequence[_Amounted]) -> dict[int, Explained]:
    """Each line's derived status and what is left."""
    found: dict[int, list[tuple[str, int]]] = defaultdict(list)
    ids = [line.id for line in lines]
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(BankAllocation.line_id, BankAllocation.kind, BankAllocation.amount_minor).where(
                BankAllocation.line_id.in_(ids[start : start + 500])
            )
        )
        for line_id, kind, amount in rows:
            found[line_id].append((kind, amount))
    return {line.id: derive(line.amount_minor, found.get(line.id, ())) for line in lines}


def line_views(session: Session, account: BankAccount, status: str | None = None) -> list[LineView]:
    """The lines to explain (see `statements.lines_to_explain`) with their derived
    status, only those of `status` when given."""
    views = lines_to_explain(session, account)
    states = explained(session, views)
    out = [replace(v, status=states[v.id].status) for v in views]
    return [v for v in out if status is None or v.status == status]


def lines_by_id(session: Session, ids: Sequence[int]) -> dict[int, BankLine]:
    """The lines `ids`, read 500 to a statement rather than one by one.

    Keep the dict while the lines are used: the session's identity map holds a row
    only while something refers to it, so a line read earlier and let go is read
    again by `session.get`."""
    found: dict[int, BankLine] = {}
    for start in range(0, len(ids), 500):
        for line in session.scalars(
            select(BankLine).where(BankLine.id.in_(ids[start : start + 500]))
        ):
            found[line.id] = line
    return found


def is_split(session: Session, line_id: int) -> bool:
    """Whether the line is a batch entry split into child lines."""
    return (
        session.scalars(
            select(BankLine.id).where(BankLine.parent_line_id == line_id).limit(1)
        ).first()
        is not None
    )


def lock_line(session: Session, line_id: int) -> BankLine:
    """The line, locked for the rest of the transaction (PostgreSQL: FOR UPDATE).

    Whether it is split is asked by a statement of its own, after the lock: in READ
    COMMITTED a statement that waited for the lock reads every other row as it was
    before the wait, so an EXISTS inside the locking statement could miss detail
    lines committed meanwhile."""
    line = session.scalars(select(BankLine).where(BankLine.id == line_id).with_for_update()).first()
    if line is None:
        raise BankLineNotFoundError(f"no bank line {line_id}", line_id=line_id)
    if is_split(session, line_id):
        raise InvalidAllocationError(
            f"bank line {line_id} is a split batch: explain its detail lines",
            field="line",
            line_id=line_id,
        )
    return line


def records_shown(session: Session, allocations: Iterable[BankAllocation]) -> dict[int, str]:
    """What each allocation names, as people read it, by allocation id: a booked line's
    entry by its journal number (the allocation keeps the entry's id, which exists
    before the number: `intents.defer_entry`), any other record as stored. An
    allocation that names nothing (ignored) is left out."""
    rows = [a for a in allocations if a.record_id is not None]
    numbers = sequences(session, [a.record_id for a in rows if a.kind == "booked"])
    return {
        a.id: str(numbers[a.record_id]) if a.kind == "booked" else a.record_id
        for a in rows
        if a.record_id is not None and (a.kind != "booked" or a.record_id in numbers)
    }


def state_of(session: Session, line: BankLine) -> Explained:
    return explained(session, [line])[line.id]


def allocate(
    session: Session,
    line: BankLine,
    parts: Sequence[tuple[str, str | None, int, str | None]],
    *,
    currency: str,
    actor: str,
    now: datetime,
) -> list[BankAllocation]:
    """Add the (kind, record id, amount, reason) parts to a line locked by `lock_line`.

    Each amount is signed like the line and not zero; together they never
    exceed what is left (OverAllocationError, nothing added).
    """
    if not parts:
        raise InvalidAllocationError("nothing to allocate", field="allocations")
    for kind, record_id, amount, _reason in parts:
        if amount == 0 or (amount > 0) != (line.amount_minor > 0):
            raise InvalidAllocationError(
                f"an allocation of {format_minor(amount, currency)} does not fit a line of "
                f"{format_minor(line.amount_minor, currency)}: same sign, not zero",
                field="amount",
                kind=kind,
                record=record_id,
            )
    left = state_of(session, line).left_minor
    asked = sum(p[2] for p in parts)
    if left == 0 or abs(asked) > abs(left):
        raise OverAllocationError(
            f"the allocations ({format_minor(asked, currency)}) exceed what is left of bank "
            f"line {line.id} ({format_minor(left, currency)})",
            line_id=line.id,
            amount=format_minor(line.amount_minor, currency),
            left=format_minor(left, currency),
            asked=format_minor(asked, currency),
        )
    rows = [
        BankAllocation(
            line_id=line.id,
            kind=kind,
            record_id=record_id,
            amount_minor=amount,
            reason=reason,
            actor=actor[:64],
            created_at=now,
        )
        for kind, record_id, amount, reason in parts
    ]
    session.add_all(rows)
    session.flush()
    return rows


def references_in(line: BankLine) -> list[str]:
    """The texts of the line that may carry a creditor reference, the structured
    reference first, then the end-to-end id, then candidates found in the text."""
    found = [t for t in (line.reference, line.end_to_end_id) if t]
    for match in _RF_IN_TEXT.finditer((line.text or "").upper()):
        groups = match.group(0).split(" ")
        # The longest first: each cut at a group boundary (the text may go on).
        for cut in range(len(groups), 0, -1):
            candidate = "".join(groups[:cut])
            if len(candidate) >= 5:
                found.append(candidate)
    return found


def our_reference(line: BankLine) -> tuple[str, int] | None:
    """The (kind, id) of the first of OUR creditor references the line carries."""
    for text in references_in(line):
        parsed = parse_reference(text)
        if parsed is not None:
            return parsed
    return None
