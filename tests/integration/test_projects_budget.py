"""Projects, their funders' settings and budget versions (four-eyes, limits, revisions)."""

from __future__ import annotations

import pytest

from ledger.core.errors import IdempotencyConflictError
from ledger.people.models import User
from ledger.projects import commands, getters
from ledger.projects.errors import (
    BudgetRuleError,
    BudgetStateError,
    FourEyesError,
    InvalidProjectError,
)
from ledger.projects.service import LineSpec, SourceAmount
from tests.integration.commands_helpers import assert_once, footprint
from tests.integration.projects_world import build_world, eur, simple_lines


def test_creating_an_organisation_twice_with_one_key_makes_one_and_a_conflict_writes_nothing(
    ledger, clock
):
    world = build_world(ledger, clock)

    def act(session, key):
        return commands.create_organisation(
            session,
            name="ACLI Pavia",
            kind="association",
            origin=world.origin(),
            clock=clock,
            key=key,
        )

    def conflicting(session, key):
        return commands.create_organisation(
            session,
            name="ARCI Pavia",
            kind="association",
            origin=world.origin(),
            clock=clock,
            key=key,
        )

    assert_once(ledger, act, conflicting)


def test_a_project_keeps_its_lead_partners_and_funder_with_the_default_variance_of_20(
    ledger, clock
):
    world = build_world(ledger, clock)

    def read(session):
        project = getters.get_project(session, world.project)
        funder = getters.get_funder(session, world.project, world.funder)
        return project.title, project.lead_organisation_id, funder.grant_minor, funder.variance_pct

    assert ledger.read(read) == ("Fare #BeneComune", world.lead, eur("60000.00"), "20")


def test_a_budget_proposed_by_one_person_is_approved_only_by_another(ledger, clock):
    world = build_world(ledger, clock)
    version = world.budget(
        simple_lines(world, grant=eur("60000.00"), cofinancing=eur("40000.00")), approve=False
    )
    with pytest.raises(FourEyesError):
        ledger.run(
            lambda s: commands.approve_budget(s, version, origin=world.origin(), clock=clock)
        )
    assert ledger.read(lambda s: getters.budget_in_force(s, world.project)) is None
    ledger.run(
        lambda s: commands.approve_budget(
            s, version, origin=world.origin(world.second), clock=clock
        )
    )
    assert ledger.read(lambda s: getters.budget_in_force(s, world.project).id) == version
    with pytest.raises(BudgetStateError):
        ledger.run(
            lambda s: commands.approve_budget(
                s, version, origin=world.origin(world.second), clock=clock
            )
        )


def test_a_revision_is_a_new_version_and_the_earlier_one_stays_readable(ledger, clock):
    world = build_world(ledger, clock)
    first = world.budget(simple_lines(world, grant=eur("60000.00"), cofinancing=eur("40000.00")))
    second = world.budget(simple_lines(world, grant=eur("55000.00"), cofinancing=eur("45000.00")))

    def read(session):
        versions = getters.versions_of(session, world.project)
        old = getters.version_rows(session, first)
        return (
            [(v.number, v.status) for v in versions],
            getters.budget_in_force(session, world.project).id,
            sorted(a.amount_minor for _line, amounts in old for a in amounts),
        )

    numbers, in_force, old_amounts = ledger.read(read)
    assert numbers == [(1, "approved"), (2, "approved")]
    assert in_force == second
    assert old_amounts == [eur("40000.00"), eur("60000.00")]


def test_proposing_a_budget_twice_with_one_key_is_one_version(ledger, clock):
    world = build_world(ledger, clock)
    lines = simple_lines(world, grant=eur("60000.00"), cofinancing=eur("40000.00"))
    other = simple_lines(world, grant=eur("50000.00"), cofinancing=eur("40000.00"))

    def act(session, key):
        return commands.propose_budget(
            session, world.project, lines, origin=world.origin(), clock=clock, key=key
        )

    def conflicting(session, key):
        return commands.propose_budget(
            session, world.project, other, origin=world.origin(), clock=clock, key=key
        )

    assert_once(ledger, act, conflicting)


