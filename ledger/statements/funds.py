"""Fund statements and loan statements: data from the books, PDF (reportlab) and CSV.

Rule: a fund statement for the period [start, end] (business dates, Europe/Rome)
is read from the journal, never from domain tables: the opening and closing
balances are the fund cash account's posted balance at the day before `start`
and at `end`, and every movement between them is a posting to that account in
an entry dated in the period, classified by the entry's kind (money in by the
`source` on its metadata, grants paid and returned, loans disbursed,
repayments split by the accounts they credit, recoveries, overpayments
refunded; any other kind, such as a reversal, is shown as "other"). So
opening + movements = closing always holds, and the builder refuses to print
a statement where it would not. Write-offs and provisions move no cash and are
shown apart. The outstanding portfolio is the loans-receivable balance at
`end`, checked against the loans replayed at `end`, whose PAR30 is printed.
The statement ends with the sequence and chain hash of the last entry it
covers, so anyone can check it against `ledger verify`.

Amounts are positive minor units, printed the Italian way (1.234,56 EUR);
CSV amounts are plain decimal strings ("1234.56"). Names print as written, in
any script (`ledger.statements.pdf_fonts`); the CSV keeps them whole, escaped
only where a spreadsheet would run them (`ledger.statements.csv_cells`). A loan statement is for the
borrower: their loan's terms and its ISO 11649 reference (RF...) that the
borrower's transfers carry, schedule with what was paid, and payments; it
may carry the borrower's name because it is given to them, never published.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Final

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import cm
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.balances import balance
from ledger.core.errors import LedgerError
from ledger.core.models import Account, JournalEntry, Posting
from ledger.core.money import format_it
from ledger.funds.accounts import FundAccounts
from ledger.funds.lending import LoanDetail, loan_detail
from ledger.funds.models import Loan, LoanWriteOff
from ledger.funds.portfolio import portfolio
from ledger.funds.service import get_fund
from ledger.payments.references import printable
from ledger.statements.csv_cells import amount_cell, csv_writer
from ledger.statements.pdf_fonts import (
    SANS,
    draw_string,
    paragraph,
    register_fonts,
    text_style,
)

SOURCE_LABELS: Final = {
    "donation": "Donazioni",
    "foundation_grant": "Contributi di fondazioni",
    "transfer": "Trasferimenti",
}
KIND_LABELS: Final = {"microgrant": "fondo per microcontributi", "revolving": "fondo rotativo"}
STATUS_LABELS: Final = {
    "approved": "approvato, da erogare",
    "disbursed": "in corso",
    "repaid": "estinto",
    "written_off": "stralciato",
    "cancelled": "annullato",
}


class StatementError(LedgerError):
    """A statement cannot be produced as asked (bad period) or does not add up."""

    code = "invalid_statement"


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class FundStatement:
    """One fund's movements in a period, every figure from the journal."""

    fund_id: int
    fund_name: str
    kind: str
    currency: str
    start: date
    end: date
    opening_cash_minor: int
    money_in_by_source: dict[str, int]
    grants_paid_minor: int
    grants_returned_minor: int
    loans_disbursed_minor: int
    repaid_principal_minor: int
    repaid_interest_minor: int
    repaid_fees_minor: int
    overpayments_received_minor: int
    overpayments_refunded_minor: int
    recovered_principal_minor: int
    recovered_interest_minor: int
    recovered_fees_minor: int
    other_cash_minor: int
    closing_cash_minor: int
    written_off_principal_minor: int
    written_off_interest_minor: int
    written_off_fees_minor: int
    provisions_minor: int
    loans_outstanding_minor: int
    at_risk_minor: int
    par30: Decimal
    loans_active: int
    loans_at_risk: int
    entries_covered: int
    last_sequence: int | None
    last_hash: str | None
    disbursements: int = 0
    repayments: int = 0

    @property
    def money_in_minor(self) -> int:
        return sum(self.money_in_by_source.values())

    @property
    def repaid_minor(self) -> int:
        return self.repaid_principal_minor + self.repaid_interest_minor + self.repaid_fees_minor

    @property
    def recovered_minor(self) -> int:
        return (
            self.recovered_principal_minor
            + self.recovered_interest_minor
            + self.recovered_fees_minor
        )

    @property
    def cash_movement_minor(self) -> int:
        """Net cash moved in the period (in - out); opening + this = closing."""
        return (
            self.money_in_minor
            - self.grants_paid_minor
            + self.grants_returned_minor
            - self.loans_disbursed_minor
            + self.repaid_minor
            + self.overpayments_received_minor
            - self.overpayments_refunded_minor
            + self.recovered_minor
            + self.other_cash_minor
        )

    @property
    def par30_percent(self) -> str:
        """PAR30 as an Italian percentage with two decimals ("4,00%")."""
        value = (self.par30 * 100).quantize(Decimal("0.01"))
        return f"{value}".replace(".", ",") + "%"


