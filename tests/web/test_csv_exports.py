"""Every CSV the product writes, opened in a spreadsheet, runs no formula that someone typed.

A spreadsheet runs a cell whose text starts with = + - or @ (some also a
leading tab or carriage return, and the full-width forms) as a formula:
`=HYPERLINK(...)` becomes a link that leaks data, `-2+3+cmd|...` asks to run a
program. The attack: every text a person chooses (a donor's name, a campaign's
title, a foundation's, a commitment's, a fund's and a loan product's names, a
journal narration, a borrower's name) is set to one such payload, and every CSV
export is run over the books: the foundation officer's grant statement, the
fund and loan statements, the journal export and the trial balance of the CLI,
and the donor's own gifts. No cell may start with a dangerous character; the
payloads must be there, escaped with a leading apostrophe; and the amounts the
code writes (a credit "-12.50") stay numbers.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.campaigns.donations import record_offline_donation
from ledger.cli import cli
from ledger.core.clock import rome_today
from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.funds import lending
from ledger.funds import service as funds
from ledger.people.models import Person, User
from ledger.statements.funds import (
    fund_statement,
    fund_statement_csv,
    loan_statement,
    loan_statement_csv,
)
from ledger.statements.grants import build_grant_statement, grant_statement_csv
from tests.integration.grants_helpers import Books, eur
from tests.web.conftest import make_user, sign_in

PAYLOADS = [
    '=HYPERLINK("http://x","y")',
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1)",
    "+1",
    "\uff1d1+1",  # full-width equals sign
    "\t=1+1",
    "\r=1+1",
    "\uff0b1",  # full-width plus
    "\uff0dA1",  # full-width minus
    "\uff20SUM(1)",  # full-width commercial at
]
DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
# A plain decimal number ("-12.50"), which a spreadsheet reads as a number, never a formula.
NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
DONOR_EMAIL = "donatrice@example.org"


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def cells(text: str) -> list[str]:
    return [cell for row in rows_of(text) for cell in row]


def the_world(ledger: Ledger, payload: str) -> dict[str, Any]:
    """Books where every text a person chooses is `payload`: a campaign with a named
    donor under a foundation's commitment, a fund with a loan, a journal narration."""
    books = Books(ledger, title=payload, foundation_name=payload)
    books.commit(title=payload, ratio="1", pool_minor=eur("500.00"))
    named = books.person(payload)
    books.give("40.00", person=named)
    make_user(ledger, DONOR_EMAIL, ["donor"])
    clock = ledger.clock

    def donor_gift(session: Session) -> None:
        person_id = session.scalar(
            select(User.person_id).join(Person).where(Person.email == DONOR_EMAIL)
        )
        session.get(Person, person_id).full_name = payload  # type: ignore[union-attr]
        record_offline_donation(
            session,
            books.campaign_id,
            Money.parse("12.50", "EUR"),
            method="bank_transfer",
            person_id=person_id,
            anonymous=False,
            reference=payload,
            request_key="donor-gift",
            donated_on=None,
            actor="test",
            clock=clock,
        )

    ledger.run(donor_gift)

    def a_fund_and_a_loan(session: Session) -> tuple[int, int]:
        fund = funds.create_fund(session, name=payload, kind="revolving", clock=clock)
        funds.deposit(session, fund.id, 500_000, source="donation", key="in", clock=clock)
        product = lending.create_loan_product(
            session,
            fund_id=fund.id,
            name=payload,
            min_amount_minor=50_000,
            max_amount_minor=500_000,
            annual_rate="0.06",
            method="declining_equal_instalments",
            min_term_months=3,
            max_term_months=12,
            clock=clock,
        )
        borrower = Person(full_name=payload, email="mutuataria@example.org", created_at=clock.now())
        session.add(borrower)
        session.flush()
        loan = lending.open_loan(
            session,
            fund_id=fund.id,
            product_id=product.id,
            borrower_person_id=borrower.id,
            principal_minor=120_000,
            term_months=6,
            first_due_on=date(2026, 7, 15),
            hold_id=None,
            key="loan",
            clock=clock,
        )
        lending.disburse_loan(session, loan.id, clock=clock, disbursed_on=date(2026, 6, 15))
        return fund.id, loan.id

    fund_id, loan_id = ledger.run(a_fund_and_a_loan)
    ledger.create_account("asset:cassa", "asset")
    ledger.create_account("income:varie", "income")
    ledger.post(
        EntrySpec(
            idempotency_key="narrated",
            kind="adjustment",
            narration=payload,
            postings=[
                PostingSpec("asset:cassa", Money.parse("12.50", "EUR")),
                PostingSpec("income:varie", Money.parse("-12.50", "EUR")),
            ],
        )
    )
    return {
        "books": books,
        "fund_id": fund_id,
        "loan_id": loan_id,
        "borrower": payload,
    }


