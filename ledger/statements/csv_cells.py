"""The cells of every CSV the product writes, safe to open in a spreadsheet.

Rule: Excel, LibreOffice and Google Sheets run a cell whose text begins with
`=`, `+`, `-` or `@` as a formula (`=HYPERLINK(...)` leaks data,
`-2+3+cmd|...` asks to run a program); some also drop a leading tab or
carriage return first, and fold the full-width forms (＝ ＋ － ＠) into the
ASCII ones. So a text cell whose first character is any of these (or folds
into one under NFKC) is written with a leading apostrophe: a spreadsheet then
shows it as text, and a program reading the file sees the apostrophe and the
text unchanged after it.

Only the numbers the code writes itself are exempt, and the writer knows them
by their type, never by their look: an `int` (ids, counts, sequences), a
`Decimal`, a `date`, or a `Figure` (an amount as the code formats it,
"-12.50", which must stay a number). Every `str` is text, whoever wrote it: a
donor's name, a title, a narration, a label of the code's own. `None` is an
empty cell.

`csv_writer` is the only way the product writes CSV (a test looks for any
other): every row it writes goes through `cell`, and `escape_text` is the one
escaping rule. Fields are quoted as RFC 4180 says, with "\\n" line ends.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Final, TextIO

from ledger.core.money import format_minor

# The first characters a spreadsheet may read as the start of a formula.
FORMULA_STARTS: Final = frozenset("=+-@\t\r")
_NUMBER: Final = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_QUOTED: Final = re.compile(r'[",\r\n]')

Cell = str | int | Decimal | date | None


class Figure(str):
    """A number the code wrote itself as a plain decimal string ("-12.50", "7").

    Written as it is: a spreadsheet reads it as a number. Anything that is not
    such a number is refused, so a text can never pass as a figure.
    """

    __slots__ = ()

    def __new__(cls, text: str) -> Figure:
        if not isinstance(text, str) or not _NUMBER.fullmatch(text):
            raise ValueError(f"{text!r} is not a plain decimal number")
        return super().__new__(cls, text)


def amount_cell(minor: int, currency: str) -> Figure:
    """An amount as CSVs write it: a plain decimal string in the currency's scale."""
    return Figure(format_minor(minor, currency))


def escape_text(text: str) -> str:
    """`text` with a leading apostrophe when a spreadsheet would run it as a formula."""
    if not text:
        return text
    first = text[0]
    if first in FORMULA_STARTS or unicodedata.normalize("NFKC", first)[:1] in FORMULA_STARTS:
        return "'" + text
    return text


def cell(value: Cell) -> str:
    """One cell's text: the code's own numbers as they are, every text escaped."""
    if value is None:
        return ""
    if isinstance(value, Figure):
        return str(value)
    if isinstance(value, str):
        return escape_text(value)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"a CSV cell is text, a number or a date, not {type(value).__name__}")


class CsvWriter:
    """Rows of cells, each through `cell`, as RFC 4180 CSV with "\\n" line ends.

    A field is quoted when it holds a comma, a double quote, a line feed or a
    carriage return (`csv.writer` with "\\n" line ends leaves a carriage return
    unquoted, which splits the row in a spreadsheet and breaks `csv.reader`).
    """

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def writerow(self, row: Iterable[Cell]) -> None:
        self._out.write(",".join(_field(cell(value)) for value in row) + "\n")

    def writerows(self, rows: Iterable[Iterable[Cell]]) -> None:
        for row in rows:
            self.writerow(row)


def _field(text: str) -> str:
    if _QUOTED.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_writer(out: TextIO) -> CsvWriter:
    """The product's CSV writer on `out`: comma-separated, "\\n" line ends, cells escaped."""
    return CsvWriter(out)
