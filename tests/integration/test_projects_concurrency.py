"""Concurrent charges on PostgreSQL: a document is never charged beyond its amount, and a
campaign is paid out to a project once, whatever the race. A charge locks the
document's row and a payout the receipt's, so racing requests are decided one after
the other. SQLite serialises every writer and has nothing to race.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ledger.projects import commands
from ledger.projects.errors import OverAllocatedError
from ledger.projects.expenses import AllocationSpec
from ledger.projects.models import ExpenseAllocation
from tests.integration.projects_world import build_world, eur
from tests.integration.test_concurrency import in_parallel
from tests.integration.test_projects_expenses import budgeted, expense, second_funder

pytestmark = pytest.mark.postgres_only


def test_two_funders_racing_for_one_document_never_charge_it_beyond_its_amount(pg_ledger, clock):
    world = build_world(pg_ledger, clock)
    other = second_funder(world)
    budgeted(world, other)
    document = expense(
        world, allocations=[AllocationSpec("A.1", "own", eur("100.00"))]
    ).value.document_id
    funders = [world.funder, other, world.funder]

    def charge(i: int) -> int:
        return pg_ledger.run(
            lambda s: (
                commands.charge_document(
                    s,
                    document,
                    [AllocationSpec("A.1", "grant", eur("600.00"), funders[i])],
                    origin=world.origin(),
                    clock=clock,
                    key=f"race-{i}",
                ).value.allocated_minor
            )
        )

    outcomes = in_parallel(3, charge)
    assert sum(o.ok for o in outcomes) == 1
    assert [type(o.error) for o in outcomes if not o.ok] == [OverAllocatedError] * 2
    charged = pg_ledger.read(
        lambda s: s.scalar(
            select(func.sum(ExpenseAllocation.amount_minor)).where(
                ExpenseAllocation.document_id == document
            )
        )
    )
    assert charged == eur("700.00")
    assert pg_ledger.verify().ok


def test_a_payout_paid_twice_at_once_is_paid_once(pg_ledger, clock):
    from ledger.projects.errors import PayoutError
    from tests.integration.test_projects_money_in import _succeeded_campaign

    world = build_world(pg_ledger, clock)
    campaign_id = _succeeded_campaign(pg_ledger, clock)
    p = world.project
    pg_ledger.run(
        lambda s: commands.link_campaign(s, p, campaign_id, origin=world.origin(), clock=clock)
    )
    receipt = pg_ledger.run(
        lambda s: commands.propose_payout(s, p, campaign_id, origin=world.origin(), clock=clock)
    ).value
    outcomes = in_parallel(
        2,
        lambda _i: pg_ledger.run(
            lambda s: (
                commands.pay_payout(
                    s, receipt, origin=world.origin(world.second), clock=clock
                ).value.sequence
            )
        ),
    )
    assert sum(o.ok for o in outcomes) == 1
    assert [type(o.error) for o in outcomes if not o.ok] == [PayoutError]
    assert pg_ledger.verify().ok
