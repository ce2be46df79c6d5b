"""Bank reconciliation on the web: the treasurer's bank pages and the bank API.

- `pages` (the `bank` blueprint: accounts, statement upload with progress, the
  review queue, one line with the forms to ignore, book or match it);
- `api` (the routes on the API's blueprint) and `schemas` (their bodies);
- `forms`, `texts` (what the pages say), `reads` (what pages and API read).

Every act is a use case of `ledger.reconcile.commands`; these modules parse,
call it and answer.
"""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Register the bank pages, their template helpers and the upload size limit."""
    from web.bank.pages import register as register_pages

    register_pages(app)


__all__ = ["register"]
