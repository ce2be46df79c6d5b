"""The journal head: one row holding the last sequence, its chain hash and time.

Every writer of entries (and a period close) locks this row, so sequence
numbers are gapless and the hash chain is written in the entry's own
transaction (I9). Writers lock balances first, in ascending account id order,
and the head last, so the lock order is total and cannot deadlock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from ledger.core.chain import GENESIS_HASH
from ledger.core.dbapi import DbapiStatement
from ledger.core.models import JournalEntry, LedgerHead
from ledger.core.pending import flush_pending
from ledger.core.storage import is_postgresql


@dataclass(frozen=True, slots=True)
class Head:
    """The end of the journal: last sequence, its chain hash and recording time."""

    last_sequence: int
    last_hash: str
    last_recorded_at: datetime | None


def lock_head(session: Session) -> Head:
    """Lock the journal head row; every writer of entries serialises here."""
    flush_pending(session)
    stmt = select(
        LedgerHead.last_sequence, LedgerHead.last_hash, LedgerHead.last_recorded_at
    ).where(LedgerHead.id == 1)
    if is_postgresql(session):
        stmt = stmt.with_for_update()
    row = session.connection().execute(stmt).one()
    return Head(row.last_sequence, row.last_hash, row.last_recorded_at)


_HEAD_AND_LOCK_DATE = select(
    LedgerHead.last_sequence,
    LedgerHead.last_hash,
    LedgerHead.last_recorded_at,
    LedgerHead.locked_through,
).where(LedgerHead.id == 1)
# Built once with its FOR UPDATE: a statement built per call pays for its cache key.
_HEAD_AND_LOCK_DATE_FOR_UPDATE = _HEAD_AND_LOCK_DATE.with_for_update(of=LedgerHead)


def lock_head_for_posting(session: Session) -> tuple[Head, date | None]:
    """Lock the head and read the period lock date with it, in one statement.

    A period is closed under the head lock (`periods.close_period`), which writes
    the lock date on the head row, so the date read here is the one of the last
    close committed before the lock was granted, and cannot change before this
    transaction ends. (Read from `periods` in the same statement, it would come
    from the statement's snapshot, taken before any wait for a close.)
    """
    flush_pending(session)
    stmt = _HEAD_AND_LOCK_DATE_FOR_UPDATE if is_postgresql(session) else _HEAD_AND_LOCK_DATE
    row = session.connection().execute(stmt).one()
    return Head(row.last_sequence, row.last_hash, row.last_recorded_at), row.locked_through


_UPDATE_HEAD = (
    update(LedgerHead)
    .where(LedgerHead.id == 1)
    .values(
        last_sequence=bindparam("h_sequence"),
        last_hash=bindparam("h_hash"),
        last_recorded_at=bindparam("h_recorded_at"),
    )
)


_UPDATE_HEAD_SQLITE = DbapiStatement.update(
    LedgerHead.__table__,  # type: ignore[arg-type]
    ("last_sequence", "last_hash", "last_recorded_at"),
    "id",
)


def advance_head(session: Session, head: Head) -> None:
    """Store the new end of the journal (inside the transaction holding the lock)."""
    advance_head_on(session.connection(), head)


def advance_head_on(connection: Connection, head: Head) -> None:
    """`advance_head` on the session's connection, when the caller has it at hand."""
    if connection.dialect.name == "sqlite":
        _UPDATE_HEAD_SQLITE.run(
            connection,
            [
                {
                    "last_sequence": head.last_sequence,
                    "last_hash": head.last_hash,
                    "last_recorded_at": head.last_recorded_at,
                    "id": 1,
                }
            ],
        )
        return
    connection.execute(
        _UPDATE_HEAD,
        {
            "h_sequence": head.last_sequence,
            "h_hash": head.last_hash,
            "h_recorded_at": head.last_recorded_at,
        },
    )


def head_as_of(session: Session, end: date) -> tuple[int, str]:
    """The highest sequence dated on or before `end` and its chain hash (0 and the
    genesis hash when there is none): what a statement of a period ends with."""
    row = session.execute(
        select(JournalEntry.sequence, JournalEntry.hash)
        .where(JournalEntry.effective_on <= end)
        .order_by(JournalEntry.sequence.desc())
        .limit(1)
    ).one_or_none()
    return (int(row.sequence), str(row.hash)) if row is not None else (0, GENESIS_HASH)
