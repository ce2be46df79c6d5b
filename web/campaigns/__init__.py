"""Crowdfunding in the web app: campaign pages, the donor's gifts, the treasury, the API.

Modules by kind:

- `pages` (the `campaigns` and `my_donations` blueprints: the public pages,
  the card gift and the donor's own gifts) and `treasury` (the `treasury`
  blueprint: donations, refunds, offline gifts, campaigns, receipts);
- `api` (the routes on the API's blueprint) and `schemas` (their bodies);
- `forms`, `texts` (what the pages say), `reads` (what pages and API read),
  `settings` (the organisation the settings name);
- `payments` (Stripe seen from the web: the gateway and the checkout) and
  `webhooks` (Stripe's endpoint, registered by `init_webhooks`).

Every act is a use case of `ledger.campaigns.commands`; these modules parse,
call it and answer.
"""

from __future__ import annotations

from flask import Flask

# Other areas show a campaign's description as the campaign page does.
from web.campaigns.texts import description_html


def register(app: Flask) -> None:
    """Register the three page blueprints of campaigns on `app`."""
    from web.campaigns.pages import bp, donor_bp
    from web.campaigns.treasury import treasury_bp

    for blueprint in (bp, donor_bp, treasury_bp):
        app.register_blueprint(blueprint)


__all__ = ["description_html", "register"]
