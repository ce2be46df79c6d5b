"""Journal intents not written yet (see `intents.py`): written before any other engine lock.

A unit that registered intents sets `session.info[FLUSH_JOURNAL]`; every function
that locks balance rows or the head calls `flush_pending` first, so the immediate
path never reads rows the unit is still to write.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

FLUSH_JOURNAL = "ledger.journal.flush"


def flush_pending(session: Session) -> None:
    flush: Callable[[Session], None] | None = session.info.get(FLUSH_JOURNAL)
    if flush is not None:
        flush(session)
