"""`ledger funds list` and `ledger funds statement`: the fund's position and statement
from the command line, with figures equal to the engine's."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from pypdf import PdfReader

from ledger.core.clock import FixedClock
from ledger.core.service import Ledger
from ledger.funds import service as funds
from ledger.funds.accounts import FundAccounts


def a_fund(db_url: str) -> int:
    clock = FixedClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
    ledger = Ledger.from_url(db_url, clock=clock)

    def work(session):  # type: ignore[no-untyped-def]
        fund = funds.create_fund(session, name="Fondo di prova", kind="microgrant", clock=clock)
        funds.deposit(session, fund.id, 950_000, source="foundation_grant", key="in", clock=clock)
        hold = funds.reserve(session, fund.id, 200_000, key="a1", clock=clock, purpose="grant")
        funds.pay_grant(session, fund.id, 120_000, hold_id=hold, key="t1", clock=clock)
        return fund.id

    try:
        return ledger.run(work)
    finally:
        ledger.engine.dispose()


def test_funds_list_shows_the_position_from_the_engine(run, book, db_url):  # type: ignore[no-untyped-def]
    fund_id = a_fund(db_url)
    result = run("funds", "list", "--format", "json")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    cash = book.balance(FundAccounts(fund_id).cash)
    assert (row["id"], row["cash"], row["committed"], row["available"]) == (
        fund_id,
        "8300.00",
        "800.00",
        "7500.00",
    )
    assert cash.posted == 830_000 and cash.available == 750_000
    text = run("funds", "list")
    assert "available      7500.00" in text.stdout


def test_funds_statement_writes_pdf_and_csv_with_the_engine_figures(run, book, db_url, tmp_path):  # type: ignore[no-untyped-def]
    fund_id = a_fund(db_url)
    pdf_path, csv_path = tmp_path / "r.pdf", tmp_path / "r.csv"
    for fmt, path in (("pdf", pdf_path), ("csv", csv_path)):
        result = run(
            "funds",
            "statement",
            str(fund_id),
            "--from",
            "2026-01-01",
            "--to",
            "2026-12-31",
            "--format",
            fmt,
            "--output",
            str(path),
        )
        assert result.exit_code == 0, result.output
    rows = {r["voce"]: r["importo"] for r in csv.DictReader(io.StringIO(csv_path.read_text()))}
    assert rows["Saldo finale del conto del fondo"] == "8300.00"
    assert rows["Contributi erogati"] == "1200.00"
    text = " ".join(
        " ".join(
            p.extract_text() for p in PdfReader(io.BytesIO(pdf_path.read_bytes())).pages
        ).split()
    )
    assert "Saldo finale del conto del fondo 8.300,00 EUR" in text
    assert book.balance(FundAccounts(fund_id).cash).posted == 830_000


def test_a_statement_of_an_unknown_fund_is_a_clean_error(run, tmp_path):  # type: ignore[no-untyped-def]
    result = run(
        "funds",
        "statement",
        "99",
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-31",
        "--output",
        str(tmp_path / "x.pdf"),
    )
    assert result.exit_code != 0
    assert "fund_not_found" in result.output
    assert not (tmp_path / "x.pdf").exists()
