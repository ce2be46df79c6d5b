"""A revolving fund's books over a year, and the statements that must agree with them.

Money comes in from a foundation and from donations; a grant is paid; three
microloans are disbursed; one is repaid on time, one late (so PAR30 is not
zero), one is written off and partly recovered; repaid principal is lent again.
Every account of the fund is asserted after the year, the fund statement's
figures are compared with the engine's balances, and the PDF's extracted text
(pypdf) must show those same figures. Last, beancount replays the journal's
export (bean-check must accept it) and must agree on every fund account.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from beancount.core import data
from pypdf import PdfReader
from sqlalchemy.orm import Session

from ledger.core.accounts import normal_sign
from ledger.core.clock import FixedClock
from ledger.core.money import format_it
from ledger.core.service import Ledger
from ledger.funds import lending
from ledger.funds import service as funds
from ledger.funds.accounts import FundAccounts
from ledger.people.models import Person
from ledger.statements.funds import (
    fund_statement,
    fund_statement_csv,
    loan_statement,
    loan_statement_csv,
    render_fund_statement_pdf,
    render_loan_statement_pdf,
)
from tests.integration.test_beancount_oracle import bean_check, beancount_balances, export


def on(ledger: Ledger, day: date) -> None:
    assert isinstance(ledger.clock, FixedClock)
    ledger.clock.instant = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def pdf_text(data: bytes) -> str:
    """The PDF's text as pypdf extracts it, whitespace collapsed (a table cell ends a line)."""
    pages = PdfReader(io.BytesIO(data)).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


