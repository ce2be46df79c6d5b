"""marshmallow schemas of the API's shared fields and of its accounts, entries and caller.

The areas' own schemas live beside their views (`web.campaigns.schemas`, the
`*_schemas` modules of this package); the OpenAPI document is made from all.

Amounts are decimal strings in the currency's scale ("12.50" EUR, "1500" JPY),
signed with debits positive in postings. A JSON number where an amount belongs
is refused, never rounded: a float cannot hold 0.10 exactly, and a client that
sends one has already lost the cent the ledger exists to keep. Input schemas
refuse unknown fields (marshmallow's default), so a misspelt field is an error
rather than silently ignored.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from ledger.core.accounts import CODE_PATTERN
from ledger.core.errors import LedgerError
from ledger.core.journal import KIND_PATTERN, MAX_NARRATION, PostingSpec
from ledger.core.models import ACCOUNT_TYPES
from ledger.core.money import CURRENCY_EXPONENTS, Money

# Stricter than Money.parse (which trims spaces): what the client sends is the amount.
AMOUNT_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
_AMOUNT = re.compile(AMOUNT_PATTERN, re.ASCII)
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", re.ASCII)
_DIGITS = re.compile(r"^[0-9]{1,18}$", re.ASCII)
MAX_PAGE = 200
DEFAULT_PAGE = 50


# --------------------------------------------------------------------------- fields
class Amount(fields.String):
    """A signed decimal string; its scale is checked against the currency by the schema."""

    default_error_messages = {  # noqa: RUF012 - marshmallow merges this class attribute
        "invalid": 'amounts are decimal strings such as "12.50", never JSON numbers',
        "format": 'not a decimal amount: use digits, an optional "-" and "." (e.g. "-12.50")',
    }

    def __init__(self, **kwargs: Any) -> None:
        metadata = {
            "pattern": AMOUNT_PATTERN,
            "example": "12.50",
            "description": "Decimal string in the currency's scale; debits positive.",
            **kwargs.pop("metadata", {}),
        }
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        if not _AMOUNT.match(value):
            raise self.make_error("format")
        return value


class IsoDate(fields.Date):
    """A date written exactly YYYY-MM-DD.

    Python's `date.fromisoformat` also takes 20260630 and 2026-W26-1; a business
    date that two clients could write differently is refused instead.
    """

    default_error_messages = {  # noqa: RUF012 - marshmallow merges this class attribute
        "invalid": "not a date: write an existing day as YYYY-MM-DD, e.g. 2026-06-30",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or not _ISO_DATE.match(value):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(fields.Boolean):
    """Only JSON true and false: marshmallow's Boolean would also take "yes", 1 and "on"."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class QueryInteger(fields.Integer):
    """A whole number in a query string: digits only (no sign, point, exponent or spaces)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, str) and _DIGITS.match(value):
            return int(value)
        raise self.make_error("invalid")


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


def _known_currency(value: str) -> None:
    if value not in CURRENCY_EXPONENTS:
        raise ValidationError(f"unknown currency {value[:10]!r}: use an ISO 4217 code such as EUR")


def _currency(**kwargs: Any) -> fields.String:
    return fields.String(
        validate=_known_currency, metadata={"example": "EUR", "pattern": "^[A-Z]{3}$"}, **kwargs
    )


def _positive_amount(data: dict[str, Any], field: str, currency: str) -> None:
    try:
        money = Money.parse(data[field], currency)
    except LedgerError as exc:
        raise ValidationError(exc.message, field_name=field) from None
    if money.minor <= 0:
        raise ValidationError("must be greater than zero", field_name=field)


# --------------------------------------------------------------------------- errors
class ErrorBodySchema(Schema):
    code = fields.String(
        required=True,
        metadata={"description": "Stable machine-readable code.", "example": "invalid_input"},
    )
    message = fields.String(required=True, metadata={"description": "For people (English)."})
    details = fields.Dict(
        required=True,
        metadata={
            "description": "Facts about the error; for invalid_input, `fields` maps each "
            "dotted field path (e.g. postings.0.amount) to its messages."
        },
    )


class ErrorSchema(Schema):
    """The envelope of every error response."""

    error = fields.Nested(ErrorBodySchema, required=True)


# --------------------------------------------------------------------------- caller
class MeSchema(Schema):
    user_id = fields.Integer(required=True)
    email = fields.String(required=True)
    full_name = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    token_id = fields.Integer(allow_none=True, metadata={"description": "The token in use."})


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
    currency = _currency(load_default="EUR")
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
    currency = _currency(required=True)

    @validates_schema(skip_on_field_errors=True)
    def _amount_fits_currency(self, data: dict[str, Any], **kwargs: Any) -> None:
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
