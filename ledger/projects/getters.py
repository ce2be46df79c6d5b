"""The bottom of the projects package: rows by id, the budget in force, who sees what.

`projects_visible_to(session, user)` is the access rule the web layer calls:
staff (treasurer, admin) see every project; project staff see the projects an
organisation they act for leads; a partner's user sees the projects their
organisation is a partner of (and, through `partner_organisations`, only its own
contributions and costs); a foundation officer sees only the projects one of
their foundations funds; anyone else sees none. `may_act_on_project` is the rule
for the acts (budget, expenses, money in, volunteer time): staff, or project staff
of the lead organisation. `may_keep_volunteer_register` is its rule for the
organisation's register of volunteers, which belongs to no project: staff, or
project staff.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.clock import ROME
from ledger.grants.models import Foundation, FoundationOfficer
from ledger.people.models import User
from ledger.projects.errors import ProjectNotFoundError
from ledger.projects.models import (
    BudgetAmount,
    BudgetLine,
    BudgetVersion,
    OrganisationMember,
    Project,
    ProjectDocument,
    ProjectFile,
    ProjectFunder,
    ProjectOrganisation,
    ProjectPartner,
)

STAFF_ROLES = frozenset({"treasurer", "admin"})


def get_project(session: Session, project_id: int, *, lock: bool = False) -> Project:
    """The project (its row locked with `lock`); ProjectNotFoundError (404) otherwise."""
    if isinstance(project_id, bool) or not isinstance(project_id, int):
        raise ProjectNotFoundError(f"Nessun progetto con id {project_id}.", project_id=project_id)
    query = select(Project).where(Project.id == project_id)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).one_or_none()
    if row is None:
        raise ProjectNotFoundError(f"Nessun progetto con id {project_id}.", project_id=project_id)
    return row


def get_organisation(session: Session, organisation_id: int) -> ProjectOrganisation:
    row = session.get(ProjectOrganisation, organisation_id)
    if row is None:
        raise ProjectNotFoundError(
            f"Nessuna organizzazione con id {organisation_id}.", organisation_id=organisation_id
        )
    return row


def funders_of(session: Session, project_id: int) -> list[ProjectFunder]:
    return list(
        session.scalars(
            select(ProjectFunder)
            .where(ProjectFunder.project_id == project_id)
            .order_by(ProjectFunder.id)
        )
    )


def get_funder(session: Session, project_id: int, funder_id: int) -> ProjectFunder:
    """A funder of the project, by its project_funders id."""
    row = session.get(ProjectFunder, funder_id)
    if row is None or row.project_id != project_id:
        raise ProjectNotFoundError(
            f"Il progetto {project_id} non ha il finanziatore {funder_id}.",
            project_id=project_id,
            funder_id=funder_id,
        )
    return row


def funder_by_foundation(session: Session, project_id: int, foundation_id: int) -> ProjectFunder:
    """The project's funder that is foundation `foundation_id`."""
    row = session.scalars(
        select(ProjectFunder).where(
            ProjectFunder.project_id == project_id, ProjectFunder.foundation_id == foundation_id
        )
    ).first()
    if row is None:
        raise ProjectNotFoundError(
            f"La fondazione {foundation_id} non finanzia il progetto {project_id}.",
            project_id=project_id,
            foundation_id=foundation_id,
        )
    return row


def foundation_names(session: Session, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(Foundation.id, Foundation.name).where(Foundation.id.in_(ids)))
    return {fid: name for fid, name in rows}


def versions_of(session: Session, project_id: int) -> list[BudgetVersion]:
    """Every budget version of the project, oldest first (earlier ones stay readable)."""
    return list(
        session.scalars(
            select(BudgetVersion)
            .where(BudgetVersion.project_id == project_id)
            .order_by(BudgetVersion.number)
        )
    )


def get_version(session: Session, version_id: int, *, lock: bool = False) -> BudgetVersion:
    query = select(BudgetVersion).where(BudgetVersion.id == version_id)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).one_or_none()
    if row is None:
        raise ProjectNotFoundError(
            f"Nessuna versione di budget con id {version_id}.", version_id=version_id
        )
    return row


def budget_in_force(session: Session, project_id: int) -> BudgetVersion | None:
    """The latest approved version, None before the first approval."""
    return session.scalars(
        select(BudgetVersion)
        .where(BudgetVersion.project_id == project_id, BudgetVersion.status == "approved")
        .order_by(BudgetVersion.number.desc())
        .limit(1)
    ).first()


def budget_at(session: Session, project_id: int, on: date) -> BudgetVersion | None:
    """The version in force on `on` (a report's last day): the latest approved on or
    before that day (Rome), so a report for a past period is measured against the
    budget then in force, not against a later revision; for a period before the first
    approval, the first approved version. None before any approval."""
    approved = list(
        session.scalars(
            select(BudgetVersion)
            .where(BudgetVersion.project_id == project_id, BudgetVersion.status == "approved")
            .order_by(BudgetVersion.number)
        )
    )
    then = [
        v
        for v in approved
        if v.approved_at is not None and v.approved_at.astimezone(ROME).date() <= on
    ]
    return then[-1] if then else (approved[0] if approved else None)


