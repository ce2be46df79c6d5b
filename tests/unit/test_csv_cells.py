"""The one cell-escaping rule of every CSV the product writes."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from ledger.statements.csv_cells import Figure, amount_cell, cell, csv_writer, escape_text


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("http://x","y")',
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(1)",
        "+1",
        "-1",
        "\t=1+1",
        "\r=1+1",
        "\uff1d1+1",  # ＝
        "\uff0b1",  # ＋
        "\uff0d1",  # －
        "\uff20SUM(1)",  # ＠
        "\ufe66",  # small equals sign, which NFKC folds into "="
    ],
    ids=repr,
)
def test_a_text_a_spreadsheet_would_run_gets_a_leading_apostrophe_and_is_otherwise_kept(text):
    assert escape_text(text) == "'" + text
    assert cell(text) == "'" + text


@pytest.mark.parametrize(
    "text",
    ["", "Maria Rossi", "Иван Петров", "王小明", "a=b", " =1", "'=1", "Dell'Acqua", "12.50"],
    ids=repr,
)
def test_a_text_that_starts_safely_is_written_unchanged(text):
    assert escape_text(text) == text


def test_even_a_negative_looking_text_is_escaped_unless_the_code_marks_it_a_figure():
    assert cell("-12.50") == "'-12.50"
    assert cell(Figure("-12.50")) == "-12.50"


def test_an_amount_the_code_formats_stays_a_number_with_its_minus_sign():
    assert amount_cell(-1250, "EUR") == "-12.50"
    assert cell(amount_cell(-1250, "EUR")) == "-12.50"
    assert cell(amount_cell(-5, "JPY")) == "-5"


@pytest.mark.parametrize("text", ["=1+1", "-2+3+cmd", "12,50", "1e5", "", "-", "12.50 EUR"])
def test_a_figure_is_only_a_plain_decimal_number(text):
    with pytest.raises(ValueError):
        Figure(text)


def test_the_code_s_own_numbers_and_dates_are_written_as_they_are():
    assert cell(-7) == "-7"
    assert cell(Decimal("-0.0400")) == "-0.0400"
    assert cell(Decimal("4E-2")) == "0.04"
    assert cell(date(2026, 3, 7)) == "2026-03-07"
    assert cell(None) == ""
    assert cell(True) == "True"


def test_a_value_of_another_type_is_refused_rather_than_guessed():
    with pytest.raises(TypeError):
        cell(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cell(object())  # type: ignore[arg-type]


def test_the_writer_escapes_every_text_cell_and_quotes_what_csv_needs_quoted():
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(["=1+1", Figure("-12.50"), 3, 'say "hi", then go', "a\rb", "x\ny", None])
    writer.writerows([["+1", date(2026, 1, 2)]])
    assert out.getvalue() == (
        '\'=1+1,-12.50,3,"say ""hi"", then go","a\rb","x\ny",\n\'+1,2026-01-02\n'
    )
    assert list(csv.reader(io.StringIO(out.getvalue(), newline=""))) == [
        ["'=1+1", "-12.50", "3", 'say "hi", then go', "a\rb", "x\ny", ""],
        ["'+1", "2026-01-02"],
    ]
