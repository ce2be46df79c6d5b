"""The unit of work retries contention, not genuine conflicts."""

from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError

from ledger.core.models import Account
from ledger.core.uow import run_in_transaction


def test_a_genuine_unique_violation_is_raised_as_itself_after_at_most_two_retries(ledger, backend):
    ledger.create_account("assets:bank", "asset")
    attempts = 0

    def duplicate(session):
        nonlocal attempts
        attempts += 1
        session.add(
            Account(
                code="assets:bank",
                name=None,
                type="asset",
                currency="EUR",
                no_overdraft=False,
                created_at=datetime(2026, 6, 1, tzinfo=UTC),
            )
        )
        session.flush()

    with pytest.raises(IntegrityError):
        run_in_transaction(ledger.sessions, duplicate)
    # SQLite serialises writers, so a unique violation there is never a lost race.
    assert attempts == (3 if backend == "postgresql" else 1)
    assert [a.code for a in ledger.accounts()] == ["assets:bank"]
