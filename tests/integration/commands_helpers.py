"""The one test every use case gets: twice with one key is one effect; a conflict writes nothing.

`assert_once(ledger, act, conflicting)` runs `act(session, key)` twice with one
key and `conflicting(session, key)` once with the same key and another
request. The first run must answer `created`, the second must answer the same
subject without creating, and the conflict must raise
IdempotencyConflictError. After the first run, the database's footprint (the
number of rows of every table, and the journal head) must not move again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, inspect, select, table
from sqlalchemy.orm import Session

from ledger.commands import Outcome
from ledger.core.errors import IdempotencyConflictError
from ledger.core.models import LedgerHead
from ledger.core.service import Ledger

Act = Callable[[Session, str], Outcome[Any]]


def footprint(ledger: Ledger) -> dict[str, object]:
    """The number of rows of every table and the journal head (sequence and hash):
    what any insert or posting would change."""
    names = sorted(inspect(ledger.engine).get_table_names())

    def read(session: Session) -> dict[str, object]:
        counts: dict[str, object] = {
            name: int(session.scalar(select(func.count()).select_from(table(name))) or 0)
            for name in names
            if name != "alembic_version"
        }
        head = session.execute(select(LedgerHead.last_sequence, LedgerHead.last_hash)).one()
        counts["journal head"] = tuple(head)
        return counts

    return ledger.read(read)


def _identity(value: Any) -> Any:
    for name in ("id", "sequence", "entry_id"):
        if hasattr(value, name):
            return getattr(value, name)
    return value


def assert_once(
    ledger: Ledger,
    act: Act,
    conflicting: Act | None,
    *,
    key: str = "request-1",
) -> Outcome[Any]:
    """Run `act` twice and `conflicting` once under one key; return the first outcome."""
    first = ledger.run(lambda s: act(s, key))
    assert first.created is True
    after_first = footprint(ledger)
    second = ledger.run(lambda s: act(s, key))
    assert second.created is False
    assert _identity(second.value) == _identity(first.value)
    assert footprint(ledger) == after_first
    if conflicting is not None:
        with pytest.raises(IdempotencyConflictError):
            ledger.run(lambda s: conflicting(s, key))
        assert footprint(ledger) == after_first
    return first
