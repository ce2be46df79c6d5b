"""A small world for the tests of projects: two staff members, an officer, funders,
organisations and a project, built through the real use cases on the test's database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from ledger.commands import Origin
from ledger.core.clock import FixedClock
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.grants import service as grants
from ledger.people.models import User
from ledger.people.service import NewPerson, create_user
from ledger.projects import commands
from ledger.projects.getters import funders_of
from ledger.projects.service import FunderSettings, LineSpec, SourceAmount

STARTS = date(2026, 1, 1)
ENDS = date(2027, 6, 30)


def eur(text: str) -> int:
    return Money.parse(text, "EUR").minor


def user(session: Session, email: str, roles: list[str], now: datetime) -> int:
    row = create_user(
        session,
        NewPerson(email=email, full_name=email.split("@", maxsplit=1)[0].title()),
        roles=roles,
        password=None,
        now=now,
    )
    return row.id


@dataclass
class ProjectWorld:
    ledger: Ledger
    clock: FixedClock
    staff: int
    second: int
    officer: int
    other_officer: int
    foundation: int
    other_foundation: int
    lead: int
    partner: int
    supplier: int
    project: int
    funder: int

    def origin(self, user_id: int | None = None) -> Origin:
        return Origin(channel="web", user_id=self.staff if user_id is None else user_id)

    def run(self, work: Callable[[Session], Any]) -> Any:
        return self.ledger.run(work)

    def read(self, work: Callable[[Session], Any]) -> Any:
        return self.ledger.read(work)

    def volunteer(self, user_id: int | None = None, *, since: date = STARTS) -> int:
        """The person of a user (the staff member by default), enrolled in the register of
        volunteers from `since` (volunteer hours count only then); their person id."""
        person = int(
            self.read(lambda s: s.get(User, self.staff if user_id is None else user_id).person_id)
        )
        self.run(
            lambda s: commands.enrol_volunteer(
                s, person_id=person, enrolled_on=since, origin=self.origin(), clock=self.clock
            )
        )
        return person

    def budget(self, lines: list[LineSpec], *, approve: bool = True) -> int:
        """Propose (staff) and approve (second) a budget version; its id."""
        version = self.run(
            lambda s: commands.propose_budget(
                s, self.project, lines, origin=self.origin(), clock=self.clock
            )
        ).value.id
        if approve:
            self.run(
                lambda s: commands.approve_budget(
                    s, version, origin=self.origin(self.second), clock=self.clock
                )
            )
        return int(version)


def simple_lines(world: ProjectWorld, *, grant: int, cofinancing: int) -> list[LineSpec]:
    """One personnel line: the grant from the funder plus the partner's share."""
    return [
        LineSpec(
            "A.1",
            "personnel",
            "Operatori di comunità",
            (
                SourceAmount("grant", grant, world.funder),
                SourceAmount("partner", cofinancing, world.partner),
            ),
        )
    ]


def build_world(
    ledger: Ledger, clock: FixedClock, *, grant_minor: int = 6_000_000, **settings: Any
) -> ProjectWorld:
    """A project from 1 Jan 2026 to 30 Jun 2027 with one funder (grant `grant_minor`)."""

    def people(session: Session) -> dict[str, int]:
        now = clock.now()
        return {
            "staff": user(session, "operatrice@example.org", ["treasurer"], now),
            "second": user(session, "tesoriere@example.org", ["treasurer"], now),
            "officer": user(session, "ufficiale@example.org", ["foundation_officer"], now),
            "other_officer": user(session, "altra@example.org", ["foundation_officer"], now),
        }

    ids = ledger.run(people)
    origin = Origin(channel="web", user_id=ids["staff"])

    def setup(session: Session) -> dict[str, int]:
        now = clock.now()
        foundation = grants.create_foundation(session, name="Fondazione Cariplo", now=now)
        other = grants.create_foundation(session, name="Fondazione Altra", now=now)
        grants.add_officer(session, foundation.id, ids["officer"], now=now)
        grants.add_officer(session, other.id, ids["other_officer"], now=now)

        def org(name: str, kind: str) -> int:
            return int(
                commands.create_organisation(
                    session, name=name, kind=kind, origin=origin, clock=clock
                ).value.id
            )

        lead = org("Consorzio Sociale Pavese", "cooperative")
        partner = org("Comune di Pavia", "public_body")
        supplier = org("Tipografia Ticino srl", "company")
        project = commands.create_project(
            session,
            title="Fare #BeneComune",
            lead_organisation_id=lead,
            starts_on=STARTS,
            ends_on=ENDS,
            programme="Welfare in azione",
            call_reference="2025-WIA-03",
            partners=[(partner, "partner"), (supplier, "supplier")],
            funders=[FunderSettings(foundation.id, grant_minor, **settings)],
            origin=origin,
            clock=clock,
        ).value
        return {
            "foundation": foundation.id,
            "other_foundation": other.id,
            "lead": lead,
            "partner": partner,
            "supplier": supplier,
            "project": project.id,
            "funder": funders_of(session, project.id)[0].id,
        }

    made = ledger.run(setup)
    return ProjectWorld(ledger=ledger, clock=clock, **ids, **made)
