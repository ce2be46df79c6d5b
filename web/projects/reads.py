"""What the projects pages read: who may see or act on a project, its overview, the
partner's own part, the choices of the forms.

Access is the domain's rule (`ledger.projects.getters`): a project one may not
read is a 404 (indistinguishable from one that does not exist); a project one
may read but not act on is a 403 for its acts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import Forbidden

from ledger.people.models import User
from ledger.projects import volunteers
from ledger.projects.errors import ProjectNotFoundError
from ledger.projects.getters import (
    STAFF_ROLES,
    budget_in_force,
    foundation_names,
    funders_of,
    get_project,
    may_act_on_project,
    may_read_project,
    officer_foundations,
    partner_organisations,
    readable_file,
    reads_whole_project,
    version_rows,
    versions_of,
)
from ledger.projects.models import (
    BudgetAmount,
    BudgetLine,
    BudgetVersion,
    ExpenseAllocation,
    FigurativeItem,
    Project,
    ProjectCampaign,
    ProjectDocument,
    ProjectFile,
    ProjectFunder,
    ProjectOrganisation,
    ProjectPartner,
    ProjectReceipt,
    VolunteerEnrolment,
    VolunteerRate,
)
from ledger.projects.report import ReportLine, funder_report
from web.access import Principal

READERS = ("project_staff", "partner", "foundation_officer", "treasurer", "admin")
ACTORS = ("project_staff", "treasurer", "admin")
# The treasury: links campaigns to projects and pays them out, keeps the rate table.
BOOKS = ("treasurer", "admin")
REPORT_READERS = ("project_staff", "foundation_officer", "treasurer", "admin")


def user_of(db: Session, principal: Principal) -> User:
    user = db.get(User, principal.user_id)
    assert user is not None
    return user


def readable(db: Session, principal: Principal, project_id: int) -> Project:
    """The project, for a user who may read it; ProjectNotFoundError (404) otherwise."""
    if not may_read_project(db, user_of(db, principal), project_id):
        raise ProjectNotFoundError(f"Nessun progetto con id {project_id}.", project_id=project_id)
    return get_project(db, project_id)


def actable(db: Session, principal: Principal, project_id: int) -> Project:
    """The project, for a user who may act on it: 404 when one may not read it, 403
    when one reads it but does not act on it (an officer, a partner's user)."""
    project = readable(db, principal, project_id)
    if not may_act_on_project(db, user_of(db, principal), project_id):
        raise Forbidden()
    return project


def partner_only(db: Session, principal: Principal, project_id: int) -> set[int]:
    """The organisations whose part alone the user reads: a partner's user who is neither
    the project's staff nor an officer of one of its funders; empty for everyone else."""
    user = user_of(db, principal)
    if reads_whole_project(db, user, project_id):
        return set()
    return partner_organisations(db, user, project_id)


def document_file(
    db: Session, principal: Principal, project_id: int, document_id: int
) -> ProjectFile:
    """A document's file, for the project's staff and its funders' officers, and for a
    partner's user when it is a cost its organisation bore (`readable_file`); a 404 for
    anyone else."""
    readable(db, principal, project_id)
    document = db.get(ProjectDocument, document_id)
    if document is None or document.project_id != project_id:
        raise ProjectNotFoundError(
            f"Nessun documento {document_id} leggibile.", document_id=document_id
        )
    return readable_file(db, user_of(db, principal), document_id)


def names(db: Session) -> dict[int, str]:
    return {o.id: o.name for o in db.scalars(select(ProjectOrganisation))}


@dataclass
class Overview:
    project: Project
    lead: str
    may_act: bool
    partner_only: set[int]
    partners: list[tuple[str, str]] = field(default_factory=list)
    funders: list[tuple[ProjectFunder, str]] = field(default_factory=list)
    version: BudgetVersion | None = None
    lines: tuple[ReportLine, ...] = ()
    variance_pct: str = ""
    total_budget_minor: int = 0
    total_actual_minor: int = 0
    receipts: list[ProjectReceipt] = field(default_factory=list)
    documents: list[ProjectDocument] = field(default_factory=list)
    allocations: list[ExpenseAllocation] = field(default_factory=list)
    in_kind: list[FigurativeItem] = field(default_factory=list)
    campaigns: list[int] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)
    report_funders: list[tuple[int, str]] = field(default_factory=list)


