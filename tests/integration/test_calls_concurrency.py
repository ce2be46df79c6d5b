"""Concurrent awards on PostgreSQL: a call's budget and a fund's money hold under races.

Proposals lock the call's row, so proposals racing for the last of a budget are
decided one after the other; approvals reserve the fund's money under the
engine's balance lock, so approvals racing for the last of a fund cannot all
pass. SQLite serialises every writer and has nothing to race.
"""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from ledger.funds import service as funds
from ledger.funds.awards import approve_award, propose_award
from ledger.funds.call_errors import CallBudgetExceededError
from ledger.funds.calls import call_figures
from ledger.funds.errors import FundInsufficientError
from tests.integration.calls_world import apply, build_world
from tests.integration.test_calls import screened
from tests.integration.test_concurrency import in_parallel

pytestmark = pytest.mark.postgres_only


def test_proposals_racing_for_the_last_of_a_budget_never_exceed_it(pg_ledger, clock):
    world = build_world(pg_ledger, clock, budget_minor=500_000, max_award_minor=300_000)
    ideas = [apply(world, p) for p in world.proponents]
    for application_id in ideas:
        screened(world, application_id)

    def propose(i: int) -> int:
        return int(
            pg_ledger.run(
                lambda s: (
                    propose_award(
                        s,
                        ideas[i],
                        amount_minor=200_000,
                        kind="grant",
                        actor_user_id=world.admin,
                        clock=clock,
                    ).id
                )
            )
        )

    outcomes = in_parallel(3, propose)
    assert sum(o.ok for o in outcomes) == 2
    assert [type(o.error) for o in outcomes if not o.ok] == [CallBudgetExceededError]
    figures = pg_ledger.read(lambda s: call_figures(s, world.call_id))
    assert (figures.committed_minor, figures.remaining_minor) == (400_000, 100_000)


def test_approvals_racing_for_the_last_of_a_fund_reserve_only_what_it_holds(pg_ledger, clock):
    world = build_world(pg_ledger, clock, fund_money_minor=450_000)
    ideas = [apply(world, p) for p in world.proponents]
    awards = []
    for application_id in ideas:
        screened(world, application_id)

        def work(session: Session, application_id: int = application_id) -> int:
            return propose_award(
                session,
                application_id,
                amount_minor=200_000,
                kind="grant",
                actor_user_id=world.admin,
                clock=clock,
            ).id

        awards.append(pg_ledger.run(work))

    outcomes = in_parallel(
        3,
        lambda i: pg_ledger.run(
            lambda s: approve_award(s, awards[i], actor_user_id=world.treasurer, clock=clock).id
        ),
    )
    assert sum(o.ok for o in outcomes) == 2
    assert [type(o.error) for o in outcomes if not o.ok] == [FundInsufficientError]
    position = pg_ledger.read(lambda s: funds.fund_position(s, world.fund_id))
    assert (position.committed_minor, position.available_minor) == (400_000, 50_000)
