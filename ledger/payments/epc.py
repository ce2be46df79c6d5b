"""The EPC069-12 "SEPA credit transfer" QR code a banking app scans (version 002).

The payload is the EPC's, one field a line, in this order:

    BCD                 service tag
    002                 version (the BIC is optional inside the EEA)
    1                   character set: UTF-8
    SCT                 SEPA credit transfer
    <BIC>               the beneficiary's BIC, or empty
    <name>              the beneficiary, at most 70 characters
    <IBAN>              the beneficiary's IBAN, compact
    EUR<amount>         the amount with two decimals: EUR12.50
    <purpose>           empty (no purpose code)
    <RF reference>      the structured remittance: the record's ISO 11649 reference

and nothing after the last populated field (the unstructured text stays empty:
EPC069-12 allows the structured reference or the text, never both). The code
is drawn by segno at error correction level M, as the EPC requires, and given
as an inline SVG (no script, no style attribute: the pages' CSP allows it).
segno's own `helpers.make_epc_qr` writes `EUR12.5`; we write the payload
ourselves so the amount always has its two decimals.
"""

from __future__ import annotations

from dataclasses import dataclass

import segno
from stdnum import iban as iban_numbers
from stdnum import iso11649

from ledger.core.money import format_minor

NAME_MAX = 70
MAX_MINOR = 99_999_999_999  # EUR 999,999,999.99, the EPC's largest amount


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """What a donor's bank needs to pay a record: to whom, how much, with which reference."""

    beneficiary: str
    iban: str
    amount_minor: int
    currency: str
    reference: str
    bic: str | None = None


def epc_payload(request: TransferRequest) -> str:
    """The EPC QR payload of `request` (fields separated by a line feed)."""
    if request.currency != "EUR":
        raise ValueError("a SEPA credit transfer QR code is in EUR only")
    if not 1 <= request.amount_minor <= MAX_MINOR:
        raise ValueError("the amount of an EPC QR code is 0.01 to 999999999.99 EUR")
    name = " ".join(request.beneficiary.split())[:NAME_MAX]
    if not name:
        raise ValueError("the beneficiary's name is required")
    fields = [
        "BCD",
        "002",
        "1",
        "SCT",
        (request.bic or "").strip().upper(),
        name,
        str(iban_numbers.validate(request.iban)),
        "EUR" + format_minor(request.amount_minor, "EUR"),
        "",
        str(iso11649.validate(request.reference)),
    ]
    return "\n".join(fields)


def qr_svg(payload: str, *, title: str) -> str:
    """The payload as an inline SVG QR code (level M, black on white, with a quiet zone)."""
    code = segno.make_qr(payload.encode("utf-8"), error="m", boost_error=False)
    if code.version is None or int(code.version) > 13:
        raise ValueError("the EPC payload does not fit an EPC QR code (version 13 at most)")
    return str(code.svg_inline(scale=4, border=4, light="#fff", dark="#000", title=title))
