"""marshmallow schemas of the bank API (`web.bank.api`).

Amounts are decimal strings in the account's currency, signed like the bank line
(money in positive, money out negative). Input schemas refuse unknown fields.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ledger.reconcile.formats.detect import FORMATS
from ledger.reconcile.matching import RECORD_KINDS, STATUSES
from ledger.reconcile.models import (
    ALLOCATION_KINDS,
    RULE_ACTIONS,
    RULE_DIRECTIONS,
    RULE_PROPOSALS,
)
from web.api.schemas import Amount, IsoDate

FORMAT_NAMES = ("auto", *FORMATS)


class BankAccountCreateSchema(Schema):
    iban = fields.String(required=True, validate=validate.Length(min=5, max=50))
    account = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "The ledger asset account it mirrors (its currency)."},
    )
    name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))


class BankAccountSchema(Schema):
    id = fields.Integer(required=True)
    iban = fields.String(required=True, metadata={"description": "Compact, upper case."})
    name = fields.String(required=True)
    currency = fields.String(required=True)
    account = fields.String(required=True, metadata={"description": "The mirrored account."})
    unexplained = fields.Integer(required=True, metadata={"description": "Lines to explain."})


class BankAccountListSchema(Schema):
    bank_accounts = fields.List(fields.Nested(BankAccountSchema), required=True)


class StatementQuerySchema(Schema):
    format = fields.String(load_default="auto", validate=validate.OneOf(FORMAT_NAMES))
    preset = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "The column preset of a CSV or XLSX file."},
    )
    accept_unbalanced = fields.Boolean(
        load_default=False,
        truthy={"true", "1"},
        falsy={"false", "0"},
        metadata={"description": "Import statements that do not add up (needs `reason`)."},
    )
    reason = fields.String(load_default=None, validate=validate.Length(min=1, max=500))


class StatementResultSchema(Schema):
    statement_id = fields.String(allow_none=True)
    balance_kind = fields.String(allow_none=True)
    opening = Amount(allow_none=True)
    closing = Amount(allow_none=True)
    computed_closing = Amount(allow_none=True)
    balanced = fields.Boolean(allow_none=True)
    difference = Amount(allow_none=True, metadata={"description": "computed - stated closing."})
    continuity_difference = Amount(allow_none=True)
    accepted = fields.Boolean()
    lines = fields.Integer()


class KnownLineSchema(Schema):
    id = fields.Integer(required=True)
    booked_on = fields.Date(required=True)
    amount = Amount(required=True)
    bank_ref = fields.String(allow_none=True)
    text = fields.String(required=True)


class ImportReportSchema(Schema):
    import_id = fields.Integer(required=True)
    iban = fields.String(required=True)
    currency = fields.String(required=True)
    format = fields.String(required=True)
    sha256 = fields.String(required=True)
    statements = fields.List(fields.Nested(StatementResultSchema), required=True)
    lines = fields.Integer(required=True)
    new = fields.Integer(required=True)
    new_line_ids = fields.List(fields.Integer(), required=True)
    already_imported = fields.List(fields.Nested(KnownLineSchema), required=True)
    details_added = fields.Integer(required=True)
    kept_whole = fields.List(fields.Integer(), required=True)
    skipped_statements = fields.Integer(required=True)
    accepted_unbalanced = fields.Boolean(required=True)


class LinesQuerySchema(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))


class BankLineSchema(Schema):
    id = fields.Integer(required=True)
    booked_on = fields.Date(required=True)
    value_on = fields.Date(allow_none=True)
    amount = Amount(required=True, metadata={"description": "Signed: money out is negative."})
    currency = fields.String(required=True)
    text = fields.String(required=True)
    counterparty_name = fields.String(allow_none=True)
    counterparty_iban = fields.String(allow_none=True)
    bank_ref = fields.String(allow_none=True)
    reference = fields.String(allow_none=True)
    reason_code = fields.String(allow_none=True)
    reversal = fields.Boolean(required=True)
    parent_id = fields.Integer(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))


class BankLineListSchema(Schema):
    lines = fields.List(fields.Nested(BankLineSchema), required=True)


class AllocationSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(ALLOCATION_KINDS))
    record = fields.String(allow_none=True)
    amount = Amount(required=True)
    reason = fields.String(allow_none=True)
    actor = fields.String(required=True)
    created_at = fields.DateTime(required=True)


class BankLineDetailSchema(Schema):
    id = fields.Integer(required=True)
    bank_account_id = fields.Integer(required=True)
    iban = fields.String(required=True)
    booked_on = fields.Date(required=True)
    value_on = fields.Date(allow_none=True)
    amount = Amount(required=True)
    currency = fields.String(required=True)
    text = fields.String(required=True)
    counterparty_name = fields.String(allow_none=True)
    counterparty_iban = fields.String(allow_none=True)
    bank_ref = fields.String(allow_none=True)
    end_to_end_id = fields.String(allow_none=True)
    reference = fields.String(allow_none=True)
    bank_code = fields.String(allow_none=True)
    reason_code = fields.String(allow_none=True)
    reversal = fields.Boolean(required=True)
    parent_id = fields.Integer(allow_none=True)
    children = fields.List(fields.Integer(), required=True)
    raw = fields.String(required=True, metadata={"description": "The line as the bank sent it."})
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    left = Amount(required=True, metadata={"description": "What is still to explain."})
    allocations = fields.List(fields.Nested(AllocationSchema), required=True)


class MatchCountsSchema(Schema):
    examined = fields.Integer(required=True)
    settled_gifts = fields.Integer(required=True)
    repayments = fields.Integer(required=True)
    payouts = fields.Integer(required=True, metadata={"description": "Stripe payouts arrived."})
    booked_by_rules = fields.Integer(required=True)
    left = fields.Integer(required=True)


class IgnoreSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class BookSchema(Schema):
    account = fields.String(required=True, validate=validate.Length(min=1, max=200))
    narration = fields.String(required=True, validate=validate.Length(min=1, max=500))


class MatchPartSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(RECORD_KINDS))
    record = fields.String(
        required=True,
        validate=validate.Length(min=1, max=255),
        metadata={"description": "Donation id, loan repayment id, entry sequence or payout id."},
    )
    amount = Amount(required=True, metadata={"description": "Signed like the line."})


class MatchSchema(Schema):
    parts = fields.List(
        fields.Nested(MatchPartSchema),
        required=True,
        validate=validate.Length(min=1, max=50),
        metadata={"description": "Several parts split the line between records."},
    )


class SuggestionSchema(Schema):
    kind = fields.String(
        required=True,
        metadata={"description": "gift, repayment, entry, payout, campaign, loan or rule."},
    )
    record_id = fields.String(required=True)
    amount = Amount(required=True, metadata={"description": "Signed like the line."})
    label = fields.String(required=True)
    score = fields.Integer(required=True, metadata={"description": "0 to 100."})
    reasons = fields.List(fields.String(), required=True)


class SuggestionListSchema(Schema):
    suggestions = fields.List(fields.Nested(SuggestionSchema), required=True)


class LineGiftSchema(Schema):
    campaign_id = fields.Integer(required=True, validate=validate.Range(min=1))
    amount = Amount(
        load_default=None, allow_none=True, metadata={"description": "Default: what is left."}
    )
    donor = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1),
        metadata={"description": "The donor's person id (default: none)."},
    )
    anonymous = fields.Boolean(load_default=True)


class LineGiftAnswerSchema(BankLineDetailSchema):
    donation_id = fields.Integer(required=True)
    donation_status = fields.String(required=True)


class LineRepaymentSchema(Schema):
    loan_id = fields.Integer(required=True, validate=validate.Range(min=1))
    amount = Amount(
        load_default=None, allow_none=True, metadata={"description": "Default: what is left."}
    )


class LineRepaymentAnswerSchema(BankLineDetailSchema):
    repayment_id = fields.Integer(required=True)


class ProposeSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(RULE_PROPOSALS))
    id = fields.Integer(required=True)


class RuleSchema(Schema):
    id = fields.Integer(required=True)
    bank_account_id = fields.Integer(required=True)
    iban = fields.String(required=True)
    position = fields.Integer(required=True, metadata={"description": "1 is tried first."})
    name = fields.String(required=True)
    active = fields.Boolean(required=True)
    counterparty_iban = fields.String(allow_none=True)
    text_contains = fields.String(allow_none=True)
    text_regex = fields.String(allow_none=True)
    min = Amount(allow_none=True, metadata={"description": "Smallest absolute amount."})
    max = Amount(allow_none=True, metadata={"description": "Largest absolute amount."})
    direction = fields.String(required=True, validate=validate.OneOf(RULE_DIRECTIONS))
    action = fields.String(required=True, validate=validate.OneOf(RULE_ACTIONS))
    book_to = fields.String(allow_none=True)
    narration = fields.String(allow_none=True)
    propose = fields.Nested(ProposeSchema, allow_none=True)


class RuleListSchema(Schema):
    rules = fields.List(fields.Nested(RuleSchema), required=True)


class RuleCreateSchema(Schema):
    """As `ledger bank rules add`: one action, `book_to` with `narration`, or
    `propose_campaign`, or `propose_loan`."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    counterparty_iban = fields.String(load_default=None, allow_none=True)
    text_contains = fields.String(load_default=None, allow_none=True)
    text_regex = fields.String(load_default=None, allow_none=True)
    min = Amount(load_default=None, allow_none=True)
    max = Amount(load_default=None, allow_none=True)
    direction = fields.String(load_default="any", validate=validate.OneOf(RULE_DIRECTIONS))
    book_to = fields.String(load_default=None, allow_none=True)
    narration = fields.String(load_default=None, allow_none=True)
    propose_campaign = fields.Integer(load_default=None, allow_none=True)
    propose_loan = fields.Integer(load_default=None, allow_none=True)
    position = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))

    @validates_schema
    def one_action(self, data: dict[str, Any], **_kwargs: Any) -> None:
        given = [data.get(k) is not None for k in ("book_to", "propose_campaign", "propose_loan")]
        if sum(given) != 1:
            raise ValidationError(
                "one action: book_to (with narration), propose_campaign or propose_loan",
                field_name="book_to",
            )


