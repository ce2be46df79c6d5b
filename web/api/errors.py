"""Errors of the JSON API and the conversion of marshmallow's into the envelope.

Every refusal leaves the API as `{"error": {"code", "message", "details"}}`;
`web.errors` writes the envelope for any `LedgerError`, so the API's own
refusals are `LedgerError` subclasses with a stable `code` and status. A
marshmallow `ValidationError` becomes `invalid_input` (422) with one list of
messages per field, keyed by a dotted path into the request
(`postings.0.amount`), which a client can map back onto its own form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response
from marshmallow import ValidationError

from ledger.core.errors import LedgerError
from web.errors import InvalidInputError, error_response

IDEMPOTENCY_HEADER = "Idempotency-Key"


class MalformedJsonError(LedgerError):
    """The body is not a JSON document (or is empty where one is required)."""

    code = "malformed_json"
    http_status = 400


class UnsupportedMediaTypeError(LedgerError):
    """The body is not declared as `application/json`."""

    code = "unsupported_media_type"
    http_status = 415


class IdempotencyKeyRequiredError(LedgerError):
    """A money-moving POST came without its `Idempotency-Key` header."""

    code = "idempotency_key_required"
    http_status = 422


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested error messages as {"dotted.path": [message, ...]}.

    marshmallow nests errors the way the input nests (`{"postings": {0:
    {"amount": [...]}}}`); one flat level is easier for a client to show next
    to the right input. Errors about the whole object keep the key `_schema`.
    """
    flat: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            for name, nested_texts in flatten_messages(value, path).items():
                flat.setdefault(name, []).extend(nested_texts)
    elif isinstance(messages, list | tuple):
        texts: list[str] = []
        for item in messages:
            if isinstance(item, Mapping):
                for name, nested in flatten_messages(item, prefix).items():
                    flat.setdefault(name, []).extend(nested)
            else:
                texts.append(str(item))
        if texts:
            flat.setdefault(prefix or "_schema", []).extend(texts)
    else:
        flat.setdefault(prefix or "_schema", []).append(str(messages))
    return flat


def invalid_input(fields: Mapping[str, list[str]]) -> InvalidInputError:
    """The 422 `invalid_input` error naming each refused field."""
    names = ", ".join(sorted(fields)) or "the request"
    return InvalidInputError(
        f"the request has invalid values ({names}); see details.fields",
        fields=dict(fields),
    )


def validation_error_response(exc: ValidationError) -> Response:
    """Blueprint handler: a ValidationError that escaped a view is still a 422 envelope."""
    error = invalid_input(flatten_messages(exc.messages))
    return error_response(422, error.code, error.message, dict(error.details))
