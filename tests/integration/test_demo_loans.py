"""The demo revolving fund: seeded through the fund services, idempotent, PAR30 not zero,
and its statement agrees with the engine."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import func, select

from ledger.core.clock import FixedClock
from ledger.core.models import JournalEntry
from ledger.core.service import Ledger
from ledger.funds import lending
from ledger.funds import service as funds
from ledger.funds.accounts import FundAccounts
from ledger.funds.demo_loans import DEMO_FUND_NAME, load_demo_loans
from ledger.funds.models import Fund
from ledger.statements.funds import fund_statement


def test_the_demo_fund_lends_collects_and_shows_a_late_loan_and_a_second_run_changes_nothing(
    ledger: Ledger,
) -> None:
    clock = FixedClock(datetime(2026, 11, 20, 10, tzinfo=UTC))
    assert ledger.run(lambda s: load_demo_loans(s, clock)) == 1
    entries = ledger.read(lambda s: s.scalar(select(func.count(JournalEntry.id))))
    # A day later the same run finds everything and writes nothing.
    clock.instant = datetime(2026, 11, 21, 10, tzinfo=UTC)
    assert ledger.run(lambda s: load_demo_loans(s, clock)) == 0
    assert ledger.read(lambda s: s.scalar(select(func.count(JournalEntry.id)))) == entries

    def read(session):  # type: ignore[no-untyped-def]
        fund = session.scalars(select(Fund).where(Fund.name == DEMO_FUND_NAME)).one()
        loans = lending.list_loans(session, fund_id=fund.id)
        return (
            fund.id,
            [loan.status for loan in loans],
            funds.fund_position(session, fund.id, on=date(2026, 11, 21)),
            fund_statement(session, fund.id, date(2026, 1, 1), date(2026, 11, 21)),
        )

    fund_id, statuses, position, statement = ledger.read(read)
    assert statuses == ["disbursed", "disbursed", "repaid"]
    # Loan B (0 %, 3,000.00) paid 500.00 and stopped in July: 2,500.00 at risk.
    assert position.at_risk_minor == 250_000
    assert position.loans_at_risk == 1
    assert position.par30 > 0
    a = FundAccounts(fund_id)
    assert position.loans_outstanding_minor == ledger.balance(a.loans_receivable).posted
    assert position.cash_minor == ledger.balance(a.cash).posted
    assert statement.closing_cash_minor == ledger.balance(a.cash).posted
    assert statement.money_in_by_source == {"donation": 250_000, "foundation_grant": 3_000_000}
    assert statement.loans_disbursed_minor == 1_000_000
    assert statement.repaid_interest_minor == ledger.balance(a.interest).posted
    assert ledger.verify().ok
