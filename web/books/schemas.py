"""marshmallow schemas of the books in the API: accounts, entries, reversals, trial balance.

Amounts are decimal strings in the currency's scale, signed with debits
positive in postings (`web.api.schemas.Amount`); metadata values are strings,
whole numbers or booleans, never floats.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from ledger.core.accounts import CODE_PATTERN
from ledger.core.errors import LedgerError
from ledger.core.journal import KIND_PATTERN, MAX_NARRATION, PostingSpec
from ledger.core.models import ACCOUNT_TYPES
from ledger.core.money import Money
from web.api.schemas import Amount, IsoDate, QueryInteger, StrictBoolean, currency_field

MAX_PAGE = 200
DEFAULT_PAGE = 50


class MetadataValue(fields.Raw):
    """A metadata value: string, integer, boolean or null (the engine stores no floats)."""

    default_error_messages = {  # noqa: RUF012 - marshmallow merges this class attribute
        "invalid": "metadata values are strings, integers, booleans or null",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if value is None or isinstance(value, str | bool):
            return value
        if isinstance(value, int) and abs(value) <= 2**53:
            # Beyond 2**53 a JavaScript client reading the entry back would change it.
            return value
        raise self.make_error("invalid")


class Metadata(fields.Dict):
    """Entry metadata: a JSON object of short keys and `MetadataValue`s.

    marshmallow reports a bad value as `{key: {"value": [...]}}`; it is reshaped to
    `{key: [...]}` so the client sees `metadata.<key>` as the refused field.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            keys=fields.String(validate=validate.Length(min=1, max=64)),
            values=MetadataValue(),
            **kwargs,
        )

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        try:
            return super()._deserialize(value, attr, data, **kwargs)  # type: ignore[no-untyped-call]
        except ValidationError as exc:
            if not isinstance(exc.messages, dict):
                raise
            reshaped: dict[str, Any] = {}
            for key, problems in exc.messages.items():
                if isinstance(problems, dict):
                    reshaped[str(key)] = [m for texts in problems.values() for m in texts]
                else:
                    reshaped[str(key)] = problems
            raise ValidationError(reshaped) from None


# --------------------------------------------------------------------------- accounts
class AccountCreateSchema(Schema):
    code = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=200),
            validate.Regexp(
                CODE_PATTERN,
                error="lower-case segments separated by ':' (letters, digits, '_' or '-'), "
                "e.g. assets:bank:intesa",
            ),
        ],
        metadata={"example": "assets:bank:intesa"},
    )
    type = fields.String(required=True, validate=validate.OneOf(ACCOUNT_TYPES))
    currency = currency_field(load_default="EUR")
    name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    no_overdraft = StrictBoolean(load_default=False)


class AccountSchema(Schema):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    name = fields.String(required=True, allow_none=True)
    type = fields.String(required=True, validate=validate.OneOf(ACCOUNT_TYPES))
    currency = fields.String(required=True)
    no_overdraft = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)


class AccountListSchema(Schema):
    accounts = fields.List(fields.Nested(AccountSchema), required=True)


class BalanceSchema(Schema):
    """Balances in the account's normal orientation (assets: debits - credits)."""

    posted = Amount(required=True)
    pending = Amount(
        required=True, metadata={"description": "Amounts on hold that would reduce `posted`."}
    )
    available = Amount(required=True, metadata={"description": "posted - pending."})


class AccountDetailSchema(AccountSchema):
    balance = fields.Nested(BalanceSchema, required=True)


# --------------------------------------------------------------------------- entries
class PostingInSchema(Schema):
    account = fields.String(required=True, validate=validate.Length(min=1, max=200))
    amount = Amount(required=True)
    currency = currency_field(required=True)

    @validates_schema(skip_on_field_errors=True)
    def _amount_fitscurrency_field(self, data: dict[str, Any], **kwargs: Any) -> None:
        try:
            money = Money.parse(data["amount"], data["currency"])
        except LedgerError as exc:
            raise ValidationError(exc.message, field_name="amount") from None
        if money.is_zero():
            raise ValidationError("a posting moves a non-zero amount", field_name="amount")

    @post_load
    def _to_spec(self, data: dict[str, Any], **kwargs: Any) -> PostingSpec:
        return PostingSpec(data["account"], Money.parse(data["amount"], data["currency"]))