def report_funders(db: Session, principal: Principal, project_id: int) -> list[tuple[int, str]]:
    """The funders whose report the user may download: every funder for the project's
    staff, only their own foundations for an officer."""
    user = user_of(db, principal)
    funders = funders_of(db, project_id)
    if not (user.roles & STAFF_ROLES or may_act_on_project(db, user, project_id)):
        own = set(officer_foundations(db, user.id))
        funders = [f for f in funders if f.foundation_id in own]
    found = foundation_names(db, [f.foundation_id for f in funders])
    return [(f.foundation_id, found.get(f.foundation_id, str(f.foundation_id))) for f in funders]


def overview(db: Session, principal: Principal, project_id: int, today: date) -> Overview:
    """A project as the user may see it: everything for its staff and its funders'
    officers; only its organisation's contributions and costs for a partner's user."""
    project = readable(db, principal, project_id)
    user = user_of(db, principal)
    may_act = may_act_on_project(db, user, project_id)
    own = partner_only(db, principal, project_id)
    all_names = names(db)
    view = Overview(
        project=project,
        lead=all_names.get(project.lead_organisation_id, ""),
        may_act=may_act,
        partner_only=own,
        names=all_names,
    )
    if own:
        view.receipts = list(
            db.scalars(
                select(ProjectReceipt)
                .where(
                    ProjectReceipt.project_id == project_id,
                    ProjectReceipt.organisation_id.in_(own),
                )
                .order_by(ProjectReceipt.id)
            )
        )
        view.documents = list(
            db.scalars(
                select(ProjectDocument)
                .where(
                    ProjectDocument.project_id == project_id, ProjectDocument.partner_id.in_(own)
                )
                .order_by(ProjectDocument.id)
            )
        )
        view.allocations = list(
            db.scalars(
                select(ExpenseAllocation)
                .join(ProjectDocument, ProjectDocument.id == ExpenseAllocation.document_id)
                .where(
                    ProjectDocument.project_id == project_id,
                    ExpenseAllocation.partner_id.in_(own),
                )
                .order_by(ExpenseAllocation.id)
            )
        )
        view.in_kind = list(
            db.scalars(
                select(FigurativeItem)
                .where(
                    FigurativeItem.project_id == project_id,
                    FigurativeItem.organisation_id.in_(own),
                )
                .order_by(FigurativeItem.id)
            )
        )
        return view
    view.partners = [
        (all_names.get(p.organisation_id, ""), p.role)
        for p in db.scalars(
            select(ProjectPartner)
            .where(ProjectPartner.project_id == project_id)
            .order_by(ProjectPartner.organisation_id)
        )
    ]
    funders = funders_of(db, project_id)
    found = foundation_names(db, [f.foundation_id for f in funders])
    view.funders = [(f, found.get(f.foundation_id, "")) for f in funders]
    view.version = budget_in_force(db, project_id)
    if funders and view.version is not None:
        end = min(project.ends_on, today) if today >= project.starts_on else project.starts_on
        report = funder_report(db, project_id, funders[0].foundation_id, project.starts_on, end)
        view.lines = report.lines
        view.variance_pct = str(report.variance_pct)
        view.total_budget_minor = report.total_budget_minor
        view.total_actual_minor = report.total_actual_minor
    view.receipts = list(
        db.scalars(
            select(ProjectReceipt)
            .where(ProjectReceipt.project_id == project_id)
            .order_by(ProjectReceipt.id)
        )
    )
    view.documents = list(
        db.scalars(
            select(ProjectDocument)
            .where(ProjectDocument.project_id == project_id)
            .order_by(ProjectDocument.id)
        )
    )
    view.campaigns = list(
        db.scalars(
            select(ProjectCampaign.campaign_id)
            .where(ProjectCampaign.project_id == project_id)
            .order_by(ProjectCampaign.campaign_id)
        )
    )
    view.report_funders = report_funders(db, principal, project_id)
    return view