def every_csv_export(
    ledger: Ledger, db_url: str, client: FlaskClient, world: dict[str, Any]
) -> dict[str, str]:
    """Each CSV the product writes, by the name of the export, as its text."""
    today = rome_today(ledger.clock)
    year = (date(2026, 1, 1), date(2026, 12, 31))
    books: Books = world["books"]
    exports: dict[str, Callable[[], str]] = {
        "grant statement": lambda: ledger.read(
            lambda s: grant_statement_csv(
                build_grant_statement(s, books.foundation_id, *year, today=today)
            )
        ),
        "fund statement": lambda: ledger.read(
            lambda s: fund_statement_csv(fund_statement(s, world["fund_id"], *year))
        ),
        "loan statement": lambda: ledger.read(
            lambda s: loan_statement_csv(
                loan_statement(s, world["loan_id"], on=today, borrower_label=world["borrower"])
            )
        ),
        "journal export (ledger export --format csv)": lambda: cli_output(
            db_url, "export", "--format", "csv"
        ),
        "trial balance (ledger trial-balance --format csv)": lambda: cli_output(
            db_url, "trial-balance", "--format", "csv"
        ),
        "the donor's own gifts (/account/donazioni.csv)": lambda: donor_csv(client),
    }
    return {name: export() for name, export in exports.items()}


def cli_output(db_url: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--database", db_url, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def donor_csv(client: FlaskClient) -> str:
    assert sign_in(client, DONOR_EMAIL).status_code == 302
    response = client.get("/account/donazioni.csv")
    assert response.status_code == 200
    return response.get_data(as_text=True)


# Exports whose cells begin with text a person chose; the fund statement carries the
# fund's name inside a cell ("Fondo 1: ..."); the loan statement and the trial balance
# carry only the code's own words and account codes, and are checked all the same.
NAME_FIRST = (
    "grant statement",
    "journal export (ledger export --format csv)",
    "the donor's own gifts (/account/donazioni.csv)",
)


@pytest.mark.parametrize("payload", PAYLOADS, ids=repr)
def test_no_csv_export_writes_a_cell_a_spreadsheet_would_run_as_a_formula(
    ledger: Ledger, db_url: str, client: FlaskClient, payload: str
) -> None:
    world = the_world(ledger, payload)
    exports = every_csv_export(ledger, db_url, client, world)
    dangerous = {
        name: [c for c in cells(text) if c.startswith(DANGEROUS) and not NUMBER.fullmatch(c)]
        for name, text in exports.items()
    }
    assert dangerous == {name: [] for name in exports}
    for name in NAME_FIRST:
        # The payload is there, whole, behind the apostrophe that makes it text (a
        # campaign or a fund is named stripped of surrounding whitespace).
        escaped = {"'" + payload, "'" + payload.strip()}
        assert any(c in escaped for c in cells(exports[name])), name
    assert any(payload.strip() in c for c in cells(exports["fund statement"]))


def test_the_amounts_the_code_writes_stay_numbers_a_credit_keeps_its_minus_sign(
    ledger: Ledger, db_url: str, client: FlaskClient
) -> None:
    world = the_world(ledger, "=1+1")
    exports = every_csv_export(ledger, db_url, client, world)
    journal = rows_of(exports["journal export (ledger export --format csv)"])
    header = journal[0]
    amounts = [row[header.index("amount")] for row in journal[1:]]
    assert "-12.50" in amounts and "12.50" in amounts
    assert not any(a.startswith("'") for a in amounts)
    trial = rows_of(exports["trial balance (ledger trial-balance --format csv)"])
    assert ["income:varie", "income", "EUR", "0.00", "12.50"] in trial
    donor = list(
        csv.DictReader(io.StringIO(exports["the donor's own gifts (/account/donazioni.csv)"]))
    )
    assert [(d["amount"], d["campaign"]) for d in donor] == [("12.50", "'=1+1")]


def test_no_module_writes_csv_except_through_the_one_cell_escaping_writer() -> None:
    root = Path(__file__).resolve().parents[2]
    writers = [
        f"{path.relative_to(root)}"
        for folder in ("ledger", "web")
        for path in sorted((root / folder).rglob("*.py"))
        if path.name != "csv_cells.py"
        and any(
            marker in path.read_text(encoding="utf-8")
            for marker in ("csv.writer(", "csv.DictWriter(", "from csv import")
        )
    ]
    assert writers == []
