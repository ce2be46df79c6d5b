"""The reconciliation report, the accounts a bank account holds, and the period close's
warning: a worked month where every item is explained and the difference is zero, an
entry booked with another amount than its line (the difference is exactly that), a
split batch counted once, through the use cases and the CLI (JSON, CSV, PDF)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.audit.models import AuditEvent
from ledger.books import commands as books
from ledger.core.clock import FixedClock
from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.payments.references import creditor_reference
from ledger.reconcile import statements as importer
from ledger.reconcile.commands import (
    apply_references,
    book_line,
    create_bank_account,
    get_bank_account,
    hold_account,
    ignore_line,
    import_statement,
    match_line,
)
from ledger.reconcile.errors import AccountHeldError, InvalidBankAccountError
from ledger.reconcile.holdings import held_accounts
from ledger.reconcile.matching import line_views
from ledger.reconcile.parsed import Detail, ParsedLine, ParsedStatement
from ledger.reconcile.report import Reconciliation, reconciliation
from tests.bank_fixtures import FI_053, fixture_bytes
from tests.integration.conftest import Run
from tests.integration.test_campaign_commands import TREASURER, new_campaign
from tests.integration.test_fund_commands import fund_with_product, paid_out
from tests.integration.test_transfer_gifts import start

FI = "FI7433010001222090"
OTHER = "DE89370400440532013000"
BANK = "assets:bank:main"
LATER = datetime(2026, 7, 2, 9, tzinfo=UTC)
FIRST = date(2026, 6, 18)


def _bank(ledger: Ledger, *, hold_fund: int | None = None) -> None:
    if BANK not in {a.code for a in ledger.accounts()}:
        ledger.create_account(BANK, "asset")
    ledger.run(
        lambda s: create_bank_account(
            s, iban=FI, account_code=BANK, origin=TREASURER, clock=ledger.clock
        )
    )
    if hold_fund is not None:
        ledger.run(
            lambda s: hold_account(
                s, FI, f"assets:funds:{hold_fund}:cash", origin=TREASURER, clock=ledger.clock
            )
        )


def _import(ledger: Ledger, opening: int, lines: list[ParsedLine]) -> list[int]:
    statement = ParsedStatement(
        iban=FI,
        currency="EUR",
        opening_minor=opening,
        closing_minor=opening + sum(x.amount_minor for x in lines),
        opening_on=min(x.booked_on for x in lines),
        closing_on=date(2026, 6, 30),
        statement_id="2026-06",
        lines=tuple(lines),
    )

    def work(s: Session) -> list[int]:
        report = importer.import_parsed(
            s,
            get_bank_account(s, FI, lock=True),
            [statement],
            sha256="2" * 64,
            fmt="test",
            preset=None,
            accept_unbalanced=False,
            reason=None,
            actor="test",
            now=ledger.clock.now(),
        )
        return list(report.new_line_ids)

    return ledger.run(work)


def _post(ledger: Ledger, key: str, minor: int, on: date, other: str = "income:other") -> int:
    spec = EntrySpec(
        idempotency_key=key,
        kind="manual",
        postings=[PostingSpec(BANK, Money(minor, "EUR")), PostingSpec(other, Money(-minor, "EUR"))],
        effective_on=on,
        narration=f"Registrazione {key}",
    )
    return ledger.post(spec).entry.sequence


def _report(ledger: Ledger, as_of: date) -> Reconciliation:
    return ledger.read(lambda s: reconciliation(s, FI, as_of))


@pytest.fixture
def month(ledger: Ledger, clock: FixedClock) -> dict[str, Any]:
    """A June of the bank account: opening = the books before the first day; a transfer
    gift and a loan repayment by reference, a bank fee booked, an internal transfer
    ignored, a line nobody explained, a split batch whose details are unexplained, a
    line paid 100.00 that the books hold as 90.00, an entry not yet on the bank."""
    campaign_id = new_campaign(ledger)
    gift_id = start(ledger, campaign_id, "25.00", "pledge")
    fund_id, product_id = fund_with_product(ledger)
    loan_id = paid_out(ledger, fund_id, product_id)
    _bank(ledger, hold_fund=fund_id)
    ledger.create_account("income:other", "income")
    ledger.create_account("expenses:bank_fees", "expense")
    codes = ledger.read(lambda s: [a.code for a in held_accounts(s, get_bank_account(s, FI))])
    opening = sum(ledger.balance(code, date(2026, 6, 17)).posted for code in codes)
    clock.instant = LATER
    ninety = _post(ledger, "ninety", 9000, date(2026, 6, 22))
    not_on_bank = _post(ledger, "cheque", 4000, date(2026, 6, 29))
    lines = _import(
        ledger,
        opening,
        [
            ParsedLine(
                FIRST, 2500, "BONIFICO DONO", "r1", reference=creditor_reference("D", gift_id)
            ),
            ParsedLine(
                date(2026, 6, 19), 12_345, "RATA", "r2", reference=creditor_reference("L", loan_id)
            ),
            ParsedLine(date(2026, 6, 20), -250, "COMMISSIONI", "r3"),
            ParsedLine(date(2026, 6, 21), 50_000, "GIROCONTO", "r4"),
            ParsedLine(date(2026, 6, 22), 10_000, "BONIFICO 100", "r5"),
            ParsedLine(date(2026, 6, 23), 700, "ALTRO", "r6"),
            ParsedLine(
                date(2026, 6, 24),
                3000,
                "DISTINTA",
                "r7",
                details=(Detail(1000, "PRIMO"), Detail(2000, "SECONDO")),
            ),
        ],
    )
    gift, loan, fee, internal, hundred, other, batch = lines
    counts = ledger.run(
        lambda s: apply_references(s, FI, origin=TREASURER, clock=ledger.clock).value
    )
    assert (counts.settled_gifts, counts.repayments) == (1, 1)
    ledger.run(
        lambda s: book_line(
            s, fee, "expenses:bank_fees", "Commissioni", origin=TREASURER, clock=ledger.clock
        )
    )
    ledger.run(
        lambda s: ignore_line(s, internal, "giroconto", origin=TREASURER, clock=ledger.clock)
    )
    children = [
        v.id
        for v in ledger.read(lambda s: line_views(s, get_bank_account(s, FI)))
        if v.parent_line_id == batch
    ]
    return {
        "opening": opening,
        "gift": gift,
        "loan": loan,
        "hundred": hundred,
        "other": other,
        "children": children,
        "ninety": ninety,
        "not_on_bank": not_on_bank,
        "fund_id": fund_id,
    }


def test_a_month_with_every_item_listed_reconciles_to_zero(
    ledger: Ledger, month: dict[str, Any]
) -> None:
    r = _report(ledger, date(2026, 6, 30))
    lines_total = 2500 + 12_345 - 250 + 50_000 + 10_000 + 700 + 3000  # the batch once
    assert (r.bank_basis, r.bank_basis_on) == ("closing", date(2026, 6, 30))
    assert r.bank_balance_minor == month["opening"] + lines_total
    assert [h.code for h in r.held] == [BANK, f"assets:funds:{month['fund_id']}:cash"]
    assert r.book_balance_minor == month["opening"] + 2500 + 12_345 - 250 + 9000 + 4000
    # The 100.00 line is not yet explained, nor is the 90.00 entry: both are items.
    assert {(i.id, i.left_minor) for i in r.unexplained_lines} == {
        (month["hundred"], 10_000),
        (month["other"], 700),
        (month["children"][0], 1000),
        (month["children"][1], 2000),
    }
    assert [(i.left_minor, i.reason) for i in r.ignored_lines] == [(50_000, "giroconto")]
    assert [(e.sequence, e.amount_minor) for e in r.entries_not_on_bank] == [
        (month["ninety"], 9000),
        (month["not_on_bank"], 4000),
    ]
    assert r.from_date == FIRST
    assert r.difference_minor == 0
    data = r.as_dict()
    assert data["difference"] == "0.00"
    assert data["unexplained_total"] == "137.00"
    assert [s["anchor"] for s in data["statements_used"]] == [True]

    # Mid-month: the opening balance plus the lines up to the day; entries after it out.
    mid = _report(ledger, date(2026, 6, 19))
    assert (mid.bank_basis, mid.bank_basis_on) == ("opening", date(2026, 6, 17))
    assert mid.bank_balance_minor == month["opening"] + 2500 + 12_345
    assert mid.entries_not_on_bank == () and mid.difference_minor == 0


def test_an_entry_booked_with_another_amount_is_the_difference(
    ledger: Ledger, month: dict[str, Any]
) -> None:
    # The treasurer matches the 100.00 line to the entry the books hold as 90.00.
    ledger.run(
        lambda s: match_line(
            s,
            month["hundred"],
            [("entry", month["ninety"], 10_000)],
            origin=TREASURER,
            clock=ledger.clock,
        )
    )
    r = _report(ledger, date(2026, 6, 30))
    assert month["hundred"] not in {i.id for i in r.unexplained_lines}
    assert [e.sequence for e in r.entries_not_on_bank] == [month["not_on_bank"]]
    assert r.difference_minor == 1000  # the bank has 10.00 more than the books say


def test_cli_report_json_csv_and_pdf(
    ledger: Ledger, month: dict[str, Any], run: Run, tmp_path: Path
) -> None:
    result = run("bank", "report", "--iban", FI, "--as-of", "2026-06-30", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["difference"] == "0.00"
    assert data["bank_balance"] == _report(ledger, date(2026, 6, 30)).as_dict()["bank_balance"]
    assert {"book_balance", "unexplained_lines", "entries_not_on_bank", "held_accounts"} <= set(
        data
    )
    assert [e["amount"] for e in data["entries_not_on_bank"]] == ["90.00", "40.00"]

    result = run("bank", "report", "--iban", FI, "--as-of", "2026-06-30", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.output)))
    assert ["Differenza", "0.00"] in rows
    assert any(row[-1] == "ALTRO" and row[2] == "7.00" for row in rows if len(row) == 5)

    out = tmp_path / "riconciliazione.pdf"
    result = run(
        "bank", "report", "--iban", FI, "--as-of", "2026-06-30", "--format", "pdf",
        "--output", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(out).pages)
    assert "Riconciliazione bancaria" in text and "Differenza (deve essere zero)" in text
    assert "GIROCONTO" in text and "137,00" in text

    missing = run("bank", "report", "--iban", OTHER, "--as-of", "2026-06-30")
    assert missing.exit_code == 1
    assert json.loads(missing.output)["error"]["code"] == "bank_account_not_found"


def test_a_formula_in_a_bank_text_is_escaped_in_the_csv(ledger: Ledger, run: Run) -> None:
    _bank(ledger)
    _import(ledger, 0, [ParsedLine(FIRST, 100, '=HYPERLINK("http://x")', "r1")])
    result = run("bank", "report", "--iban", FI, "--as-of", "2026-06-30", "--format", "csv")
    rows = list(csv.reader(io.StringIO(result.output)))
    assert any(r and r[-1] == '\'=HYPERLINK("http://x")' for r in rows)
    assert not any(c.startswith("=") for r in rows for c in r)


def test_closing_a_month_with_unexplained_lines_warns_and_closes(
    ledger: Ledger, month: dict[str, Any], run: Run
) -> None:
    closed = ledger.run(
        lambda s: books.close_period(s, "2026-05", origin=TREASURER, clock=ledger.clock)
    )
    assert closed.value.warnings == ()  # nothing unexplained on or before May 31
    closed = ledger.run(
        lambda s: books.close_period(s, "2026-06", origin=TREASURER, clock=ledger.clock)
    )
    assert closed.created is True
    assert closed.value.warnings == (
        {
            "code": "unexplained_bank_lines",
            "iban": FI,
            "currency": "EUR",
            "unexplained_lines": 4,
            "total": "137.00",
        },
    )
    details = ledger.read(
        lambda s: [
            e.details
            for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "period.close"))
        ]
    )
    assert details == [{"ends_on": "2026-05-31"}, {"ends_on": "2026-06-30", "warnings": 1}]
    again = run("periods", "close", "2026-06")
    assert again.exit_code == 0
    warning = json.loads(again.stdout.splitlines()[-1])
    assert warning["warnings"][0]["unexplained_lines"] == 4


def test_holdings_and_repayments_only_from_a_bank_account_holding_the_cash(
    ledger: Ledger, clock: FixedClock, run: Run
) -> None:
    fund_id, product_id = fund_with_product(ledger)
    loan_id = paid_out(ledger, fund_id, product_id)
    _bank(ledger)
    cash = f"assets:funds:{fund_id}:cash"
    clock.instant = LATER
    (line,) = _import(
        ledger,
        0,
        [ParsedLine(FIRST, 5000, "RATA", "r1", reference=creditor_reference("L", loan_id))],
    )
    counts = ledger.run(lambda s: apply_references(s, FI, origin=TREASURER, clock=ledger.clock))
    assert (counts.value.repayments, counts.value.left) == (0, 1)  # the cash is not held here
    # Refusals: an income account, an account another bank account holds.
    with pytest.raises(InvalidBankAccountError):
        ledger.run(
            lambda s: hold_account(
                s, FI, f"income:funds:{fund_id}:interest", origin=TREASURER, clock=ledger.clock
            )
        )
    receivable = f"assets:funds:{fund_id}:loans-receivable"
    args = ["--iban", OTHER, "--account", receivable, "--holds", cash]
    result = run("bank", "accounts", "create", *args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["held_accounts"] == [
        f"assets:funds:{fund_id}:loans-receivable",
        cash,
    ]
    with pytest.raises(AccountHeldError):
        ledger.run(lambda s: hold_account(s, FI, cash, origin=TREASURER, clock=ledger.clock))
    refused = run("bank", "accounts", "hold", "--iban", FI, "--account", cash)
    assert refused.exit_code == 1 and json.loads(refused.output)["error"]["code"] == "account_held"
    # The mirrored account of another bank account cannot be held either.
    assert run("bank", "accounts", "hold", "--iban", FI, "--account", receivable).exit_code == 1
    # A repeat of a holding changes nothing.
    again = run("bank", "accounts", "hold", "--iban", OTHER, "--account", cash)
    assert json.loads(again.output)["created"] is False
    assert ledger.read(lambda s: [a.code for a in held_accounts(s, get_bank_account(s, FI))]) == [
        BANK
    ]
    assert line  # still unexplained


def test_a_real_camt053_reconciles_to_zero_against_its_opening_balance(ledger: Ledger) -> None:
    """The FI sample (opening 10,000.00, closing 23,644.83, a batch split in three and
    one split in two): the bank balance is the stated closing, each batch counts once,
    and with the opening in the books and every line unexplained the difference is 0."""
    ledger.create_account("assets:bank:fi", "asset")
    ledger.create_account("equity:opening", "equity")
    ledger.run(
        lambda s: create_bank_account(
            s, iban=FI, account_code="assets:bank:fi", origin=TREASURER, clock=ledger.clock
        )
    )
    ledger.run(
        lambda s: import_statement(
            s, FI, fixture_bytes(FI_053), origin=TREASURER, clock=ledger.clock
        )
    )
    first = _report(ledger, date(2099, 12, 31)).from_date
    assert first is not None
    ledger.post(
        EntrySpec(
            idempotency_key="opening",
            kind="opening",
            postings=[
                PostingSpec("assets:bank:fi", Money(1_000_000, "EUR")),
                PostingSpec("equity:opening", Money(-1_000_000, "EUR")),
            ],
            effective_on=first - timedelta(days=1),
            narration="Saldo di apertura",
        )
    )
    r = _report(ledger, date(2099, 12, 31))
    assert (r.bank_basis, r.bank_balance_minor) == ("closing", 2_364_483)
    assert r.book_balance_minor == 1_000_000
    assert r.unexplained_minor == 1_364_483  # the details of split batches, not their entries
    assert r.entries_not_on_bank == () and r.difference_minor == 0
    before = _report(ledger, first - timedelta(days=1))
    assert (before.bank_basis, before.bank_balance_minor) == ("opening", 1_000_000)
    assert before.difference_minor == 0
