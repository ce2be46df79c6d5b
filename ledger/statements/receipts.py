"""Receipts for gifts to a Third Sector entity (ricevute di erogazione liberale).

Rule: a settled donation gets one receipt, numbered per recipient entity and
year ("2026/000017"); a refund voids it, and a voided receipt is rendered again
with an "ANNULLATA" banner and watermark, never deleted or renumbered. The
receipt states what Italian practice expects of a gift to an ETS (art. 83
D.Lgs. 117/2017): the recipient with its codice fiscale, qualification and
RUNTS number; the donor and their codice fiscale when given; the amount in
figures and in words; the date of the gift; the payment method, its reference
and whether it is traceable (cash is neither deductible nor detractable); that
the gift has no consideration; and the tax relief that applies. Amounts are
positive integer minor units.

This module only renders: the receipt's data, its number format and its
printable texts are `ledger.campaigns.receipt_data` (the rows it is read from
are the campaigns'), and the caller decides what to print (a donor anonymous
to the public still gets their own name on their own receipt) and allocates
the numbers. Equal data renders equal bytes: the PDF is written in reportlab's
invariant mode and dated with the issue date, so a receipt can be regenerated
and compared byte for byte, given the same reportlab version. Names print as
people wrote them, in any script, in the package's Unicode fonts
(`ledger.statements.pdf_fonts`).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date
from typing import Any, Final

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import cm
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from ledger.campaigns.errors import InvalidReceiptError
from ledger.campaigns.receipt_data import (
    PAYMENT_METHODS,
    RECEIPT_NUMBER_DIGITS,
    PaymentMethod,
    ReceiptData,
    format_receipt_number,
    is_traceable,
)
from ledger.core.money import format_it
from ledger.statements.amount_words import importo_in_lettere
from ledger.statements.pdf_fonts import (
    SANS,
    SANS_BOLD,
    draw_string,
    paragraph,
    pdf_text,
    register_fonts,
    text_style,
)

# The receipt's data and rules live in `ledger.campaigns.receipt_data`; these
# names stay importable from here, where the PDF is made from them.
__all__ = [
    "ANONYMOUS_DONOR",
    "CASH_RELIEF_TEXT",
    "METHOD_LABELS",
    "PAYMENT_METHODS",
    "RECEIPT_NUMBER_DIGITS",
    "VOID_WATERMARK",
    "InvalidReceiptError",
    "PaymentMethod",
    "ReceiptData",
    "amount_in_words",
    "format_date_it",
    "format_receipt_number",
    "is_odv",
    "is_traceable",
    "pdf_text",
    "render_receipt_pdf",
    "tax_relief_text",
]

METHOD_LABELS: Final[dict[str, str]] = {
    "card": "Carta di pagamento (credito, debito o prepagata)",
    "bank_transfer": "Bonifico bancario",
    "cash": "Contanti",
}

# Art. 83 D.Lgs. 117/2017: the IRPEF detraction rate and the yearly ceiling on the gifts.
DETRACTION_PERCENT: Final = 30
DETRACTION_PERCENT_ODV: Final = 35
DETRACTION_CEILING_EUR: Final = "30.000"
DEDUCTION_PERCENT_OF_INCOME: Final = 10

CASH_RELIEF_TEXT: Final = (
    "Erogazione in contanti: non detraibile né deducibile "
    "(art. 83, commi 1 e 2, D.Lgs. 117/2017 richiede un pagamento tracciabile)"
)

ANONYMOUS_DONOR: Final = "Donatore anonimo / non identificato"
VOID_WATERMARK: Final = "ANNULLATA"


# --------------------------------------------------------------------------- tax relief


def is_odv(qualification: str) -> bool:
    """Whether a qualification label names an organizzazione di volontariato."""
    label = " ".join(qualification.replace(".", "").split()).upper()
    return "ODV" in label.replace("-", " ").split() or "ORGANIZZAZIONE DI VOLONTARIATO" in label


def tax_relief_text(qualification: str, method: str) -> str:
    """The Italian statement of the tax relief for a gift to an ETS with `qualification`.

    Traceable gifts: art. 83 D.Lgs. 117/2017, IRPEF detraction of 30% (35% for an
    ODV) on gifts up to 30.000 euro a year, or alternatively a deduction within
    10% of declared income; the two do not combine. Cash gifts: no relief.
    Whether the recipient is a non-commercial ETS entitled to offer the relief
    is the caller's to know; the label only picks the rate.
    """
    if not is_traceable(method):
        return CASH_RELIEF_TEXT
    odv = is_odv(qualification)
    rate = DETRACTION_PERCENT_ODV if odv else DETRACTION_PERCENT
    rate_note = (
        " (aliquota prevista per le erogazioni a favore di organizzazioni di volontariato)"
        if odv
        else ""
    )
    return (
        "Erogazione liberale effettuata con mezzo di pagamento tracciabile. "
        "Ai sensi dell'art. 83, comma 1, del D.Lgs. 117/2017 (Codice del Terzo settore) "
        f"la persona fisica che dona può detrarre dall'imposta lorda IRPEF il {rate}% "
        f"dell'importo erogato{rate_note}, per erogazioni complessivamente non superiori "
        f"a {DETRACTION_CEILING_EUR} euro in ciascun periodo d'imposta. "
        "In alternativa, ai sensi dell'art. 83, comma 2, l'erogazione è deducibile dal "
        "reddito complessivo netto del soggetto erogatore (persona fisica, ente o società) "
        f"nel limite del {DEDUCTION_PERCENT_OF_INCOME}% del reddito complessivo dichiarato; "
        "l'eventuale eccedenza è deducibile nei periodi d'imposta successivi, non oltre il "
        "quarto. Detrazione e deduzione non sono cumulabili tra loro né con altre "
        "agevolazioni fiscali previste per la medesima erogazione."
    )


# --------------------------------------------------------------------------- the PDF


def format_date_it(day: date) -> str:
    """An Italian date: 07/03/2026."""
    return day.strftime("%d/%m/%Y")


def amount_in_words(minor: int, currency: str) -> str:
    """The written amount with its unit: "milleduecentotrentaquattro/56 euro"."""
    unit = "euro" if currency == "EUR" else currency
    return f"{importo_in_lettere(minor, currency)} {unit}"


_INK: Final = colors.black
_VOID_RED: Final = colors.Color(0.75, 0.0, 0.0)
_WATERMARK_RED: Final = colors.Color(1.0, 0.82, 0.82)
_RULE_GREY: Final = colors.Color(0.6, 0.6, 0.6)

_STYLES: Final = {
    "entity": text_style("entity", bold=True, fontSize=14, leading=18),
    "small": text_style("small", fontSize=9, leading=12),
    "title": text_style("title", bold=True, fontSize=15, leading=20, spaceBefore=14),
    "heading": text_style(
        "heading", bold=True, fontSize=11, leading=15, spaceBefore=10, spaceAfter=3
    ),
    "body": text_style("body", fontSize=9.5, leading=13.5),
    "label": text_style("label", fontSize=9, leading=13),
    "value": text_style("value", bold=True, fontSize=10, leading=13),
    # The amount in words is one long word; regular and a little smaller, it stays on
    # one line up to millions.
    "words": text_style("words", fontSize=9.5, leading=13),
    "void": text_style(
        "void", bold=True, fontSize=11, leading=15, textColor=_VOID_RED, alignment=TA_CENTER
    ),
}


def _p(text: str, style_name: str, *, multiline: bool = False) -> Paragraph:
    return paragraph(text, _STYLES[style_name], multiline=multiline)


def _rows(rows: list[tuple[str, str]], *, words: str | None = None) -> Table:
    """A two-column block of label and value; the value labelled `words` is the
    amount in words."""
    data = [
        [_p(label, "label"), _p(value, "words" if label == words else "value")]
        for label, value in rows
    ]
    table = Table(data, colWidths=[5.2 * cm, None], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), SANS),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
                ("LINEBELOW", (0, 0), (-1, -2), 0.25, _RULE_GREY),
            ]
        )
    )
    return table


def _void_banner(data: ReceiptData) -> Table:
    assert data.voided_on is not None
    lines = [f"RICEVUTA {VOID_WATERMARK} il {format_date_it(data.voided_on)}"]
    if data.void_reason is not None:
        lines.append(f"Motivo: {data.void_reason}")
    lines.append("La presente ricevuta non ha valore ai fini fiscali.")
    cell = [_p(line, "void") for line in lines]
    banner = Table([[cell]], colWidths=[None])
    banner.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), SANS),
                ("BOX", (0, 0), (-1, -1), 1.5, _VOID_RED),
                ("TOPPADDING", (0, 0), (-1, -1), 6),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
            ]
        )
    )
    return banner


def _story(data: ReceiptData) -> list[Flowable]:
    story: list[Flowable] = [
        _p(data.recipient_name, "entity"),
        _p(
            f"{data.recipient_qualification} - Codice fiscale {data.recipient_tax_code}",
            "small",
        ),
    ]
    if data.runts_number is not None:
        story.append(_p(f"Iscrizione RUNTS n. {data.runts_number}", "small"))
    if data.recipient_address is not None:
        story.append(_p(data.recipient_address, "small", multiline=True))
    story += [
        _p(f"Ricevuta di erogazione liberale n. {data.number}", "title"),
        _p(f"Emessa il {format_date_it(data.issued_on)}", "body"),
        Spacer(1, 6),
    ]
    if data.voided_on is not None:
        story += [_void_banner(data), Spacer(1, 2)]

    donor: list[tuple[str, str]] = [
        ("Donatore", data.donor_name or ANONYMOUS_DONOR),
    ]
    if data.donor_codice_fiscale is not None:
        donor.append(("Codice fiscale", data.donor_codice_fiscale))
    story += [_p("Donatore", "heading"), _rows(donor)]

    gift: list[tuple[str, str]] = [
        ("Importo", format_it(data.amount_minor, data.currency)),
        ("Importo in lettere", amount_in_words(data.amount_minor, data.currency)),
        ("Data dell'erogazione", format_date_it(data.donated_on)),
        ("Modalità di pagamento", METHOD_LABELS[data.method]),
    ]
    if data.payment_reference is not None:
        gift.append(("Riferimento del pagamento", data.payment_reference))
    gift += [
        ("Pagamento tracciabile", "Sì" if data.traceable else "No"),
        ("Raccolta fondi", data.campaign_title),
    ]
    story += [_p("Erogazione", "heading"), _rows(gift, words="Importo in lettere")]

    declaration = (
        f"{data.recipient_name} dichiara di aver ricevuto la somma sopra indicata a titolo di "
        "erogazione liberale, senza alcuna controprestazione, destinata allo svolgimento "
        "delle attività istituzionali dell'ente, nell'ambito della raccolta fondi "
        f"«{data.campaign_title}»."
    )
    story += [
        _p("Dichiarazione", "heading"),
        _p(declaration, "body"),
        _p("Trattamento fiscale", "heading"),
        _p(tax_relief_text(data.recipient_qualification, data.method), "body"),
    ]
    return story


def _page_decorator(data: ReceiptData) -> Callable[[Any, Any], None]:
    footer = f"Ricevuta n. {data.number} - {data.recipient_name} - C.F. {data.recipient_tax_code}"

    def decorate(canvas: Any, doc: Any) -> None:
        # Runs when a page begins, so the watermark lies under the text.
        width, height = A4
        canvas.saveState()
        canvas.setDateFormatter(lambda *_: f"D:{data.issued_on:%Y%m%d}")
        if data.voided_on is not None:
            canvas.setFillColor(_WATERMARK_RED)
            canvas.setFont(SANS_BOLD, 96)
            canvas.translate(width / 2, height / 2)
            canvas.rotate(45)
            canvas.drawCentredString(0, -32, VOID_WATERMARK)
            canvas.rotate(-45)
            canvas.translate(-width / 2, -height / 2)
        canvas.setFillColor(_INK)
        draw_string(canvas, 2 * cm, 1.2 * cm, footer, size=8)
        canvas.setFont(SANS, 8)
        canvas.drawRightString(width - 2 * cm, 1.2 * cm, f"pagina {doc.page}")
        canvas.restoreState()

    return decorate


def render_receipt_pdf(data: ReceiptData) -> bytes:
    """Render `data` as an A4 PDF receipt; equal data gives equal bytes."""
    if not isinstance(data, ReceiptData):
        raise TypeError("render_receipt_pdf takes a ReceiptData")
    register_fonts()
    title = f"Ricevuta di erogazione liberale n. {data.number}"
    subject = f"Erogazione liberale - raccolta fondi «{data.campaign_title}»"
    if data.is_void:
        subject += f" - {VOID_WATERMARK}"
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=2 * cm,
        rightMargin=2 * cm,
        topMargin=2 * cm,
        bottomMargin=2 * cm,
        title=title,
        author=data.recipient_name,
        subject=subject,
        creator="community-ledger",
        lang="it-IT",
        invariant=1,
        initialFontName=SANS,
    )
    decorate = _page_decorator(data)
    doc.build(_story(data), onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()
