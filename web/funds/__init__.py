"""Funds and microloans on the web: the treasury's pages, the borrower's pages and the API.

- `pages`: two blueprints, one per audience. `funds` (treasurers): every fund
  with its position, money in, loan products, loans granted, disbursed,
  repaid, written off and recovered, overpayments paid back, and the fund and
  loan statements; reading needs the role, moving money also a confirmed TOTP
  code. `my_loans` (signed in): the user's own loans, schedule and statement;
  someone else's loan is answered 404, as if it did not exist.
- `api`: the same acts in the JSON API (routes on `web.api.common.bp`).
- `forms`, `schemas`: the pages' forms and the API's marshmallow schemas.
- `reads`: what pages and API views read (a fund's page, a loan's page, whose
  loan it is); `texts`: the labels templates show.

Every act is a use case of `ledger.funds.commands` (funds) or
`ledger.funds.loan_commands` (products and loans): views parse, call it, answer.
"""

from __future__ import annotations

from flask import Flask

from web.funds import texts
from web.funds.pages import borrower_bp, bp


def register(app: Flask) -> None:
    """Register the fund blueprints and the labels their templates use on `app`."""
    for blueprint in (bp, borrower_bp):
        app.register_blueprint(blueprint)
    for label in (texts.fund_kind, texts.loan_status, texts.percent):
        app.add_template_global(label)
