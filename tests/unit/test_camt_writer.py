"""The camt.053 writer reads back as written, and the payout arrival window counts
business days."""

from __future__ import annotations

from datetime import date

from ledger.reconcile.formats import detect_format
from ledger.reconcile.formats.camt import parse_camt053
from ledger.reconcile.formats.camt_writer import write_camt053
from ledger.reconcile.parsed import ParsedLine, ParsedStatement
from ledger.reconcile.payout_matching import add_business_days, in_window, normalise

IBAN = "IT60X0542811101000000123456"


def test_a_written_statement_reads_back_with_its_figures_and_fields() -> None:
    lines = (
        ParsedLine(
            date(2026, 6, 2),
            123_456,
            "DONAZIONE",
            "",
            bank_ref="B1",
            end_to_end_id="E2E-1",
            reference="RF18D12",
            counterparty_name="Ada Lovelace",
            counterparty_iban="IT02L1234512345123456789012",
            bank_code="PMNT/RCDT/ESCT",
        ),
        ParsedLine(date(2026, 6, 3), -350, "COMMISSIONI", "", bank_ref="B2"),
        ParsedLine(date(2026, 6, 4), 32_000, "STORNO", "", bank_ref="B3", reason_code="AC04"),
    )
    statement = ParsedStatement(
        IBAN,
        "EUR",
        1_000,
        1_000 + 123_456 - 350 + 32_000,
        date(2026, 5, 31),
        date(2026, 6, 4),
        "S1",
        lines,
    )
    data = write_camt053([statement], message_id="M1")
    assert data == write_camt053([statement], message_id="M1")  # deterministic
    assert detect_format(data) == "camt053"
    [read] = parse_camt053(data)
    assert (read.iban, read.currency, read.opening_minor, read.closing_minor) == (
        IBAN,
        "EUR",
        1_000,
        156_106,
    )
    assert (read.opening_on, read.closing_on, read.statement_id) == (
        date(2026, 5, 31),
        date(2026, 6, 4),
        "S1",
    )
    got = [
        (
            x.booked_on,
            x.amount_minor,
            x.text,
            x.bank_ref,
            x.end_to_end_id,
            x.reference,
            x.counterparty_name,
            x.counterparty_iban,
            x.bank_code,
            x.reason_code,
        )
        for x in read.lines
    ]
    assert got == [
        (
            x.booked_on,
            x.amount_minor,
            x.text,
            x.bank_ref,
            x.end_to_end_id,
            x.reference,
            x.counterparty_name,
            x.counterparty_iban,
            x.bank_code,
            x.reason_code,
        )
        for x in lines
    ]


def test_the_arrival_window_is_one_business_day_before_to_five_after() -> None:
    friday = date(2026, 6, 12)
    assert add_business_days(friday, 1) == date(2026, 6, 15)  # Monday
    assert add_business_days(date(2026, 6, 15), -1) == friday
    assert in_window(date(2026, 6, 15), friday)
    assert not in_window(date(2026, 6, 16), friday)
    assert in_window(friday, date(2026, 6, 19))  # five business days after
    assert not in_window(friday, date(2026, 6, 22))
    assert normalise(" tr-77 / x ") == "TR77X"
