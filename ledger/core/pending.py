"""Journal intents not written yet (see `intents.py`): written before any other engine lock.

A unit that registered intents sets `session.info[FLUSH_JOURNAL]`; every function
that locks balance rows or the head calls `flush_pending` first, so the immediate
path never reads rows the unit is still to write. A call that writes no journal
and names the rows it will read (`touching`, a new hold's two accounts) and its
key writes the intents only when one of them posts to those rows or uses that key:
otherwise the rows it reads are not the unit's to write, and the head stays free
until COMMIT.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from sqlalchemy.orm import Session

FLUSH_JOURNAL = "ledger.journal.flush"


def flush_pending(
    session: Session, touching: Collection[int] | None = None, key: str | None = None
) -> None:
    flush: Callable[[Session, Collection[int] | None, str | None], None] | None = session.info.get(
        FLUSH_JOURNAL
    )
    if flush is not None:
        flush(session, touching, key)
