"""Project staff and partners' users: who acts for which organisation, and what each sees.

Project staff act on the projects their organisation leads; a partner's user reads
the projects their organisation is a partner of, and only its own organisations
there; a foundation officer reads what their foundations fund (unchanged).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.audit.models import AuditEvent
from ledger.commands import Origin
from ledger.core.clock import FixedClock
from ledger.core.service import Ledger
from ledger.people.models import User
from ledger.projects import commands
from ledger.projects.errors import InvalidProjectError
from ledger.projects.getters import (
    may_act_on_project,
    partner_organisations,
    projects_visible_to,
)
from tests.integration.projects_world import ProjectWorld, build_world, user


@pytest.fixture
def world(ledger: Ledger, clock: FixedClock) -> ProjectWorld:
    return build_world(ledger, clock)


def _member(world: ProjectWorld, organisation: int, user_id: int) -> None:
    world.run(
        lambda s: commands.add_organisation_member(
            s,
            organisation_id=organisation,
            user_id=user_id,
            origin=world.origin(),
            clock=world.clock,
        )
    )


def _seen(world: ProjectWorld, user_id: int) -> tuple[list[int], bool, set[int]]:
    def read(s: Session) -> tuple[list[int], bool, set[int]]:
        who = s.get(User, user_id)
        return (
            [p.id for p in projects_visible_to(s, who)],
            may_act_on_project(s, who, world.project),
            partner_organisations(s, who, world.project),
        )

    return world.read(read)


def test_project_staff_of_the_lead_organisation_see_and_act_on_its_project_and_others_do_not(
    world: ProjectWorld,
):
    staff = world.run(lambda s: user(s, "staff@example.org", ["project_staff"], world.clock.now()))
    assert _seen(world, staff) == ([], False, set())

    _member(world, world.partner, staff)  # the partner's org does not lead the project
    assert _seen(world, staff) == ([], False, set())

    _member(world, world.lead, staff)
    assert _seen(world, staff) == ([world.project], True, set())
    events = world.read(
        lambda s: [
            (subject, details["user"])
            for subject, details in s.execute(
                select(AuditEvent.subject_id, AuditEvent.details)
                .where(AuditEvent.action == "project.add_member")
                .order_by(AuditEvent.id)
            )
        ]
    )
    assert events == [
        (str(world.partner), staff),
        (str(world.lead), staff),
    ]


def test_a_partners_user_reads_only_the_projects_and_organisations_of_its_partnership(
    world: ProjectWorld,
):
    reader = world.run(lambda s: user(s, "comune@example.org", ["partner"], world.clock.now()))
    _member(world, world.partner, reader)
    assert _seen(world, reader) == ([world.project], False, {world.partner})

    _member(world, world.lead, reader)  # the lead is not a partner of its own project
    assert _seen(world, reader) == ([world.project], False, {world.partner})


def test_a_member_needs_the_project_staff_or_partner_role_and_is_added_once(world: ProjectWorld):
    donor = world.run(lambda s: user(s, "donor@example.org", ["donor"], world.clock.now()))
    with pytest.raises(InvalidProjectError, match="ruolo"):
        _member(world, world.lead, donor)
    staff = world.run(lambda s: user(s, "staff@example.org", ["project_staff"], world.clock.now()))
    _member(world, world.lead, staff)
    with pytest.raises(InvalidProjectError, match="già"):
        _member(world, world.lead, staff)
    added = world.read(
        lambda s: s.scalars(
            select(AuditEvent.id).where(AuditEvent.action == "project.add_member")
        ).all()
    )
    assert len(added) == 1


def test_the_same_request_key_adds_a_member_once(world: ProjectWorld, clock: FixedClock):
    staff = world.run(lambda s: user(s, "staff@example.org", ["project_staff"], clock.now()))
    origin = Origin(channel="api", user_id=world.staff)

    def add(s: Session) -> bool:
        return commands.add_organisation_member(
            s, organisation_id=world.lead, user_id=staff, origin=origin, clock=clock, key="m-1"
        ).created

    assert world.run(add) is True
    assert world.run(add) is False
