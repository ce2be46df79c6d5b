"""Migration 0031_booked_entry_ids on a book that holds booked bank lines: a "booked"
allocation names its entry by id after the upgrade, by number after a downgrade, the
same entry both ways; allocations stay append-only; one naming no entry stops it."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from ledger.core.clock import FixedClock
from ledger.core.migrate import downgrade, upgrade
from ledger.core.service import Ledger
from ledger.reconcile.commands import book_line
from ledger.reconcile.parsed import ParsedLine
from tests.integration.test_bank_matching import _bank, _import
from tests.integration.test_campaign_commands import TREASURER

ROWS = "SELECT id, kind, record_id FROM bank_allocations ORDER BY id"


def _booked_book(db_url: str, clock: FixedClock) -> dict[int, str]:
    """Two lines booked from the bank; their entries' numbers by entry id."""
    ledger = Ledger.from_url(db_url, clock=clock)
    _bank(ledger)
    ledger.create_account("expenses:bank_fees", "expense")
    lines = _import(
        ledger,
        [
            ParsedLine(date(2026, 6, 12), -250, "COMMISSIONI", "b1"),
            ParsedLine(date(2026, 6, 13), -300, "COMMISSIONI", "b2"),
        ],
    )
    for line in lines:
        ledger.run(
            lambda s, line=line: book_line(
                s, line, "expenses:bank_fees", "Commissioni", origin=TREASURER, clock=clock
            )
        )
    with ledger.engine.connect() as connection:
        numbers = dict(connection.execute(text("SELECT id, sequence FROM journal_entries")).all())
    ledger.engine.dispose()
    return numbers


def _rows(db_url: str) -> list[tuple[int, str, str]]:
    ledger = Ledger.from_url(db_url)
    try:
        with ledger.engine.connect() as connection:
            return [(r.id, r.kind, r.record_id) for r in connection.execute(text(ROWS))]
    finally:
        ledger.engine.dispose()


def _execute(db_url: str, sql: str) -> None:
    ledger = Ledger.from_url(db_url)
    try:
        with ledger.engine.begin() as connection:
            connection.execute(text(sql))
    finally:
        ledger.engine.dispose()


def test_booked_allocations_keep_their_entry_down_and_up(db_url: str, clock: FixedClock) -> None:
    numbers = _booked_book(db_url, clock)
    by_id = _rows(db_url)
    assert [kind for _id, kind, _record in by_id] == ["booked", "booked"]
    assert all(record in numbers for _id, _kind, record in by_id)

    downgrade(db_url, "0030_loan_entry_ids")
    assert _rows(db_url) == [(row, kind, str(numbers[record])) for row, kind, record in by_id]
    with pytest.raises(DatabaseError):
        _execute(db_url, "UPDATE bank_allocations SET record_id = '1'")

    upgrade(db_url)
    assert _rows(db_url) == by_id
    for sql in ("UPDATE bank_allocations SET record_id = '1'", "DELETE FROM bank_allocations"):
        with pytest.raises(DatabaseError):
            _execute(db_url, sql)


def test_a_booked_allocation_naming_no_entry_stops_the_migration(
    db_url: str, clock: FixedClock
) -> None:
    _booked_book(db_url, clock)
    downgrade(db_url, "0030_loan_entry_ids")
    # As an allocation written before the guards could be: its guard set aside for it.
    ledger = Ledger.from_url(db_url)
    with ledger.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            guard = "ALTER TABLE bank_allocations {} TRIGGER bank_allocations_append_only"
            connection.execute(text(guard.format("DISABLE")))
            connection.execute(text("UPDATE bank_allocations SET record_id = '999999'"))
            connection.execute(text(guard.format("ENABLE")))
        else:
            sql = connection.execute(
                text("SELECT sql FROM sqlite_master WHERE name = 'bank_allocations_no_update'")
            ).scalar_one()
            connection.execute(text("DROP TRIGGER bank_allocations_no_update"))
            connection.execute(text("UPDATE bank_allocations SET record_id = '999999'"))
            connection.execute(text(sql))
    ledger.engine.dispose()
    with pytest.raises(RuntimeError, match="bank_allocations rows"):
        upgrade(db_url)
    assert [record for _id, _kind, record in _rows(db_url)] == ["999999", "999999"]
