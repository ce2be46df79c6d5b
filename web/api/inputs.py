"""Reading a request's input: the JSON body, the query string and the Idempotency-Key.

Each helper either returns clean values or raises an error that `web.errors`
turns into the envelope, so no parser's exception can become a 500.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from flask import request
from marshmallow import Schema, ValidationError

from ledger.core.errors import LedgerError
from ledger.core.money import MAX_MINOR, Money
from web.api.errors import (
    IDEMPOTENCY_HEADER,
    IdempotencyKeyRequiredError,
    MalformedJsonError,
    UnsupportedMediaTypeError,
    flatten_messages,
    invalid_input,
)

MAX_IDEMPOTENCY_KEY = 200
# Visible ASCII and inner spaces: a key must survive every proxy and log unchanged.
_PRINTABLE = re.compile(r"^[\x20-\x7e]+$", re.ASCII)


def json_body(*, required: bool = True) -> Any:
    """The parsed JSON body; with `required=False` an empty body reads as `{}`."""
    if not request.get_data(cache=True):
        if required:
            raise MalformedJsonError("the request needs a JSON object as its body")
        return {}
    if not request.is_json:
        raise UnsupportedMediaTypeError(
            "send the body as JSON with Content-Type: application/json",
            content_type=(request.mimetype or "")[:100],
        )
    # silent: a parse failure must be our envelope, not Flask's HTML-ish 400 text.
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the parser goes: not a body we accept
        data = None
    if data is None:
        raise MalformedJsonError("the body is not a valid JSON document (UTF-8)")
    beyond = dict(_out_of_range(data))
    if beyond:
        raise invalid_input(beyond)
    return data


def _out_of_range(data: Any) -> Iterator[tuple[str, list[str]]]:
    """The JSON whole numbers a BIGINT cannot hold (an id the database would choke on),
    by their dotted path: every body is bounded before a schema or a query sees it.
    Iterative, so a deeply nested body cannot exhaust the stack."""
    pending: list[tuple[str, Any]] = [("", data)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and not -MAX_MINOR <= value <= MAX_MINOR:
            yield path or "body", [f"out of range: at most {MAX_MINOR} in absolute value"]
        elif isinstance(value, dict):
            pending.extend((f"{path}.{k}" if path else str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            pending.extend((f"{path}.{i}" if path else str(i), v) for i, v in enumerate(value))


def load(schema: Schema, data: Any) -> Any:
    """`schema.load(data)`, with refusals as a 422 naming each field."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise invalid_input(flatten_messages(exc.messages)) from None


def query(schema: Schema) -> Any:
    """The query string loaded with `schema`; a parameter given twice is refused."""
    repeated = sorted(name for name in request.args if len(request.args.getlist(name)) > 1)
    if repeated:
        raise invalid_input({name: ["given more than once"] for name in repeated})
    return load(schema, request.args.to_dict(flat=True))


def parse_money(text: str, currency: str, field: str, *, positive: bool = True) -> Money:
    """A decimal-string amount in `currency`, or a 422 naming `field`.

    Positive by default; with `positive=False`, zero is accepted and a
    negative amount is still refused.
    """
    try:
        money = Money.parse(text, currency)
    except LedgerError as exc:
        raise invalid_input({field: [exc.message]}) from None
    if positive and money.minor <= 0:
        raise invalid_input({field: ["must be greater than zero"]})
    if money.minor < 0:
        raise invalid_input({field: ["cannot be negative"]})
    return money


def idempotency_key() -> str:
    """The request's Idempotency-Key header, required on money-moving POSTs."""
    raw = request.headers.get(IDEMPOTENCY_HEADER)
    if raw is None or not raw.strip():
        raise IdempotencyKeyRequiredError(
            f"this request moves money: send an {IDEMPOTENCY_HEADER} header (1 to "
            f"{MAX_IDEMPOTENCY_KEY} printable ASCII characters, unique per operation) so a "
            "retry cannot post twice",
            header=IDEMPOTENCY_HEADER,
        )
    if len(raw) > MAX_IDEMPOTENCY_KEY or not _PRINTABLE.match(raw):
        raise invalid_input(
            {
                IDEMPOTENCY_HEADER: [
                    f"1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters "
                    f"(got {len(raw)} characters)"
                ]
            }
        )
    return raw
