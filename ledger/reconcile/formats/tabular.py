"""CSV and XLSX bank exports, read through a `Preset` a treasurer defines once per account.

A preset names the columns (by their header text): the booking date and its format,
the value date, either one signed amount column or separate debit and credit columns,
the text column(s); the decimal style (`it`: `1.250,00`, `en`: `1,250.00`), the rows to
skip before the header, the CSV delimiter and encodings, and how the file gives its
opening and closing balances, if at all: as pseudo-rows whose text carries a marker
(BancoPosta's `SALDO INIZIALE` / `SALDO FINALE`, amount in the amount/credit/debit
column, date in the date column), or in fixed cells of the sheet (Intesa). A debit
column's value is money out whatever sign the bank writes in it (BancoPosta writes
`2,90`, Intesa `-2.9`). Stray `|` characters around cells are dropped. The rows
end at the first empty row. Such files carry no account IBAN, currency code or bank
transaction id: `iban` is None (the importer binds the file to the account chosen),
`currency` is the preset's, `bank_ref` is None (a TRN inside the description stays in
the text). `raw` is the CSV row as in the file, or for XLSX a JSON list of the row's
cell values as strings.

Amounts are never floats: text is read digit by digit into minor units, and an XLSX
number cell (stored by Excel as a binary double, which openpyxl gives as float) is
read through its shortest decimal representation, `Decimal(repr(value))`, then
refused if it has more decimals than the currency.

Presets:

* `bancoposta` (Poste Italiane BancoPosta CSV): `;`-separated,
  `Data;Valuta;Addebiti;Accrediti;Descrizione operazioni`, dates `dd/mm/yy`, Italian
  decimals, pseudo-rows `SALDO INIZIALE` / `SALDO FINALE`, UTF-8 or cp1252.
* `intesa` (Intesa Sanpaolo "Lista Movimenti" XLSX). No real file was available; the
  layout assumed is the one the public ofxstatement-intesasp plug-in
  (github.com/Jacotsu/ofxstatement-intesasp, its "version 1" export
  `Movimenti_Conto_<date>.xlsx`) reads: sheet `Lista Movimenti`; the account in D8;
  the opening balance's date in D11 (`dd.mm.yyyy` text) and amount in E11; the closing
  balance's date in D12 and amount in E12; the currency name in D22 (`Euro`); the
  movements from row 30 under a header row 29 with columns A-G `Data contabile`,
  `Data valuta`, `Descrizione`, `Accrediti`, `Addebiti`, `Descrizione estesa`,
  `Mezzo` (dates as date cells, amounts as number cells, debits negative). Until a
  real export is checked, the preset is an assumption, as the tests' synthetic file is.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Literal

from ledger.core.errors import UnknownCurrencyError
from ledger.core.money import exponent
from ledger.reconcile.parsed import ParsedLine, ParsedStatement, StatementFormatError


@dataclass(frozen=True, slots=True)
class Preset:
    """How to read one bank's CSV or XLSX export (one per account, set once)."""

    name: str
    date_column: str
    date_format: str  # strptime format of a text date, e.g. "%d/%m/%y"
    text_columns: tuple[str, ...]
    value_date_column: str | None = None
    amount_column: str | None = None  # one signed column, or:
    debit_column: str | None = None
    credit_column: str | None = None
    decimal: Literal["it", "en"] = "it"
    skip_rows: int = 0  # rows before the header row
    delimiter: str = ";"
    encodings: tuple[str, ...] = ("utf-8-sig", "cp1252")
    currency: str = "EUR"
    sheet: str | None = None  # XLSX: the sheet's name (None: the first)
    # Balances as pseudo-rows: a marker found in the row's text.
    opening_marker: str | None = None
    closing_marker: str | None = None
    # Balances in fixed XLSX cells: (date cell, amount cell), e.g. ("D11", "E11").
    opening_cells: tuple[str, str] | None = None
    closing_cells: tuple[str, str] | None = None
    cell_date_format: str = "%d.%m.%Y"

    def __post_init__(self) -> None:
        single = self.amount_column is not None
        pair = self.debit_column is not None and self.credit_column is not None
        if single == pair:
            raise ValueError(f"preset {self.name}: an amount column or debit and credit columns")


