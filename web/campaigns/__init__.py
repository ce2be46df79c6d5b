"""Crowdfunding in the web app: campaign pages, the donor's gifts, the treasury, the API.

Modules by kind: `pages` (the three page blueprints), `api` (routes on the
API blueprint), `payments` (Stripe Checkout seen from the web) and `webhooks`
(Stripe's endpoint).
"""

from __future__ import annotations

from web.campaigns.pages import description_html, register

__all__ = ["description_html", "register"]
