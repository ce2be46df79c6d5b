"""The API's own document (`/openapi.json`), and the names area modules once imported from here.

The routes this module held moved to their areas: accounts, entries,
reversals and the trial balance to `web.books.api`, `/me` to
`web.people.api`. Area API modules import `bp`, `json_answer`,
`command_answer`, `command_post` and `TREASURER` from `web.api.common`; the
old private names below stay only until no module imports them from here
(grep `web.api.v1`), then they go.
"""

from __future__ import annotations

from flask import current_app, jsonify
from flask.typing import ResponseReturnValue

from web.access import public
from web.api.common import PREFIX, TREASURER, bp, command_answer, json_answer
from web.api.docs import build_openapi, documented
from web.views import principal

OPENAPI_CACHE = "api_v1_openapi"

# Old names, kept while the area API modules move to web.api.common and web.views.
_json = json_answer
_answer = command_answer
_caller = principal

__all__ = ["PREFIX", "TREASURER", "_answer", "_caller", "_json", "bp", "openapi_document"]


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
