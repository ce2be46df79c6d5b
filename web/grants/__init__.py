"""Matching grants on the web: the officer's and the treasurer's pages, the JSON API.

- `pages`: the two page blueprints (`grants` for foundation officers and
  admins, `grant_treasury` for treasurers); `register` adds them to the app.
- `api`: the commitment routes of the JSON API (on `web.api.common.bp`).
- `forms`, `schemas`: the page forms and their parsing; the API's schemas.
- `reads`: what the pages read (dashboards, a commitment's figures, the
  treasurer's lines, the match a donor is shown on a campaign page).
- `texts`: the words for money states and log events, and the template globals.

`DonorGrants` and `donor_grants` are named here for the campaign page
(`web.campaigns` imports them from this package).
"""

from __future__ import annotations

from flask import Flask

from web.grants.reads import DonorGrants, donor_grants

__all__ = ["DonorGrants", "donor_grants", "register"]


def register(app: Flask) -> None:
    """Register the two page blueprints of grants on `app`."""
    from web.grants import pages

    app.register_blueprint(pages.bp)
    app.register_blueprint(pages.treasury_bp)
