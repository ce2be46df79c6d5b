"""marshmallow schemas of the API of calls for ideas, applications, reviews and awards.

Amounts are decimal strings in the call's currency, as everywhere in the API;
instants are ISO 8601 with an offset. Input schemas refuse unknown fields.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ledger.funds.call_models import (
    APPLICATION_KINDS,
    APPLICATION_STATES,
    AWARD_KINDS,
    AWARD_STATES,
    SCORE_MAX,
    SCORE_MIN,
    TRANCHE_STATES,
)
from web.api.schemas import Amount, IsoDate, StrictBoolean, currency_field, positive_amount


class QuestionInSchema(Schema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=500))
    required_answer = StrictBoolean(
        required=True, metadata={"description": "The answer an eligible proponent gives."}
    )


class CriterionInSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    weight = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=100))


class CallCreateSchema(Schema):
    fund_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default="", validate=validate.Length(max=20_000))
    budget = Amount(required=True)
    max_award = Amount(required=True, metadata={"description": "At most the budget."})
    currency = currency_field(load_default="EUR")
    opens_at = fields.AwareDateTime(required=True)
    closes_at = fields.AwareDateTime(required=True)
    award_kind = fields.String(required=True, validate=validate.OneOf(AWARD_KINDS))
    loan_product_id = fields.Integer(
        load_default=None,
        allow_none=True,
        strict=True,
        metadata={"description": "Required when loans may be awarded."},
    )
    questions = fields.List(fields.Nested(QuestionInSchema), load_default=list)
    criteria = fields.List(
        fields.Nested(CriterionInSchema), required=True, validate=validate.Length(min=1, max=20)
    )
    reviewer_user_ids = fields.List(
        fields.Integer(strict=True), required=True, validate=validate.Length(min=1)
    )

    @validates_schema(skip_on_field_errors=True)
    def _amounts_fit_currency(self, data: dict[str, Any], **kwargs: Any) -> None:
        positive_amount(data, "budget", data["currency"])
        positive_amount(data, "max_award", data["currency"])


class QuestionSchema(Schema):
    id = fields.Integer(required=True)
    position = fields.Integer(required=True)
    text = fields.String(required=True)
    required_answer = fields.Boolean(required=True)


class CriterionSchema(Schema):
    id = fields.Integer(required=True)
    position = fields.Integer(required=True)
    name = fields.String(required=True)
    weight = fields.Integer(required=True)


class FinancedIdeaSchema(Schema):
    application_id = fields.Integer(required=True)
    title = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(APPLICATION_KINDS))
    amount = Amount(required=True)
    proponent = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "Only when the proponent agreed to be named."},
    )


class CallSchema(Schema):
    id = fields.Integer(required=True)
    fund_id = fields.Integer(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    currency = fields.String(required=True)
    budget = Amount(required=True)
    committed = Amount(
        required=True, metadata={"description": "Live awards, less released and returned."}
    )
    remaining = Amount(required=True)
    max_award = Amount(required=True)
    opens_at = fields.DateTime(required=True)
    closes_at = fields.DateTime(required=True)
    award_kind = fields.String(required=True, validate=validate.OneOf(AWARD_KINDS))
    loan_product_id = fields.Integer(required=True, allow_none=True)
    open = fields.Boolean(required=True)
    questions = fields.List(fields.Nested(QuestionSchema), required=True)
    criteria = fields.List(fields.Nested(CriterionSchema), required=True)
    reviewer_user_ids = fields.List(
        fields.Integer(),
        metadata={"description": "The committee: shown to admins and treasurers only."},
    )
    financed = fields.List(fields.Nested(FinancedIdeaSchema), required=True)


class CallListSchema(Schema):
    calls = fields.List(fields.Nested(CallSchema), required=True)


class AnswerInSchema(Schema):
    question_id = fields.Integer(required=True, strict=True)
    answer = StrictBoolean(required=True)


class ApplicationCreateSchema(Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    summary = fields.String(required=True, validate=validate.Length(min=1, max=10_000))
    requested = Amount(required=True, metadata={"description": "In the call's currency."})
    kind = fields.String(required=True, validate=validate.OneOf(APPLICATION_KINDS))
    answers = fields.List(fields.Nested(AnswerInSchema), load_default=list)
    public_name_consent = StrictBoolean(
        load_default=False,
        metadata={"description": "Name the proponent in public if financed (default: no)."},
    )


class EventSchema(Schema):
    from_status = fields.String(required=True, allow_none=True)
    to_status = fields.String(required=True, validate=validate.OneOf(APPLICATION_STATES))
    actor_user_id = fields.Integer(
        required=True, allow_none=True, metadata={"description": "Null outside the staff."}
    )
    occurred_at = fields.DateTime(required=True)
    note = fields.String(required=True, allow_none=True)


class TrancheSchema(Schema):
    id = fields.Integer(required=True)
    award_id = fields.Integer(required=True)
    position = fields.Integer(required=True)
    amount = Amount(required=True)
    currency = fields.String(required=True)
    milestone = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(TRANCHE_STATES))
    approved_by_user_id = fields.Integer(
        required=True, allow_none=True, metadata={"description": "Null outside the staff."}
    )
    paid_by_user_id = fields.Integer(
        required=True, allow_none=True, metadata={"description": "Null outside the staff."}
    )
    paid_at = fields.DateTime(required=True, allow_none=True)
    entry_id = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The payment's journal entry (null outside the staff)."},
    )
    reported_at = fields.DateTime(required=True, allow_none=True)


class AwardSchema(Schema):
    id = fields.Integer(required=True)
    application_id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(APPLICATION_KINDS))
    amount = Amount(required=True)
    currency = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(AWARD_STATES))
    proposed_by_user_id = fields.Integer(
        required=True, allow_none=True, metadata={"description": "Null outside the staff."}
    )
    approved_by_user_id = fields.Integer(
        required=True, allow_none=True, metadata={"description": "Null outside the staff."}
    )
    term_months = fields.Integer(required=True, allow_none=True)
    first_due_on = fields.Date(required=True, allow_none=True)
    loan_id = fields.Integer(required=True, allow_none=True)
    released = Amount(required=True)
    returned = Amount(required=True)
    tranches = fields.List(fields.Nested(TrancheSchema), required=True)


class ApplicationSchema(Schema):
    id = fields.Integer(required=True)
    call_id = fields.Integer(required=True)
    proponent_user_id = fields.Integer(required=True)
    title = fields.String(required=True)
    summary = fields.String(required=True)
    requested = Amount(required=True)
    currency = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(APPLICATION_KINDS))
    status = fields.String(required=True, validate=validate.OneOf(APPLICATION_STATES))
    public_name_consent = fields.Boolean(required=True)
    submitted_at = fields.DateTime(required=True, allow_none=True)
    answers = fields.List(fields.Nested(AnswerInSchema), required=True)
    history = fields.List(
        fields.Nested(EventSchema),
        required=True,
        metadata={"description": "Empty for the call's committee (as on the review page)."},
    )
    awards = fields.List(
        fields.Nested(AwardSchema),
        required=True,
        metadata={
            "description": "For the proponent only decided awards (approved, closed); "
            "empty for the call's committee."
        },
    )


class ApplicationListSchema(Schema):
    applications = fields.List(fields.Nested(ApplicationSchema), required=True)


class NoteSchema(Schema):
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


class ConflictCreateSchema(Schema):
    conflicted = StrictBoolean(required=True)


class ConflictSchema(Schema):
    application_id = fields.Integer(required=True)
    reviewer_user_id = fields.Integer(required=True)
    conflicted = fields.Boolean(required=True)
    declared_at = fields.DateTime(required=True)


class ScoreInSchema(Schema):
    criterion_id = fields.Integer(required=True, strict=True)
    score = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=SCORE_MIN, max=SCORE_MAX)
    )


class ReviewCreateSchema(Schema):
    scores = fields.List(fields.Nested(ScoreInSchema), required=True)
    comment = fields.String(load_default="", validate=validate.Length(max=5_000))


class ReviewSchema(Schema):
    id = fields.Integer(required=True)
    application_id = fields.Integer(required=True)
    reviewer_user_id = fields.Integer(required=True)
    scores = fields.List(fields.Nested(ScoreInSchema), required=True)
    comment = fields.String(required=True)
    submitted_at = fields.DateTime(required=True)


class RankedSchema(Schema):
    rank = fields.Integer(required=True, allow_none=True)
    application_id = fields.Integer(required=True)
    title = fields.String(required=True)
    status = fields.String(required=True)
    score = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "Mean weighted score, 0-10, two decimals (half-even)."},
    )
    reviews = fields.Integer(required=True)
    conflicts = fields.Integer(required=True)
    requested = Amount(required=True)


class RankingSchema(Schema):
    call_id = fields.Integer(required=True)
    ranking = fields.List(fields.Nested(RankedSchema), required=True)


class TrancheInSchema(Schema):
    amount = Amount(required=True)
    milestone = fields.String(required=True, validate=validate.Length(min=1, max=500))


class AwardCreateSchema(Schema):
    amount = Amount(required=True, metadata={"description": "May differ from the request."})
    kind = fields.String(required=True, validate=validate.OneOf(APPLICATION_KINDS))
    tranches = fields.List(
        fields.Nested(TrancheInSchema),
        load_default=list,
        metadata={"description": "Grants: tranches summing to the amount; empty: one payment."},
    )
    term_months = fields.Integer(load_default=None, allow_none=True, strict=True)
    first_due_on = IsoDate(load_default=None, allow_none=True)

    @validates_schema(skip_on_field_errors=True)
    def _loan_terms(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["kind"] == "loan" and (data["term_months"] is None or data["first_due_on"] is None):
            raise ValidationError("a loan needs term_months and first_due_on", "term_months")


class ReturnCreateSchema(Schema):
    amount = Amount(required=True, metadata={"description": "Paid money given back unspent."})


class ReportCreateSchema(Schema):
    report = fields.String(required=True, validate=validate.Length(min=1, max=10_000))
