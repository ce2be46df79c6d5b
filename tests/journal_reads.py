"""A listener on every engine, in tests only (docs/journal-writes.md 2.3): a statement
that names the journal's tables while its unit has entries not written yet fails,
unless it comes from an engine function that knows those entries.

A deferred entry (`intents.defer_entry`) is written just before COMMIT; until then the
journal, its keys and the maintained balances do not show it. Domain code that read
them in between would see the book without its own unit's entries, and nothing else
would notice. The engine's own readers either add the pending legs (`balance`,
`trial_balance`, `available_by_code`), write the entries first (every lock,
`lookup_keys` for a key of theirs), keep them beside what they read (the command
key's claim: the head, and the entries still to be written), or were checked
against them (`create_hold` on rows and a key no pending entry touches).
"""

from __future__ import annotations

import re
import sys
from typing import Any

from sqlalchemy import Connection, Engine, event

from ledger.commands import keys
from ledger.core import accounts, balances, holds, intents, journal

TABLES = re.compile(
    r"\b(journal_entries|postings|idempotency_keys|balances|ledger_heads|period_totals)\b"
)
# The engine functions that know the unit's pending entries (see the module).
AWARE = frozenset(
    fn.__code__
    for fn in (
        intents._defer,
        intents.flush_journal,
        intents.sequences,  # by id: a pending entry of the unit is written first
        holds.create_hold,
        holds.resolve_hold,
        balances.balance,
        balances.trial_balance,
        balances.available_by_code,
        journal.lookup_keys,
        journal.load_entries,  # by id: a pending entry's id is not in the journal yet
        journal.get_entry,  # by id or sequence: likewise
        accounts.create_account,  # a new account's row: no entry of the unit posts to it
        keys.begin,  # the head's last sequence, with the unit's unwritten entries beside it
    )
)


class StaleJournalRead(AssertionError):
    """A read of the journal's tables that would miss the unit's own entries."""


def _check(conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
    left = intents.pending_on(conn)
    if not left or TABLES.search(statement) is None:
        return
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code in AWARE:
            return
        frame = frame.f_back
    keys = ", ".join(i.prepared.key for i in left)
    raise StaleJournalRead(
        f"a statement on the journal's tables ran while this unit's entries ({keys}) "
        f"were not written yet, outside the engine functions that know them: "
        f"{' '.join(statement.split())[:300]}"
    )


def install() -> None:
    event.listen(Engine, "before_cursor_execute", _check)
