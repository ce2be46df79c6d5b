"""The fonts of every PDF the product makes, and text as those PDFs print it.

Rule: names and titles are printed as people wrote them, in any script; a
PDF never refuses a name nor strips its accents. Every PDF uses the TrueType
fonts shipped in `ledger/statements/fonts/` (never reportlab's built-in
Helvetica or Courier, which only cover Windows-1252): DejaVu Sans, regular and
bold, for Latin, Greek, Cyrillic, Arabic, Hebrew and more, and Droid Sans
Fallback for the Chinese, Japanese and Korean characters DejaVu Sans lacks,
switched in run by run. Both are embedded as subsets, so the PDF shows the
same glyphs on every reader, and their text layer carries the characters
(a search or a copy finds the name). A character neither font has is still
written (it shows as an empty box, and its text is kept).

Arabic and Hebrew: reportlab draws left to right and does no shaping, so a
run of right-to-left letters (with the spaces and punctuation between them)
is put in visual order before it is drawn, as a left-to-right page shows it
(numbers inside keep their order, brackets are mirrored; see `visual_order`),
and Arabic letters print unjoined, in their isolated forms. A readable name,
not typesetting: a right-to-left run long enough to wrap onto a second line
reads out of order.

These limits are the PDF's only: the data and the CSV keep every text whole.

Equal data still renders equal bytes: reportlab subsets each font anew for
every document (the subsets are named by their order of use, not at random),
and the documents are written in invariant mode.
"""

from __future__ import annotations

import threading
import unicodedata
from pathlib import Path
from typing import Any, Final
from xml.sax.saxutils import escape

from reportlab.lib.fonts import addMapping
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph

FONT_DIR: Final = Path(__file__).with_name("fonts")
SANS: Final = "LedgerSans"
SANS_BOLD: Final = "LedgerSans-Bold"
CJK: Final = "LedgerSansCJK"
_FILES: Final = {
    SANS: "DejaVuSans.ttf",
    SANS_BOLD: "DejaVuSans-Bold.ttf",
    CJK: "DroidSansFallback.ttf",
}

_lock = threading.Lock()
_coverage: dict[str, frozenset[int]] = {}


def register_fonts() -> None:
    """Register the shipped fonts with reportlab, once per process (thread-safe)."""
    if _coverage:
        return
    with _lock:
        if _coverage:
            return
        faces: dict[str, frozenset[int]] = {}
        for name, filename in _FILES.items():
            font = TTFont(name, str(FONT_DIR / filename))
            pdfmetrics.registerFont(font)
            faces[name] = frozenset(font.face.charToGlyph)
        # <b> in a paragraph of the sans font picks its bold face.
        addMapping(SANS, 0, 0, SANS)
        addMapping(SANS, 1, 0, SANS_BOLD)
        addMapping(SANS, 0, 1, SANS)
        addMapping(SANS, 1, 1, SANS_BOLD)
        addMapping(SANS_BOLD, 0, 0, SANS_BOLD)
        addMapping(SANS_BOLD, 1, 0, SANS_BOLD)
        _coverage.update(faces)


def text_style(name: str, *, bold: bool = False, **settings: Any) -> ParagraphStyle:
    """A paragraph style in the shipped sans font (registered when a PDF is made)."""
    return ParagraphStyle(name, fontName=SANS_BOLD if bold else SANS, **settings)


def pdf_text(text: str, *, multiline: bool = False) -> str:
    """`text` as a PDF line prints it: whitespace collapsed, control and format
    characters (zero-width joiners, direction marks) dropped, every letter kept.

    With `multiline`, line breaks are kept (as "\\n") and each line is
    collapsed on its own; empty lines are dropped.
    """
    if multiline:
        lines = (pdf_text(line) for line in text.splitlines())
        return "\n".join(line for line in lines if line)
    kept = "".join(
        ch for ch in " ".join(text.split()) if unicodedata.category(ch) not in ("Cc", "Cf")
    )
    return " ".join(kept.split())


_RTL: Final = frozenset({"R", "AL"})
_DIGITS: Final = frozenset({"EN", "AN"})
_NUMBER_SEPARATORS: Final = frozenset({"CS", "ES"})
_MIRROR: Final = str.maketrans("()[]{}<>«»", ")(][}{><»«")


def visual_order(line: str) -> str:
    """`line` as a left-to-right page draws it: each run of right-to-left letters
    (with the spaces, punctuation and numbers between them) reversed, its numbers
    ("12", "01/02/2026") kept in reading order and its brackets mirrored.

    A run ends at its last right-to-left letter: the names this prints sit in
    Italian sentences, so what follows a name (a date, a page number) stays in
    its place, as if each name were a bidi isolate.
    """
    kinds = [unicodedata.bidirectional(ch) for ch in line]
    if not _RTL.intersection(kinds):
        return line
    out: list[str] = []
    i = 0
    while i < len(line):
        if kinds[i] not in _RTL:
            out.append(line[i])
            i += 1
            continue
        end = j = i
        while j < len(line) and kinds[j] != "L":
            if kinds[j] in _RTL:
                end = j
            j += 1
        atoms: list[str] = []
        k = i
        while k <= end:
            start = k
            if kinds[k] in _DIGITS:
                k += 1
                while k <= end and (
                    kinds[k] in _DIGITS
                    or (kinds[k] in _NUMBER_SEPARATORS and k + 1 <= end and kinds[k + 1] in _DIGITS)
                ):
                    k += 1
                atoms.append(line[start:k])
            else:
                atoms.append(line[k].translate(_MIRROR))
                k += 1
        out.append("".join(reversed(atoms)))
        i = end + 1
    return "".join(out)


def _runs(text: str, font: str) -> list[tuple[str, str]]:
    """`text` cut into (font, run): `font` where it has the glyph, else the CJK font
    where that has it, else `font` (an empty box)."""
    register_fonts()
    main, cjk = _coverage[font], _coverage[CJK]
    runs: list[tuple[str, str]] = []
    for ch in text:
        face = CJK if ord(ch) not in main and ord(ch) in cjk else font
        if runs and runs[-1][0] == face:
            runs[-1] = (face, runs[-1][1] + ch)
        else:
            runs.append((face, ch))
    return runs


def markup(text: str, font: str = SANS, *, multiline: bool = False) -> str:
    """`text` as paragraph markup: escaped, with the CJK runs in the fallback font."""
    parts = []
    lines = pdf_text(text, multiline=multiline).split("\n")
    for face, run in _runs("\n".join(visual_order(line) for line in lines), font):
        safe = escape(run).replace("\n", "<br/>")
        parts.append(safe if face == font else f'<font face="{face}">{safe}</font>')
    return "".join(parts)


def paragraph(text: str, paragraph_style: ParagraphStyle, *, multiline: bool = False) -> Paragraph:
    """A paragraph printing `text` (any script) in `paragraph_style`."""
    return Paragraph(markup(text, paragraph_style.fontName, multiline=multiline), paragraph_style)


def draw_string(
    canvas: Any, x: float, y: float, text: str, *, size: float, font: str = SANS
) -> None:
    """Draw one line of `text` (any script) at (x, y) on a reportlab canvas."""
    for face, run in _runs(visual_order(pdf_text(text)), font):
        canvas.setFont(face, size)
        canvas.drawString(x, y, run)
        x += pdfmetrics.stringWidth(run, face, size)