def fund_statement(session: Session, fund_id: int, start: date, end: date) -> FundStatement:
    """The statement of fund `fund_id` for [start, end] (see the module docstring)."""
    if not isinstance(start, date) or not isinstance(end, date) or end < start:
        raise StatementError(
            "Il periodo non è valido: la data finale precede quella iniziale.", field="end"
        )
    fund = get_fund(session, fund_id)
    accounts = FundAccounts(fund.id)
    codes = set(accounts.codes())
    rows = session.execute(
        select(
            JournalEntry.id,
            JournalEntry.sequence,
            JournalEntry.hash,
            JournalEntry.kind,
            JournalEntry.metadata_json,
            Account.code,
            Posting.amount_minor,
        )
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .join(Account, Account.id == Posting.account_id)
        .where(
            Account.code.in_(codes),
            JournalEntry.effective_on >= start,
            JournalEntry.effective_on <= end,
        )
        .order_by(JournalEntry.sequence, Posting.leg)
    ).all()
    entries: dict[str, dict[str, Any]] = {}
    for r in rows:
        e = entries.setdefault(
            r.id,
            {
                "sequence": r.sequence,
                "hash": r.hash,
                "kind": r.kind,
                "metadata": json.loads(r.metadata_json),
                "legs": defaultdict(int),
            },
        )
        e["legs"][r.code] += r.amount_minor

    money_in: dict[str, int] = {}
    totals: dict[str, int] = defaultdict(int)
    for e in entries.values():
        legs: dict[str, int] = e["legs"]
        cash = legs.get(accounts.cash, 0)
        kind = e["kind"]
        if kind == "fund_deposit":
            source = str(e["metadata"].get("source", "transfer"))
            money_in[source] = money_in.get(source, 0) + cash
        elif kind == "grant_payment":
            totals["grants_paid"] -= cash
        elif kind == "grant_return":
            totals["grants_returned"] += cash
        elif kind == "loan_disbursement":
            totals["disbursed"] -= cash
            totals["disbursements"] += 1
        elif kind == "repayment":
            totals["principal"] -= legs.get(accounts.loans_receivable, 0)
            totals["interest"] -= legs.get(accounts.interest, 0)
            totals["fees"] -= legs.get(accounts.fees, 0)
            totals["over_in"] -= legs.get(accounts.overpayments, 0)
            totals["repayments"] += 1
        elif kind == "overpayment_refund":
            totals["over_out"] -= cash
        elif kind == "recovery":
            totals["rec_principal"] -= legs.get(accounts.recoveries, 0)
            totals["rec_interest"] -= legs.get(accounts.interest, 0)
            totals["rec_fees"] -= legs.get(accounts.fees, 0)
            totals["over_in"] -= legs.get(accounts.overpayments, 0)
        elif kind == "write_off":
            totals["written_off"] -= legs.get(accounts.loans_receivable, 0)
        elif kind == "loan_loss_provision":
            totals["provisions"] -= legs.get(accounts.provision, 0)
        else:
            totals["other"] += cash

    write_offs = _write_offs(session, fund.id, start, end)

    opening = balance(session, accounts.cash, as_of=start - timedelta(days=1)).posted
    closing = balance(session, accounts.cash, as_of=end).posted
    outstanding = balance(session, accounts.loans_receivable, as_of=end).posted
    book = portfolio(session, fund.id, end)
    last = max(entries.values(), key=lambda e: e["sequence"]) if entries else None
    statement = FundStatement(
        fund_id=fund.id,
        fund_name=fund.name,
        kind=fund.kind,
        currency=fund.currency,
        start=start,
        end=end,
        opening_cash_minor=opening,
        money_in_by_source={s: money_in[s] for s in SOURCE_LABELS if s in money_in}
        | {s: v for s, v in money_in.items() if s not in SOURCE_LABELS},
        grants_paid_minor=totals["grants_paid"],
        grants_returned_minor=totals["grants_returned"],
        loans_disbursed_minor=totals["disbursed"],
        repaid_principal_minor=totals["principal"],
        repaid_interest_minor=totals["interest"],
        repaid_fees_minor=totals["fees"],
        overpayments_received_minor=totals["over_in"],
        overpayments_refunded_minor=totals["over_out"],
        recovered_principal_minor=totals["rec_principal"],
        recovered_interest_minor=totals["rec_interest"],
        recovered_fees_minor=totals["rec_fees"],
        other_cash_minor=totals["other"],
        closing_cash_minor=closing,
        written_off_principal_minor=totals["written_off"],
        written_off_interest_minor=sum(w.interest_minor for w in write_offs),
        written_off_fees_minor=sum(w.fees_minor for w in write_offs),
        provisions_minor=totals["provisions"],
        loans_outstanding_minor=outstanding,
        at_risk_minor=book.at_risk_minor,
        par30=book.par30,
        loans_active=len(book.loans),
        loans_at_risk=book.late_count,
        entries_covered=len(entries),
        last_sequence=last["sequence"] if last else None,
        last_hash=last["hash"] if last else None,
        disbursements=totals["disbursements"],
        repayments=totals["repayments"],
    )
    if opening + statement.cash_movement_minor != closing:
        raise StatementError(
            "Il rendiconto non quadra: saldo iniziale più movimenti diverso dal saldo finale.",
            fund_id=fund.id,
        )
    if book.outstanding_minor != outstanding:
        raise StatementError(
            "Il portafoglio prestiti non corrisponde al saldo dei crediti in contabilità.",
            fund_id=fund.id,
            books=outstanding,
            loans=book.outstanding_minor,
        )
    return statement


