"""What every API view shares: the blueprint, JSON answers and the idempotent POST.

An area's API module (`web/funds/api.py`, ...) adds its routes to `bp` and
reads as: parse, call the use case, answer. `command_post` is the whole of a
repeatable POST: it reads the `Idempotency-Key` header (required) and the JSON
body (through a marshmallow schema: a refusal is a 422 naming each field),
runs the use case in the request's one unit of work with the request's
`Origin` and the key, and answers 201 (or `status`) the first time, 200 with
`Idempotent-Replayed: true` on a repeat. The rule itself (same key and request
answers the original; another request is a 409 with nothing written) lives in
`ledger.commands`, the same for pages, the API and the CLI.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify
from marshmallow import Schema, ValidationError
from sqlalchemy.orm import Session

from ledger.commands import Origin, Outcome
from web.api.docs import REPLAYED_HEADER
from web.api.errors import validation_error_response
from web.api.inputs import idempotency_key, json_body, load
from web.db import in_transaction
from web.views import origin

PREFIX = "/api/v1"
TREASURER = ("treasurer",)

bp = Blueprint("api_v1", __name__, url_prefix=PREFIX)
bp.register_error_handler(ValidationError, validation_error_response)

T = TypeVar("T")


def json_answer(schema: Schema, data: Any, status: int = 200, **headers: str) -> Response:
    """`data` dumped through `schema` (only the declared fields) with `status`."""
    response = jsonify(schema.dump(data))
    response.status_code = status
    for name, value in headers.items():
        response.headers[name] = value
    return response


def command_answer(
    schema: Schema, data: Any, *, created: bool, status: int = 201, **headers: str
) -> Response:
    """A repeatable POST's answer: `status` the first time; on a replay of the same
    Idempotency-Key, 200 with `Idempotent-Replayed: true` and no other header."""
    if created:
        return json_answer(schema, data, status, **headers)
    return json_answer(schema, data, 200, **{REPLAYED_HEADER: "true"})


def command_post(
    body: Schema | None,
    act: Callable[[Session, Any, Origin, str], Outcome[T]],
    answer: Callable[[Session, T], Mapping[str, Any]],
    schema: Schema,
    *,
    status: int = 201,
    headers: Callable[[Mapping[str, Any]], Mapping[str, str]] | None = None,
    body_required: bool = True,
) -> Response:
    """A repeatable POST: key, body, the use case in one unit of work, the answer.

    `act(session, data, origin, key)` calls the use case; `answer(session,
    value)` builds the response body inside the same unit of work; `headers`
    adds headers (a `Location`) to the first answer only. With `body_required`
    false, an absent body is loaded through `body` as `{}` (its defaults).
    """
    key = idempotency_key()
    if body is None:
        data = json_body(required=False)
    else:
        data = load(body, json_body(required=body_required))
    caller = origin()

    def work(session: Session) -> tuple[bool, Mapping[str, Any]]:
        outcome = act(session, data, caller, key)
        return outcome.created, answer(session, outcome.value)

    created, result = in_transaction(work)
    extra = dict(headers(result)) if headers is not None and created else {}
    return command_answer(schema, result, created=created, status=status, **extra)