# The fields a treasurer sets for an account's own preset (`preset_from_settings`).
SETTINGS = (
    "date_column",
    "date_format",
    "text_columns",
    "value_date_column",
    "amount_column",
    "debit_column",
    "credit_column",
    "decimal",
    "skip_rows",
    "delimiter",
    "sheet",
)
DELIMITERS = (";", ",", "\t", "|")
MAX_SKIP_ROWS = 1000
MAX_COLUMN = 100


def preset_from_settings(settings: dict[str, object], *, currency: str) -> Preset:
    """The account's own preset from its stored settings, checked: column names
    given and short, a date format that reads and writes a date back, an amount
    column or debit and credit columns, `it` or `en` decimals, a known delimiter,
    0 to 1000 rows to skip. Raises ValueError with what is wrong."""
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(unknown)}")

    def column(key: str, *, required: bool = False) -> str | None:
        value = settings.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise ValueError(f"{key} is required")
            return None
        if not isinstance(value, str) or len(value.strip()) > MAX_COLUMN:
            raise ValueError(f"{key}: a column name of at most {MAX_COLUMN} characters")
        return value.strip()

    date_format = settings.get("date_format")
    if not isinstance(date_format, str) or "%" not in date_format or len(date_format) > 32:
        raise ValueError("date_format: a strptime format such as %d/%m/%Y")
    sample = date(2026, 12, 31)
    try:
        back = datetime.strptime(sample.strftime(date_format), date_format)  # noqa: DTZ007
        if back.date() != sample:
            raise ValueError
    except ValueError:
        raise ValueError(f"date_format {date_format!r} does not read a whole date") from None
    texts = settings.get("text_columns")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list | tuple) or not texts:
        raise ValueError("text_columns: at least one column")
    text_columns = tuple(str(t).strip() for t in texts if str(t).strip())
    if not text_columns or any(len(t) > MAX_COLUMN for t in text_columns):
        raise ValueError(f"text_columns: column names of at most {MAX_COLUMN} characters")
    decimal_style = settings.get("decimal", "it")
    if decimal_style not in ("it", "en"):
        raise ValueError("decimal: it (1.250,00) or en (1,250.00)")
    delimiter = settings.get("delimiter", ";")
    if delimiter not in DELIMITERS:
        raise ValueError("delimiter: one of ; , | or a tab")
    skip = settings.get("skip_rows", 0)
    if not isinstance(skip, int) or isinstance(skip, bool) or not 0 <= skip <= MAX_SKIP_ROWS:
        raise ValueError(f"skip_rows: a whole number from 0 to {MAX_SKIP_ROWS}")
    amount = column("amount_column")
    debit, credit = column("debit_column"), column("credit_column")
    if (amount is None) == (debit is None or credit is None) or (amount and (debit or credit)):
        raise ValueError("one signed amount column, or a debit column and a credit column")
    return Preset(
        name="account",
        date_column=column("date_column", required=True) or "",
        date_format=date_format,
        text_columns=text_columns,
        value_date_column=column("value_date_column"),
        amount_column=amount,
        debit_column=debit,
        credit_column=credit,
        decimal="it" if decimal_style == "it" else "en",
        skip_rows=skip,
        delimiter=str(delimiter),
        currency=currency,
        sheet=column("sheet"),
    )


def preset_settings(preset: Preset) -> dict[str, object]:
    """The stored settings of an account's preset (the inverse of `preset_from_settings`)."""
    out: dict[str, object] = {key: getattr(preset, key) for key in SETTINGS}
    out["text_columns"] = list(preset.text_columns)
    return {k: v for k, v in out.items() if v is not None}


PRESETS: dict[str, Preset] = {
    "bancoposta": Preset(
        name="bancoposta",
        date_column="Data",
        date_format="%d/%m/%y",
        value_date_column="Valuta",
        debit_column="Addebiti",
        credit_column="Accrediti",
        text_columns=("Descrizione operazioni",),
        decimal="it",
        delimiter=";",
        opening_marker="SALDO INIZIALE",
        closing_marker="SALDO FINALE",
    ),
    "intesa": Preset(
        name="intesa",
        sheet="Lista Movimenti",
        skip_rows=28,
        date_column="Data contabile",
        date_format="%d/%m/%Y",
        value_date_column="Data valuta",
        credit_column="Accrediti",
        debit_column="Addebiti",
        text_columns=("Descrizione", "Descrizione estesa"),
        decimal="it",
        opening_cells=("D11", "E11"),
        closing_cells=("D12", "E12"),
    ),
}

