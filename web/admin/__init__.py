"""Administration pages under /admin (blueprint `admin`): what only the CLI did before.

- `audit` (the audit log), `jobs` (the job runs), `people` (a person's data export
  and erasure), `users` (users, their roles, deactivation and
  reactivation), `foundations` (foundations and the officers who act for them),
  `settings` (the organisation's settings, read-only: there is no settings store),
  `books` (closing a month with the reconciliation warning, verify with its
  result, the beancount and CSV exports);
- `forms` (their forms), `reads` (what they read besides the domain's queries).

Every act is a use case of the domain (`ledger.people.commands`,
`ledger.grants.commands`, `ledger.books.commands`), run in the request's one
unit of work, which writes its own audit event; every page needs a confirmed
TOTP code (they change access or lock the books).
"""

from __future__ import annotations

from flask import Flask

from web.admin.common import bp


def register(app: Flask) -> None:
    """Register the administration pages on `app`."""
    from web.admin import audit, books, foundations, jobs, people, settings, users  # noqa: F401

    app.register_blueprint(bp)


__all__ = ["bp", "register"]