def test_a_revolving_fund_lends_collects_reports_par30_and_its_statement_agrees_with_the_books(
    ledger: Ledger, tmp_path: Path
) -> None:
    on(ledger, date(2026, 1, 10))
    clock = ledger.clock

    def setup(session: Session) -> tuple[int, int, list[int]]:
        fund = funds.create_fund(
            session, name="Fondo rotativo #genera_azioni", kind="revolving", clock=clock
        )
        funds.deposit(
            session,
            fund.id,
            2_000_000,
            source="foundation_grant",
            key="fc-1",
            clock=clock,
            effective_on=date(2026, 1, 5),
        )
        funds.deposit(
            session,
            fund.id,
            150_000,
            source="donation",
            key="camp-1",
            clock=clock,
            effective_on=date(2026, 1, 8),
        )
        product = lending.create_loan_product(
            session,
            fund_id=fund.id,
            name="Microcredito 6%",
            min_amount_minor=100_000,
            max_amount_minor=1_000_000,
            annual_rate=Decimal("0.06"),
            method="declining_equal_instalments",
            min_term_months=6,
            max_term_months=24,
            clock=clock,
        )
        people = []
        for n in range(3):
            person = Person(
                full_name=f"Beneficiaria {n}", email=f"b{n}@example.org", created_at=clock.now()
            )
            session.add(person)
            session.flush()
            people.append(person.id)
        loans = []
        for n, (person, principal) in enumerate(
            zip(people, (500_000, 600_000, 300_000), strict=True)
        ):
            loan = lending.open_loan(
                session,
                fund_id=fund.id,
                product_id=product.id,
                borrower_person_id=person,
                principal_minor=principal,
                term_months=12,
                first_due_on=date(2026, 2, 10),
                key=f"loan-{n}",
                clock=clock,
            )
            lending.disburse_loan(session, loan.id, clock=clock, disbursed_on=date(2026, 1, 10))
            loans.append(loan.id)
        return fund.id, product.id, loans

    fund_id, product_id, (on_time, late, lost) = ledger.run(setup)

    # A grant of 400.00, reserved and paid in February.
    on(ledger, date(2026, 2, 1))
    hold = ledger.run(
        lambda s: funds.reserve(s, fund_id, 40_000, key="award-1", clock=clock, purpose="grant")
    )
    ledger.run(
        lambda s: funds.pay_grant(s, fund_id, 40_000, hold_id=hold, key="award-1-t1", clock=clock)
    )

    # Loan 1 (5,000.00): the worked figures, 430.33 a month, paid on time for six months.
    for month in range(2, 8):
        day = date(2026, month, 10)
        on(ledger, day)
        ledger.run(
            lambda s, d=day: lending.record_repayment(
                s, on_time, 43_033, received_on=d, key=f"m{d.month}", clock=clock
            )
        )
    # Loan 2 (6,000.00, instalment 516.40): three paid, then silence.
    for month in (2, 3, 4):
        day = date(2026, month, 12)
        on(ledger, day)
        ledger.run(
            lambda s, d=day: lending.record_repayment(
                s, late, 51_640, received_on=d, key=f"m{d.month}", clock=clock
            )
        )
    # Loan 3 (3,000.00): nothing paid; written off in June, 500.00 recovered in July.
    on(ledger, date(2026, 6, 30))
    ledger.run(lambda s: funds.provide_for_losses(s, fund_id, 100_000, key="2026-06", clock=clock))
    ledger.run(lambda s: lending.write_off_loan(s, lost, key="wo", clock=clock))
    on(ledger, date(2026, 7, 20))
    ledger.run(
        lambda s: lending.record_recovery(
            s, lost, 50_000, received_on=date(2026, 7, 20), key="r1", clock=clock
        )
    )

    # Every account of the fund, by hand:
    # cash = 20,000 + 1,500 - 400 - 14,000 + 6 x 430.33 + 3 x 516.40 + 500 = 11,731.18
    a = FundAccounts(fund_id)
    # Loan 1: interest on the balance at 0.5% a month, half-even (4,594.67 x 0.5% = 22.97...)
    interest_1 = 2_500 + 2_297 + 2_094 + 1_889 + 1_683 + 1_476
    interest_2 = 3_000 + 2_757 + 2_512  # loan 2, months 1-3
    principal_1 = 6 * 43_033 - interest_1
    principal_2 = 3 * 51_640 - interest_2
    expected = {
        a.cash: 2_150_000 - 40_000 - 1_400_000 + 6 * 43_033 + 3 * 51_640 + 50_000,
        a.capital: 2_150_000,
        a.grants: 40_000,
        a.loans_receivable: 500_000 - principal_1 + 600_000 - principal_2,
        a.interest: interest_1 + interest_2,
        a.fees: 0,
        a.provision: 0,  # 1,000.00 provided, all used by the 3,000.00 write-off
        a.loan_losses: 300_000,
        a.recoveries: 50_000,
        a.overpayments: 0,
    }
    assert expected[a.cash] == 1_173_118
    assert {code: ledger.balance(code).posted for code in expected} == expected

    # On 31 July loan 2's May instalment is 82 days late: it is the whole risk.
    position = ledger.read(lambda s: funds.fund_position(s, fund_id, on=date(2026, 7, 31)))
    outstanding_2 = 600_000 - principal_2
    assert position.loans_outstanding_minor == expected[a.loans_receivable]
    assert (position.loans_active, position.loans_at_risk, position.at_risk_minor) == (
        2,
        1,
        outstanding_2,
    )
    assert position.par30 == Decimal(outstanding_2) / Decimal(expected[a.loans_receivable])
    assert position.available_minor == expected[a.cash]

    # Repaid principal lends again.
    on(ledger, date(2026, 8, 1))

    def relend(session: Session) -> int:
        person = Person(
            full_name="Nuova beneficiaria", email="n@example.org", created_at=clock.now()
        )
        session.add(person)
        session.flush()
        loan = lending.open_loan(
            session,
            fund_id=fund_id,
            product_id=product_id,
            borrower_person_id=person.id,
            principal_minor=1_000_000,
            term_months=12,
            first_due_on=date(2026, 9, 1),
            key="loan-again",
            clock=clock,
        )
        lending.disburse_loan(session, loan.id, clock=clock)
        return loan.id

    ledger.run(relend)
    assert ledger.balance(a.cash).posted == 173_118

    # The statement for January-July agrees with the engine, line by line.
    statement = ledger.read(
        lambda s: fund_statement(s, fund_id, date(2026, 1, 1), date(2026, 7, 31))
    )
    assert statement.opening_cash_minor == 0
    assert (
        statement.closing_cash_minor
        == ledger.balance(a.cash, as_of=date(2026, 7, 31)).posted
        == 1_173_118
    )
    assert statement.money_in_by_source == {"donation": 150_000, "foundation_grant": 2_000_000}
    assert statement.grants_paid_minor == ledger.balance(a.grants).posted
    assert statement.loans_disbursed_minor == 1_400_000
    assert statement.repaid_interest_minor == ledger.balance(a.interest).posted
    assert statement.repaid_principal_minor == principal_1 + principal_2
    assert statement.recovered_principal_minor == ledger.balance(a.recoveries).posted
    assert statement.written_off_principal_minor == 300_000
    assert statement.provisions_minor == 100_000
    assert statement.loans_outstanding_minor == expected[a.loans_receivable]
    assert statement.par30 == position.par30
    last = ledger.entry(statement.last_sequence or 0)
    assert (last.kind, last.hash) == ("recovery", statement.last_hash)

    text = pdf_text(render_fund_statement_pdf(statement))
    for figure in (
        f"Saldo iniziale del conto del fondo {format_it(0, 'EUR')}",
        f"Entrate: Contributi di fondazioni {format_it(2_000_000, 'EUR')}",
        f"Entrate: Donazioni {format_it(150_000, 'EUR')}",
        f"Contributi erogati {format_it(ledger.balance(a.grants).posted, 'EUR')}",
        f"Prestiti erogati {format_it(1_400_000, 'EUR')}",
        f"Rimborsi: quota capitale {format_it(principal_1 + principal_2, 'EUR')}",
        f"Rimborsi: interessi {format_it(ledger.balance(a.interest).posted, 'EUR')}",
        f"Recuperi su crediti stralciati {format_it(50_000, 'EUR')}",
        f"Saldo finale del conto del fondo {format_it(1_173_118, 'EUR')}",
        "Saldo finale del conto del fondo 11.731,18 EUR",
        f"Crediti stralciati: capitale {format_it(300_000, 'EUR')}",
        f"Prestiti in essere (capitale residuo) {format_it(expected[a.loans_receivable], 'EUR')}",
        f"PAR30 (portafoglio a rischio oltre 30 giorni) {statement.par30_percent}",
        f"Ultima registrazione coperta: n. {statement.last_sequence}",
        f"Hash: {statement.last_hash}",
    ):
        assert figure in text, figure

    rows = list(csv.DictReader(io.StringIO(fund_statement_csv(statement))))
    by_label = {row["voce"]: row["importo"] for row in rows}
    assert by_label["Saldo finale del conto del fondo"] == "11731.18"
    assert by_label["Totale entrate"] == "21500.00"

    # The borrower's statement: the schedule and every payment, as booked.
    def borrower_copy(session: Session) -> tuple[int, int, bytes, str]:
        copy = loan_statement(session, late, on=date(2026, 7, 31), borrower_label="Beneficiaria 1")
        return (
            copy.detail.days_past_due,
            copy.detail.outstanding_principal_minor,
            render_loan_statement_pdf(copy),
            loan_statement_csv(copy),
        )

    days_late, owed, loan_pdf, loan_csv = ledger.read(borrower_copy)
    assert (days_late, owed) == (82, outstanding_2)
    loan_text = pdf_text(loan_pdf)
    assert "Estratto conto del prestito n." in loan_text
    assert "Beneficiaria 1" in loan_text
    assert f"Capitale residuo {format_it(outstanding_2, 'EUR')}" in loan_text
    assert "Giorni di ritardo 82" in loan_text
    assert "516,40 EUR" in loan_text
    payments = [r for r in csv.reader(io.StringIO(loan_csv)) if r[0] == "pagamento"]
    assert [r[6] for r in payments] == ["516.40"] * 3
    assert ledger.verify().ok

    # The independent oracle: beancount replays the export and agrees on every fund account.
    path = tmp_path / "fund.beancount"
    export(ledger, path)
    checked = bean_check(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    theirs, entries = beancount_balances(path)
    opened = {e.meta["code"]: e.account for e in entries if isinstance(e, data.Open)}
    for code in a.codes():
        account = ledger.balance(code).account
        ours = normal_sign(account.type) * ledger.balance(code).posted
        units = theirs.get(opened[code], {}).get("EUR", Decimal(0)).scaleb(2)
        assert units == ours, code