_IT = re.compile(r"^[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$")
_EN = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")


def _decimal(text: str, style: str, where: str) -> Decimal:
    cleaned = text.strip().strip("|").strip().replace(" ", "").replace("\u00a0", "")
    pattern = _IT if style == "it" else _EN
    if not pattern.match(cleaned):
        raise StatementFormatError(f"{where}: {text!r} is not an amount ({style} decimals)")
    if style == "it":
        cleaned = cleaned.replace(".", "").replace(",", ".")
    else:
        cleaned = cleaned.replace(",", "")
    return Decimal(cleaned)


def _cell_decimal(value: object, style: str, where: str) -> Decimal:
    if isinstance(value, bool):
        raise StatementFormatError(f"{where}: {value!r} is not an amount")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Decimal):
        return value
    return _decimal(str(value), style, where)


def _minor(amount: Decimal, currency: str, where: str) -> int:
    try:
        digits = exponent(currency)
    except UnknownCurrencyError:
        raise StatementFormatError(f"{where}: unknown currency {currency!r}") from None
    try:
        scaled = amount.scaleb(digits)
        if scaled != scaled.to_integral_value():
            raise StatementFormatError(f"{where}: {amount} has more decimals than {currency}")
    except InvalidOperation:
        raise StatementFormatError(f"{where}: {amount} is not an amount") from None
    return int(scaled)


def _empty(value: object) -> bool:
    return value is None or str(value).strip().strip("|").strip() == ""


