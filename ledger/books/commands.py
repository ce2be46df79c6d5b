"""Use cases on the books: open an account, post or reverse an entry, close a month, expire holds.

Each function is one act in the shape of `ledger.commands`: `begin` first
(the one idempotency rule for a request key), the bookkeeping through the
engine (`ledger.core`), then `Claim.done`, which writes the act's audit event.
The API, the pages and the CLI call these and only translate.

Posting and reversing keep the engine's own idempotency underneath (I4: the
entry's journal key with its request's hash). The journal key of a caller
signed in as a user is their key scoped by caller (`api:5:<key>`,
`web:5:<key>`), so two users' keys never meet, and the journal's actor is
`user:5`. An operator at the console (an origin with no user: `ledger post`,
`ledger reverse`) owns the journal's key space, as the CLI always has: their
key is written as given, with the actor their file names.

A repeat is answered from the journal (the entry under its journal key) and
writes nothing, not even an audit event. So is an entry the journal already
held under that key before the key was claimed here (posted by `ledger demo`,
or before command keys existed): the engine answers it, and it is not audited
a second time.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from ledger import events
from ledger.commands import Origin, Outcome, begin, command
from ledger.core import accounts, holds, journal, periods
from ledger.core.accounts import AccountView
from ledger.core.clock import Clock
from ledger.core.journal import EntrySpec, EntryView, PostingSpec

CREATE_ACCOUNT = command("account.create", "account")
POST_ENTRY = command("entry.post", "entry")
REVERSE_ENTRY = command("entry.reverse", "entry")
CLOSE_PERIOD = command("period.close", "period")
EXPIRE_HOLD = command("hold.expire", "hold")


def _journal_key(origin: Origin, key: str) -> str:
    """The entry's key in the journal: scoped by caller for a user, as given at the console."""
    return origin.scoped(key) if origin.user_id is not None else key


def _journal_actor(origin: Origin, named: str | None) -> str | None:
    """The journal's actor: the user (`user:5`), or what an operator's file names."""
    return origin.actor if origin.user_id is not None else named


def _entry_under(session: Session, journal_key: str) -> EntryView:
    """The entry the journal keeps under `journal_key` (the answer to a repeat)."""
    found = journal.lookup_keys(session, [journal_key])[journal_key]
    assert found.entry_id is not None
    return journal.load_entries(session, [found.entry_id])[found.entry_id]


def _entry_facts(entry: EntryView) -> dict[str, Any]:
    # Facts that identify the entry, never its narration or metadata: the journal
    # keeps those, and the audit log should hold no second copy of anything personal.
    return {
        "sequence": entry.sequence,
        "entry_id": entry.id,
        "kind": entry.kind,
        "postings": len(entry.postings),
    }


