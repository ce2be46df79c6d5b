"""The OpenAPI document, generated from the routes the application really has.

Each API view carries an `Operation` (set with `@documented`) naming its
summary, schemas and possible errors; `build_openapi` walks `app.url_map`, so a
route exists in the document exactly when it exists in the application, and a
view under the API prefix without an `Operation` is a programming error caught
the first time the document is built (tests build it). Who may call a route
comes from its access declaration (`web.access`), not from a second list that
could disagree with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from marshmallow import Schema
from werkzeug.routing import Rule

from web.access import access_of, scope_of
from web.api.errors import IDEMPOTENCY_HEADER
from web.api.inputs import MAX_IDEMPOTENCY_KEY
from web.api.schemas import ErrorSchema

F = TypeVar("F", bound=Callable[..., Any])

OPERATION_ATTRIBUTE = "_api_operation"
OPENAPI_VERSION = "3.1.0"
SECURITY_SCHEME = "bearerAuth"
REPLAYED_HEADER = "Idempotent-Replayed"

DESCRIPTION = """\
The community ledger's JSON API.

**Authentication**: every route except this document and a campaign's public
figures needs `Authorization: Bearer <token>`; a token acts with exactly its
user's roles, limited by its scopes: `read` for every GET, `money` for every
request that moves money or changes state (`x-token-scope` on each operation).
A token without the scope is refused with 403 `insufficient_scope`; an unknown,
revoked or expired token with 401. A token expires (90 days unless its issuer
chose otherwise); a `money` token is issued on the account page only after a
TOTP code. No cookie is ever read.

**Amounts** are decimal strings in the currency's scale (`"12.50"` EUR); in
postings, debits are positive and credits negative. A JSON number for an amount,
or more decimals than the currency has (`"12.345"` EUR), is refused with 422,
never rounded.

**Idempotency**: money-moving POSTs need an `Idempotency-Key` header (1-200
printable ASCII characters), scoped to the caller. Repeating a request with the
same key and body answers the original result again with 200 and
`Idempotent-Replayed: true`, writing nothing; the same key with a different body
is a 409 `idempotency_conflict`, also writing nothing.

