"""Schemas of the grants API: matching-grant commitments, their entries and figures.

Amounts are decimal strings in the commitment's currency; rates and shares are
decimal strings too ("2" for 2 EUR per 1 EUR, "0.4" for 40 %), never numbers.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ledger.campaigns.models import METHODS
from ledger.core.errors import LedgerError
from ledger.core.money import Money
from web.api.schemas import Amount, IsoDate, currency_field

_RATE = re.compile(r"^(0|[1-9][0-9]{0,5})(\.[0-9]{1,10})?$")


class Rate(fields.String):
    """A non-negative decimal string such as "2" or "0.30" (no exponent, no sign)."""

    default_error_messages = {  # noqa: RUF012 - marshmallow merges this class attribute
        "invalid": 'rates and shares are decimal strings such as "2" or "0.4", never numbers',
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(metadata={"pattern": _RATE.pattern, "example": "0.4"}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str) or not _RATE.match(value):
            raise self.make_error("invalid")
        return value


def _share(data: dict[str, Any], name: str) -> None:
    value = data.get(name)
    if value is None:
        return
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValidationError("not a decimal", field_name=name) from None
    if not 0 < number <= 1:
        raise ValidationError('a share is in (0, 1]: "0.4" for 40 %', field_name=name)


AMOUNT_FIELDS = (
    "pool",
    "min_gift",
    "max_gift",
    "donor_cap",
    "campaign_cap",
    "threshold",
    "topup",
    "topup_cap",
    "bonus_cap",
)


class CommitmentCreateSchema(Schema):
    foundation_id = fields.Integer(required=True, validate=validate.Range(min=1))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(required=True, validate=validate.OneOf(("ratio", "threshold")))
    campaign_id = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1),
        metadata={"description": "The campaign matched; or give call_id."},
    )
    call_id = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1),
        metadata={"description": "Every campaign of this call for ideas is matched."},
    )
    currency = currency_field(load_default="EUR")
    pool = Amount(required=True, metadata={"description": "What the foundation commits."})
    window_start = fields.AwareDateTime(required=True)
    window_end = fields.AwareDateTime(
        required=True, metadata={"description": "Inclusive to its whole second."}
    )
    count = fields.String(
        load_default="gross",
        validate=validate.OneOf(("gross", "net")),
        metadata={"description": "Match and thresholds count gifts gross or net of fees."},
    )
    clawback_policy = fields.String(
        load_default="claw_back",
        validate=validate.OneOf(("keep", "claw_back")),
        metadata={"description": "What a refund after release does to the match."},
    )
    ratio = Rate(load_default=None, allow_none=True)
    methods = fields.List(
        fields.String(validate=validate.OneOf(METHODS)), load_default=list(METHODS)
    )
    min_gift = Amount(load_default=None, allow_none=True)
    max_gift = Amount(load_default=None, allow_none=True)
    donor_cap = Amount(load_default=None, allow_none=True)
    campaign_cap = Amount(load_default=None, allow_none=True)
    threshold = Amount(load_default=None, allow_none=True)
    threshold_share = Rate(load_default=None, allow_none=True)
    topup = Amount(load_default=None, allow_none=True)
    topup_share = Rate(load_default=None, allow_none=True)
    topup_policy = fields.String(
        load_default="fixed", validate=validate.OneOf(("fixed", "remaining_to_goal"))
    )
    topup_cap = Amount(load_default=None, allow_none=True)
    min_donors = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))
    bonus_share = Rate(load_default=None, allow_none=True)
    bonus_cap = Amount(load_default=None, allow_none=True)

    @validates_schema(skip_on_field_errors=True)
    def _amounts(self, data: dict[str, Any], **kwargs: Any) -> None:
        for name in AMOUNT_FIELDS:
            if data.get(name) is None:
                continue
            try:
                money = Money.parse(data[name], data["currency"])
            except LedgerError as exc:
                raise ValidationError(exc.message, field_name=name) from None
            if money.minor <= 0:
                raise ValidationError("must be greater than zero", field_name=name)
        for name in ("threshold_share", "topup_share", "bonus_share"):
            _share(data, name)


class StatesSchema(Schema):
    word = Amount()
    pledged = Amount(metadata={"description": "In the pool, not reserved."})
    reserved = Amount()
    earned = Amount()
    released = Amount()
    disbursed = Amount()
    clawback_due = Amount()


class CampaignMatchSchema(Schema):
    campaign_id = fields.Integer()
    status = fields.String()
    matched = Amount(metadata={"description": "Reserved + released + disbursed."})
    reserved = Amount()
    released = Amount()
    disbursed = Amount()
    clawback_due = Amount()
    raised = Amount(metadata={"description": "Settled money from the crowd (as counted)."})
    donors = fields.Integer()


class CommitmentSchema(Schema):
    id = fields.Integer()
    foundation_id = fields.Integer()
    foundation = fields.String()
    title = fields.String()
    kind = fields.String()
    status = fields.String()
    campaign_id = fields.Integer(allow_none=True)
    call_id = fields.Integer(allow_none=True)
    currency = fields.String()
    pool = Amount()
    count = fields.String()
    clawback_policy = fields.String()
    window_start = fields.AwareDateTime()
    window_end = fields.AwareDateTime()
    rule = fields.Dict(metadata={"description": "The rule's settings as created."})
    states = fields.Nested(StatesSchema)
    campaigns = fields.List(fields.Nested(CampaignMatchSchema))
    created_at = fields.AwareDateTime()
    cancelled_at = fields.AwareDateTime(allow_none=True)


class CommitmentListSchema(Schema):
    items = fields.List(fields.Nested(CommitmentSchema))


class GrantPostingSchema(Schema):
    account = fields.String()
    amount = Amount()


class GrantEntrySchema(Schema):
    sequence = fields.Integer()
    kind = fields.String()
    effective_on = fields.Date()
    narration = fields.String()
    hash = fields.String()
    postings = fields.List(fields.Nested(GrantPostingSchema))


class GrantEntryListSchema(Schema):
    commitment_id = fields.Integer()
    items = fields.List(fields.Nested(GrantEntrySchema))


class StatementQuerySchema(Schema):
    format = fields.String(load_default="pdf", validate=validate.OneOf(("pdf", "csv")))
    date_from = IsoDate(data_key="from", load_default=None)
    date_to = IsoDate(data_key="to", load_default=None)


class QuoteQuerySchema(Schema):
    amount = Amount(load_default="10.00")
    method = fields.String(load_default="card", validate=validate.OneOf(METHODS))


class QuoteLineSchema(Schema):
    commitment_id = fields.Integer()
    foundation = fields.String()
    title = fields.String()
    kind = fields.String()
    matched_so_far = Amount()
    adds_now = Amount()
    reason = fields.String()


class QuoteSchema(Schema):
    campaign_id = fields.Integer()
    currency = fields.String()
    amount = Amount()
    becomes = Amount(metadata={"description": "The gift plus what it would bring now."})
    lines = fields.List(fields.Nested(QuoteLineSchema))