def create_account(
    session: Session,
    code: str,
    account_type: str,
    *,
    currency: str = "EUR",
    no_overdraft: bool = False,
    name: str | None = None,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[AccountView]:
    """Open an account with a zero balance (a code is never reused), once per key."""
    claim = begin(
        session,
        CREATE_ACCOUNT,
        origin,
        clock=clock,
        key=key,
        request={
            "code": code,
            "type": account_type,
            "currency": currency,
            "no_overdraft": no_overdraft,
            "name": name,
        },
    )
    if claim.earlier is not None:
        return claim.replay(accounts.get_account(session, code))
    view = accounts.create_account(
        session,
        code,
        account_type,
        clock=clock,
        currency=currency,
        no_overdraft=no_overdraft,
        name=name,
    )
    # The name is free text that may name a person: only structural facts are audited.
    return claim.done(
        view,
        subject_id=view.id,
        details={
            "code": view.code,
            "type": view.type,
            "currency": view.currency,
            "no_overdraft": view.no_overdraft,
        },
    )


def post_entry(
    session: Session,
    postings: Sequence[PostingSpec],
    *,
    kind: str,
    effective_on: date | None = None,
    narration: str = "",
    metadata: Mapping[str, Any] | None = None,
    actor: str | None = None,
    origin: Origin,
    clock: Clock,
    key: str,
) -> Outcome[EntryView]:
    """Post one balanced entry once per key (the entry is checked before the key is).

    `actor` is the journal's actor an operator's file names (`ledger post`); a
    user's entries are always theirs (`user:5`).
    """
    spec = EntrySpec(
        _journal_key(origin, key),
        kind,
        postings,
        effective_on=effective_on,
        narration=narration,
        metadata=dict(metadata or {}),
        actor=_journal_actor(origin, actor),
    )
    claim = begin(session, POST_ENTRY, origin, clock=clock, key=key, request=spec.request())
    if claim.earlier is not None:
        return claim.replay(_entry_under(session, spec.idempotency_key))
    posted = journal.post_entry(session, spec, clock=clock)
    if not posted.created:
        return claim.known(posted.entry, subject_id=posted.entry.sequence)
    return claim.done(
        posted.entry, subject_id=posted.entry.sequence, details=_entry_facts(posted.entry)
    )


def reverse_entry(
    session: Session,
    sequence: int,
    *,
    narration: str | None = None,
    effective_on: date | None = None,
    origin: Origin,
    clock: Clock,
    key: str,
) -> Outcome[EntryView]:
    """Post the exact opposite of entry `sequence` (at most once per entry), once per key."""
    claim = begin(
        session,
        REVERSE_ENTRY,
        origin,
        clock=clock,
        key=key,
        request={"sequence": sequence, "narration": narration, "effective_on": effective_on},
    )
    journal_key = _journal_key(origin, key)
    if claim.earlier is not None:
        return claim.replay(_entry_under(session, journal_key))
    reversed_ = journal.reverse_entry(
        session,
        idempotency_key=journal_key,
        clock=clock,
        sequence=sequence,
        narration=narration,
        effective_on=effective_on,
        actor=_journal_actor(origin, None),
    )
    if not reversed_.created:
        return claim.known(reversed_.entry, subject_id=reversed_.entry.sequence)
    return claim.done(
        reversed_.entry,
        subject_id=reversed_.entry.sequence,
        details={**_entry_facts(reversed_.entry), "reverses_sequence": sequence},
    )


def _month_end(period: str) -> date:
    year, month = periods.parse_period(period)
    return date(year, month, calendar.monthrange(year, month)[1])


@dataclass(frozen=True, slots=True)
class ClosedPeriod:
    """A month closed (or found closed): its last day, and what the person closing it
    should know (other domains' answers to `events.PeriodClosing`: unexplained bank
    lines dated on or before it, per bank account). Warnings never refuse the close."""

    ends_on: date
    warnings: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def close_period(
    session: Session,
    period: str,
    *,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[ClosedPeriod]:
    """Close month `period` (YYYY-MM): nothing may be dated on or before its last day
    afterwards. The value is that day with the warnings (unexplained bank lines dated
    on or before it); the audit event records how many (`warnings`, when any).
    Closing a closed month changes and audits nothing.
    """
    claim = begin(session, CLOSE_PERIOD, origin, clock=clock, key=key, request={"period": period})
    if claim.earlier is not None:
        ends_on = _month_end(period)
        return claim.replay(
            ClosedPeriod(ends_on, tuple(events.ask(session, events.PeriodClosing(ends_on))))
        )
    closed = periods.close_period(session, period, clock=clock, actor=_journal_actor(origin, None))
    warnings = tuple(events.ask(session, events.PeriodClosing(closed.ends_on)))
    value = ClosedPeriod(closed.ends_on, warnings)
    if not closed.created:
        return claim.known(value, subject_id=closed.period)
    details: dict[str, Any] = {"ends_on": closed.ends_on.isoformat()}
    if warnings:
        details["warnings"] = len(warnings)
    return claim.done(value, subject_id=closed.period, details=details)


def expire_holds(session: Session, *, origin: Origin, clock: Clock) -> Outcome[list[str]]:
    """Expire every open hold whose deadline has passed; one `hold.expire` event each.

    Each hold expired is one act of its own (as the audit log has always shown
    it). A second run finds nothing due and writes nothing, so the job needs no
    request key; `created` says whether any hold expired.
    """
    expired = holds.expire_holds(session, clock=clock)
    for hold_id in expired:
        begin(session, EXPIRE_HOLD, origin, clock=clock).done(hold_id, subject_id=hold_id)
    return Outcome(expired, created=bool(expired))
