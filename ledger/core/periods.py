"""Periods: closing a calendar month locks every date up to its last day (I8).

Closing a month also closes any earlier month still open: the book has one
lock date, the end of the latest closed month, and nothing may be dated on or
before it afterwards. A month can be closed only once it has ended in
Europe/Rome. Closing takes the journal head lock, so it serialises with posting,
and writes the lock date on the head row, where writers read it as they lock it.

Under that lock the close also writes each account's posted debits and credits
dated on or before the month's end (`period_totals`): the last close's totals plus
the postings dated after it. Nothing can be dated on or before a closed month's
end afterwards, so they never change, and a balance or trial balance as of a later
date adds only the postings after the close (`balances.trial_balance`).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import case, func, insert, literal, select, union_all, update
from sqlalchemy.orm import Session

from ledger.core.clock import Clock, rome_today
from ledger.core.errors import ClosedPeriodError, InvalidPeriodError
from ledger.core.head import lock_head
from ledger.core.models import JournalEntry, LedgerHead, Period, PeriodTotal, Posting
from ledger.core.privacy import check_actor

PERIOD_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def locked_through(session: Session) -> date | None:
    """The last day of the latest closed month, or None."""
    value: date | None = session.scalar(select(func.max(Period.ends_on)))
    return value


def check_open(effective_on: date, lock_date: date | None) -> None:
    if lock_date is not None and effective_on <= lock_date:
        raise ClosedPeriodError(
            f"{effective_on.isoformat()} falls in a closed period "
            f"(the books are closed through {lock_date.isoformat()})",
            effective_on=effective_on.isoformat(),
            closed_through=lock_date.isoformat(),
        )


def parse_period(text: str) -> tuple[int, int]:
    match = PERIOD_PATTERN.match(text or "")
    if match is None:
        raise InvalidPeriodError(f"period {text!r} is not YYYY-MM", period=text)
    return int(match.group(1)), int(match.group(2))


@dataclass(frozen=True, slots=True)
class PeriodClose:
    period: str
    ends_on: date
    created: bool


def close_period(
    session: Session, period: str, *, clock: Clock, actor: str | None = None
) -> PeriodClose:
    """Close `period` (YYYY-MM). Closing an already closed month changes nothing."""
    check_actor(actor)
    year, month = parse_period(period)
    ends_on = date(year, month, calendar.monthrange(year, month)[1])
    if ends_on >= rome_today(clock):
        raise InvalidPeriodError(
            f"{period} has not ended yet in Europe/Rome; it can be closed from "
            f"{date.fromordinal(ends_on.toordinal() + 1).isoformat()}",
            period=period,
        )
    head = lock_head(session)
    current = locked_through(session)
    if current is not None and ends_on <= current:
        return PeriodClose(period, ends_on, False)
    session.connection().execute(
        update(LedgerHead).where(LedgerHead.id == 1).values(locked_through=ends_on)
    )
    session.add(
        Period(
            period=period,
            ends_on=ends_on,
            closed_at=clock.now(),
            closed_by=actor,
            closed_after_sequence=head.last_sequence,
            head_hash=head.last_hash,
        )
    )
    session.flush()
    session.connection().execute(_totals_insert(session, period, ends_on, current))
    return PeriodClose(period, ends_on, True)


def _totals_insert(session: Session, period: str, ends_on: date, after: date | None) -> Any:
    """INSERT ... SELECT of the month's `period_totals`: the totals of the close through
    `after` (the previous lock date) plus the postings dated after it, to `ends_on`."""
    p, e, t = Posting.__table__.c, JournalEntry.__table__.c, PeriodTotal.__table__.c
    since = e.effective_on <= ends_on
    parts = []
    if after is not None:
        previous = session.scalar(select(Period.period).where(Period.ends_on == after))
        parts.append(select(t.account_id, t.debits, t.credits).where(t.period == previous))
        since = since & (e.effective_on > after)
    parts.append(
        select(
            p.account_id,
            case((p.amount_minor > 0, p.amount_minor), else_=0).label("debits"),
            case((p.amount_minor < 0, -p.amount_minor), else_=0).label("credits"),
        )
        .select_from(Posting.__table__.join(JournalEntry.__table__, e.id == p.entry_id))
        .where(since)
    )
    rows = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    return insert(PeriodTotal).from_select(
        ["period", "account_id", "debits", "credits"],
        select(
            literal(period), rows.c.account_id, func.sum(rows.c.debits), func.sum(rows.c.credits)
        ).group_by(rows.c.account_id),
    )
