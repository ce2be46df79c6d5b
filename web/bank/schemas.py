"""marshmallow schemas of the bank API (`web.bank.api`).

Amounts are decimal strings in the account's currency, signed like the bank line
(money in positive, money out negative). Input schemas refuse unknown fields.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ledger.reconcile.formats.detect import FORMATS
from ledger.reconcile.matching import RECORD_KINDS, STATUSES
from ledger.reconcile.models import ALLOCATION_KINDS
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
