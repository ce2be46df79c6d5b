"""Migration 0013_transfer_references on a database that already holds loans: each loan
gets its reference (RF + check digits + L<id>), the same the code gives a new loan."""

from __future__ import annotations

from sqlalchemy import text
from stdnum import iso11649

from ledger.core.clock import FixedClock
from ledger.core.migrate import downgrade, upgrade
from ledger.core.service import Ledger
from ledger.payments.references import creditor_reference
from tests.integration.test_fund_commands import fund_with_product, granted


def test_loans_made_before_the_migration_get_their_reference(
    db_url: str, clock: FixedClock
) -> None:
    ledger = Ledger.from_url(db_url, clock=clock)
    fund_id, product_id = fund_with_product(ledger)
    loans = [granted(ledger, fund_id, product_id, principal=100_000 + i) for i in range(2)]
    ledger.engine.dispose()

    downgrade(db_url, "0012_reconcile")
    upgrade(db_url)

    ledger = Ledger.from_url(db_url, clock=clock)
    with ledger.engine.connect() as connection:
        rows = dict(
            connection.execute(text("SELECT id, transfer_reference FROM loans ORDER BY id")).all()
        )
    ledger.engine.dispose()
    assert rows == {loan_id: creditor_reference("L", loan_id) for loan_id in loans}
    assert all(iso11649.is_valid(reference) for reference in rows.values())
