"""Calls for ideas on the web: pages for the public, proponents, the committee and staff; the API.

Four page blueprints, one per audience, each in its module:

- `pages_public` (`calls`, anyone): open and past calls, a call's rules and the
  ideas it financed (the proponent is named only if they agreed when applying);
- `pages_proponent` (`my_applications`): apply, change a draft, submit,
  withdraw, follow the application's history and decision, report on each
  milestone;
- `pages_reviewer` (`committee`): the applications of their calls; declare a
  conflict of interest, then score (a conflicted reviewer cannot);
- `pages_staff` (`call_admin`, admins and treasurers): create calls (admins),
  screen, rank, propose and approve awards (two different people), approve and
  pay tranches (two different people again), close awards and book money given
  back. Reading needs the role; every action also needs a confirmed TOTP code.

`api` adds the JSON routes to the API's blueprint (`schemas` are its bodies);
`forms`, `texts`, `parsers` and `reads` are what the pages share. Every act is
a use case of `ledger.funds.call_commands`, which writes its own audit event
in the request's one unit of work; a view only parses, calls it and answers.
"""

from __future__ import annotations

from flask import Flask

STAFF = ("admin", "treasurer")
PROPONENT = "proponent"
REVIEWER = "reviewer"


def register(app: Flask) -> None:
    """Register the four blueprints of calls for ideas and their template globals on `app`."""
    from web.calls import pages_proponent, pages_public, pages_reviewer, pages_staff
    from web.calls.texts import TEMPLATE_GLOBALS

    for blueprint in (pages_public.bp, pages_proponent.bp, pages_reviewer.bp, pages_staff.bp):
        app.register_blueprint(blueprint)
    for helper in TEMPLATE_GLOBALS:
        app.add_template_global(helper)
