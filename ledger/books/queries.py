"""Read-only questions about the books for the pages: how far they are closed, and what
the person about to close a month should know first.

Nothing here writes. `closing_warnings` asks the same question `close_period`
asks (`events.PeriodClosing`), so the page can show the warning before the
close as well as after it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from ledger import events
from ledger.core import periods


def locked_through(session: Session) -> date | None:
    """The last day of the latest closed month, or None when no month is closed."""
    return periods.locked_through(session)


def closing_warnings(session: Session, ends_on: date) -> list[dict[str, Any]]:
    """What other domains say about closing the books through `ends_on` (unexplained
    bank lines dated on or before it, per bank account); never refuses anything."""
    return events.ask(session, events.PeriodClosing(ends_on))