def _write_offs(session: Session, fund_id: int, start: date, end: date) -> list[LoanWriteOff]:
    return list(
        session.scalars(
            select(LoanWriteOff)
            .join(Loan, Loan.id == LoanWriteOff.loan_id)
            .where(
                Loan.fund_id == fund_id,
                LoanWriteOff.written_off_on >= start,
                LoanWriteOff.written_off_on <= end,
            )
        ).all()
    )


# --------------------------------------------------------------------------- rows


def format_date_it(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def fund_statement_rows(s: FundStatement) -> list[tuple[str, str, int | None]]:
    """(section, label, amount) lines in print order; None marks a heading-only line."""
    rows: list[tuple[str, str, int | None]] = [
        ("cassa", "Saldo iniziale del conto del fondo", s.opening_cash_minor),
    ]
    for source, amount in s.money_in_by_source.items():
        rows.append(("entrate", f"Entrate: {SOURCE_LABELS.get(source, source)}", amount))
    rows += [
        ("entrate", "Totale entrate", s.money_in_minor),
        ("uscite", "Contributi erogati", s.grants_paid_minor),
        ("entrate", "Contributi non spesi restituiti", s.grants_returned_minor),
        ("uscite", "Prestiti erogati", s.loans_disbursed_minor),
        ("rimborsi", "Rimborsi: quota capitale", s.repaid_principal_minor),
        ("rimborsi", "Rimborsi: interessi", s.repaid_interest_minor),
        ("rimborsi", "Rimborsi: commissioni", s.repaid_fees_minor),
        ("rimborsi", "Totale rimborsi", s.repaid_minor),
        ("rimborsi", "Eccedenze ricevute (da restituire)", s.overpayments_received_minor),
        ("uscite", "Eccedenze restituite", s.overpayments_refunded_minor),
        ("recuperi", "Recuperi su crediti stralciati", s.recovered_minor),
    ]
    if s.other_cash_minor:
        rows.append(("altro", "Altre movimentazioni (storni)", s.other_cash_minor))
    rows += [
        ("cassa", "Saldo finale del conto del fondo", s.closing_cash_minor),
        ("stralci", "Crediti stralciati: capitale", s.written_off_principal_minor),
        (
            "stralci",
            "Crediti stralciati: interessi scaduti (mai contabilizzati)",
            s.written_off_interest_minor,
        ),
        (
            "stralci",
            "Crediti stralciati: commissioni scadute (mai contabilizzate)",
            s.written_off_fees_minor,
        ),
        ("stralci", "Accantonamenti per perdite su crediti", s.provisions_minor),
        ("portafoglio", "Prestiti in essere (capitale residuo)", s.loans_outstanding_minor),
        ("portafoglio", "Capitale residuo con rate in ritardo oltre 30 giorni", s.at_risk_minor),
    ]
    return rows


def fund_statement_csv(s: FundStatement) -> str:
    """The statement as CSV: section, item, amount (decimal string), currency."""
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(["sezione", "voce", "importo", "valuta"])
    writer.writerow(["fondo", f"Fondo {s.fund_id}: {s.fund_name}", "", s.currency])
    writer.writerow(["periodo", f"{s.start.isoformat()} - {s.end.isoformat()}", "", s.currency])
    for section, label, amount in fund_statement_rows(s):
        writer.writerow(
            [
                section,
                label,
                amount_cell(amount, s.currency) if amount is not None else "",
                s.currency,
            ]
        )
    writer.writerow(["portafoglio", "PAR30", s.par30, ""])
    writer.writerow(["portafoglio", "Prestiti in essere (numero)", s.loans_active, ""])
    writer.writerow(["portafoglio", "Prestiti in ritardo oltre 30 giorni", s.loans_at_risk, ""])
    writer.writerow(["catena", "Ultima registrazione coperta", s.last_sequence, ""])
    writer.writerow(["catena", "Hash dell'ultima registrazione", s.last_hash, ""])
    return out.getvalue()


# --------------------------------------------------------------------------- PDF

_GREY: Final = colors.Color(0.6, 0.6, 0.6)
_STYLES: Final = {
    "title": text_style("title", bold=True, fontSize=15, leading=20),
    "heading": text_style(
        "heading", bold=True, fontSize=11, leading=15, spaceBefore=10, spaceAfter=3
    ),
    "body": text_style("body", fontSize=9.5, leading=13),
    "small": text_style("small", fontSize=8, leading=11),
    "cell": text_style("cell", fontSize=8.5, leading=11),
    "hash": text_style("hash", fontSize=7.5, leading=10),
}


def _p(text: str, style_name: str = "body") -> Paragraph:
    return paragraph(text, _STYLES[style_name])


def _table(data: list[list[str]], widths: list[float] | None = None, header: bool = False) -> Table:
    table = Table(
        [[_p(c, "cell") if isinstance(c, str) else c for c in row] for row in data],
        colWidths=widths,
        hAlign="LEFT",
        repeatRows=1 if header else 0,
    )
    style = [
        ("FONT", (0, 0), (-1, -1), SANS),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 2),
        ("RIGHTPADDING", (0, 0), (-1, -1), 2),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, _GREY),
    ]
    if header:
        style.append(("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black))
    table.setStyle(TableStyle(style))
    return table


def _build(story: list[Flowable], title: str, stamp: date) -> bytes:
    register_fonts()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=1.8 * cm,
        rightMargin=1.8 * cm,
        topMargin=1.8 * cm,
        bottomMargin=1.8 * cm,
        title=title,
        creator="community-ledger",
        lang="it-IT",
        invariant=1,
        initialFontName=SANS,
    )

    def decorate(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setDateFormatter(lambda *_: f"D:{stamp:%Y%m%d}")
        draw_string(canvas, 1.8 * cm, 1.1 * cm, title, size=7.5)
        canvas.setFont(SANS, 7.5)
        canvas.drawRightString(A4[0] - 1.8 * cm, 1.1 * cm, f"pagina {doc.page}")
        canvas.restoreState()

    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()


def render_fund_statement_pdf(s: FundStatement) -> bytes:
    """The fund statement as an A4 PDF; equal data gives equal bytes."""
    cur = s.currency
    story: list[Flowable] = [
        _p(f"Rendiconto del fondo {s.fund_id}: {s.fund_name}", "title"),
        _p(
            f"{KIND_LABELS.get(s.kind, s.kind).capitalize()} - periodo dal "
            f"{format_date_it(s.start)} al {format_date_it(s.end)} - importi in {cur}"
        ),
        Spacer(1, 6),
        _p("Movimenti del conto dedicato", "heading"),
    ]
    rows = fund_statement_rows(s)
    cash_sections = {"cassa", "entrate", "uscite", "rimborsi", "recuperi", "altro"}
    story.append(
        _table(
            [
                [label, format_it(amount or 0, cur)]
                for sec, label, amount in rows
                if sec in cash_sections
            ],
            widths=[12 * cm, 5 * cm],
        )
    )
    story += [
        _p("Stralci e accantonamenti (senza movimento di cassa)", "heading"),
        _table(
            [
                [label, format_it(amount or 0, cur)]
                for sec, label, amount in rows
                if sec == "stralci"
            ],
            widths=[12 * cm, 5 * cm],
        ),
        _p(f"Portafoglio prestiti al {format_date_it(s.end)}", "heading"),
        _table(
            [
                [
                    "Prestiti in essere (capitale residuo)",
                    format_it(s.loans_outstanding_minor, cur),
                ],
                ["Numero di prestiti in essere", str(s.loans_active)],
                [
                    "Capitale residuo con rate in ritardo oltre 30 giorni",
                    format_it(s.at_risk_minor, cur),
                ],
                ["Prestiti in ritardo oltre 30 giorni", str(s.loans_at_risk)],
                ["PAR30 (portafoglio a rischio oltre 30 giorni)", s.par30_percent],
            ],
            widths=[12 * cm, 5 * cm],
        ),
        _p(
            "PAR30: capitale residuo dei prestiti con almeno una rata in ritardo di oltre "
            "30 giorni diviso per il capitale residuo di tutti i prestiti in essere. Gli "
            "interessi e le commissioni sono contabilizzati quando incassati.",
            "small",
        ),
        _p("Verifica della catena delle registrazioni", "heading"),
    ]
    if s.last_sequence is None:
        story.append(_p("Nessuna registrazione del fondo nel periodo."))
    else:
        story += [
            _p(
                f"Registrazioni coperte: {s.entries_covered}. Ultima registrazione coperta: "
                f"n. {s.last_sequence}."
            ),
            _p(f"Hash: {s.last_hash}", "hash"),
        ]
    return _build(story, f"Rendiconto fondo {s.fund_id} {s.start} - {s.end}", s.end)


# --------------------------------------------------------------------------- loan statement


@dataclass(frozen=True, slots=True)
class LoanStatement:
    detail: LoanDetail
    fund_name: str
    borrower_label: str


def loan_statement(
    session: Session, loan_id: int, *, on: date, borrower_label: str | None = None
) -> LoanStatement:
    """A loan's statement on `on`. `borrower_label` (e.g. the borrower's name) is
    printed only on the borrower's own copy; by default the loan is named by id."""
    detail = loan_detail(session, loan_id, on=on)
    fund = get_fund(session, detail.loan.fund_id)
    return LoanStatement(
        detail, fund.name, borrower_label or f"Beneficiario n. {detail.loan.borrower_person_id}"
    )


def _rate_percent(rate: str) -> str:
    return f"{(Decimal(rate) * 100).normalize():f}".replace(".", ",") + "%"


def loan_statement_csv(s: LoanStatement) -> str:
    d = s.detail
    cur = d.loan.currency
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(
        [
            "sezione",
            "numero",
            "data",
            "capitale",
            "interessi",
            "commissioni",
            "totale",
            "pagato",
            "residuo",
        ]
    )
    if d.loan.transfer_reference:
        # The reference the borrower's transfers carry, in the `numero` column.
        writer.writerow(["riferimento", d.loan.transfer_reference, *[""] * 7])
    for line in d.lines:
        writer.writerow(
            [
                "rata",
                line.number,
                line.due_on,
                amount_cell(line.principal_minor, cur),
                amount_cell(line.interest_minor, cur),
                amount_cell(line.fee_minor, cur),
                amount_cell(line.total_minor, cur),
                amount_cell(line.paid_minor, cur),
                amount_cell(line.unpaid_minor, cur),
            ]
        )
    for r in d.repayments:
        writer.writerow(
            [
                "pagamento",
                r.id,
                r.received_on,
                amount_cell(r.principal_minor, cur),
                amount_cell(r.interest_minor, cur),
                amount_cell(r.fees_minor, cur),
                amount_cell(r.amount_minor, cur),
                amount_cell(r.overpayment_minor, cur),
                "",
            ]
        )
    return out.getvalue()


def render_loan_statement_pdf(s: LoanStatement) -> bytes:
    """The borrower's loan statement as an A4 PDF."""
    d = s.detail
    loan = d.loan
    cur = loan.currency
    terms = [
        ["Fondo", s.fund_name],
        ["Beneficiario", s.borrower_label],
        ["Prodotto", d.product_name],
        ["Capitale", format_it(loan.principal_minor, cur)],
        ["Tasso annuo nominale", _rate_percent(loan.annual_rate)],
        ["Metodo", d.method_label],
        ["Durata", f"{loan.term_months} mesi, di cui {loan.grace_months} di preammortamento"],
        ["Base di calcolo dei giorni", loan.day_count],
        ["Arrotondamento", d.rounding_label],
        ["Commissione per rata", format_it(loan.fee_per_instalment_minor, cur)],
        ["Interessi totali da piano", format_it(d.total_interest_minor, cur)],
        ["Stato", STATUS_LABELS.get(loan.status, loan.status)],
    ]
    if loan.transfer_reference:
        terms.append(["Riferimento per i bonifici", printable(loan.transfer_reference)])
    if loan.disbursed_on is not None:
        terms.append(["Erogato il", format_date_it(loan.disbursed_on)])
    story: list[Flowable] = [
        _p(f"Estratto conto del prestito n. {loan.id}", "title"),
        _p(f"Situazione al {format_date_it(d.on)} - importi in {cur}"),
        Spacer(1, 6),
        _table(terms, widths=[6 * cm, 11 * cm]),
        _p("Situazione", "heading"),
        _table(
            [
                ["Capitale residuo", format_it(d.outstanding_principal_minor, cur)],
                ["Giorni di ritardo", str(d.days_past_due)],
                ["Importo scaduto e non pagato", format_it(d.arrears_minor, cur)],
                ["Per estinguere oggi", format_it(d.payoff_minor, cur)],
                ["Somme pagate in eccesso da restituire", format_it(d.overpayment_owed_minor, cur)],
            ],
            widths=[6 * cm, 11 * cm],
        ),
        _p("Piano di rimborso", "heading"),
        _table(
            [["N.", "Scadenza", "Capitale", "Interessi", "Comm.", "Rata", "Pagato", "Residuo"]]
            + [
                [
                    str(line.number),
                    format_date_it(line.due_on),
                    format_it(line.principal_minor, cur),
                    format_it(line.interest_minor, cur),
                    format_it(line.fee_minor, cur),
                    format_it(line.total_minor, cur),
                    format_it(line.paid_minor, cur),
                    format_it(line.unpaid_minor, cur),
                ]
                for line in d.lines
            ],
            widths=[0.8 * cm, 1.9 * cm, 2.4 * cm, 2.1 * cm, 1.7 * cm, 2.4 * cm, 2.4 * cm, 2.3 * cm],
            header=True,
        ),
        _p("Pagamenti ricevuti", "heading"),
    ]
    if d.repayments:
        story.append(
            _table(
                [["Data", "Importo", "Commissioni", "Interessi", "Capitale", "Eccedenza"]]
                + [
                    [
                        format_date_it(r.received_on),
                        format_it(r.amount_minor, cur),
                        format_it(r.fees_minor, cur),
                        format_it(r.interest_minor, cur),
                        format_it(r.principal_minor, cur),
                        format_it(r.overpayment_minor, cur),
                    ]
                    for r in d.repayments
                ],
                widths=[2.2 * cm, 3 * cm, 2.9 * cm, 2.9 * cm, 3 * cm, 2.9 * cm],
                header=True,
            )
        )
    else:
        story.append(_p("Nessun pagamento ricevuto."))
    if d.write_off is not None:
        w = d.write_off
        story += [
            _p("Stralcio", "heading"),
            _p(
                f"Stralciato il {format_date_it(w.written_off_on)}: capitale "
                f"{format_it(w.principal_minor, cur)}, interessi scaduti "
                f"{format_it(w.interest_minor, cur)}, commissioni scadute "
                f"{format_it(w.fees_minor, cur)}."
            ),
        ]
        for rec in d.recoveries:
            story.append(
                _p(
                    f"Recupero del {format_date_it(rec.received_on)}: "
                    f"{format_it(rec.amount_minor, cur)}"
                )
            )
    story.append(
        _p(
            "I pagamenti si imputano nell'ordine: commissioni, interessi, capitale, "
            "dalla rata più vecchia.",
            "small",
        )
    )
    return _build(story, f"Estratto conto prestito {loan.id}", d.on)


__all__ = [
    "FundStatement",
    "LoanStatement",
    "StatementError",
    "fund_statement",
    "fund_statement_csv",
    "fund_statement_rows",
    "loan_statement",
    "loan_statement_csv",
    "render_fund_statement_pdf",
    "render_loan_statement_pdf",
]
