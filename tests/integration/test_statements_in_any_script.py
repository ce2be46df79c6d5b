"""Names in any script on the fund, loan and grant statements, PDF and CSV.

One donor who consented to be named "Иван Петров" used to make the
foundation's whole statement fail (PDF and CSV), because the PDF's built-in
fonts only cover Windows-1252 and their limits were applied to the data both
formats share. Here a foundation, its commitment, a campaign, a named donor, a
fund, a loan product and a borrower all carry a Cyrillic, an Arabic, a Chinese
or an accented Italian name: every statement is produced, the text pypdf
extracts from its PDF holds the name, the CSV holds it unchanged, equal data
still renders equal bytes, and the PDF uses only the fonts the package ships.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy.orm import Session

from ledger.core.clock import rome_today
from ledger.core.service import Ledger
from ledger.funds import lending
from ledger.funds import service as funds
from ledger.people.models import Person
from ledger.statements.funds import (
    fund_statement,
    fund_statement_csv,
    loan_statement,
    loan_statement_csv,
    render_fund_statement_pdf,
    render_loan_statement_pdf,
)
from ledger.statements.grants import build_grant_statement, grant_statement_csv
from ledger.statements.grants_pdf import render_grant_statement_pdf
from tests.integration.grants_helpers import Books, eur

NAMES = ["Иван Петров", "محمد علي", "王小明", "Niccolò Zoë Dell'Acqua"]
YEAR = (date(2026, 1, 1), date(2026, 12, 31))


def pdf_text(pdf: bytes) -> str:
    """The PDF's text as pypdf extracts it, whitespace collapsed."""
    pages = PdfReader(io.BytesIO(pdf)).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


def fonts_of(pdf: bytes) -> set[str]:
    """The fonts a PDF's pages use, without the subset prefix ("AAAAAA+")."""
    return {
        str(font.get_object()["/BaseFont"]).split("+")[-1]
        for page in PdfReader(io.BytesIO(pdf)).pages
        for font in page["/Resources"]["/Font"].values()
    }


SHIPPED = {"DejaVuSans", "DejaVuSans-Bold", "DroidSansFallback"}


def csv_cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def a_fund_with_a_loan(ledger: Ledger, name: str) -> tuple[int, int]:
    clock = ledger.clock

    def work(session: Session) -> tuple[int, int]:
        fund = funds.create_fund(session, name=f"Fondo {name}", kind="revolving", clock=clock)
        funds.deposit(session, fund.id, 500_000, source="donation", key="in", clock=clock)
        product = lending.create_loan_product(
            session,
            fund_id=fund.id,
            name=f"Microcredito {name}",
            min_amount_minor=50_000,
            max_amount_minor=500_000,
            annual_rate="0.06",
            method="declining_equal_instalments",
            min_term_months=3,
            max_term_months=12,
            clock=clock,
        )
        borrower = Person(full_name=name, email="mutuatario@example.org", created_at=clock.now())
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

    return ledger.run(work)


@pytest.mark.parametrize("name", NAMES)
def test_a_fund_statement_prints_the_fund_s_name_in_any_script_in_pdf_and_csv(
    ledger: Ledger, name: str
) -> None:
    fund_id, _ = a_fund_with_a_loan(ledger, name)

    def read(session: Session) -> tuple[bytes, bytes, str]:
        statement = fund_statement(session, fund_id, *YEAR)
        return (
            render_fund_statement_pdf(statement),
            render_fund_statement_pdf(fund_statement(session, fund_id, *YEAR)),
            fund_statement_csv(statement),
        )

    pdf, again, table = ledger.read(read)
    assert f"Rendiconto del fondo {fund_id}: Fondo {name}" in pdf_text(pdf)
    assert pdf == again
    assert fonts_of(pdf) <= SHIPPED
    assert f"Fondo {fund_id}: Fondo {name}" in csv_cells(table)


@pytest.mark.parametrize("name", NAMES)
def test_a_loan_statement_prints_the_borrower_fund_and_product_in_any_script(
    ledger: Ledger, name: str
) -> None:
    _, loan_id = a_fund_with_a_loan(ledger, name)
    today = rome_today(ledger.clock)

    def read(session: Session) -> tuple[bytes, bytes, str]:
        def copy() -> Any:
            return loan_statement(session, loan_id, on=today, borrower_label=name)

        return (
            render_loan_statement_pdf(copy()),
            render_loan_statement_pdf(copy()),
            loan_statement_csv(copy()),
        )

    pdf, again, table = ledger.read(read)
    text = pdf_text(pdf)
    assert f"Beneficiario {name}" in text
    assert f"Fondo Fondo {name}" in text
    assert f"Prodotto Microcredito {name}" in text
    assert pdf == again
    assert fonts_of(pdf) <= SHIPPED
    # The loan's CSV carries figures only (no names); it is produced all the same.
    assert table.startswith("sezione,numero,data,")


@pytest.mark.parametrize("name", NAMES)
def test_a_grant_statement_prints_foundation_commitment_campaign_and_donor_in_any_script(
    ledger: Ledger, name: str
) -> None:
    books = Books(ledger, title=f"Orto {name}", foundation_name=f"Fondazione {name}")
    books.commit(title=f"Raddoppio {name}", ratio="1", pool_minor=eur("500.00"))
    books.give("40.00", person=books.person(name))
    books.give("10.00", person=books.person("Maria Rossi"))
    today = rome_today(ledger.clock)

    def read(session: Session) -> tuple[bytes, bytes, str]:
        def statement() -> Any:
            return build_grant_statement(session, books.foundation_id, *YEAR, today=today)

        return (
            render_grant_statement_pdf(statement()),
            render_grant_statement_pdf(statement()),
            grant_statement_csv(statement()),
        )

    pdf, again, table = ledger.read(read)
    text = pdf_text(pdf)
    for shown in (
        f"Fondazione: Fondazione {name}",
        f"Impegno n. 1: Raddoppio {name}",
        f"Campagna n. {books.campaign_id}: Orto {name}",
        "Maria Rossi (1 donazione)",
    ):
        assert shown in text, shown
    # The three headings, the named donor's line (pypdf moves "(1 donazione)" around
    # an Arabic name) and the footer of every page.
    assert text.count(name) == 4 + len(PdfReader(io.BytesIO(pdf)).pages)
    assert pdf == again
    assert fonts_of(pdf) <= SHIPPED
    rows = list(csv.DictReader(io.StringIO(table)))
    details = {(r["sezione"], r["voce"]): r["dettaglio"] for r in rows}
    assert details[("rendiconto", "fondazione")] == f"Fondazione {name}"
    assert details[("impegno", "titolo")] == f"Raddoppio {name}"
    assert details[("campagna", "titolo")] == f"Orto {name}"
    donors = [(r["dettaglio"], r["importo"]) for r in rows if r["sezione"] == "donatore"]
    assert sorted(donors) == sorted([(name, "40.00"), ("Maria Rossi", "10.00")])
