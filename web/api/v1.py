"""The API's own document (`/api/v1/openapi.json`), generated from the routes of every area.

The routes themselves live in their areas (`web.books.api`: accounts,
entries, reversals, the trial balance; `web.people.api`: `/me`; and the
campaigns, funds, calls and grants packages), on the one blueprint of
`web.api.common`.
"""

from __future__ import annotations

from flask import current_app, jsonify
from flask.typing import ResponseReturnValue

from web.access import public
from web.api.common import PREFIX, bp
from web.api.docs import build_openapi, documented

OPENAPI_CACHE = "api_v1_openapi"


@bp.get("/openapi.json")
@public
@documented(
    "The OpenAPI document of this API",
    tag="meta",
    responses={200: ("OpenAPI 3.1 document.", {"type": "object"})},
)
def openapi_document() -> ResponseReturnValue:
    """This document, generated from the application's own routes and schemas."""
    document = current_app.extensions.get(OPENAPI_CACHE)
    if document is None:
        # Routes cannot change once the app serves requests, so build it once.
        document = build_openapi(current_app, PREFIX)
        current_app.extensions[OPENAPI_CACHE] = document
    return jsonify(document)