class EntryCreateSchema(Schema):
    kind = fields.String(
        required=True,
        validate=validate.Regexp(
            KIND_PATTERN, error="lower-case letters, digits and '_' (e.g. donation)"
        ),
        metadata={"example": "donation"},
    )
    effective_date = IsoDate(
        load_default=None,
        metadata={"description": "Business date (Europe/Rome); default today."},
    )
    narration = fields.String(
        load_default="",
        validate=validate.Length(max=MAX_NARRATION),
        metadata={"description": "No personal data: refer to people by id."},
    )
    metadata = Metadata(
        load_default=dict,
        metadata={"description": "Strings, integers, booleans or null; no personal data."},
    )
    postings = fields.List(
        fields.Nested(PostingInSchema),
        required=True,
        validate=validate.Length(min=2, max=100, error="an entry has 2 to 100 postings"),
    )


class ReversalCreateSchema(Schema):
    narration = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=MAX_NARRATION)
    )
    effective_date = IsoDate(load_default=None, allow_none=True)


class PostingSchema(Schema):
    leg = fields.Integer(required=True)
    account = fields.String(required=True)
    amount = Amount(required=True)
    currency = fields.String(required=True)


class EntrySchema(Schema):
    id = fields.String(required=True)
    sequence = fields.Integer(required=True)
    idempotency_key = fields.String(required=True)
    kind = fields.String(required=True)
    effective_date = fields.Date(required=True)
    recorded_at = fields.DateTime(required=True)
    actor = fields.String(required=True, allow_none=True)
    narration = fields.String(required=True)
    metadata = fields.Dict(required=True)
    hash = fields.String(required=True, metadata={"description": "Hash-chain link (SHA-256)."})
    reverses_sequence = fields.Integer(
        required=True, allow_none=True, metadata={"description": "The entry this one reverses."}
    )
    reversed_by_sequence = fields.Integer(
        required=True, allow_none=True, metadata={"description": "The entry reversing this one."}
    )
    postings = fields.List(fields.Nested(PostingSchema), required=True)


class EntryPageSchema(Schema):
    entries = fields.List(fields.Nested(EntrySchema), required=True)
    next_before = fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "Pass as `before` for the next (older) page; null at the end."},
    )


class EntryQuerySchema(Schema):
    limit = QueryInteger(
        load_default=DEFAULT_PAGE,
        validate=validate.Range(min=1, max=MAX_PAGE),
        metadata={"description": f"Page size, 1-{MAX_PAGE} (default {DEFAULT_PAGE})."},
    )
    # No load_default=None here: marshmallow would then also accept (and document) null.
    before = QueryInteger(
        validate=validate.Range(min=1),
        metadata={"description": "Only entries with a smaller sequence (the cursor)."},
    )
    account = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Only entries with a posting to this account code."},
    )


# --------------------------------------------------------------------------- trial balance
class TrialBalanceQuerySchema(Schema):
    as_of = IsoDate(
        metadata={"description": "Balances at the end of this business day; default now."},
    )


class TrialBalanceLineSchema(Schema):
    account = fields.String(required=True)
    name = fields.String(required=True, allow_none=True)
    type = fields.String(required=True)
    currency = fields.String(required=True)
    debit = Amount(required=True, metadata={"description": "Net debit balance (>= 0)."})
    credit = Amount(required=True, metadata={"description": "Net credit balance (>= 0)."})


class CurrencyTotalSchema(Schema):
    currency = fields.String(required=True)
    debit = Amount(required=True)
    credit = Amount(required=True)
    balanced = fields.Boolean(required=True)


class JournalHeadSchema(Schema):
    last_sequence = fields.Integer(required=True)
    last_hash = fields.String(required=True)
    last_recorded_at = fields.DateTime(required=True, allow_none=True)


class TrialBalanceSchema(Schema):
    as_of = fields.Date(required=True, allow_none=True)
    head = fields.Nested(JournalHeadSchema, required=True)
    lines = fields.List(fields.Nested(TrialBalanceLineSchema), required=True)
    totals = fields.List(fields.Nested(CurrencyTotalSchema), required=True)
