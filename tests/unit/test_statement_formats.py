"""The MT940, CSV and XLSX parsers on the real fixtures 7-12 and on synthetic files.

The fixtures are read from LEDGER_BANK_FIXTURES (default `<repo>/../shared/fixtures/bank`);
a missing folder fails these tests, it never skips them.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from ledger.reconcile.formats.mt940 import parse_mt940
from ledger.reconcile.formats.tabular import PRESETS, Preset, parse_csv, parse_xlsx
from ledger.reconcile.parsed import ParsedStatement, StatementFormatError

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(os.environ.get("LEDGER_BANK_FIXTURES", REPO.parent / "shared/fixtures/bank"))


def fixture(name: str) -> bytes:
    path = FIXTURES / name
    if not path.is_file():
        pytest.fail(
            f"bank fixture {path} is missing: set LEDGER_BANK_FIXTURES to the folder of"
            " /work/shared/fixtures/bank (see its README.md)"
        )
    return path.read_bytes()


def difference(statement: ParsedStatement) -> int:
    """closing - (opening + sum of lines): 0 when the statement balances."""
    assert statement.opening_minor is not None and statement.closing_minor is not None
    return (
        statement.closing_minor
        - statement.opening_minor
        - sum(line.amount_minor for line in statement.lines)
    )


# --- MT940 ---------------------------------------------------------------------------


def test_sepa_mt9401_26_statements_97_lines_all_balanced() -> None:
    statements = parse_mt940(fixture("mt940/sepa_mt9401.sta"))
    assert len(statements) == 26
    lines = [line for s in statements for line in s.lines]
    assert len(lines) == 97
    assert all(difference(s) == 0 for s in statements)
    assert {s.currency for s in statements} == {"EUR"}
    # :25: is BLZ/account, not an IBAN: kept at the head of the statement id.
    assert all(s.iban is None for s in statements)
    assert statements[0].statement_id == "50880050/0194774600888 T089413946000001/00004/00001"
    assert len({s.statement_id for s in statements}) == 26
    assert len({s.statement_id.split()[0] for s in statements if s.statement_id}) == 20
    # Debit opening balance is negative; amounts like 15000, read exactly.
    assert statements[0].opening_minor == -123471836
    assert any(line.amount_minor == 1500000 and line.raw.startswith(":61:") for line in lines)
    # Reversals: RC, money out, flagged, with their GV code and text.
    reversals = [line for line in lines if line.reversal]
    assert len(reversals) == 2
    assert all(line.amount_minor == -20488 for line in reversals)
    assert {line.bank_code for line in reversals} == {"079", "116"}
    assert all("STORNO" in line.text for line in reversals)
    # Returns keep their reason text and code.
    returns = [line for line in lines if line.bank_code == "159"]
    assert len(returns) == 17
    assert all("RETOURE" in line.text for line in returns)
    assert all(line.reason_code for line in returns)
    assert sum(line.bank_code == "191" for line in lines) == 23
    assert sum(line.bank_code == "079" for line in lines) == 5
    assert sum(line.end_to_end_id is not None for line in lines) == 62


def test_sepa_sub_fields_land_in_their_fields() -> None:
    first = parse_mt940(fixture("mt940/sepa_mt9401.sta"))[0].lines[0]
    assert first.raw.startswith(":61:0709040904CR300,NTRFTFNr 40005 MSGID//0724710345313905\n:86:")
    assert first.amount_minor == 30000
    assert first.booked_on == first.value_on == date(2007, 9, 4)
    assert first.bank_ref == "0724710345313905"
    assert first.bank_code == "159"
    assert first.end_to_end_id == "TFNR 40005 00005"
    assert first.reason_code == "914"
    assert "Grund nicht spezifiziert Reject aus SEPA-Ueberweisungsauftrag" in first.text

    credit = parse_mt940(fixture("mt940/sepa_snippet.sta"))[0].lines[0]
    assert credit.end_to_end_id == "EndToEndId TFNR 22 004 00001"
    assert "SVWZ+Verw CTSc-01 BC-PPP TFNr 22 004" in credit.text
    assert credit.counterparty_iban == "DE14508800500194785000"
    assert credit.counterparty_name == "KARL        KAUFMANN"
    assert credit.bank_code == "166"
    # value date 2007-09-07, booked 09-04
    assert credit.value_on == date(2007, 9, 7)
    assert credit.booked_on == date(2007, 9, 4)


def test_sepa_snippet_second_statement_off_by_300_08() -> None:
    statements = parse_mt940(fixture("mt940/sepa_snippet.sta"))
    assert len(statements) == 2
    assert sum(len(s.lines) for s in statements) == 11
    assert statements[0].closing_minor == 112525040
    assert difference(statements[0]) == 0
    assert abs(difference(statements[1])) == 30008
    batch = statements[1].lines[-1]
    assert batch.amount_minor == -357256903
    assert batch.bank_code == "079"
    assert batch.text.startswith("SAMMLER")


def test_asnb_in_swift_envelopes_31_statements_8_lines_continuous() -> None:
    statements = parse_mt940(fixture("mt940/ASNB_mt940.txt"))
    assert len(statements) == 31
    assert sum(len(s.lines) for s in statements) == 8
    assert sum(1 for s in statements if not s.lines) == 26
    assert all(difference(s) == 0 for s in statements)
    for before, after in itertools.pairwise(statements):
        assert before.closing_minor == after.opening_minor
    assert {s.iban for s in statements} == {"NL81ASNB9999999999"}
    assert statements[0].statement_id == "0000000000/1/1"
    first = statements[0].lines[0]
    assert first.amount_minor == -6500
    assert first.counterparty_iban == "NL47INGB9999999999"
    assert first.counterparty_name == "hr gjlm paulissen"
    assert "Betaling sieraden" in first.text
    assert "{" not in first.raw and first.raw.count("\n") >= 2
    card = statements[4].lines[1]
    assert "Betaling aan ICS" in card.text  # a full 65-character line cut mid-word


def test_rabobank_structured_86_and_zero_padded_amounts() -> None:
    statements = parse_mt940(fixture("mt940/rabobank-iban.sta"))
    assert len(statements) == 2
    assert [s.opening_minor for s in statements] == [100000, 96500]
    assert [s.closing_minor for s in statements] == [96500, 93000]
    assert all(difference(s) == 0 for s in statements)
    assert statements[0].iban == "NL71RABO0123456789"
    first, second = statements[0].lines
    assert first.amount_minor == -2500
    assert first.end_to_end_id == "01-01-2013 12:00 0030000987654321"
    assert first.counterparty_name == "CONTRA ACCOUNT HOLDER"  # split mid-word in the file
    assert first.counterparty_iban == "NL70ABNA0987654321"
    assert first.bank_code == "N102"
    assert second.text == "Reference 201301234"
    assert second.counterparty_name == "JOHN DOE"


MINIMAL = (
    ":20:REF1\n:25:IT60X0542811101000000123456\n:28C:1/1\n:60F:C240101EUR100,00\n"
    ":61:2401020102D10,00NTRFNONREF//B1\n:86:Pagamento\n"
    ":61:2401030103RD2,50NTRFNONREF//B2\n:86:Storno addebito\n"
    ":62F:C240103EUR92,50\n"
)


def test_reversal_of_debit_is_money_in_and_iban_read() -> None:
    (statement,) = parse_mt940(MINIMAL.encode())
    assert statement.iban == "IT60X0542811101000000123456"
    assert statement.statement_id == "REF1/1/1"
    debit, reversal = statement.lines
    assert debit.amount_minor == -1000 and not debit.reversal
    assert reversal.amount_minor == 250 and reversal.reversal
    assert difference(statement) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nothing here", "no statement (:20:)"),
        (MINIMAL.replace(":61:2401020102D10,00", ":61:24X1020102D10,00"), "line 5"),
        (MINIMAL.replace(":60F:C240101EUR100,00\n", ""), "no opening balance"),
        (MINIMAL.replace("D10,00", "D10,005"), "more decimals than EUR"),
        (MINIMAL.replace(":25:IT60X0542811101000000123456\n", ""), "no account"),
    ],
)
def test_malformed_mt940_says_where_and_why(text: str, message: str) -> None:
    with pytest.raises(StatementFormatError, match=re.escape(message)) as caught:
        parse_mt940(text.encode())
    if "line" in message:
        assert "statement 1 (:20: REF1)" in str(caught.value)


# --- CSV -------------------------------------------------------------------------------


def test_bancoposta_four_movements_closing_off_by_511() -> None:
    (statement,) = parse_csv(fixture("csv/bancoposta.csv"), PRESETS["bancoposta"])
    assert len(statement.lines) == 4
    assert statement.iban is None and statement.currency == "EUR"
    assert (statement.opening_minor, statement.opening_on) == (2685195, date(2017, 12, 31))
    assert (statement.closing_minor, statement.closing_on) == (2835905, date(2018, 1, 31))
    assert difference(statement) == 51100
    assert [line.amount_minor for line in statement.lines] == [-290, -25000, -100, 125000]
    assert statement.lines[0].raw == "03/01/18;03/01/18;2,90;;IMPOSTA DI BOLLO"
    assert all(line.bank_ref is None for line in statement.lines)
    assert "TRN BBBBBBBB" in statement.lines[3].text


def test_bonifico_eight_transfers_three_equal_debits_closing_off_by_1001() -> None:
    (statement,) = parse_csv(fixture("csv/bonifico.csv"), PRESETS["bancoposta"])
    assert len(statement.lines) == 8
    assert difference(statement) == 100100
    same = [
        line
        for line in statement.lines
        if line.amount_minor == -50050 and line.booked_on == date(2018, 8, 5)
    ]
    assert len(same) == 3
    assert len({line.text for line in same}) == 3
    assert any("BCITITMMXXX" in line.text for line in statement.lines)


def test_csv_in_cp1252_and_malformed_rows() -> None:
    data = (
        "Data;Valuta;Addebiti;Accrediti;Descrizione operazioni\r\n"
        "02/01/24;02/01/24;;10,00;CARITÀ\r\n"
    ).encode("cp1252")
    (statement,) = parse_csv(data, PRESETS["bancoposta"])
    assert statement.lines[0].text == "CARITÀ"
    assert statement.opening_minor is None and statement.closing_minor is None
    bad = b"Data;Valuta;Addebiti;Accrediti;Descrizione operazioni\n02/01/24;;1,2,3;;X\n"
    with pytest.raises(StatementFormatError, match=r"row 2: '1,2,3' is not an amount"):
        parse_csv(bad, PRESETS["bancoposta"])
    with pytest.raises(StatementFormatError, match="lacks the column"):
        parse_csv(b"Date,Amount\n2024-01-01,1\n", PRESETS["bancoposta"])
    with pytest.raises(StatementFormatError, match="is not a date"):
        parse_csv(
            b"Data;Valuta;Addebiti;Accrediti;Descrizione operazioni\n2024-01-02;;1,00;;X",
            PRESETS["bancoposta"],
        )


def test_generic_preset_signed_amount_english_decimals() -> None:
    preset = Preset(
        name="my-bank",
        skip_rows=2,
        delimiter=",",
        date_column="Booking date",
        date_format="%Y-%m-%d",
        value_date_column="Value date",
        amount_column="Amount",
        text_columns=("Payee", "Memo"),
        decimal="en",
        opening_marker="Opening balance",
        closing_marker="Closing balance",
    )
    data = (
        b"Export of account 1\nGenerated 2024-02-01\n"
        b"Booking date,Value date,Amount,Payee,Memo\n"
        b'2024-01-01,,"1,000.00",Opening balance,\n'
        b'2024-01-05,2024-01-06,-12.34,Shop,"Groceries, weekly"\n'
        b'2024-01-07,2024-01-07,"2,500.10",Donor,Gift\n'
        b'2024-01-31,,"3,487.76",Closing balance,\n'
        b"\n"
        b"Footer,,,,\n"
    )
    (statement,) = parse_csv(data, preset)
    assert [line.amount_minor for line in statement.lines] == [-1234, 250010]
    assert statement.lines[0].text == "Shop Groceries, weekly"
    assert statement.lines[0].raw == '2024-01-05,2024-01-06,-12.34,Shop,"Groceries, weekly"'
    assert statement.lines[0].value_on == date(2024, 1, 6)
    assert (statement.opening_minor, statement.closing_minor) == (100000, 348776)
    assert difference(statement) == 0
    with pytest.raises(ValueError, match="amount column or debit and credit"):
        Preset(name="x", date_column="D", date_format="%d", text_columns=("T",))


# --- XLSX ------------------------------------------------------------------------------


def intesa_workbook(rows: list[list[object]], opening: object = 1000.5) -> bytes:
    """A synthetic "Lista Movimenti" export in the layout the intesa preset assumes."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Lista Movimenti"
    sheet["A1"] = "Intesa Sanpaolo"
    sheet["D8"] = "1000/00012345"
    sheet["D11"], sheet["E11"] = "01.01.2024", opening
    sheet["D12"], sheet["E12"] = "31.01.2024", 1100.25
    sheet["D22"] = "Euro"
    header = [
        "Data contabile", "Data valuta", "Descrizione", "Accrediti", "Addebiti",
        "Descrizione estesa", "Mezzo",
    ]  # fmt: skip
    for column, name in enumerate(header, 1):
        sheet.cell(row=29, column=column, value=name)
    for offset, row in enumerate(rows):
        for column, value in enumerate(row, 1):
            sheet.cell(row=30 + offset, column=column, value=value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_intesa_preset_on_a_synthetic_workbook() -> None:
    data = intesa_workbook(
        [
            [
                datetime(2024, 1, 3),
                datetime(2024, 1, 3),
                "Bonifico",
                150.0,
                None,
                "Bonifico da Rossi Mario per quota",
                "Internet",
            ],
            [
                datetime(2024, 1, 9),
                datetime(2024, 1, 10),
                "Pagamento POS",
                None,
                -50.25,
                "POS Alimentari",
                "Carta",
            ],
        ]
    )
    (statement,) = parse_xlsx(data, PRESETS["intesa"])
    assert [line.amount_minor for line in statement.lines] == [15000, -5025]
    assert statement.lines[0].text == "Bonifico Bonifico da Rossi Mario per quota"
    assert statement.lines[1].value_on == date(2024, 1, 10)
    assert (statement.opening_minor, statement.opening_on) == (100050, date(2024, 1, 1))
    assert (statement.closing_minor, statement.closing_on) == (110025, date(2024, 1, 31))
    assert difference(statement) == 0
    raw = json.loads(statement.lines[1].raw)
    assert raw[:5] == ["2024-01-09 00:00:00", "2024-01-10 00:00:00", "Pagamento POS", "", "-50.25"]


def test_xlsx_refuses_sub_cent_and_non_workbooks() -> None:
    data = intesa_workbook([[datetime(2024, 1, 3), None, "X", 1.005, None, "", ""]])
    with pytest.raises(StatementFormatError, match=r"row 30: 1.005 has more decimals than EUR"):
        parse_xlsx(data, PRESETS["intesa"])
    with pytest.raises(StatementFormatError, match="not an XLSX workbook"):
        parse_xlsx(b"not a zip", PRESETS["intesa"])
    with pytest.raises(StatementFormatError, match="no sheet"):
        book = Workbook()
        out = io.BytesIO()
        book.save(out)
        parse_xlsx(out.getvalue(), PRESETS["intesa"])
