"""The use case of loading the demo book (`ledger demo`), in the one command shape.

Apart from `commands.py` because the demo reaches into every domain (campaigns,
funds, grants, people), while the books' own use cases need only the engine.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ledger.commands import Origin, Outcome, begin, command
from ledger.core.clock import Clock
from ledger.demo import DemoResult, load_demo_into

LOAD_DEMO = command("demo.load", "demo")


def load_demo(
    session: Session, *, with_users: bool = False, origin: Origin, clock: Clock
) -> Outcome[DemoResult]:
    """Load (or confirm) the demo book; with `with_users`, one demo user per role.

    Every write of the demo is idempotent by its fixed key, so a second run
    changes nothing, audits nothing and answers `created` false: it needs no
    request key. Demo users are refused (RealUsersPresentError, nothing
    written) when the database holds any other user.
    """
    claim = begin(session, LOAD_DEMO, origin, clock=clock)
    loaded = load_demo_into(session, clock, with_users=with_users, origin=origin)
    if not loaded.changed:
        return Outcome(loaded, created=False)
    return claim.done(
        loaded,
        subject_id=None,
        details={
            "accounts": loaded.accounts_created,
            "entries": loaded.entries_created,
            "holds": loaded.holds_created,
            "users": loaded.users_created,
            "campaigns": loaded.campaigns_created,
        },
    )
