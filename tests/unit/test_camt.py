"""The camt.053/camt.054 readers on the third-party sample files (figures from their README)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ledger.reconcile.formats import PARSERS, detect_format
from ledger.reconcile.formats.camt import parse_camt053, parse_camt054
from ledger.reconcile.parsed import StatementFormatError
from tests.bank_fixtures import (
    FI_053,
    FI_054,
    LITHUANIAN_053,
    MULTI_053,
    POSTFINANCE_053,
    POSTFINANCE_054,
    fixture_bytes,
    fixtures_dir,
)


def test_fi_camt053_balances_and_batches() -> None:
    (s,) = parse_camt053(fixture_bytes(FI_053))
    assert (s.iban, s.currency, s.statement_id) == (
        "FI7433010001222090",
        "EUR",
        "BANKSTMTID0972009",
    )
    assert (s.opening_minor, s.closing_minor) == (1_000_000, 2_364_483)
    assert s.available_closing_minor == 3_364_483  # CLAV kept apart; the CdtLine never read
    assert len(s.lines) == 10
    assert sum(1 for x in s.lines if x.amount_minor < 0) == 4
    assert s.opening_minor + sum(x.amount_minor for x in s.lines) == s.closing_minor
    by_ref = {x.bank_ref: x for x in s.lines}
    batch = by_ref["091029ACCTSTMTARCH03"]
    assert batch.amount_minor == -423_005 and batch.batch_count == 3
    assert [d.amount_minor for d in batch.details] == [-200_002, -100_001, -123_002]
    assert batch.details[0].reference == "3900"
    assert by_ref["091029ACCTSTMTARCH02"].details == ()  # a batch of 3 with no TxDtls
    assert by_ref["091029ACCTSTMTARCH01"].batch_count == 4
    assert len(by_ref["091029ACCTSTMTARCH01"].details) == 1  # details suppressed
    assert by_ref["091029ACCTSTMTARCH07"].reference == "RF98123456789012"
    assert by_ref["091029ACCTSTMTARCH08"].end_to_end_id == "EndToEndIdSCT01"
    assert all(x.booked_on == date(2009, 10, 29) for x in s.lines)
    assert "<" in batch.raw and "ARCH03" in batch.raw


def test_postfinance_camt053_is_chf_and_off_by_1537() -> None:
    (s,) = parse_camt053(fixture_bytes(POSTFINANCE_053))
    assert s.currency == "CHF" and s.iban == "CH2909000000250094239"
    assert (s.opening_minor, s.closing_minor) == (21_199_319, 21_511_221)
    total = sum(x.amount_minor for x in s.lines)
    assert total == 465_602
    assert s.opening_minor + total - s.closing_minor == 153_700
    shared = [x for x in s.lines if x.bank_ref == "07582000303KBMSU"]
    assert sorted(x.amount_minor for x in shared) == [153_700, 169_222]
    assert "SAMMELGUTSCHRIFT FÜR KONTO" in s.lines[2].text
    # DBIT at entry level, CRDT in its TxDtls: the entry's sign is the line's.
    inconsistent = next(x for x in s.lines if x.amount_minor == -7_770)
    assert inconsistent.details[0].amount_minor == 7_770


def test_lithuanian_camt053_has_only_available_balances_and_one_decimal_amounts() -> None:
    (s,) = parse_camt053(fixture_bytes(LITHUANIAN_053))
    assert s.opening_minor is None and s.closing_minor is None
    assert (s.available_opening_minor, s.available_closing_minor) == (276_808, 0)
    assert sorted(x.amount_minor for x in s.lines) == [-273_458, -3_016, -170, -164]
    assert all(x.end_to_end_id is None for x in s.lines)  # NOTPROVIDED
    assert all(x.bank_ref is None for x in s.lines)
    assert any("į" in x.text for x in s.lines)


def test_multi_statement_camt053_continues() -> None:
    first, second = parse_camt053(fixture_bytes(MULTI_053))
    assert (first.opening_minor, first.closing_minor) == (1_815, 2_700)
    assert (second.opening_minor, second.closing_minor) == (2_700, 2_000)
    assert [x.amount_minor for x in first.lines + second.lines] == [885, -700]


def test_fi_camt054_with_cr_line_endings_reversal_and_references() -> None:
    data = fixture_bytes(FI_054)
    assert b"\r" in data and b"\n" not in data
    (n,) = parse_camt054(data)
    assert n.opening_minor is None and n.closing_minor is None
    assert len(n.lines) == 6
    for line in n.lines:
        assert sum(d.amount_minor for d in line.details) == line.amount_minor
    reversal = next(x for x in n.lines if x.reversal)
    assert reversal.amount_minor == 10_000
    assert [d.reason_code for d in reversal.details] == ["AC01", "CUST"]
    refs = {d.reference for x in n.lines for d in x.details}
    assert "RF7812345" in refs  # the trailing space stripped


def test_postfinance_camt054_batch_of_five() -> None:
    (n,) = parse_camt054(fixture_bytes(POSTFINANCE_054))
    batch, debit = n.lines
    assert batch.amount_minor == 153_700 and batch.batch_count == 5
    assert [d.amount_minor for d in batch.details] == [25_000, 20_000, 30_000, 32_400, 46_300]
    assert batch.bank_ref == "07582000303KBMSU" and batch.booked_on == date(2019, 4, 24)
    assert debit.amount_minor == -14_700


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        (FI_053, "camt053"),
        (POSTFINANCE_053, "camt053"),
        (LITHUANIAN_053, "camt053"),
        (MULTI_053, "camt053"),
        (FI_054, "camt054"),
        (POSTFINANCE_054, "camt054"),
        ("mt940/sepa_mt9401.sta", "mt940"),
        ("mt940/ASNB_mt940.txt", "mt940"),
        ("mt940/rabobank-iban.sta", "mt940"),
        ("csv/bonifico.csv", "csv"),
    ],
)
def test_detect_format_by_content(name: str, fmt: str) -> None:
    assert detect_format(fixture_bytes(name)) == fmt


def test_cbi_envelope_and_any_namespace() -> None:
    inner = fixture_bytes(MULTI_053).split(b"?>", 1)[1]
    wrapped = (
        b'<?xml version="1.0"?><CBIBdyBkToCstmrStmtReq xmlns="urn:CBI:xsd:CBIBdyBkToCstmrStmtReq'
        b'.00.01.02"><CBIEnvelBkToCstmrStmtReqLogMsg><CBIBkToCstmrStmtReqLogMsg>'
        + inner
        + b"</CBIBkToCstmrStmtReqLogMsg></CBIEnvelBkToCstmrStmtReqLogMsg></CBIBdyBkToCstmrStmtReq>"
    )
    assert detect_format(wrapped) == "camt053"
    assert parse_camt053(wrapped) == parse_camt053(fixture_bytes(MULTI_053))


def test_unsafe_or_wrong_xml_is_a_statement_format_error() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    with pytest.raises(StatementFormatError) as raised:
        parse_camt053(bomb)
    assert raised.value.code == "statement_format"
    with pytest.raises(StatementFormatError):
        parse_camt054(fixture_bytes(FI_053))
    with pytest.raises(StatementFormatError):
        parse_camt053(b"not xml")
    assert {"camt053", "camt054"} <= PARSERS.keys()


def test_a_missing_fixtures_folder_fails_never_skips(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LEDGER_BANK_FIXTURES", str(tmp_path / "nowhere"))
    with pytest.raises(pytest.fail.Exception, match="fixtures are missing"):
        fixtures_dir()