def _date(value: object, fmt: str, where: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip().strip("|").strip()
    try:
        return datetime.strptime(text, fmt).date()  # noqa: DTZ007 (a calendar date)
    except ValueError:
        raise StatementFormatError(f"{where}: {text!r} is not a date ({fmt})") from None


class _Reader:
    """Turn rows (header and cells) into a statement, per a preset."""

    def __init__(self, preset: Preset, header: list[str], first_row: int) -> None:
        self.preset = preset
        names = [str(h or "").strip() for h in header]
        self.first_row = first_row
        wanted = [preset.date_column, *preset.text_columns]
        wanted += [
            c
            for c in (
                preset.value_date_column,
                preset.amount_column,
                preset.debit_column,
                preset.credit_column,
            )
            if c
        ]
        missing = [c for c in wanted if c not in names]
        if missing:
            raise StatementFormatError(
                f"row {first_row - 1}: the header {names!r} lacks the column(s) {missing!r}"
                f" the preset {preset.name!r} expects"
            )
        self.index = {name: names.index(name) for name in wanted}
        self.lines: list[ParsedLine] = []
        self.opening: tuple[int, date] | None = None
        self.closing: tuple[int, date] | None = None

    def cell(self, row: list[object], column: str | None) -> object:
        if column is None:
            return None
        i = self.index[column]
        return row[i] if i < len(row) else None

    def amount(self, row: list[object], where: str) -> int | None:
        p = self.preset
        if p.amount_column is not None:
            value = self.cell(row, p.amount_column)
            if _empty(value):
                return None
            return _minor(_cell_decimal(value, p.decimal, where), p.currency, where)
        debit, credit = self.cell(row, p.debit_column), self.cell(row, p.credit_column)
        if not _empty(debit) and not _empty(credit):
            raise StatementFormatError(f"{where}: both a debit and a credit")
        if not _empty(debit):
            return -abs(_minor(_cell_decimal(debit, p.decimal, where), p.currency, where))
        if not _empty(credit):
            return abs(_minor(_cell_decimal(credit, p.decimal, where), p.currency, where))
        return None

    def add(self, row: list[object], raw: str, number: int) -> None:
        p = self.preset
        where = f"row {number}"
        text = " ".join(
            str(v).strip().strip("|").strip()
            for v in (self.cell(row, c) for c in p.text_columns)
            if not _empty(v)
        )
        booked_on = _date(self.cell(row, p.date_column), p.date_format, where)
        amount = self.amount(row, where)
        if amount is None:
            raise StatementFormatError(f"{where}: no amount")
        upper = text.upper()
        if p.opening_marker and p.opening_marker.upper() in upper:
            self.opening = (amount, booked_on)
            return
        if p.closing_marker and p.closing_marker.upper() in upper:
            self.closing = (amount, booked_on)
            return
        value = self.cell(row, p.value_date_column)
        self.lines.append(
            ParsedLine(
                booked_on=booked_on,
                amount_minor=amount,
                text=text,
                raw=raw,
                value_on=None if _empty(value) else _date(value, p.date_format, where),
            )
        )

    def statement(self) -> ParsedStatement:
        return ParsedStatement(
            iban=None,
            currency=self.preset.currency,
            opening_minor=self.opening[0] if self.opening else None,
            closing_minor=self.closing[0] if self.closing else None,
            opening_on=self.opening[1] if self.opening else None,
            closing_on=self.closing[1] if self.closing else None,
            lines=tuple(self.lines),
        )


def _decode(data: bytes, encodings: tuple[str, ...]) -> str:
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise StatementFormatError(f"the file is in none of the encodings {list(encodings)}")


def parse_csv(data: bytes, preset: Preset) -> list[ParsedStatement]:
    """Read a CSV export per `preset`: one statement."""
    text = _decode(data, preset.encodings)
    physical = text.splitlines()
    rows: list[tuple[int, int, list[str]]] = []  # first and last physical line, cells
    csv_reader = csv.reader(io.StringIO(text, newline=""), delimiter=preset.delimiter)
    previous = 0
    try:
        for cells in csv_reader:
            rows.append((previous + 1, csv_reader.line_num, cells))
            previous = csv_reader.line_num
    except csv.Error as error:
        raise StatementFormatError(f"line {previous + 1}: {error}") from None
    if len(rows) <= preset.skip_rows:
        raise StatementFormatError(f"no header row after {preset.skip_rows} rows to skip")
    header_line = rows[preset.skip_rows][0]
    reader = _Reader(preset, rows[preset.skip_rows][2], header_line + 1)
    for first, last, cells in rows[preset.skip_rows + 1 :]:
        if not any(cell.strip() for cell in cells):
            break
        reader.add(list(cells), "\n".join(physical[first - 1 : last]), first)
    return [reader.statement()]


def parse_xlsx(data: bytes, preset: Preset) -> list[ParsedStatement]:
    """Read an XLSX export per `preset`: one statement."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=False, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a non-XLSX file
        raise StatementFormatError(f"not an XLSX workbook: {error}") from None
    if preset.sheet is not None and preset.sheet not in book.sheetnames:
        raise StatementFormatError(f"no sheet {preset.sheet!r} (sheets: {book.sheetnames})")
    sheet = book[preset.sheet] if preset.sheet is not None else book.worksheets[0]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    if len(rows) <= preset.skip_rows:
        raise StatementFormatError(f"no header row after {preset.skip_rows} rows to skip")
    header_number = preset.skip_rows + 1
    reader = _Reader(preset, [str(c or "") for c in rows[preset.skip_rows]], header_number + 1)
    for offset, row in enumerate(rows[preset.skip_rows + 1 :]):
        number = header_number + 1 + offset
        if all(_empty(cell) for cell in row):
            break
        raw = json.dumps(["" if c is None else str(c) for c in row], ensure_ascii=False)
        reader.add(row, raw, number)
    for cells, attr in ((preset.opening_cells, "opening"), (preset.closing_cells, "closing")):
        if cells is None:
            continue
        where = f"cells {cells[0]}/{cells[1]}"
        on = _date(sheet[cells[0]].value, preset.cell_date_format, where)
        value = sheet[cells[1]].value
        if _empty(value):
            raise StatementFormatError(f"{where}: no {attr} balance")
        amount = _minor(_cell_decimal(value, preset.decimal, where), preset.currency, where)
        setattr(reader, attr, (amount, on))
    return [reader.statement()]
