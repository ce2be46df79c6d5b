"""The books on the pages and the API: the trial balance, manual entries, accounts and entries.

`pages.py` holds the pages (blueprint `books`: the trial balance, a manual
entry), `api.py` the API's accounts, entries, reversals and trial
balance, `reads.py` the journal's head both show. The acts themselves (and
their audit events) are the use cases of `ledger.books`.
"""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Register the books' pages on `app`."""
    from web.books import pages

    app.register_blueprint(pages.bp)
