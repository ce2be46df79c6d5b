"""marshmallow schemas of the campaign and donation API (the OpenAPI document is made from them).

Amounts are decimal strings in the campaign's currency (`web.api.schemas.Amount`:
a JSON number is refused, never rounded). Input schemas refuse unknown fields.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate, validates_schema

from ledger.campaigns.models import (
    CAMPAIGN_STATES,
    DONATION_STATES,
    FUNDING_MODELS,
    METHODS,
    REFUND_STATES,
)
from web.api.schemas import Amount, IsoDate, StrictBoolean, currency_field, positive_amount


class CampaignCreateSchema(Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(
        load_default="",
        validate=validate.Length(max=20_000),
        metadata={"description": "Markdown; rendered and sanitised on the public page."},
    )
    goal = Amount(required=True, metadata={"description": "The target, a positive amount."})
    currency = currency_field(load_default="EUR")
    deadline = fields.AwareDateTime(
        required=True,
        metadata={"description": "Last instant for gifts, ISO 8601 with an offset."},
    )
    funding_model = fields.String(
        load_default="keep_what_you_raise",
        validate=validate.OneOf(FUNDING_MODELS),
        metadata={"description": "all_or_nothing refunds every gift if the goal is missed."},
    )
    organisation_id = fields.Integer(
        validate=validate.Range(min=1),
        metadata={"description": "The recipient; default: the organisation of the settings."},
    )

    @validates_schema(skip_on_field_errors=True)
    def _goal_fits_currency(self, data: dict[str, Any], **kwargs: Any) -> None:
        positive_amount(data, "goal", data["currency"])


class CampaignSchema(Schema):
    """A campaign's public figures: only settled money counts as raised."""

    id = fields.Integer(required=True)
    title = fields.String(required=True)
    organisation_id = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(CAMPAIGN_STATES))
    funding_model = fields.String(required=True)
    currency = fields.String(required=True)
    goal = Amount(required=True)
    raised = Amount(
        required=True, metadata={"description": "Settled gifts less refunds and disputes."}
    )
    donor_count = fields.Integer(required=True)
    deadline = fields.DateTime(required=True)


class CheckoutCreateSchema(Schema):
    amount = Amount(required=True, metadata={"description": "In the campaign's currency."})
    anonymous = StrictBoolean(
        load_default=True,
        metadata={
            "description": "Hidden from the public donor list unless false (the donor's "
            "consent to be named)."
        },
    )


class CheckoutSchema(Schema):
    donation_id = fields.Integer(required=True)
    checkout_url = fields.String(
        required=True, metadata={"description": "Stripe Checkout page to send the donor to."}
    )
    status = fields.String(required=True, validate=validate.OneOf(DONATION_STATES))
    amount = Amount(required=True)
    currency = fields.String(required=True)


class TransferDonorSchema(Schema):
    full_name = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=200),
        metadata={"description": "The donor as the receipt prints them."},
    )
    codice_fiscale = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=20),
        metadata={"description": "For a deductible receipt; ignored without full_name."},
    )


class TransferCreateSchema(Schema):
    amount = Amount(required=True, metadata={"description": "In the campaign's currency."})
    anonymous = StrictBoolean(
        load_default=True,
        metadata={
            "description": "Hidden from the public donor list unless false (the donor's "
            "consent to be named)."
        },
    )
    donor = fields.Nested(
        TransferDonorSchema,
        load_default=None,
        allow_none=True,
        metadata={"description": "The donor for the receipt; the gift is the caller's."},
    )


class TransferSchema(Schema):
    donation_id = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(DONATION_STATES))
    amount = Amount(required=True)
    currency = fields.String(required=True)
    reference = fields.String(
        required=True,
        metadata={"description": "The gift's ISO 11649 creditor reference (RF...)."},
    )
    iban = fields.String(required=True, metadata={"description": "The beneficiary's IBAN."})
    bic = fields.String(required=True, allow_none=True)
    beneficiary = fields.String(required=True)
    epc_payload = fields.String(
        required=True,
        metadata={"description": "The EPC069-12 QR code payload (lines separated by LF)."},
    )


class DonorInSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(min=3, max=254))
    full_name = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=200),
        metadata={"description": "Required when the e-mail is not registered yet."},
    )
    codice_fiscale = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=20)
    )


class OfflineDonationCreateSchema(Schema):
    amount = Amount(required=True, metadata={"description": "In the campaign's currency."})
    method = fields.String(required=True, validate=validate.OneOf(("cash", "bank_transfer")))
    donated_on = IsoDate(
        load_default=None,
        metadata={"description": "Day the money arrived (Europe/Rome); default today."},
    )
    reference = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=140),
        metadata={"description": "Required for bank transfers: the reference given."},
    )
    # Hidden from the public unless the donor consented to be named.
    anonymous = StrictBoolean(
        load_default=True,
        metadata={"description": "false only with the donor's consent to be named in public"},
    )
    donor = fields.Nested(
        DonorInSchema,
        load_default=None,
        allow_none=True,
        metadata={"description": "Links (or registers) the donor; personal data stays there."},
    )


class DonationSchema(Schema):
    id = fields.Integer(required=True)
    campaign_id = fields.Integer(required=True)
    campaign = fields.String(required=True, metadata={"description": "The campaign's title."})
    status = fields.String(required=True, validate=validate.OneOf(DONATION_STATES))
    method = fields.String(required=True, validate=validate.OneOf(METHODS))
    amount = Amount(required=True)
    refunded = Amount(required=True)
    currency = fields.String(required=True)
    anonymous = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)
    donated_on = fields.Date(required=True, allow_none=True)
    receipt = fields.String(
        required=True, allow_none=True, metadata={"description": "Receipt number, 2026/000017."}
    )
    receipt_void = fields.Boolean(required=True, allow_none=True)


class DonationListSchema(Schema):
    donations = fields.List(fields.Nested(DonationSchema), required=True)


class RefundCreateSchema(Schema):
    amount = Amount(
        metadata={"description": "Omit to refund all that the gift still counts."},
    )


class RefundSchema(Schema):
    id = fields.Integer(required=True)
    donation_id = fields.Integer(required=True)
    amount = Amount(required=True)
    currency = fields.String(required=True)
    status = fields.String(
        required=True,
        validate=validate.OneOf(REFUND_STATES),
        metadata={"description": "pending until Stripe confirms a card refund."},
    )


class CloseResultSchema(Schema):
    campaign_id = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(CAMPAIGN_STATES))
    refunds_created = fields.Integer(required=True)
    refunds_pending = fields.Integer(required=True)
