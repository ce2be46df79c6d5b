"""The report to a funder as a PDF (reportlab, the house fonts): the data of
`ledger.projects.report.FunderReport`, printed.

Amounts are printed 1.234,56 EUR, texts are Italian, names print as written in
any script (`ledger.statements.pdf_fonts`); rendered in reportlab's invariant
mode, so equal data make equal bytes.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from typing import Any, Final

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import cm
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from ledger.core.money import format_it
from ledger.projects.report import FunderReport
from ledger.statements.pdf_fonts import SANS, draw_string, paragraph, register_fonts, text_style
from ledger.statements.project_report import KIND_WORDS, PAID_BY_WORDS

_GREY = colors.HexColor("#777777")
_STYLES: Final = {
    "title": text_style("p_title", bold=True, fontSize=15, leading=19),
    "h2": text_style("p_h2", bold=True, fontSize=12, leading=15, spaceBefore=8),
    "body": text_style("p_body", fontSize=9, leading=12),
    "cell": text_style("p_cell", fontSize=7.5, leading=9.5),
    "hash": text_style("p_hash", fontSize=8, leading=10),
}


class _Amount(str):
    """An amount cell: printed on one line, right-aligned."""


def _p(text: str, style: str = "body") -> Paragraph:
    return paragraph(text, _STYLES[style], multiline=True)


def _date_it(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def _grid(data: list[list[Any]], widths: list[float]) -> Table:
    rows = [[c if isinstance(c, _Amount) else _p(str(c), "cell") for c in row] for row in data]
    table = Table(rows, colWidths=widths, hAlign="LEFT", repeatRows=1)
    style = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("FONT", (0, 0), (-1, -1), SANS, 7.5),
        ("LEFTPADDING", (0, 0), (-1, -1), 2),
        ("RIGHTPADDING", (0, 0), (-1, -1), 2),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, _GREY),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
    ]
    for y, row in enumerate(rows):
        for x, c in enumerate(row):
            if isinstance(c, _Amount):
                style.append(("ALIGN", (x, y), (x, y), "RIGHT"))
    table.setStyle(TableStyle(style))
    return table


def _pct(value: Decimal | None) -> str:
    if value is None:
        return "-"
    return f"{value.quantize(Decimal('0.01'))} %".replace(".", ",")


def report_pdf(r: FunderReport, *, generated_on: date) -> bytes:
    """The report as PDF bytes; `generated_on` is printed as its date (not the clock)."""
    cur = r.currency

    def a(minor: int) -> _Amount:
        return _Amount(format_it(minor, cur))

    story: list[Flowable] = [
        _p(f"{KIND_WORDS[r.kind]} al finanziatore {r.funder_name}", "title"),
        _p(f"Progetto n. {r.project_id}: {r.title}"),
        _p(f"Capofila: {r.lead}"),
        _p(
            f"Programma: {r.programme or '-'}; bando: {r.call_reference or '-'}; "
            f"versione del budget: {r.budget_version or '-'}"
        ),
        _p(
            f"Periodo: dal {_date_it(r.starts_on)} al {_date_it(r.ends_on)}. "
            f"Soglia di scostamento per voce: {r.variance_pct} %."
        ),
        Spacer(1, 6),
        _p("Budget e spese per voce", "h2"),
    ]
    rows: list[list[Any]] = [["Voce", "Descrizione", "Budget", "Speso", "%", "Oltre soglia"]]
    for line in r.lines:
        rows.append(
            [
                line.code,
                line.title,
                a(line.budget_minor),
                a(line.actual_minor),
                _Amount(_pct(line.pct)),
                "SÌ" if line.flagged else "no",
            ]
        )
    story.append(_grid(rows, [1.6 * cm, 5.6 * cm, 3 * cm, 3 * cm, 2 * cm, 2 * cm]))
    story.append(_p("Totali per fonte di finanziamento", "h2"))
    rows = [["Fonte", "Budget", "Effettivo", "Conteggiata"]]
    for s in r.sources:
        rows.append([s.label, a(s.budget_minor), a(s.actual_minor), "sì" if s.counted else "no"])
    story.append(_grid(rows, [7.2 * cm, 3.4 * cm, 3.4 * cm, 3 * cm]))
    story.append(_p("Contributo e cofinanziamento", "h2"))
    rows = [
        ["Voce", "Importo"],
        ["Costo totale a budget", a(r.total_budget_minor)],
        ["Costo totale ammissibile sostenuto", a(r.total_actual_minor)],
        ["Contributo concesso", a(r.grant_minor)],
        ["Contributo spettante (arrotondato per difetto al centesimo)", a(r.grant_due_minor)],
        ["Anticipi e tranche ricevuti", a(r.advances_minor)],
        ["Ancora da ricevere", a(r.still_due_minor)],
        [
            "Da restituire" if r.kind == "final" else "Anticipi non ancora giustificati",
            a(r.to_give_back_minor),
        ],
        ["Quota di cofinanziamento (effettiva)", _Amount(_pct(r.cofinancing_share * 100))],
        ["Quota di cofinanziamento (a budget)", _Amount(_pct(r.cofinancing_share_budget * 100))],
    ]
    story.append(_grid(rows, [11 * cm, 6 * cm]))
    story.append(
        _p(
            "Contributo spettante = min(contributo concesso, contributo concesso x costo "
            "ammissibile sostenuto / costo a budget)."
        )
    )
    story.append(_p("Documenti di spesa e quietanze", "h2"))
    rows = [["N.", "Documento", "Fornitore", "Ammissibile", "Imputato al fin.", "Quietanza"]]
    for d in r.documents:
        proof = d.proof or "manca"
        rows.append(
            [
                str(d.id),
                f"{d.kind} {d.number} del {_date_it(d.issued_on)}",
                d.supplier,
                a(d.eligible_minor),
                a(d.charged_to_funder_minor),
                f"{proof} ({PAID_BY_WORDS[d.paid_by]})",
            ]
        )
    if len(rows) == 1:
        rows.append(["-", "Nessun documento nel periodo", "", "", "", ""])
    story.append(_grid(rows, [1 * cm, 4.4 * cm, 3.6 * cm, 2.6 * cm, 2.6 * cm, 3 * cm]))
    f = r.figurative
    story.append(_p("Costi e proventi figurativi (fuori dai saldi di cassa)", "h2"))
    rows = [
        ["Voce", "Budget", "Effettivo", "Conteggiati"],
        [
            f"Volontariato valorizzato ({Decimal(f.volunteer_minutes) / 60} ore)",
            a(f.volunteer_budget_minor),
            a(f.volunteer_minor),
            "sì" if f.volunteer_counted else "no",
        ],
        [
            "Apporti in natura al valore equo",
            a(f.in_kind_budget_minor),
            a(f.in_kind_minor),
            "sì" if f.in_kind_counted else "no",
        ],
    ]
    story.append(_grid(rows, [8 * cm, 3 * cm, 3 * cm, 3 * cm]))
    story += [
        Spacer(1, 8),
        _p("Verifica dell'integrità del registro", "h2"),
        _p(
            "Questo rendiconto copre il registro fino alla registrazione numero "
            f"{r.head_sequence} (l'ultima con data contabile entro il {_date_it(r.ends_on)}). "
            "L'impronta SHA-256 della catena a quella registrazione è:"
        ),
        _p(r.head_hash, "hash"),
    ]
    register_fonts()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=1.8 * cm,
        rightMargin=1.8 * cm,
        topMargin=1.8 * cm,
        bottomMargin=1.8 * cm,
        title=f"Rendiconto {r.title} {r.starts_on}-{r.ends_on}",
        author="Registro comunitario",
        invariant=1,
        initialFontName=SANS,
    )

    def decorate(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setDateFormatter(lambda *_: f"D:{generated_on:%Y%m%d}")
        draw_string(
            canvas,
            1.8 * cm,
            1.1 * cm,
            f"{KIND_WORDS[r.kind]} - {r.title} - {r.funder_name} - "
            f"{_date_it(r.starts_on)}-{_date_it(r.ends_on)} - pagina {doc.page}",
            size=7.5,
        )
        canvas.restoreState()

    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()