def version_rows(session: Session, version_id: int) -> list[tuple[BudgetLine, list[BudgetAmount]]]:
    """The version's lines in code order, each with its amounts by source."""
    lines = list(
        session.scalars(
            select(BudgetLine).where(BudgetLine.version_id == version_id).order_by(BudgetLine.id)
        )
    )
    amounts: dict[int, list[BudgetAmount]] = {line.id: [] for line in lines}
    if lines:
        for amount in session.scalars(
            select(BudgetAmount)
            .where(BudgetAmount.line_id.in_(list(amounts)))
            .order_by(BudgetAmount.id)
        ):
            amounts[amount.line_id].append(amount)
    return [(line, amounts[line.id]) for line in lines]


def officer_foundations(session: Session, user_id: int) -> list[int]:
    return list(
        session.scalars(
            select(FoundationOfficer.foundation_id).where(FoundationOfficer.user_id == user_id)
        )
    )


def member_organisations(session: Session, user_id: int) -> set[int]:
    """The organisations `user_id` acts for (`project_organisation_members`)."""
    return set(
        session.scalars(
            select(OrganisationMember.organisation_id).where(OrganisationMember.user_id == user_id)
        )
    )


def projects_visible_to(session: Session, user: User | None) -> list[Project]:
    """The projects `user` may read: all for staff; those their organisation leads for
    project staff, or is a partner of for a partner's user; their foundations' for an
    officer; none for anyone else."""
    if user is None:
        return []
    query = select(Project).order_by(Project.id)
    if user.roles & STAFF_ROLES:
        return list(session.scalars(query))
    visible: set[int] = set()
    if user.roles & {"project_staff", "partner"}:
        organisations = member_organisations(session, user.id)
        if organisations and "project_staff" in user.roles:
            visible |= set(
                session.scalars(
                    select(Project.id).where(Project.lead_organisation_id.in_(organisations))
                )
            )
        if organisations and "partner" in user.roles:
            visible |= set(
                session.scalars(
                    select(ProjectPartner.project_id).where(
                        ProjectPartner.organisation_id.in_(organisations)
                    )
                )
            )
    if "foundation_officer" in user.roles:
        foundations = officer_foundations(session, user.id)
        if foundations:
            visible |= set(
                session.scalars(
                    select(ProjectFunder.project_id).where(
                        ProjectFunder.foundation_id.in_(foundations)
                    )
                )
            )
    if not visible:
        return []
    return list(session.scalars(query.where(Project.id.in_(visible))))


def may_act_on_project(session: Session, user: User | None, project_id: int) -> bool:
    """Whether `user` may act on project `project_id` (its budget, expenses, money in,
    volunteer time): a treasurer or admin, or project staff of its lead organisation."""
    if user is None:
        return False
    if user.roles & STAFF_ROLES:
        return True
    if "project_staff" not in user.roles:
        return False
    lead = session.scalar(select(Project.lead_organisation_id).where(Project.id == project_id))
    return lead is not None and lead in member_organisations(session, user.id)


def may_keep_volunteer_register(session: Session, user: User | None) -> bool:
    """Whether `user` may read and keep the organisation's register of volunteers (enrol,
    end): the roles that record volunteer hours, at the organisation's level (the
    register belongs to no project): a treasurer or admin, or project staff."""
    if user is None:
        return False
    return bool(user.roles & STAFF_ROLES) or "project_staff" in user.roles


def partner_organisations(session: Session, user: User | None, project_id: int) -> set[int]:
    """The partner organisations of project `project_id` that `user` acts for: a partner's
    user reads only these organisations' contributions and costs."""
    if user is None or "partner" not in user.roles:
        return set()
    partners = set(
        session.scalars(
            select(ProjectPartner.organisation_id).where(ProjectPartner.project_id == project_id)
        )
    )
    return partners & member_organisations(session, user.id)


def may_read_project(session: Session, user: User | None, project_id: int) -> bool:
    """Whether `user` may read project `project_id` (and its documents)."""
    return any(p.id == project_id for p in projects_visible_to(session, user))


def reads_whole_project(session: Session, user: User | None, project_id: int) -> bool:
    """Whether `user` reads the whole project: a treasurer or admin, its project staff, or
    an officer of one of its funders. A partner's user reads only its organisations' part
    (`partner_organisations`)."""
    if user is None:
        return False
    if may_act_on_project(session, user, project_id):
        return True
    if "foundation_officer" in user.roles:
        mine = set(officer_foundations(session, user.id))
        return any(f.foundation_id in mine for f in funders_of(session, project_id))
    return False


def readable_file(session: Session, user: User | None, document_id: int) -> ProjectFile:
    """The file of a document, for who reads the whole project (its staff, its funders'
    officers) and for a partner's user when the document is a cost its organisation bore;
    ProjectNotFoundError (404) otherwise, so a document one may not read is
    indistinguishable from one that does not exist."""
    document = session.get(ProjectDocument, document_id)
    readable = (
        document is not None
        and document.file_id is not None
        and may_read_project(session, user, document.project_id)
        and (
            reads_whole_project(session, user, document.project_id)
            or (
                document.partner_id is not None
                and document.partner_id in partner_organisations(session, user, document.project_id)
            )
        )
    )
    if not readable:
        raise ProjectNotFoundError(
            f"Nessun documento {document_id} leggibile.", document_id=document_id
        )
    assert document is not None and document.file_id is not None
    stored = session.get(ProjectFile, document.file_id)
    assert stored is not None
    return stored
