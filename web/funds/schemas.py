"""marshmallow schemas of the fund and loan API (`web.funds.api`).

Amounts are decimal strings in the fund's currency ("430.33"), never JSON
numbers; rates are decimal strings of a yearly fraction ("0.06" is 6 %);
PAR30 is a decimal string fraction ("0.04" is 4 %). Input schemas refuse
unknown fields.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ledger.funds.loans import DAY_COUNTS, METHODS
from ledger.funds.models import FUND_KINDS, FUND_SOURCES, LOAN_STATES
from web.api.schemas import Amount, IsoDate

_RATE = r"^[0-9]+(\.[0-9]+)?$"


class FundCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(required=True, validate=validate.OneOf(FUND_KINDS))
    currency = fields.String(load_default="EUR", validate=validate.Length(equal=3))


class FundSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(FUND_KINDS))
    currency = fields.String(required=True)
    created_at = fields.DateTime(required=True)


class FundListSchema(Schema):
    funds = fields.List(fields.Nested(FundSchema), required=True)


class FundPositionSchema(Schema):
    fund_id = fields.Integer(required=True)
    currency = fields.String(required=True)
    on = fields.Date(required=True, metadata={"description": "The day PAR30 is computed for."})
    cash = Amount(required=True, metadata={"description": "The fund account's posted balance."})
    committed = Amount(required=True, metadata={"description": "Open reservations on it."})
    available = Amount(required=True, metadata={"description": "cash - committed."})
    capital = Amount(required=True, metadata={"description": "All money in."})
    loans_outstanding = Amount(required=True)
    provision = Amount(required=True)
    grants_paid = Amount(required=True)
    interest_income = Amount(required=True)
    fee_income = Amount(required=True)
    recoveries = Amount(required=True)
    loan_losses = Amount(required=True)
    overpayments_owed = Amount(required=True)
    loans_active = fields.Integer(required=True)
    loans_at_risk = fields.Integer(required=True)
    at_risk = Amount(required=True)
    par30 = fields.String(
        required=True,
        metadata={"description": "Principal more than 30 days late / all outstanding principal."},
    )


class FundDetailSchema(FundSchema):
    position = fields.Nested(FundPositionSchema, required=True)


class DepositCreateSchema(Schema):
    amount = Amount(required=True, metadata={"description": "In the fund's currency."})
    source = fields.String(required=True, validate=validate.OneOf(FUND_SOURCES))
    effective_on = IsoDate(
        load_default=None, metadata={"description": "Day the money arrived; default today."}
    )
    reference = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=120),
        metadata={"description": "A non-personal reference (e.g. the transfer's reference)."},
    )


class BookedSchema(Schema):
    fund_id = fields.Integer(required=True)
    sequence = fields.Integer(required=True, metadata={"description": "The journal entry."})
    amount = Amount(required=True)
    currency = fields.String(required=True)


class LoanProductCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    min_amount = Amount(required=True)
    max_amount = Amount(required=True)
    annual_rate = fields.String(
        required=True,
        validate=validate.Regexp(_RATE),
        metadata={
            "description": 'Yearly fraction as a decimal string: "0.06" is 6 %, "0" allowed.'
        },
    )
    method = fields.String(required=True, validate=validate.OneOf(METHODS))
    min_term_months = fields.Integer(required=True, strict=True)
    max_term_months = fields.Integer(required=True, strict=True)
    grace_months = fields.Integer(load_default=0, strict=True)
    day_count = fields.String(load_default="30/360", validate=validate.OneOf(DAY_COUNTS))
    rounding = fields.String(load_default="ROUND_HALF_EVEN")
    fee_per_instalment = Amount(load_default="0")


class LoanProductSchema(Schema):
    id = fields.Integer(required=True)
    fund_id = fields.Integer(required=True)
    name = fields.String(required=True)
    currency = fields.String(required=True)
    min_amount = Amount(required=True)
    max_amount = Amount(required=True)
    annual_rate = fields.String(required=True)
    method = fields.String(required=True)
    min_term_months = fields.Integer(required=True)
    max_term_months = fields.Integer(required=True)
    grace_months = fields.Integer(required=True)
    day_count = fields.String(required=True)
    rounding = fields.String(required=True)
    fee_per_instalment = Amount(required=True)


class LoanProductListSchema(Schema):
    products = fields.List(fields.Nested(LoanProductSchema), required=True)


class LoanCreateSchema(Schema):
    product_id = fields.Integer(required=True, strict=True)
    borrower_person_id = fields.Integer(required=True, strict=True)
    principal = Amount(required=True)
    term_months = fields.Integer(required=True, strict=True)
    first_due_on = IsoDate(required=True)


class DisburseSchema(Schema):
    disbursed_on = IsoDate(load_default=None, metadata={"description": "Default today."})


class LoanSchema(Schema):
    id = fields.Integer(required=True)
    fund_id = fields.Integer(required=True)
    product_id = fields.Integer(required=True)
    borrower_person_id = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(LOAN_STATES))
    currency = fields.String(required=True)
    principal = Amount(required=True)
    annual_rate = fields.String(required=True)
    method = fields.String(required=True)
    term_months = fields.Integer(required=True)
    grace_months = fields.Integer(required=True)
    day_count = fields.String(required=True)
    rounding = fields.String(required=True)
    first_due_on = fields.Date(required=True)
    disbursed_on = fields.Date(required=True, allow_none=True)
    disbursement_sequence = fields.Integer(required=True, allow_none=True)
    outstanding_principal = Amount(required=True)
    days_past_due = fields.Integer(required=True)
    arrears = Amount(required=True)
    payoff = Amount(required=True, metadata={"description": "To pay the loan off today."})
    overpayment_owed = Amount(required=True)


class LoanListSchema(Schema):
    loans = fields.List(fields.Nested(LoanSchema), required=True)


class InstalmentSchema(Schema):
    number = fields.Integer(required=True)
    due_on = fields.Date(required=True)
    principal = Amount(required=True)
    interest = Amount(required=True)
    fee = Amount(required=True)
    total = Amount(required=True)
    balance_after = Amount(required=True)
    paid = Amount(required=True)
    waived = Amount(required=True)
    unpaid = Amount(required=True)


class RepaymentSchema(Schema):
    id = fields.Integer(required=True)
    loan_id = fields.Integer(required=True)
    amount = Amount(required=True)
    currency = fields.String(required=True)
    received_on = fields.Date(required=True)
    fees = Amount(required=True)
    interest = Amount(required=True)
    principal = Amount(required=True)
    overpayment = Amount(
        required=True, metadata={"description": "Beyond what was owed: owed back to the payer."}
    )
    paid_off_early = fields.Boolean(required=True)
    sequence = fields.Integer(required=True, allow_none=True)


class ScheduleSchema(Schema):
    loan_id = fields.Integer(required=True)
    currency = fields.String(required=True)
    instalments = fields.List(fields.Nested(InstalmentSchema), required=True)
    repayments = fields.List(fields.Nested(RepaymentSchema), required=True)


class RepaymentCreateSchema(Schema):
    amount = Amount(required=True)
    received_on = IsoDate(required=True)


class WriteOffCreateSchema(Schema):
    on = IsoDate(load_default=None, metadata={"description": "Default today."})


class WriteOffSchema(Schema):
    loan_id = fields.Integer(required=True)
    written_off_on = fields.Date(required=True)
    principal = Amount(required=True)
    interest_due_unpaid = Amount(required=True)
    fees_due_unpaid = Amount(required=True)
    from_provision = Amount(required=True)
    sequence = fields.Integer(required=True, allow_none=True)


class RecoverySchema(Schema):
    id = fields.Integer(required=True)
    loan_id = fields.Integer(required=True)
    amount = Amount(required=True)
    received_on = fields.Date(required=True)
    principal = Amount(required=True)
    interest = Amount(required=True)
    fees = Amount(required=True)
    excess = Amount(required=True)
    sequence = fields.Integer(required=True, allow_none=True)


class OverpaymentRefundCreateSchema(Schema):
    amount = Amount(required=True)


class OverpaymentRefundSchema(Schema):
    id = fields.Integer(required=True)
    loan_id = fields.Integer(required=True)
    amount = Amount(required=True)
    refunded_on = fields.Date(required=True)
    sequence = fields.Integer(required=True, allow_none=True)


class StatementQuerySchema(Schema):
    format = fields.String(load_default="pdf", validate=validate.OneOf(("pdf", "csv")))
    start = IsoDate(
        load_default=None, data_key="from", metadata={"description": "Default 1 January."}
    )
    end = IsoDate(load_default=None, data_key="to", metadata={"description": "Default today."})


class LoanStatementQuerySchema(Schema):
    format = fields.String(load_default="pdf", validate=validate.OneOf(("pdf", "csv")))