@pytest.mark.parametrize(
    ("settings", "grant", "cofinancing", "overheads", "rule"),
    [
        ({}, "60000.01", "40000.00", "0.00", "grant"),
        ({"max_grant_pct": "30"}, "30000.01", "70000.00", "0.00", "max_grant_pct"),
        ({"min_cofinancing_pct": "45"}, "60000.00", "40000.00", "9000.00", "min_cofinancing_pct"),
        ({"max_overheads_pct": "10"}, "60000.00", "40000.00", "11111.12", "max_overheads_pct"),
    ],
)
def test_a_budget_that_breaks_a_funders_setting_is_refused_and_nothing_is_written(
    ledger, clock, settings, grant, cofinancing, overheads, rule
):
    world = build_world(ledger, clock, **settings)
    lines = simple_lines(world, grant=eur(grant), cofinancing=eur(cofinancing))
    if eur(overheads):
        lines.append(
            LineSpec("G.1", "overheads", "Costi generali", (SourceAmount("own", eur(overheads)),))
        )
    before = footprint(ledger)
    with pytest.raises(BudgetRuleError) as refused:
        world.budget(lines)
    assert refused.value.details["rule"] == rule
    assert footprint(ledger) == before


def test_the_limits_hold_at_their_exact_boundary(ledger, clock):
    world = build_world(ledger, clock, max_grant_pct="30", min_cofinancing_pct="70")
    world.budget(simple_lines(world, grant=eur("30000.00"), cofinancing=eur("70000.00")))


def test_volunteer_time_counts_as_cofinancing_only_where_the_funder_says_so(ledger, clock):
    lines_of = lambda w: [  # noqa: E731
        LineSpec(
            "A.1",
            "personnel",
            "Operatori",
            (
                SourceAmount("grant", eur("60000.00"), w.funder),
                SourceAmount("volunteer", eur("40000.00")),
            ),
        )
    ]
    refusing = build_world(ledger, clock, min_cofinancing_pct="30")
    with pytest.raises(BudgetRuleError):
        refusing.budget(lines_of(refusing))


def test_volunteer_time_counted_by_the_funder_makes_the_cofinancing(ledger, clock):
    world = build_world(ledger, clock, min_cofinancing_pct="30", volunteer_counts=True)
    world.budget(
        [
            LineSpec(
                "A.1",
                "personnel",
                "Operatori",
                (
                    SourceAmount("grant", eur("60000.00"), world.funder),
                    SourceAmount("volunteer", eur("40000.00")),
                ),
            )
        ]
    )


def test_a_budget_naming_an_organisation_that_is_not_a_partner_is_refused(ledger, clock):
    world = build_world(ledger, clock)
    lines = [LineSpec("A.1", "personnel", "x", (SourceAmount("partner", 100, world.lead + 99),))]
    with pytest.raises(InvalidProjectError):
        world.budget(lines)


def test_an_officer_sees_only_the_projects_of_their_own_foundation(ledger, clock):
    world = build_world(ledger, clock)

    def visible(user_id):
        return ledger.read(
            lambda s: [p.id for p in getters.projects_visible_to(s, s.get(User, user_id))]
        )

    assert visible(world.officer) == [world.project]
    assert visible(world.other_officer) == []
    assert visible(world.staff) == [world.project]
    assert ledger.read(lambda s: getters.projects_visible_to(s, None)) == []


def test_a_conflicting_key_on_a_project_writes_nothing(ledger, clock):
    world = build_world(ledger, clock)

    def make(title):
        return lambda s: commands.create_project(
            s,
            title=title,
            lead_organisation_id=world.lead,
            starts_on=world.read(lambda r: getters.get_project(r, world.project).starts_on),
            ends_on=world.read(lambda r: getters.get_project(r, world.project).ends_on),
            origin=world.origin(),
            clock=clock,
            key="k",
        )

    ledger.run(make("Uno"))
    before = footprint(ledger)
    with pytest.raises(IdempotencyConflictError):
        ledger.run(make("Due"))
    assert footprint(ledger) == before


def test_a_refused_approval_writes_nothing_and_an_approval_audits_once(ledger, clock):
    from sqlalchemy import select

    from ledger.audit.models import AuditEvent

    world = build_world(ledger, clock)
    version = world.budget(
        simple_lines(world, grant=eur("60000.00"), cofinancing=eur("40000.00")), approve=False
    )
    before = footprint(ledger)
    with pytest.raises(FourEyesError):
        ledger.run(
            lambda s: commands.approve_budget(s, version, origin=world.origin(), clock=clock)
        )
    assert footprint(ledger) == before
    ledger.run(
        lambda s: commands.approve_budget(
            s, version, origin=world.origin(world.second), clock=clock
        )
    )
    actions = ledger.read(
        lambda s: list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    )
    assert actions.count("project.approve_budget") == 1
    assert actions.count("project.propose_budget") == 1
