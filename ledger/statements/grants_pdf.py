"""The grant statement as a PDF (reportlab): the data of `ledger.statements.grants`, printed.

Amounts are printed 1.234,56 EUR; texts are Italian, and names and titles
print as written, in any script, in the package's fonts
(`ledger.statements.pdf_fonts`). The PDF is rendered in reportlab's invariant
mode: equal data, equal bytes.
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any, Final

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import cm
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from ledger.core.money import format_it
from ledger.statements.grants import (
    CAMPAIGN_STATUS_WORDS,
    EVENT_LABELS,
    STATE_LABELS,
    STATES,
    CommitmentPart,
    GrantStatement,
    instant_it,
)
from ledger.statements.pdf_fonts import (
    SANS,
    draw_string,
    paragraph,
    register_fonts,
    text_style,
)

_GREY = colors.HexColor("#777777")
_STYLES: Final = {
    "title": text_style("title", bold=True, fontSize=15, leading=19),
    "h2": text_style("h2", bold=True, fontSize=12, leading=15, spaceBefore=8),
    "h3": text_style("h3", bold=True, fontSize=10, leading=13, spaceBefore=6),
    "body": text_style("body", fontSize=9, leading=12),
    "cell": text_style("cell", fontSize=8, leading=10),
    "small": text_style("small", fontSize=7.5, leading=9.5),
    "hash": text_style("hash", fontSize=8, leading=10),
}


def _p(text: str, style_name: str = "body") -> Paragraph:
    return paragraph(text, _STYLES[style_name], multiline=True)


def _table(data: list[list[Any]], widths: list[float], *, header: bool = True) -> Table:
    """Text cells wrap (Paragraph); amounts stay plain strings on one line, right-aligned."""
    table = Table(
        [[_p(c, "cell") if isinstance(c, str) else c for c in row] for row in data],
        colWidths=widths,
        hAlign="LEFT",
        repeatRows=1 if header else 0,
    )
    style = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("FONT", (0, 0), (-1, -1), SANS, 8),
        ("LEFTPADDING", (0, 0), (-1, -1), 2),
        ("RIGHTPADDING", (0, 0), (-1, -1), 2),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, _GREY),
    ]
    if header:
        style.append(("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black))
    table.setStyle(TableStyle(style))
    return table


class _Amount(str):
    """An amount cell: kept as a plain (unwrapped) string by `_table`."""


def _cells(row: list[Any]) -> list[Any]:
    return [_p(c, "cell") if type(c) is str else str(c) for c in row]


def _grid(data: list[list[Any]], widths: list[float], *, header: bool = True) -> Table:
    rows = [_cells(r) for r in data]
    table = Table(rows, colWidths=widths, hAlign="LEFT", repeatRows=1 if header else 0)
    style = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("FONT", (0, 0), (-1, -1), SANS, 8),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
        ("LEFTPADDING", (0, 0), (-1, -1), 2),
        ("RIGHTPADDING", (0, 0), (-1, -1), 2),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, _GREY),
    ]
    if header:
        style.append(("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black))
    table.setStyle(TableStyle(style))
    return table


def _amt(minor: int, currency: str) -> _Amount:
    return _Amount(format_it(minor, currency))


def _date_it(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def _commitment_story(part: CommitmentPart, start: date, end: date) -> list[Flowable]:
    cur = part.currency
    story: list[Flowable] = [
        _p(f"Impegno n. {part.commitment_id}: {part.title}", "h2"),
        _p(("Impegno annullato. " if part.status == "cancelled" else "") + part.counting_words),
        Spacer(1, 4),
        _p("Regole dell'impegno", "h3"),
        _table(
            [[label, words] for label, words in part.rules], [5.2 * cm, 12.2 * cm], header=False
        ),
        _p("Stato del cofinanziamento (dai saldi del registro)", "h3"),
    ]
    before = start - timedelta(days=1)
    rows: list[list[Any]] = [["Stato", f"Al {_date_it(before)}", f"Al {_date_it(end)}"]]
    rows += [
        [STATE_LABELS[s], _amt(getattr(part.opening, s), cur), _amt(getattr(part.states, s), cur)]
        for s in STATES
    ]
    rows.append(
        [
            "Totale (parola della fondazione)",
            _amt(part.opening.word, cur),
            _amt(part.states.word, cur),
        ]
    )
    rows.append(
        [
            "Rimborsi senza recupero finora (politica 'mantieni')",
            _Amount("-"),
            _amt(part.kept_to_date_minor, cur),
        ]
    )
    rows.append(
        [
            "Decaduto finora (tornato al fondo)",
            _Amount("-"),
            _amt(part.forfeited_to_date_minor, cur),
        ]
    )
    story.append(_grid(rows, [8.4 * cm, 4.5 * cm, 4.5 * cm]))
    for camp in part.campaigns:
        story.append(_p(f"Campagna n. {camp.campaign_id}: {camp.title}", "h3"))
        figures: list[list[Any]] = [
            ["Voce", "Importo"],
            ["Stato della campagna", _Amount(CAMPAIGN_STATUS_WORDS.get(camp.status, camp.status))],
            ["Budget (obiettivo)", _amt(camp.budget_minor, cur)],
        ]
        if camp.threshold_minor is not None:
            figures.append(["Soglia", _amt(camp.threshold_minor, cur)])
        figures += [
            ["Donazioni incassate (numero)", _Amount(str(camp.gifts))],
            [
                "Raccolto dalla comunità (lordo, al netto dei rimborsi)",
                _amt(camp.raised_minor, cur),
            ],
            ["Commissioni di pagamento", _amt(camp.fees_minor, cur)],
            [
                "Conteggiato per il cofinanziamento ("
                + ("netto" if part.count_net else "lordo")
                + ")",
                _amt(camp.counted_minor, cur),
            ],
        ]
        figures += [[STATE_LABELS[s], _amt(camp.states[s], cur)] for s in STATES[1:]]
        story.append(_grid(figures, [11.4 * cm, 6 * cm]))
        donors: list[list[Any]] = [["Donatori che hanno acconsentito a essere nominati", "Importo"]]
        donors += [
            [
                f"{d.name} ({d.gifts} {'donazione' if d.gifts == 1 else 'donazioni'})",
                _amt(d.amount_minor, cur),
            ]
            for d in camp.named
        ]
        donors.append(
            [
                f"Donatori non nominati ({camp.unnamed_gifts} "
                f"{'donazione' if camp.unnamed_gifts == 1 else 'donazioni'})",
                _amt(camp.unnamed_minor, cur),
            ]
        )
        story.append(Spacer(1, 3))
        story.append(_grid(donors, [11.4 * cm, 6 * cm]))
    if any(part.unattributed.values()):
        story.append(_p("Importi non attribuiti a una campagna", "h3"))
        story.append(
            _grid(
                [["Stato", "Importo"]]
                + [[STATE_LABELS[s], _amt(v, cur)] for s, v in part.unattributed.items() if v],
                [11.4 * cm, 6 * cm],
            )
        )
    story.append(_p("Movimenti nel periodo", "h3"))
    if part.period_totals:
        totals: list[list[Any]] = [["Movimento", "Numero", "Importo"]]
        totals += [
            [EVENT_LABELS.get(kind, kind), _Amount(str(count)), _amt(amount, cur)]
            for kind, count, amount in part.period_totals
        ]
        story.append(_grid(totals, [9.4 * cm, 2 * cm, 6 * cm]))
    else:
        story.append(_p("Nessun movimento nel periodo."))
    if part.events:
        story.append(Spacer(1, 3))
        lines: list[list[Any]] = [
            ["Data e ora (Roma)", "Movimento", "Campagna", "Reg. n.", "Importo"]
        ]
        for e in part.events:
            what = EVENT_LABELS.get(e.kind, e.kind) + (f": {e.note}" if e.note else "")
            lines.append(
                [
                    _Amount(instant_it(e.at)),
                    what,
                    _Amount(str(e.campaign_id) if e.campaign_id else "-"),
                    _Amount(str(e.entry_sequence) if e.entry_sequence else "-"),
                    _amt(e.amount_minor, cur),
                ]
            )
        table = _grid(lines, [3.3 * cm, 6.4 * cm, 1.6 * cm, 1.5 * cm, 4.6 * cm])
        story.append(table)
    return story


def render_grant_statement_pdf(s: GrantStatement) -> bytes:
    """The statement as a PDF (Italian, A4)."""
    story: list[Flowable] = [
        _p("Rendiconto dei cofinanziamenti", "title"),
        _p(
            f"Fondazione: {s.foundation_name}"
            + (f" (C.F. {s.foundation_tax_code})" if s.foundation_tax_code else "")
        ),
        _p(f"Periodo: dal {_date_it(s.start)} al {_date_it(s.end)} (date contabili, ora di Roma)"),
        _p(f"Generato il {_date_it(s.generated_on)}. Importi in euro: 1.234,56 EUR."),
        Spacer(1, 6),
    ]
    if s.totals:
        story.append(_p("Riepilogo di tutti gli impegni a fine periodo", "h2"))
        for cur, tally in sorted(s.totals.items()):
            rows: list[list[Any]] = [["Stato", "Importo"]]
            rows += [[STATE_LABELS[state], _amt(tally[state], cur)] for state in STATES]
            story.append(_grid(rows, [11.4 * cm, 6 * cm]))
    else:
        story.append(_p("Nessun impegno della fondazione entro la fine del periodo."))
    for part in s.commitments:
        story.extend(_commitment_story(part, s.start, s.end))
    story += [
        Spacer(1, 10),
        _p("Verifica dell'integrità del registro", "h2"),
        _p(
            "Questo rendiconto copre il registro fino alla registrazione numero "
            f"{s.head_sequence} (l'ultima con data contabile entro il {_date_it(s.end)}). "
            "L'impronta SHA-256 della catena a quella registrazione è:"
        ),
        _p(s.head_hash, "hash"),
        _p(
            "Se una registrazione fino a quel numero venisse modificata, l'impronta calcolata "
            "dal comando 'ledger verify' non coinciderebbe più con questa."
        ),
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
        title=f"Rendiconto cofinanziamenti {s.foundation_name} {s.start}-{s.end}",
        author="Registro comunitario",
        invariant=1,
        initialFontName=SANS,
    )
    stamp = s.generated_on

    def decorate(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setDateFormatter(lambda *_: f"D:{stamp:%Y%m%d}")
        draw_string(
            canvas,
            1.8 * cm,
            1.1 * cm,
            f"Rendiconto cofinanziamenti - {s.foundation_name} - "
            f"{_date_it(s.start)}-{_date_it(s.end)} - pagina {doc.page}",
            size=7.5,
        )
        canvas.restoreState()

    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()
