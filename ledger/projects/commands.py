"""Use cases of projects: what project staff, a treasurer or an operator does, in one shape.

Each function here is one act. It takes the act's arguments, an `Origin` and,
when the act can be repeated, the caller's request key; it checks, writes
through the bookkeeping modules (`service`, `expenses`, `money_in`,
`figurative`), records its own audit event under the action declared below and
returns an `Outcome` saying whether this call did it. Pages, the API and the
CLI call these and only translate input and output.

Acts that need a second person (approving a budget, paying out a campaign)
need a signed-in user in the origin: the four-eyes rule compares users.
Who may act on which project is the caller's access rule
(`getters.projects_visible_to` for reading).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy.orm import Session

from ledger.commands import Origin, Outcome, begin, command
from ledger.core.clock import Clock
from ledger.projects import service
from ledger.projects.errors import FourEyesError
from ledger.projects.getters import get_organisation, get_project, get_version
from ledger.projects.models import BudgetVersion, Project, ProjectOrganisation
from ledger.projects.service import FunderSettings, LineSpec

CREATE_ORGANISATION = command("project.create_organisation", "organisation")
CREATE_PROJECT = command("project.create", "project")
PROPOSE_BUDGET = command("project.propose_budget", "budget_version")
APPROVE_BUDGET = command("project.approve_budget", "budget_version")


def _user(origin: Origin) -> int:
    if origin.user_id is None:
        raise FourEyesError(
            "Questo atto richiede una persona identificata (regola dei quattro occhi)."
        )
    return origin.user_id


def create_organisation(
    session: Session,
    *,
    name: str,
    kind: str,
    tax_code: str | None = None,
    vat_number: str | None = None,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[ProjectOrganisation]:
    """Register a partner, co-funder or supplier organisation."""
    claim = begin(
        session,
        CREATE_ORGANISATION,
        origin,
        clock=clock,
        key=key,
        request={"name": name, "kind": kind, "tax_code": tax_code, "vat_number": vat_number},
    )
    if claim.earlier is not None:
        return claim.replay(get_organisation(session, claim.earlier.id))
    row = service.create_organisation(
        session, name=name, kind=kind, tax_code=tax_code, vat_number=vat_number, clock=clock
    )
    return claim.done(row, subject_id=row.id, details={"kind": row.kind})


def create_project(
    session: Session,
    *,
    title: str,
    lead_organisation_id: int,
    starts_on: date,
    ends_on: date,
    currency: str = "EUR",
    programme: str | None = None,
    call_reference: str | None = None,
    partners: Sequence[tuple[int, str]] = (),
    funders: Sequence[FunderSettings] = (),
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[Project]:
    """Create a project with its lead, partners and funders (with their settings)."""
    claim = begin(
        session,
        CREATE_PROJECT,
        origin,
        clock=clock,
        key=key,
        request={
            "title": title,
            "lead": lead_organisation_id,
            "starts_on": starts_on,
            "ends_on": ends_on,
            "currency": currency,
            "programme": programme,
            "call_reference": call_reference,
            "partners": [list(p) for p in partners],
            "funders": [f.plain() for f in funders],
        },
    )
    if claim.earlier is not None:
        return claim.replay(get_project(session, claim.earlier.id))
    project = service.create_project(
        session,
        title=title,
        lead_organisation_id=lead_organisation_id,
        starts_on=starts_on,
        ends_on=ends_on,
        currency=currency,
        programme=programme,
        call_reference=call_reference,
        partners=partners,
        funders=funders,
        clock=clock,
        actor=origin.actor,
    )
    return claim.done(
        project,
        subject_id=project.id,
        details={
            "lead": lead_organisation_id,
            "partners": len(partners),
            "funders": [f.foundation_id for f in funders],
        },
    )


def propose_budget(
    session: Session,
    project_id: int,
    lines: Sequence[LineSpec],
    *,
    note: str | None = None,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[BudgetVersion]:
    """Propose the next budget version (the first budget or a revision), checked
    against every funder's settings (BudgetRuleError: nothing written)."""
    claim = begin(
        session,
        PROPOSE_BUDGET,
        origin,
        clock=clock,
        key=key,
        request={"project": project_id, "lines": [s.plain() for s in lines], "note": note},
    )
    if claim.earlier is not None:
        return claim.replay(get_version(session, claim.earlier.id))
    version = service.propose_budget(
        session,
        project_id,
        lines,
        proposed_by_user_id=_user(origin),
        note=note,
        clock=clock,
    )
    return claim.done(
        version,
        subject_id=version.id,
        details={"project": project_id, "number": version.number, "lines": len(lines)},
    )


def approve_budget(
    session: Session, version_id: int, *, origin: Origin, clock: Clock
) -> Outcome[BudgetVersion]:
    """Approve a proposed version: a person other than its proposer (FourEyesError)."""
    claim = begin(session, APPROVE_BUDGET, origin, clock=clock)
    version = service.approve_budget(
        session, version_id, approved_by_user_id=_user(origin), clock=clock
    )
    return claim.done(
        version,
        subject_id=version.id,
        details={"project": version.project_id, "number": version.number},
    )
