"""Migration 0026_engine_trigger on a book that already has a closed month: the head
gets the lock date of the months closed before it, and the book still verifies after
a downgrade and an upgrade."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import text

from ledger.core.clock import FixedClock
from ledger.core.errors import ClosedPeriodError
from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.migrate import downgrade, upgrade
from ledger.core.money import Money
from ledger.core.service import Ledger


def _entry(key: str, day: date) -> EntrySpec:
    return EntrySpec(
        key,
        "donation",
        [
            PostingSpec("assets:cash", Money(500, "EUR")),
            PostingSpec("income:gifts", Money(-500, "EUR")),
        ],
        effective_on=day,
    )


def test_a_month_closed_before_the_migration_stays_closed_after_it(
    db_url: str, clock: FixedClock
) -> None:
    ledger = Ledger.from_url(db_url, clock=clock)
    ledger.create_account("assets:cash", "asset")
    ledger.create_account("income:gifts", "income")
    ledger.post(_entry("may", date(2026, 5, 10)))
    clock.instant += timedelta(minutes=1)  # type: ignore[attr-defined]
    ledger.close_period("2026-05")
    ledger.engine.dispose()

    downgrade(db_url, "0025_crowd_totals")
    upgrade(db_url)

    ledger = Ledger.from_url(db_url, clock=clock)
    with ledger.engine.connect() as connection:
        lock_date = connection.execute(text("SELECT locked_through FROM ledger_heads")).scalar()
    assert str(lock_date)[:10] == "2026-05-31"
    with pytest.raises(ClosedPeriodError):
        ledger.post(_entry("late", date(2026, 5, 31)))
    ledger.post(_entry("june", date(2026, 6, 1)))
    assert ledger.verify().ok
    ledger.engine.dispose()