class RuleMoveSchema(Schema):
    position = fields.Integer(required=True, validate=validate.Range(min=1))


class PresetSchema(Schema):
    """The columns of the account's CSV or XLSX export, by their header text (as
    `ledger bank accounts preset`)."""

    date_column = fields.String(required=True)
    date_format = fields.String(required=True, metadata={"description": "strptime, %d/%m/%Y"})
    text_columns = fields.List(fields.String(), required=True)
    value_date_column = fields.String(allow_none=True)
    amount_column = fields.String(allow_none=True, metadata={"description": "Signed, or:"})
    debit_column = fields.String(allow_none=True)
    credit_column = fields.String(allow_none=True)
    decimal = fields.String(validate=validate.OneOf(("it", "en")))
    skip_rows = fields.Integer(validate=validate.Range(min=0, max=1000))
    delimiter = fields.String(validate=validate.OneOf((";", ",", "\t", "|")))
    sheet = fields.String(allow_none=True)


class PresetAnswerSchema(Schema):
    bank_account_id = fields.Integer(required=True)
    iban = fields.String(required=True)
    preset = fields.Nested(PresetSchema, required=True)


class ReconciliationQuerySchema(Schema):
    as_of = IsoDate(load_default=None, metadata={"description": "YYYY-MM-DD; default today."})
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv", "pdf")))


