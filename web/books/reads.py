"""What the books' pages and API read besides the engine's own reports: the journal's head."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.balances import CurrencyTotal, TrialBalanceLine
from ledger.core.chain import GENESIS_HASH
from ledger.core.models import LedgerHead


@dataclass(frozen=True, slots=True)
class JournalHead:
    """The end of the journal: last sequence number and hash-chain head."""

    last_sequence: int
    last_hash: str
    last_recorded_at: datetime | None

    @property
    def is_empty(self) -> bool:
        return self.last_sequence == 0 and self.last_hash == GENESIS_HASH


def read_head(session: Session) -> JournalHead:
    """Read the single `ledger_heads` row without locking it."""
    row = session.execute(
        select(LedgerHead.last_sequence, LedgerHead.last_hash, LedgerHead.last_recorded_at).where(
            LedgerHead.id == 1
        )
    ).one()
    return JournalHead(int(row.last_sequence), row.last_hash, row.last_recorded_at)


@dataclass(slots=True)
class TrialBalance:
    """The trial balance page: the lines, the head they belong to, and totals per currency."""

    lines: list[TrialBalanceLine]
    head: JournalHead
    as_of: date | None
    totals: list[CurrencyTotal] = field(default_factory=list)
