"""Errors of campaigns and donations; codes are part of the public contract."""

from __future__ import annotations

from ledger.core.errors import LedgerError


class InvalidCampaignError(LedgerError):
    """A campaign field is not acceptable (422); `details["field"]` names it."""

    code = "invalid_campaign"


class CampaignNotFoundError(LedgerError):
    code = "campaign_not_found"
    http_status = 404


class CampaignStateError(LedgerError):
    """The campaign is not in a state that allows this (409)."""

    code = "campaign_state"
    http_status = 409


class InvalidDonationError(LedgerError):
    code = "invalid_donation"


class DonationNotFoundError(LedgerError):
    code = "donation_not_found"
    http_status = 404


class RefundPendingError(LedgerError):
    """A refund of this donation is already on its way (409)."""

    code = "refund_pending"
    http_status = 409


class NothingToRefundError(LedgerError):
    code = "nothing_to_refund"
    http_status = 409


class OrganisationNotFoundError(LedgerError):
    code = "organisation_not_found"
    http_status = 404


class InvalidReceiptError(LedgerError):
    """Receipt data that cannot be printed as a valid receipt."""

    code = "invalid_receipt"


class NothingToCorrectError(LedgerError):
    """A receipt would be issued again with the very donor it already prints."""

    code = "nothing_to_correct"


class InvalidDonorError(LedgerError):
    """The donor a treasurer names cannot be linked (422); `details["field"]` names the
    form's field (`donor_email`, `donor_name`)."""

    code = "invalid_donor"


class TransferAmountError(LedgerError):
    """A transfer arrived for a pending gift with another amount than the donor pledged
    (409): settling it with another amount is a treasurer's later decision, so nothing
    is booked; `details` carry `expected` and `received` (minor units)."""

    code = "transfer_amount_differs"
    http_status = 409
