"""The bank reconciliation as a PDF (reportlab), in the house style of the grant
statement (`grants_pdf`): Italian labels, amounts printed 1.234,56 EUR, texts in
the package's fonts (any script), reportlab's invariant mode (equal data, equal
bytes; the date stamped is the report's `as_of`).
"""

from __future__ import annotations

import io
from datetime import date
from typing import Any, Final

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import cm
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from ledger.core.money import format_it
from ledger.reconcile.report import Reconciliation
from ledger.statements.pdf_fonts import SANS, draw_string, paragraph, register_fonts, text_style

_GREY = colors.HexColor("#777777")
_STYLES: Final = {
    "title": text_style("rec-title", bold=True, fontSize=15, leading=19),
    "h2": text_style("rec-h2", bold=True, fontSize=12, leading=15, spaceBefore=8),
    "body": text_style("rec-body", fontSize=9, leading=12),
    "cell": text_style("rec-cell", fontSize=8, leading=10),
}
_BASIS: Final = {
    "closing": "saldo di chiusura dell'estratto conto del",
    "computed": "saldo di apertura più i movimenti dell'estratto conto chiuso il",
    "opening": "saldo di apertura dell'estratto conto (fine giornata del",
    "lines": "somma dei movimenti (nessun saldo di estratto conto entro la data)",
}


class _Amount(str):
    """An amount cell: a plain string on one line, right-aligned."""


def _p(text: str, style: str = "body") -> Paragraph:
    return paragraph(text, _STYLES[style], multiline=True)


def _amt(minor: int, currency: str) -> _Amount:
    return _Amount(format_it(minor, currency))


def _date_it(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def _table(rows: list[list[Any]], widths: list[float]) -> Table:
    table = Table(
        [[c if isinstance(c, _Amount) else _p(str(c), "cell") for c in row] for row in rows],
        colWidths=widths,
        hAlign="LEFT",
        repeatRows=1,
    )
    style = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("FONT", (0, 0), (-1, -1), SANS, 8),
        ("LEFTPADDING", (0, 0), (-1, -1), 2),
        ("RIGHTPADDING", (0, 0), (-1, -1), 2),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, _GREY),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
    ]
    for col, cell in enumerate(rows[-1] if rows else []):
        if isinstance(cell, _Amount):
            style.append(("ALIGN", (col, 1), (col, -1), "RIGHT"))
    table.setStyle(TableStyle(style))
    return table


def render_reconciliation_pdf(r: Reconciliation) -> bytes:
    """The reconciliation as a PDF (Italian, A4)."""
    cur = r.currency
    basis = _BASIS[r.bank_basis]
    if r.bank_basis_on is not None:
        basis += f" {_date_it(r.bank_basis_on)}" + (")" if r.bank_basis == "opening" else "")
    story: list[Flowable] = [
        _p("Riconciliazione bancaria", "title"),
        _p(f"Conto: {r.name} - IBAN {r.iban}"),
        _p(f"Alla data: {_date_it(r.as_of)} (date contabili). Importi in {cur}."),
        _p(f"Saldo banca: {basis}, più i movimenti successivi fino alla data."),
        Spacer(1, 6),
        _p("Riepilogo", "h2"),
        _table(
            [
                ["Voce", "Importo"],
                ["Saldo banca (estratti conto)", _amt(r.bank_balance_minor, cur)],
                ["Saldo contabile dei conti tenuti in banca", _amt(r.book_balance_minor, cur)],
                ["meno: movimenti bancari non spiegati", _amt(r.unexplained_minor, cur)],
                ["meno: movimenti bancari ignorati", _amt(r.ignored_minor, cur)],
                ["più: registrazioni non ancora in banca", _amt(r.not_on_bank_minor, cur)],
                ["Differenza (deve essere zero)", _amt(r.difference_minor, cur)],
            ],
            [12 * cm, 5.4 * cm],
        ),
        _p("Conti contabili tenuti in questo conto bancario", "h2"),
        _table(
            [["Conto", "Saldo"]] + [[h.code, _amt(h.balance_minor, cur)] for h in r.held],
            [12 * cm, 5.4 * cm],
        ),
        _p("Movimenti bancari non spiegati", "h2"),
    ]
    if r.unexplained_lines:
        story.append(
            _table(
                [["N.", "Data", "Descrizione", "Importo", "Da spiegare"]]
                + [
                    [
                        str(i.id),
                        _date_it(i.booked_on),
                        i.text,
                        _amt(i.amount_minor, cur),
                        _amt(i.left_minor, cur),
                    ]
                    for i in r.unexplained_lines
                ],
                [1.4 * cm, 2 * cm, 8 * cm, 3 * cm, 3 * cm],
            )
        )
    else:
        story.append(_p("Nessuno."))
    story.append(_p("Movimenti bancari ignorati", "h2"))
    if r.ignored_lines:
        story.append(
            _table(
                [["N.", "Data", "Descrizione", "Motivo", "Importo"]]
                + [
                    [
                        str(i.id),
                        _date_it(i.booked_on),
                        i.text,
                        i.reason or "",
                        _amt(i.left_minor, cur),
                    ]
                    for i in r.ignored_lines
                ],
                [1.4 * cm, 2 * cm, 6 * cm, 5 * cm, 3 * cm],
            )
        )
    else:
        story.append(_p("Nessuno."))
    story.append(_p("Registrazioni non ancora in banca", "h2"))
    if r.entries_not_on_bank:
        story.append(
            _table(
                [["N.", "Data", "Descrizione", "Importo"]]
                + [
                    [
                        str(e.sequence),
                        _date_it(e.effective_on),
                        e.narration or e.kind,
                        _amt(e.amount_minor, cur),
                    ]
                    for e in r.entries_not_on_bank
                ],
                [1.4 * cm, 2 * cm, 11 * cm, 3 * cm],
            )
        )
    else:
        story.append(_p("Nessuna."))
    if r.from_date is not None:
        story.append(Spacer(1, 8))
        story.append(
            _p(
                "Le registrazioni anteriori al "
                f"{_date_it(r.from_date)} (primo giorno del primo estratto conto importato) "
                "sono comprese nel saldo di apertura della banca."
            )
        )
    register_fonts()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=1.8 * cm,
        rightMargin=1.8 * cm,
        topMargin=1.8 * cm,
        bottomMargin=1.8 * cm,
        title=f"Riconciliazione bancaria {r.iban} {r.as_of}",
        author="Registro comunitario",
        invariant=1,
        initialFontName=SANS,
    )
    stamp = r.as_of

    def decorate(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setDateFormatter(lambda *_: f"D:{stamp:%Y%m%d}")
        draw_string(
            canvas,
            1.8 * cm,
            1.1 * cm,
            f"Riconciliazione bancaria - {r.iban} - {_date_it(r.as_of)} - pagina {doc.page}",
            size=7.5,
        )
        canvas.restoreState()

    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()
