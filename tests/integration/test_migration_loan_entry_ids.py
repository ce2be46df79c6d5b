"""Migration 0030_loan_entry_ids on a book that holds loan rows: each row's entry is
named by id after the upgrade, by sequence after a downgrade, the same entry both
ways, and the rows stay append-only on either side."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from ledger.core.clock import FixedClock
from ledger.core.migrate import downgrade, upgrade
from ledger.core.service import Ledger
from ledger.funds import loan_commands
from tests.integration.test_fund_commands import TREASURER, fund_with_product, paid_out

ROWS = (
    "SELECT 'repayment', id, {column} FROM loan_repayments UNION ALL "
    "SELECT 'write_off', id, {column} FROM loan_write_offs UNION ALL "
    "SELECT 'recovery', id, {column} FROM loan_recoveries"
)


def _rows(db_url: str, column: str) -> set[tuple[str, int, object]]:
    ledger = Ledger.from_url(db_url)
    try:
        with ledger.engine.connect() as connection:
            return {tuple(r) for r in connection.execute(text(ROWS.format(column=column)))}
    finally:
        ledger.engine.dispose()


def _refused(db_url: str, sql: str) -> None:
    ledger = Ledger.from_url(db_url)
    try:
        with pytest.raises(DatabaseError), ledger.engine.begin() as connection:
            connection.execute(text(sql))
    finally:
        ledger.engine.dispose()


def _repay(ledger: Ledger, loan_id: int, clock: FixedClock) -> None:
    clock.instant = datetime(2026, 7, 20, 9, tzinfo=UTC)
    ledger.run(
        lambda s: loan_commands.record_repayment(
            s,
            loan_id,
            40_000,
            received_on=date(2026, 7, 20),
            origin=TREASURER,
            clock=clock,
            key="r",
        )
    )


def test_loan_rows_keep_their_entry_down_and_up(db_url: str, clock: FixedClock) -> None:
    ledger = Ledger.from_url(db_url, clock=clock)
    fund_id, product_id = fund_with_product(ledger)
    repaid = paid_out(ledger, fund_id, product_id)
    lost = paid_out(ledger, fund_id, product_id, principal=150_000)
    _repay(ledger, repaid, clock)
    ledger.run(
        lambda s: loan_commands.write_off_loan(s, lost, origin=TREASURER, clock=clock, key="w")
    )
    ledger.run(
        lambda s: loan_commands.record_recovery(
            s, lost, 10_000, received_on=date(2026, 7, 20), origin=TREASURER, clock=clock, key="c"
        )
    )
    with ledger.engine.connect() as connection:
        numbers = dict(connection.execute(text("SELECT id, sequence FROM journal_entries")).all())
    ledger.engine.dispose()
    by_id = _rows(db_url, "entry_id")
    assert {kind for kind, _id, _entry in by_id} == {"repayment", "write_off", "recovery"}
    assert all(entry in numbers for _kind, _id, entry in by_id)

    downgrade(db_url, "0029_kept_whole")
    assert _rows(db_url, "entry_sequence") == {
        (kind, row, numbers[entry]) for kind, row, entry in by_id
    }
    _refused(db_url, "UPDATE loan_repayments SET entry_sequence = NULL")
    _refused(db_url, "UPDATE loan_write_offs SET principal_minor = 1")

    upgrade(db_url)
    assert _rows(db_url, "entry_id") == by_id
    _refused(db_url, "UPDATE loan_repayments SET entry_id = NULL")
    _refused(db_url, "DELETE FROM loan_write_offs")


def test_a_row_naming_no_entry_stops_the_migration(db_url: str, clock: FixedClock) -> None:
    """A booked row whose sequence names no entry would come out of the upgrade with no
    link and no guard: the upgrade stops, naming it, and leaves the schema as it was."""
    ledger = Ledger.from_url(db_url, clock=clock)
    fund_id, product_id = fund_with_product(ledger)
    loan_id = paid_out(ledger, fund_id, product_id)
    _repay(ledger, loan_id, clock)
    ledger.engine.dispose()
    downgrade(db_url, "0029_kept_whole")
    ledger = Ledger.from_url(db_url)
    # As a row booked before the guards were written could be: its trigger set aside.
    with ledger.engine.begin() as connection:
        postgresql = connection.dialect.name == "postgresql"
        guard = "loan_repayments_append_only" if postgresql else "loan_repayments_set_once"
        off = f"ALTER TABLE loan_repayments DISABLE TRIGGER {guard}" if postgresql else ""
        if off:
            connection.execute(text(off))
            connection.execute(text("UPDATE loan_repayments SET entry_sequence = 999999"))
            connection.execute(text(f"ALTER TABLE loan_repayments ENABLE TRIGGER {guard}"))
        else:
            sql = connection.execute(
                text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": guard}
            ).scalar_one()
            connection.execute(text(f"DROP TRIGGER {guard}"))
            connection.execute(text("UPDATE loan_repayments SET entry_sequence = 999999"))
            connection.execute(text(sql))
    ledger.engine.dispose()
    with pytest.raises(RuntimeError, match="loan_repayments rows"):
        upgrade(db_url)
    assert _rows(db_url, "entry_sequence") == {("repayment", 1, 999999)}