@dataclass
class BudgetPage:
    project: Project
    may_act: bool
    versions: list[BudgetVersion]
    shown: BudgetVersion | None
    rows: list[tuple[BudgetLine, list[BudgetAmount]]]
    names: dict[int, str]
    funder_names: dict[int, str]


def budget_page(
    db: Session, principal: Principal, project_id: int, version_id: int | None
) -> BudgetPage:
    """The versions of a project's budget and one of them (the latest without one)."""
    project = readable(db, principal, project_id)
    user = user_of(db, principal)
    if partner_only(db, principal, project_id):
        # A partner's user reads only its own part, not the whole budget.
        raise Forbidden()
    versions = versions_of(db, project_id)
    shown = None
    if version_id is not None:
        shown = next((v for v in versions if v.id == version_id), None)
        if shown is None:
            raise ProjectNotFoundError(f"Nessuna versione {version_id}.", version_id=version_id)
    elif versions:
        shown = versions[-1]
    funders = funders_of(db, project_id)
    found = foundation_names(db, [f.foundation_id for f in funders])
    return BudgetPage(
        project=project,
        may_act=may_act_on_project(db, user, project_id),
        versions=versions,
        shown=shown,
        rows=version_rows(db, shown.id) if shown is not None else [],
        names=names(db),
        funder_names={f.id: found.get(f.foundation_id, "") for f in funders},
    )


def ref_choices(db: Session, project_id: int) -> list[tuple[str, str]]:
    """The choices of a budget row's funder or partner: `f<foundation id>` or `p<org id>`."""
    funders = funders_of(db, project_id)
    found = foundation_names(db, [f.foundation_id for f in funders])
    all_names = names(db)
    choices = [("", "—")]
    choices += [(f"f{f.foundation_id}", found.get(f.foundation_id, "")) for f in funders]
    choices += [
        (f"p{p}", all_names.get(p, ""))
        for p in db.scalars(
            select(ProjectPartner.organisation_id)
            .where(ProjectPartner.project_id == project_id)
            .distinct()
        )
    ]
    return choices


@dataclass
class ExpenseChoices:
    project: Project
    suppliers: list[tuple[int, str]]
    partners: list[tuple[str, str]]
    lines: list[tuple[str, str]]
    sources: list[tuple[str, str]]


def expense_choices(db: Session, principal: Principal, project_id: int) -> ExpenseChoices:
    """The choices of the expense form: suppliers, partners, lines in force, sources."""
    project = actable(db, principal, project_id)
    all_names = names(db)
    version = budget_in_force(db, project_id)
    lines: list[tuple[str, str]] = [("", "—")]
    sources: dict[str, str] = {}
    funders = funders_of(db, project_id)
    found = foundation_names(db, [f.foundation_id for f in funders])
    by_funder = {f.id: f.foundation_id for f in funders}
    if version is not None:
        for line, amounts in version_rows(db, version.id):
            lines.append((line.code, f"{line.code} {line.title}"))
            for a in amounts:
                if a.source == "grant":
                    fid = by_funder.get(a.source_ref, 0)
                    sources[f"grant:{fid}"] = found.get(fid, "")
                elif a.source == "partner":
                    sources[f"partner:{a.source_ref}"] = all_names.get(a.source_ref, "")
                else:
                    sources[f"{a.source}:0"] = a.source
    return ExpenseChoices(
        project=project,
        suppliers=sorted(all_names.items(), key=lambda kv: kv[1]),
        partners=[("", "—")]
        + [
            (str(p), all_names.get(p, ""))
            for p in db.scalars(
                select(ProjectPartner.organisation_id)
                .where(ProjectPartner.project_id == project_id)
                .distinct()
            )
        ],
        lines=lines,
        sources=[("", "—"), *sources.items()],
    )