class HeldBalanceSchema(Schema):
    account = fields.String()
    balance = Amount()


class ReconcilingLineSchema(Schema):
    id = fields.Integer()
    booked_on = fields.String()
    amount = Amount()
    left = Amount()
    text = fields.String()
    reason = fields.String(allow_none=True)


class ReconcilingEntrySchema(Schema):
    sequence = fields.Integer()
    effective_on = fields.String()
    kind = fields.String()
    narration = fields.String()
    amount = Amount()


class StatementUsedSchema(Schema):
    id = fields.Integer()
    statement_id = fields.String(allow_none=True)
    balance_kind = fields.String(allow_none=True)
    first_day = fields.String(allow_none=True)
    closing_on = fields.String(allow_none=True)
    opening = Amount(allow_none=True)
    closing = Amount(allow_none=True)
    anchor = fields.Boolean()


class ReconciliationSchema(Schema):
    """The reconciliation as `ledger bank report --format json` prints it."""

    iban = fields.String()
    name = fields.String()
    currency = fields.String()
    as_of = fields.String()
    bank_balance = Amount()
    bank_basis = fields.String(metadata={"description": "closing | opening | computed | lines"})
    bank_basis_on = fields.String(allow_none=True)
    book_balance = Amount()
    held_accounts = fields.List(fields.Nested(HeldBalanceSchema))
    from_ = fields.String(data_key="from", attribute="from", allow_none=True)
    unexplained_lines = fields.List(fields.Nested(ReconcilingLineSchema))
    unexplained_total = Amount()
    ignored_lines = fields.List(fields.Nested(ReconcilingLineSchema))
    ignored_total = Amount()
    entries_not_on_bank = fields.List(fields.Nested(ReconcilingEntrySchema))
    entries_not_on_bank_total = Amount()
    difference = Amount(metadata={"description": "Zero when the bank and the books agree."})
    statements_used = fields.List(fields.Nested(StatementUsedSchema))


class HoldSchema(Schema):
    account = fields.String(required=True, validate=validate.Length(min=1, max=200))


class HeldAccountsSchema(Schema):
    held_accounts = fields.List(fields.String(), metadata={"description": "Mirrored first."})
