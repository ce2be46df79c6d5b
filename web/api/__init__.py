"""The JSON API under /api/v1 (routes in `web.api.v1`, document in `web.api.docs`).

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
        calls,  # noqa: F401 - adds the routes of calls for ideas
        funds,  # noqa: F401 - adds the fund and loan routes
        grants,  # noqa: F401 - adds the matching-grant routes
    )
    from web.api.v1 import bp
    from web.campaigns import api  # noqa: F401 - adds the campaign routes
    from web.extensions import csrf

    csrf.exempt(bp)
    app.register_blueprint(bp)
