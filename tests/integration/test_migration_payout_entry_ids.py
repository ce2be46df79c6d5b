"""Migration 0032_payout_entry_ids on a book that holds a recorded Stripe payout: the
payout names its entry by id after the upgrade, by number after a downgrade, the same
entry both ways; a payout naming no entry stops the upgrade."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ledger.core.clock import FixedClock
from ledger.core.migrate import downgrade, upgrade
from ledger.core.service import Ledger
from ledger.payments.stripe_gateway import PayoutState
from ledger.reconcile.commands import sync_payout
from tests.integration.test_campaign_commands import TREASURER


def _paid_out(db_url: str, clock: FixedClock) -> dict[str, int]:
    """A payout recorded paid (its transactions unknown to the books: reported, booked);
    the journal's numbers by entry id."""
    ledger = Ledger.from_url(db_url, clock=clock)
    payout = PayoutState("po_migration", 5_000, "EUR", "paid", None, automatic=True)
    ledger.run(lambda s: sync_payout(s, payout, [], origin=TREASURER, clock=clock))
    with ledger.engine.connect() as connection:
        numbers = dict(connection.execute(text("SELECT id, sequence FROM journal_entries")).all())
    ledger.engine.dispose()
    return numbers


def _column(db_url: str, column: str) -> object:
    ledger = Ledger.from_url(db_url)
    try:
        with ledger.engine.connect() as connection:
            return connection.execute(text(f"SELECT {column} FROM stripe_payouts")).scalar_one()
    finally:
        ledger.engine.dispose()


def test_a_payout_keeps_its_entry_down_and_up(db_url: str, clock: FixedClock) -> None:
    numbers = _paid_out(db_url, clock)
    entry_id = _column(db_url, "entry_id")
    assert entry_id in numbers

    downgrade(db_url, "0031_booked_entry_ids")
    assert _column(db_url, "entry_sequence") == numbers[str(entry_id)]

    upgrade(db_url)
    assert _column(db_url, "entry_id") == entry_id


def test_a_payout_naming_no_entry_stops_the_migration(db_url: str, clock: FixedClock) -> None:
    _paid_out(db_url, clock)
    downgrade(db_url, "0031_booked_entry_ids")
    ledger = Ledger.from_url(db_url)
    with ledger.engine.begin() as connection:
        connection.execute(text("UPDATE stripe_payouts SET entry_sequence = 999999"))
    ledger.engine.dispose()
    with pytest.raises(RuntimeError, match="stripe_payouts rows"):
        upgrade(db_url)
    assert _column(db_url, "entry_sequence") == 999999
