"""The JSON API under /api/v1 (shared machinery in `web.api.common`, document in `web.api.docs`).

Each area adds its routes to the one blueprint from its own module
(`web.books.api`, `web.people.api`, `web.funds.api`, ...); `init_api` imports
them all.

The API authenticates only with `Authorization: Bearer <token>` (checked by
`web.access.enforce_access`, which never reads the session cookie under
`/api/`), so its blueprint is exempt from CSRF: a cross-site form cannot attach
a bearer token, and without a cookie there is nothing for CSRF to protect.
"""

from __future__ import annotations

from flask import Flask


def init_api(app: Flask) -> None:
    """Register the API blueprint on `app`, exempt from CSRF."""
    from web.api import (
        projects,  # noqa: F401 - adds the project routes
        v1,  # noqa: F401 - adds the OpenAPI document
    )
    from web.api.common import bp
    from web.bank import api as bank_api  # noqa: F401 - adds bank accounts, imports and lines
    from web.books import api as books_api  # noqa: F401 - adds accounts, entries, trial balance
    from web.calls import api as calls_api  # noqa: F401 - adds the routes of calls for ideas
    from web.campaigns import api as campaigns_api  # noqa: F401 - adds the campaign routes
    from web.extensions import csrf
    from web.funds import api as funds_api  # noqa: F401 - adds the fund and loan routes
    from web.grants import api as grants_api  # noqa: F401 - adds the matching-grant routes
    from web.people import api as people_api  # noqa: F401 - adds /me

    csrf.exempt(bp)
    app.register_blueprint(bp)
