"""marshmallow fields every area's API schemas share, and the error envelope.

The areas' own schemas live beside their views (`web.books.schemas`,
`web.campaigns.schemas`, `web.funds.schemas`, ...); the OpenAPI document is
made from all.

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

from marshmallow import Schema, ValidationError, fields

from ledger.core.errors import LedgerError
from ledger.core.money import CURRENCY_EXPONENTS, Money

# Stricter than Money.parse (which trims spaces): what the client sends is the amount.
AMOUNT_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
_AMOUNT = re.compile(AMOUNT_PATTERN, re.ASCII)
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", re.ASCII)
_DIGITS = re.compile(r"^[0-9]{1,18}$", re.ASCII)


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


def _known_currency(value: str) -> None:
    if value not in CURRENCY_EXPONENTS:
        raise ValidationError(f"unknown currency {value[:10]!r}: use an ISO 4217 code such as EUR")


def currency_field(**kwargs: Any) -> fields.String:
    return fields.String(
        validate=_known_currency, metadata={"example": "EUR", "pattern": "^[A-Z]{3}$"}, **kwargs
    )


def positive_amount(data: dict[str, Any], field: str, currency: str) -> None:
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
