"""Gifts by bank transfer seen from the web: what the donor is shown to pay with.

`instructions` gives, for a pending transfer gift, the beneficiary and IBAN of
the organisation (`web.campaigns.settings.transfer_account`), the gift's ISO
11649 reference, the EPC069-12 payload and its QR code as inline SVG, shared by
the page and the API. The gift itself is started by the use case
`ledger.campaigns.commands.start_transfer_gift`.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

from ledger.campaigns.models import Donation
from ledger.core.errors import LedgerError
from ledger.core.money import format_minor
from ledger.payments.epc import TransferRequest, epc_payload, qr_svg
from ledger.payments.references import printable
from web.campaigns.settings import TransferAccount, transfer_account


class TransfersNotConfiguredError(LedgerError):
    """Gifts by transfer are off: LEDGER_ORGANISATION_IBAN is not set (503)."""

    code = "transfers_not_configured"
    http_status = 503


@dataclass(frozen=True, slots=True)
class Instructions:
    donation_id: int
    beneficiary: str
    iban: str
    bic: str | None
    amount: str
    currency: str
    reference: str
    epc_payload: str

    @property
    def reference_printed(self) -> str:
        return printable(self.reference)

    @property
    def iban_printed(self) -> str:
        return " ".join(self.iban[i : i + 4] for i in range(0, len(self.iban), 4))

    def qr_svg(self) -> str:
        return qr_svg(self.epc_payload, title=_("Codice QR del bonifico"))


def configured_account() -> TransferAccount:
    """The organisation's account, or TransfersNotConfiguredError."""
    account = transfer_account()
    if account is None:
        raise TransfersNotConfiguredError(
            "Le donazioni con bonifico non sono attive (LEDGER_ORGANISATION_IBAN)."
        )
    return account


def instructions(donation: Donation, account: TransferAccount) -> Instructions:
    """How to pay the pending transfer gift `donation` into `account`."""
    assert donation.transfer_reference is not None
    payload = epc_payload(
        TransferRequest(
            beneficiary=account.beneficiary,
            iban=account.iban,
            bic=account.bic,
            amount_minor=donation.amount_minor,
            currency=donation.currency,
            reference=donation.transfer_reference,
        )
    )
    return Instructions(
        donation_id=donation.id,
        beneficiary=account.beneficiary,
        iban=account.iban,
        bic=account.bic,
        amount=format_minor(donation.amount_minor, donation.currency),
        currency=donation.currency,
        reference=donation.transfer_reference,
        epc_payload=payload,
    )
