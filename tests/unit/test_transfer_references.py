"""ISO 11649 references of gifts and loans, and the EPC069-12 QR payload."""

from __future__ import annotations

import pytest
from stdnum import iso11649
from stdnum.iso7064 import mod_97_10

from ledger.payments.epc import TransferRequest, epc_payload, qr_svg
from ledger.payments.references import (
    GIFT,
    LOAN,
    creditor_reference,
    parse_reference,
    printable,
)

IBAN = "IT60X0542811101000000123456"


def test_the_check_digits_are_iso_11649s_on_the_standards_worked_example() -> None:
    # RF18 5390 0754 7034 is the standard's example: the same computation gives 18.
    assert mod_97_10.calc_check_digits("539007547034RF") == "18"
    assert iso11649.is_valid("RF18539007547034")


@pytest.mark.parametrize(
    ("kind", "row_id", "expected"),
    [(GIFT, 12, "RF82D12"), (GIFT, 1, None), (LOAN, 7, None), (LOAN, 10**19, None)],
)
def test_a_reference_is_rf_check_digits_kind_and_id_and_stdnum_accepts_it(
    kind: str, row_id: int, expected: str | None
) -> None:
    reference = creditor_reference(kind, row_id)
    assert reference.startswith("RF") and reference[4:] == f"{kind}{row_id}"
    assert iso11649.is_valid(reference)
    assert iso11649.validate(reference) == reference  # already compact
    assert len(reference) <= 25
    if expected is not None:
        assert reference == expected
    assert parse_reference(reference) == (kind, row_id)
    assert parse_reference(printable(reference)) == (kind, row_id)


def test_references_are_unique_per_row_and_kind() -> None:
    ids = range(1, 3001)
    gifts = {creditor_reference(GIFT, i) for i in ids}
    loans = {creditor_reference(LOAN, i) for i in ids}
    assert len(gifts) == len(loans) == len(ids)
    assert not gifts & loans


def test_a_reference_with_a_wrong_check_digit_or_not_ours_is_not_parsed() -> None:
    good = creditor_reference(GIFT, 12)
    wrong = good[:2] + f"{(int(good[2:4]) + 1) % 100:02d}" + good[4:]
    assert parse_reference(wrong) is None
    assert parse_reference("RF18539007547034") is None  # valid, but not one of ours
    assert parse_reference("Donazione per l'orto") is None


@pytest.mark.parametrize("bad", [0, -3, 10**21])
def test_a_reference_needs_a_positive_id_that_fits(bad: int) -> None:
    with pytest.raises(ValueError):
        creditor_reference(GIFT, bad)


def test_the_epc_payload_of_a_worked_example_has_its_fields_in_order() -> None:
    payload = epc_payload(
        TransferRequest(
            beneficiary="Associazione  Quartiere Vivo ODV",
            iban="IT60 X054 2811 1010 0000 0123 456",
            amount_minor=1250,
            currency="EUR",
            reference="RF82 D12",
            bic="bpmoit22xxx",
        )
    )
    assert payload.split("\n") == [
        "BCD",
        "002",
        "1",
        "SCT",
        "BPMOIT22XXX",
        "Associazione Quartiere Vivo ODV",
        IBAN,
        "EUR12.50",
        "",
        "RF82D12",
    ]


def test_the_epc_payload_without_bic_and_with_a_round_amount() -> None:
    payload = epc_payload(TransferRequest("Ente", IBAN, 10000, "EUR", "RF82D12"))
    assert payload == f"BCD\n002\n1\nSCT\n\nEnte\n{IBAN}\nEUR100.00\n\nRF82D12"


@pytest.mark.parametrize(
    "request_",
    [
        TransferRequest("Ente", IBAN, 1250, "USD", "RF82D12"),
        TransferRequest("Ente", IBAN, 0, "EUR", "RF82D12"),
        TransferRequest("Ente", "IT00X0542811101000000123456", 1250, "EUR", "RF82D12"),
        TransferRequest("Ente", IBAN, 1250, "EUR", "RF83D12"),
        TransferRequest("  ", IBAN, 1250, "EUR", "RF82D12"),
    ],
)
def test_an_epc_payload_refuses_what_a_bank_would(request_: TransferRequest) -> None:
    with pytest.raises(ValueError):
        epc_payload(request_)


def test_the_qr_code_is_an_inline_svg_without_script_or_style() -> None:
    svg = qr_svg(epc_payload(TransferRequest("Ente", IBAN, 1250, "EUR", "RF82D12")), title="QR")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<script" not in svg and "style=" not in svg and "http" not in svg.split(">", 1)[1]
