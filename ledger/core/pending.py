"""Journal intents not written yet (see `intents.py`): written before any other engine lock.

A unit that registered intents sets `session.info[FLUSH_JOURNAL]`; every function
that locks balance rows or the head calls `flush_pending` first, so the immediate
path never reads rows the unit is still to write. A call that writes no journal
and names the rows it will read (`touching`, a new hold's two accounts) and its
key writes the intents only when one of them posts to those rows or uses that key:
otherwise the rows it reads are not the unit's to write, and the head stays free
until COMMIT.

A read of the maintained figures (`balances.balance`, `trial_balance`) does not write
them: it adds the pending intents' legs to what it read (`pending_nets`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import date

from sqlalchemy.orm import Session

FLUSH_JOURNAL = "ledger.journal.flush"
INTENTS = "ledger.journal.intents"  # the unit's `intents.JournalIntent`s, in call order


def flush_pending(
    session: Session, touching: Collection[int] | None = None, key: str | None = None
) -> None:
    flush: Callable[[Session, Collection[int] | None, str | None], None] | None = session.info.get(
        FLUSH_JOURNAL
    )
    if flush is not None:
        flush(session, touching, key)


def pending_nets(
    session: Session, as_of: date | None = None, account_id: int | None = None
) -> dict[int, int]:
    """Net amount (debits positive) per account of the unit's intents not written yet,
    those dated on or before `as_of` if given; one account's only, if given."""
    nets: dict[int, int] = {}
    for intent in session.info.get(INTENTS) or ():
        prepared = intent.prepared
        if as_of is not None and prepared.effective_on > as_of:
            continue
        for account, amount in prepared.legs:
            if account_id is None or account.id == account_id:
                nets[account.id] = nets.get(account.id, 0) + amount
    return nets