**Errors** are `{"error": {"code", "message", "details"}}` with a stable `code`;
invalid input is 422 `invalid_input` with `details.fields` mapping each dotted
field path (`postings.0.amount`) to its messages.
"""

# Descriptions of the error statuses the API answers with.
ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Malformed JSON body (`malformed_json`).",
    401: "No valid bearer token (`unauthorized`); carries `WWW-Authenticate: Bearer`.",
    403: "The token's user lacks the role (`forbidden`) or the token lacks the route's "
    "scope (`insufficient_scope`, with `details.required` and `details.granted`).",
    404: "No such resource.",
    409: "Conflict with the ledger's state or with an earlier use of the idempotency key.",
    415: "The body is not `application/json` (`unsupported_media_type`).",
    422: "Invalid input (`invalid_input` with `details.fields`) or a refused entry.",
}


@dataclass(frozen=True, slots=True)
class Operation:
    """What the OpenAPI document says about one view."""

    summary: str
    tag: str
    responses: Mapping[int, tuple[str, type[Schema] | dict[str, Any] | None]]
    body: type[Schema] | None = None
    body_required: bool = True
    query: type[Schema] | None = None
    errors: Mapping[int, str] = field(default_factory=dict)
    idempotent: bool = False
    upload: bool = False  # the body is a file: multipart `file` or the raw bytes


def documented(
    summary: str,
    *,
    tag: str,
    responses: Mapping[int, tuple[str, type[Schema] | dict[str, Any] | None]],
    body: type[Schema] | None = None,
    body_required: bool = True,
    query: type[Schema] | None = None,
    errors: Mapping[int, str] | None = None,
    idempotent: bool = False,
    upload: bool = False,
) -> Callable[[F], F]:
    """Attach the OpenAPI description of a view (its docstring becomes the description)."""
    operation = Operation(
        summary=summary,
        tag=tag,
        responses=responses,
        body=body,
        body_required=body_required,
        query=query,
        errors=errors or {},
        idempotent=idempotent,
        upload=upload,
    )

    def decorate(view: F) -> F:
        setattr(view, OPERATION_ATTRIBUTE, operation)
        return view

    return decorate


# A file sent as a form's `file` field or as the whole body.
UPLOAD_CONTENT: dict[str, Any] = {
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary"}},
        }
    },
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
}

_ARGUMENT = re.compile(r"<(?:(?P<converter>[a-zA-Z_]\w*)(?:\([^)]*\))?:)?(?P<name>\w+)>")
_CONVERTER_TYPES = {"int": "integer", "float": "number"}


def openapi_path(rule: Rule) -> str:
    """`/entries/<int:sequence>` -> `/entries/{sequence}`."""
    return _ARGUMENT.sub(lambda m: "{" + m.group("name") + "}", rule.rule)


def _path_parameters(rule: Rule) -> list[dict[str, Any]]:
    parameters = []
    for match in _ARGUMENT.finditer(rule.rule):
        kind = _CONVERTER_TYPES.get(match.group("converter") or "string", "string")
        schema: dict[str, Any] = {"type": kind}
        if kind == "integer":
            schema["minimum"] = 1
        parameters.append(
            {"in": "path", "name": match.group("name"), "required": True, "schema": schema}
        )
    return parameters


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": "Error"}}}


def _operation(
    app: Flask, rule: Rule, method: str, view: Callable[..., Any], operation: Operation
) -> dict[str, Any]:
    access = access_of(rule.endpoint, app)
    if access is None:
        raise RuntimeError(f"{rule.endpoint} declares no access; it would answer 403 to all")
    scope = scope_of(rule.endpoint, app)
    if scope is None and not access.anonymous:
        raise RuntimeError(f"{rule.endpoint} declares no token scope; it would refuse every token")
    responses: dict[str, Any] = {}
    for status, (description, schema) in operation.responses.items():
        response: dict[str, Any] = {"description": description}
        if schema is not None:
            response["content"] = {"application/json": {"schema": schema}}
        responses[str(status)] = response
    if operation.idempotent:
        replay = responses.setdefault("200", {"description": "Replay of an earlier request."})
        replay["description"] = (
            "Idempotent replay: this key was already used with this exact request; "
            "the original result is returned and nothing is written."
        )
        created = responses.get("201", {})
        replay.setdefault("content", created.get("content", {}))
        replay["headers"] = {
            REPLAYED_HEADER: {
                "description": "`true` when the response replays an earlier request.",
                "schema": {"type": "string", "enum": ["true"]},
            }
        }
    errors: dict[int, str] = {}
    if operation.body is not None:
        errors[400] = ERROR_DESCRIPTIONS[400]
        errors[415] = ERROR_DESCRIPTIONS[415]
    if operation.body is not None or operation.query is not None or operation.idempotent:
        errors[422] = ERROR_DESCRIPTIONS[422]
    if not access.anonymous:
        errors[401] = ERROR_DESCRIPTIONS[401]
        errors[403] = ERROR_DESCRIPTIONS[403]
    if operation.idempotent:
        errors[409] = "`idempotency_conflict`: the key was used for a different request."
    errors.update(operation.errors)
    for status in sorted(errors):
        responses[str(status)] = _error(errors[status])

    parameters: list[Any] = []
    if operation.query is not None:
        parameters.append({"in": "query", "schema": operation.query})
    if operation.idempotent:
        parameters.append("IdempotencyKey")
    result: dict[str, Any] = {
        "operationId": rule.endpoint.rpartition(".")[2]
        + ("" if len(_methods(rule)) == 1 else f"_{method}"),
        "summary": operation.summary,
        "description": " ".join((view.__doc__ or operation.summary).split()),
        "tags": [operation.tag],
        "responses": dict(sorted(responses.items())),
    }
    if parameters:
        result["parameters"] = parameters
    if operation.body is not None:
        result["requestBody"] = {
            "required": operation.body_required,
            "content": {"application/json": {"schema": operation.body}},
        }
    elif operation.upload:
        result["requestBody"] = {"required": True, "content": UPLOAD_CONTENT}
    if access.anonymous:
        result["security"] = []  # overrides the document-wide bearer requirement
    else:
        audience = sorted(access.roles) if access.roles else ["any signed-in user"]
        result["x-roles"] = audience
        result["x-token-scope"] = scope
        result["security"] = [{SECURITY_SCHEME: [scope]}]
    return result


def _methods(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def api_rules(app: Flask, prefix: str) -> list[Rule]:
    """The url_map rules under `prefix`, in path order."""
    return sorted(
        (rule for rule in app.url_map.iter_rules() if rule.rule.startswith(prefix)),
        key=lambda rule: rule.rule,
    )


def build_openapi(app: Flask, prefix: str) -> dict[str, Any]:
    """The OpenAPI document of every route of `app` under `prefix`."""
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="Community ledger API",
        version="1",
        openapi_version=OPENAPI_VERSION,
        plugins=[plugin],
        info={"description": DESCRIPTION},
        security=[{SECURITY_SCHEME: []}],
    )
    spec.components.security_scheme(
        SECURITY_SCHEME,
        {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token issued to a user (`clt_...`); it carries the "
            "user's roles, limited by its scopes (`read`, `money`), until it expires.",
        },
    )
    spec.components.schema("Error", schema=ErrorSchema)
    spec.components.parameter(
        "IdempotencyKey",
        "header",
        {
            "name": IDEMPOTENCY_HEADER,
            "required": True,
            "description": "Unique per operation and caller; a retry with the same key and "
            "body is answered from the first result.",
            "schema": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_IDEMPOTENCY_KEY,
                "pattern": "^[\\x20-\\x7e]+$",
            },
        },
    )
    for rule in api_rules(app, prefix):
        view = app.view_functions[rule.endpoint]
        operation = getattr(view, OPERATION_ATTRIBUTE, None)
        if not isinstance(operation, Operation):
            raise RuntimeError(f"API route {rule.rule} ({rule.endpoint}) is not documented")
        spec.path(
            path=openapi_path(rule),
            parameters=_path_parameters(rule),
            operations={
                method.lower(): _operation(app, rule, method, view, operation)
                for method in _methods(rule)
            },
        )
    return spec.to_dict()
