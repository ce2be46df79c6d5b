"""People on the pages and the API: signing in and the personal area, and the API's caller.

`pages.py` holds the sign-in and personal-area pages (blueprint `auth`),
`forms.py` their forms, `api.py` the API's `/me`. The acts themselves (and
their audit events) are the use cases of `ledger.people`.
"""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Register the sign-in and personal-area pages on `app`."""
    from web.people import pages

    app.register_blueprint(pages.bp)