@dataclass
class MoneyPage:
    project: Project
    funders: list[tuple[int, str]]
    partners: list[tuple[int, str]]
    receipts: list[ProjectReceipt]
    campaigns: list[int]
    figurative: list[FigurativeItem]
    names: dict[int, str]
    # A treasurer or an admin: links campaigns and pays them out (the domain's rule).
    treasury: bool = False


def money_page(db: Session, principal: Principal, project_id: int) -> MoneyPage:
    project = actable(db, principal, project_id)
    funders = funders_of(db, project_id)
    found = foundation_names(db, [f.foundation_id for f in funders])
    all_names = names(db)
    return MoneyPage(
        project=project,
        funders=[(f.foundation_id, found.get(f.foundation_id, "")) for f in funders],
        partners=[
            (p, all_names.get(p, ""))
            for p in db.scalars(
                select(ProjectPartner.organisation_id)
                .where(ProjectPartner.project_id == project_id)
                .distinct()
            )
        ],
        receipts=list(
            db.scalars(
                select(ProjectReceipt)
                .where(ProjectReceipt.project_id == project_id)
                .order_by(ProjectReceipt.id)
            )
        ),
        campaigns=list(
            db.scalars(
                select(ProjectCampaign.campaign_id).where(ProjectCampaign.project_id == project_id)
            )
        ),
        figurative=list(
            db.scalars(
                select(FigurativeItem)
                .where(FigurativeItem.project_id == project_id)
                .order_by(FigurativeItem.id)
            )
        ),
        names=all_names,
        treasury=bool(user_of(db, principal).roles & STAFF_ROLES),
    )


@dataclass
class VolunteerPage:
    """A project's volunteer hours and the organisation's register of volunteers."""

    project: Project
    hours: list[FigurativeItem]
    register: list[VolunteerEnrolment]
    names: dict[int, str]
    # The hours form's choices: the people of the register, by name.
    people: list[tuple[int, str]]


def volunteer_page(db: Session, principal: Principal, project_id: int) -> VolunteerPage:
    """For who may act on the project: they keep the register too (`may_act_on_project`
    implies `may_keep_volunteer_register`)."""
    project = actable(db, principal, project_id)
    register = volunteers.register(db)
    names = volunteers.names_of(db, [e.person_id for e in register])
    return VolunteerPage(
        project=project,
        hours=list(
            db.scalars(
                select(FigurativeItem)
                .where(FigurativeItem.project_id == project_id, FigurativeItem.kind == "volunteer")
                .order_by(FigurativeItem.id)
            )
        ),
        register=register,
        names=names,
        people=[
            (pid, f"{name} (n. {pid})")
            for pid, name in sorted(names.items(), key=lambda kv: (kv[1], kv[0]))
        ],
    )


def register_enrolment(
    db: Session, principal: Principal, project_id: int, enrolment_id: int
) -> VolunteerEnrolment:
    """An enrolment of the register, for who may act on the project (404, 403 otherwise)."""
    actable(db, principal, project_id)
    return volunteers.get_enrolment(db, enrolment_id, lock=True)


def rates(db: Session) -> list[VolunteerRate]:
    return list(
        db.scalars(select(VolunteerRate).order_by(VolunteerRate.role, VolunteerRate.valid_from))
    )


def may_set_rates(db: Session, principal: Principal) -> bool:
    """Treasurers and admins (the rate table values every project's volunteer time)."""
    return bool(user_of(db, principal).roles & STAFF_ROLES)


def funder_project(db: Session, project_id: int, foundation_id: int) -> ProjectFunder:
    """The project's funder that is the foundation (404 otherwise)."""
    for f in funders_of(db, project_id):
        if f.foundation_id == foundation_id:
            return f
    raise ProjectNotFoundError(
        f"La fondazione {foundation_id} non finanzia il progetto {project_id}.",
        project_id=project_id,
    )
