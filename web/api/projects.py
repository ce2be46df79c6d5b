"""Projects in the JSON API (routes on the `api_v1` blueprint): read, report, act.

The same use cases as the pages and `ledger projects` (`ledger.projects.commands`),
audit events included; each view parses, checks who may act, calls the use case
and answers. Who sees what is `ledger.projects.getters`: a project the caller may
not read is a 404, indistinguishable from a missing one (an officer of another
foundation, a partner of another project); a partner's user reads only its
organisations' part (contributions and costs, their documents), never the
funders' report. Acts need `may_act_on_project` (treasurer, admin, or project
staff of the lead organisation): a reader who may not act gets 403.

The organisation's register of volunteers (art. 17 c.1 CTS) is read and kept at
`/volunteers` by who may record volunteer hours, at the organisation's level
(`may_keep_volunteer_register`: a treasurer or admin, or project staff); hours
of a person not enrolled on their day are a 422 `invalid_project` on `person`.

Every POST needs a `money` token and an `Idempotency-Key`: a repeat with the
same key and body answers 200 with `Idempotent-Replayed: true` and writes
nothing; the same key with another body is a 409. An expense is one JSON request
whose document file travels as base64 in `file` (at most 10 MB once decoded).
The four-eyes acts (approving a budget, paying a payout) answer 409
`project_four_eyes` when the same person tries both halves.
"""

from __future__ import annotations

import base64
import binascii
from datetime import date
from typing import Any

from flask import Response, request
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.commands import Origin, Outcome
from ledger.core.errors import LedgerError
from ledger.core.money import format_minor
from ledger.people.models import MONEY, READ, User
from ledger.projects import commands, volunteers
from ledger.projects.errors import ProjectNotFoundError
from ledger.projects.expenses import AllocationSpec, Expense, get_document
from ledger.projects.figurative import Figurative
from ledger.projects.getters import (
    STAFF_ROLES,
    budget_in_force,
    foundation_names,
    funder_by_foundation,
    funders_of,
    get_organisation,
    get_project,
    get_version,
    may_act_on_project,
    may_keep_volunteer_register,
    member_organisations,
    officer_foundations,
    partner_organisations,
    projects_visible_to,
    readable_file,
    reads_whole_project,
    version_rows,
)
from ledger.projects.models import (
    BudgetVersion,
    ExpenseAllocation,
    FigurativeItem,
    Project,
    ProjectDocument,
    ProjectFile,
    ProjectOrganisation,
    ProjectPartner,
    ProjectReceipt,
    VolunteerEnrolment,
    VolunteerRate,
)
from ledger.projects.money_in import Received
from ledger.projects.report import funder_report
from ledger.projects.service import FunderSettings, LineSpec, SourceAmount
from ledger.statements import project_report, project_report_pdf
from web import views
from web.access import allow, needs_scope
from web.api.common import bp, command_post, json_answer
from web.api.docs import documented
from web.api.errors import invalid_input
from web.api.inputs import parse_money, query
from web.api.project_schemas import (
    BudgetProposeSchema,
    CampaignRefSchema,
    ChargeSchema,
    ContributionSchema,
    DocumentListSchema,
    EndEnrolmentSchema,
    EnrolmentSchema,
    EnrolSchema,
    ExpenseAnswerSchema,
    ExpenseCreateSchema,
    FigurativeAnswerSchema,
    GrantReceivedSchema,
    InKindSchema,
    LinkAnswerSchema,
    OrganisationCreateSchema,
    OrganisationSchema,
    PayoutSchema,
    ProjectCreateSchema,
    ProjectListSchema,
    ProjectSchema,
    ProofAnswerSchema,
    ProofSchema,
    RateCreateSchema,
    RateSchema,
    ReceivedSchema,
    RegisterSchema,
    ReportQuerySchema,
    ReportSchema,
    VersionSchema,
    VolunteerHoursSchema,
)
from web.db import in_transaction

TAG = "projects"
READERS = ("project_staff", "partner", "foundation_officer", "treasurer", "admin")
ACTORS = ("project_staff", "treasurer", "admin")
BOOKS = ("treasurer", "admin")
# A base64 body of the largest document file (10 MB) with room for the other fields.
EXPENSE_BODY_MAX = 14 * 1024 * 1024
NOT_FOUND = "`project_not_found` (also a project the caller may not read)."
ACT_ERRORS = {
    403: "`forbidden`: the caller reads the project but may not act on it, or the "
    "token lacks the scope (`insufficient_scope`).",
    404: NOT_FOUND,
}
MEDIA_SUFFIX = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


class ProjectForbiddenError(LedgerError):
    """The caller reads the project but may not act on it (only its staff may)."""

    code = "forbidden"
    http_status = 403


# --------------------------------------------------------------------------- access
def _caller(session: Session) -> User:
    user = session.get(User, views.principal().user_id)
    assert user is not None
    return user


def _missing(project_id: int) -> ProjectNotFoundError:
    return ProjectNotFoundError(f"Nessun progetto con id {project_id}.", project_id=project_id)


def _readable(session: Session, user: User, project_id: int) -> Project:
    """The project if `user` may read it; a 404 otherwise (as if it did not exist)."""
    if not any(p.id == project_id for p in projects_visible_to(session, user)):
        raise _missing(project_id)
    return get_project(session, project_id)


def _actable(session: Session, project_id: int) -> Project:
    """The project if the caller may act on it: 404 when they may not even read it."""
    user = _caller(session)
    project = _readable(session, user, project_id)
    if not may_act_on_project(session, user, project_id):
        raise ProjectForbiddenError(
            "Solo il personale del progetto può agire su di esso.", project_id=project_id
        )
    return project


def _document_of(session: Session, project_id: int, document_id: int) -> ProjectDocument:
    document = session.get(ProjectDocument, document_id)
    if document is None or document.project_id != project_id:
        raise ProjectNotFoundError(
            f"Nessun documento {document_id} nel progetto {project_id}.", document_id=document_id
        )
    return document


# --------------------------------------------------------------------------- bodies
def _money(session: Session, project: Project, minor: int) -> str:
    return format_minor(minor, project.currency)


def _funder_names(session: Session, project_id: int) -> list[dict[str, Any]]:
    funders = funders_of(session, project_id)
    names = foundation_names(session, [f.foundation_id for f in funders])
    return [{"id": f.foundation_id, "name": names[f.foundation_id]} for f in funders]


def _summary(session: Session, project: Project) -> dict[str, Any]:
    return {
        "id": project.id,
        "title": project.title,
        "status": project.status,
        "currency": project.currency,
        "period": {"starts_on": project.starts_on, "ends_on": project.ends_on},
        "funders": _funder_names(session, project.id),
    }


def _budget(session: Session, project: Project) -> dict[str, Any] | None:
    version = budget_in_force(session, project.id)
    if version is None:
        return None
    funders = {f.id: f.foundation_id for f in funders_of(session, project.id)}
    lines = []
    total = 0
    for line, amounts in version_rows(session, version.id):
        line_total = sum(a.amount_minor for a in amounts)
        total += line_total
        lines.append(
            {
                "code": line.code,
                "category": line.category,
                "title": line.title,
                "amounts": [
                    {
                        "source": a.source,
                        # A grant's ref is the foundation, as the caller wrote it.
                        "ref": funders.get(a.source_ref, a.source_ref)
                        if a.source == "grant"
                        else a.source_ref,
                        "amount": _money(session, project, a.amount_minor),
                    }
                    for a in amounts
                ],
                "total": _money(session, project, line_total),
            }
        )
    return {
        "version_id": version.id,
        "number": version.number,
        "status": version.status,
        "note": version.note,
        "lines": lines,
        "total": _money(session, project, total),
    }


def _totals(session: Session, project: Project, budget: dict[str, Any] | None) -> dict[str, Any]:
    actual = session.scalar(
        select(func.coalesce(func.sum(ExpenseAllocation.amount_minor), 0))
        .join(ProjectDocument, ProjectDocument.id == ExpenseAllocation.document_id)
        .where(ProjectDocument.project_id == project.id)
    )
    received = session.scalar(
        select(func.coalesce(func.sum(ProjectReceipt.amount_minor), 0)).where(
            ProjectReceipt.project_id == project.id, ProjectReceipt.status == "paid"
        )
    )
    figurative = session.scalar(
        select(func.coalesce(func.sum(FigurativeItem.value_minor), 0)).where(
            FigurativeItem.project_id == project.id
        )
    )
    return {
        "budget": budget["total"] if budget else _money(session, project, 0),
        "actual": _money(session, project, int(actual or 0)),
        "received": _money(session, project, int(received or 0)),
        "figurative": _money(session, project, int(figurative or 0)),
    }


def _part_documents(
    session: Session, project_id: int, organisations: set[int]
) -> list[ProjectDocument]:
    """The documents of a partner's part: the costs its organisations bore."""
    if not organisations:
        return []
    return list(
        session.scalars(
            select(ProjectDocument)
            .where(
                ProjectDocument.project_id == project_id,
                ProjectDocument.partner_id.in_(organisations),
            )
            .order_by(ProjectDocument.id)
        )
    )


def _part(session: Session, project: Project, organisations: set[int]) -> dict[str, Any]:
    contributions = [
        {
            "kind": r.kind,
            "id": r.id,
            "organisation_id": r.organisation_id,
            "amount": _money(session, project, r.amount_minor),
            "on": r.received_on,
        }
        for r in session.scalars(
            select(ProjectReceipt)
            .where(
                ProjectReceipt.project_id == project.id,
                ProjectReceipt.organisation_id.in_(organisations),
            )
            .order_by(ProjectReceipt.id)
        )
    ]
    contributions += [
        {
            "kind": "in_kind",
            "id": item.id,
            "organisation_id": item.organisation_id,
            "amount": _money(session, project, item.value_minor),
            "on": item.done_on,
        }
        for item in session.scalars(
            select(FigurativeItem)
            .where(
                FigurativeItem.project_id == project.id,
                FigurativeItem.organisation_id.in_(organisations),
            )
            .order_by(FigurativeItem.id)
        )
    ]
    costs = [
        {
            "kind": d.kind,
            "id": d.id,
            "organisation_id": d.partner_id,
            "amount": _money(session, project, d.eligible_minor),
            "on": d.issued_on,
        }
        for d in _part_documents(session, project.id, organisations)
    ]
    return {
        "organisations": sorted(organisations),
        "contributions": contributions,
        "costs": costs,
    }


def project_body(session: Session, project: Project, user: User) -> dict[str, Any]:
    """The whole project for its staff and funders' officers; a partner's part otherwise."""
    lead = get_organisation(session, project.lead_organisation_id)
    partners = [
        {"id": org.id, "name": org.name, "role": link.role}
        for link, org in session.execute(
            select(ProjectPartner, ProjectOrganisation)
            .join(ProjectOrganisation, ProjectOrganisation.id == ProjectPartner.organisation_id)
            .where(ProjectPartner.project_id == project.id)
            .order_by(ProjectOrganisation.id, ProjectPartner.role)
        )
    ]
    body = {
        **_summary(session, project),
        "programme": project.programme,
        "call_reference": project.call_reference,
        "lead": {"id": lead.id, "name": lead.name},
    }
    if not reads_whole_project(session, user, project.id):
        mine = partner_organisations(session, user, project.id)
        names = {f["id"]: f["name"] for f in body["funders"]}
        return {
            **body,
            "partners": [p for p in partners if p["id"] in mine],
            "funders": [{"id": i, "name": n} for i, n in names.items()],
            "budget": None,
            "totals": None,
            "part": _part(session, project, mine),
        }
    names = {f["id"]: f["name"] for f in body["funders"]}
    budget = _budget(session, project)
    return {
        **body,
        "partners": partners,
        "funders": [
            {
                "id": f.foundation_id,
                "name": names[f.foundation_id],
                "grant": _money(session, project, f.grant_minor),
                "max_grant_pct": f.max_grant_pct,
                "min_cofinancing_pct": f.min_cofinancing_pct,
                "max_overheads_pct": f.max_overheads_pct,
                "variance_pct": f.variance_pct,
                "volunteer_counts": f.volunteer_counts,
                "in_kind_counts": f.in_kind_counts,
            }
            for f in funders_of(session, project.id)
        ],
        "budget": budget,
        "totals": _totals(session, project, budget),
        "part": None,
    }


def _version_body(version: BudgetVersion) -> dict[str, Any]:
    return {
        "id": version.id,
        "project_id": version.project_id,
        "number": version.number,
        "status": version.status,
        "note": version.note,
    }


def _document_body(session: Session, project: Project, d: ProjectDocument) -> dict[str, Any]:
    supplier = get_organisation(session, d.supplier_id)
    allocated = session.scalar(
        select(func.coalesce(func.sum(ExpenseAllocation.amount_minor), 0)).where(
            ExpenseAllocation.document_id == d.id
        )
    )
    stored = session.get(ProjectFile, d.file_id) if d.file_id is not None else None
    return {
        "id": d.id,
        "kind": d.kind,
        "supplier": {"id": supplier.id, "name": supplier.name},
        "number": d.number,
        "issued_on": d.issued_on,
        "net": _money(session, project, d.net_minor),
        "vat": _money(session, project, d.vat_minor),
        "eligible": _money(session, project, d.eligible_minor),
        "allocated": _money(session, project, int(allocated or 0)),
        "paid_by": d.paid_by,
        "partner_id": d.partner_id,
        "bank_line_id": d.payment_line_id,
        "payment_sequence": d.payment_sequence,
        "entry_sequence": d.entry_sequence,
        "file": None
        if stored is None
        else {
            "media_type": stored.media_type,
            "size": stored.size,
            "sha256": stored.sha256,
            "url": f"/api/v1/projects/{project.id}/documents/{d.id}/file",
        },
    }


# --------------------------------------------------------------------------- input
def _minor(project: Project, text: str, field: str, *, positive: bool = True) -> int:
    return parse_money(text, project.currency, field, positive=positive).minor


def _funder_ref(session: Session, project_id: int, foundation_id: int, field: str) -> int:
    """The project's funder row of a foundation named in the body; a 422 on `field` when
    the foundation does not fund the project (the body is wrong, not the address)."""
    try:
        return funder_by_foundation(session, project_id, foundation_id).id
    except ProjectNotFoundError:
        raise invalid_input(
            {field: [f"foundation {foundation_id} does not fund project {project_id}"]}
        ) from None


def _allocations(
    session: Session, project: Project, rows: list[dict[str, Any]]
) -> list[AllocationSpec]:
    specs = []
    for i, row in enumerate(rows):
        ref = row["ref"]
        if row["source"] == "grant":
            ref = _funder_ref(session, project.id, ref, f"allocations.{i}.ref")
        specs.append(
            AllocationSpec(
                row["line"],
                row["source"],
                _minor(project, row["amount"], f"allocations.{i}.amount"),
                ref,
                row["partner_id"],
            )
        )
    return specs


def _file(data: dict[str, Any]) -> bytes | None:
    text = data["file"]
    if text is None:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise invalid_input({"file": ["not base64 (RFC 4648, standard alphabet)"]}) from None


def _received_body(session: Session, received: Received) -> dict[str, Any]:
    receipt = session.get(ProjectReceipt, received.receipt_id)
    currency = get_project(session, receipt.project_id).currency if receipt else "EUR"
    return {
        "receipt_id": received.receipt_id,
        "sequence": received.sequence,
        "amount": format_minor(received.amount_minor, currency),
    }


def _figurative_body(session: Session, item: Figurative) -> dict[str, Any]:
    row = session.get(FigurativeItem, item.item_id)
    currency = get_project(session, row.project_id).currency if row else "EUR"
    return {
        "item_id": item.item_id,
        "sequence": item.sequence,
        "value": format_minor(item.value_minor, currency),
    }


def _payout_body(session: Session, receipt_id: int) -> dict[str, Any]:
    receipt = session.get(ProjectReceipt, receipt_id)
    assert receipt is not None
    project = get_project(session, receipt.project_id)
    return {
        "receipt_id": receipt.id,
        "project_id": receipt.project_id,
        "campaign_id": receipt.campaign_id,
        "status": receipt.status,
        "amount": _money(session, project, receipt.amount_minor),
        "escrow": _money(session, project, receipt.escrow_minor),
        "match": _money(session, project, receipt.match_minor),
        "sequence": receipt.entry_sequence,
    }


# --------------------------------------------------------------------------- reads
@bp.get("/projects")
@allow(*READERS)
@needs_scope(READ)
@documented(
    "Projects",
    tag=TAG,
    responses={200: ("The projects the caller may read, with their funders.", ProjectListSchema)},
)
def list_projects_view() -> ResponseReturnValue:
    """Every project for treasurers and admins; those its organisation leads for project
    staff, is a partner of for a partner's user, its foundations fund for an officer."""

    def read(session: Session) -> dict[str, Any]:
        visible = projects_visible_to(session, _caller(session))
        return {"projects": [_summary(session, p) for p in visible]}

    return json_answer(ProjectListSchema(), in_transaction(read, read_only=True))


@bp.get("/projects/<int:project_id>")
@allow(*READERS)
@needs_scope(READ)
@documented(
    "A project",
    tag=TAG,
    responses={
        200: ("The project: partners, funders and their settings, budget, totals.", ProjectSchema)
    },
    errors={404: NOT_FOUND},
)
def get_project_view(project_id: int) -> ResponseReturnValue:
    """Partners, funders with their settings, the budget in force and the totals (budget,
    actual, received, figurative). A partner's user gets only its organisations' part
    (`part`: contributions and costs), with `budget` and `totals` null."""

    def read(session: Session) -> dict[str, Any]:
        user = _caller(session)
        return project_body(session, _readable(session, user, project_id), user)

    return json_answer(ProjectSchema(), in_transaction(read, read_only=True))


@bp.get("/projects/<int:project_id>/report")
@allow(*READERS)
@needs_scope(READ)
@documented(
    "A project's report to a funder",
    tag=TAG,
    query=ReportQuerySchema,
    responses={
        200: (
            "JSON (the report), or the file: text/csv, application/pdf, or "
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.",
            ReportSchema,
        )
    },
    errors={
        404: NOT_FOUND + " Also a funder (foundation id) that does not fund the project.",
        422: "`invalid_input`: a bad date or format, or a period that ends before it starts.",
    },
)
def project_report_view(project_id: int) -> ResponseReturnValue:
    """The rendicontazione to the funder `funder` (a foundation's id) for the period
    `from`-`to` (default: the project's period): per line budget and actual, totals,
    co-financing share, the grant due after proportional reduction. An officer asks
    only for their own foundations; a partner's user never reads it."""
    options = query(ReportQuerySchema())
    fmt: str = options["format"]

    def read(session: Session) -> tuple[Any, str]:
        user = _caller(session)
        project = _readable(session, user, project_id)
        if not reads_whole_project(session, user, project.id):
            raise _missing(project_id)
        if not (user.roles & STAFF_ROLES or may_act_on_project(session, user, project_id)):
            if options["funder"] not in officer_foundations(session, user.id):
                raise ProjectNotFoundError(
                    f"La fondazione {options['funder']} non finanzia il progetto {project_id}.",
                    project_id=project_id,
                )
        start: date = options["date_from"] or project.starts_on
        end: date = options["date_to"] or project.ends_on
        if end < start:
            raise invalid_input({"to": ["the period ends before it starts"]})
        report = funder_report(session, project_id, options["funder"], start, end)
        name = f"rendiconto-progetto-{project_id}-{start.isoformat()}-{end.isoformat()}.{fmt}"
        if fmt == "json":
            return project_report.report_json(report), name
        if fmt == "csv":
            return project_report.report_csv(report).encode("utf-8"), name
        if fmt == "xlsx":
            return project_report.report_xlsx(report), name
        return project_report_pdf.report_pdf(report, generated_on=views.today()), name

    content, name = in_transaction(read, read_only=True)
    if fmt == "json":
        return json_answer(ReportSchema(), content)
    mimetype = {
        "csv": "text/csv",
        "pdf": "application/pdf",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }[fmt]
    response = Response(content, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.get("/projects/<int:project_id>/documents")
@allow(*READERS)
@needs_scope(READ)
@documented(
    "A project's expense documents",
    tag=TAG,
    responses={200: ("The documents with their allocation, proof and file.", DocumentListSchema)},
    errors={404: NOT_FOUND},
)
def project_documents_view(project_id: int) -> ResponseReturnValue:
    """Every document of the project; for a partner's user only the costs its
    organisations bore."""

    def read(session: Session) -> dict[str, Any]:
        user = _caller(session)
        project = _readable(session, user, project_id)
        if reads_whole_project(session, user, project.id):
            rows = list(
                session.scalars(
                    select(ProjectDocument)
                    .where(ProjectDocument.project_id == project_id)
                    .order_by(ProjectDocument.id)
                )
            )
        else:
            rows = _part_documents(
                session, project_id, partner_organisations(session, user, project_id)
            )
        return {"documents": [_document_body(session, project, d) for d in rows]}

    return json_answer(DocumentListSchema(), in_transaction(read, read_only=True))


@bp.get("/projects/<int:project_id>/documents/<int:document_id>/file")
@allow(*READERS)
@needs_scope(READ)
@documented(
    "A document's file",
    tag=TAG,
    responses={200: ("The file as uploaded: application/pdf, image/jpeg or image/png.", None)},
    errors={404: "`project_not_found`: no such document, no file, or one the caller may not read."},
)
def document_file_view(project_id: int, document_id: int) -> ResponseReturnValue:
    """Readable by the project's staff and its funders' officers, and by a partner's
    user for the costs its organisations bore; a 404 for anyone else."""

    def read(session: Session) -> tuple[bytes, str]:
        user = _caller(session)
        stored = readable_file(session, user, document_id)
        _document_of(session, project_id, document_id)
        return stored.content, stored.media_type

    content, media_type = in_transaction(read, read_only=True)
    response = Response(content, mimetype=media_type)
    name = f"documento-{document_id}.{MEDIA_SUFFIX.get(media_type, 'bin')}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# --------------------------------------------------------------------------- acts
@bp.post("/project-organisations")
@allow(*ACTORS)
@needs_scope(MONEY)
@documented(
    "Register an organisation",
    tag=TAG,
    body=OrganisationCreateSchema,
    idempotent=True,
    responses={201: ("The organisation.", OrganisationSchema)},
    errors={422: "`invalid_input` or `invalid_project` (a name already registered, ...)."},
)
def create_organisation_view() -> ResponseReturnValue:
    """A lead, partner, co-funder or supplier organisation (a supplier is needed before
    its invoices)."""
    return command_post(
        OrganisationCreateSchema(),
        lambda session, data, origin, key: commands.create_organisation(
            session,
            name=data["name"],
            kind=data["kind"],
            tax_code=data["tax_code"],
            vat_number=data["vat_number"],
            origin=origin,
            clock=views.clock(),
            key=key,
        ),
        lambda _session, row: {
            "id": row.id,
            "name": row.name,
            "kind": row.kind,
            "tax_code": row.tax_code,
            "vat_number": row.vat_number,
        },
        OrganisationSchema(),
    )


@bp.post("/projects")
@allow(*ACTORS)
@needs_scope(MONEY)
@documented(
    "Create a project",
    tag=TAG,
    body=ProjectCreateSchema,
    idempotent=True,
    responses={201: ("The project.", ProjectSchema)},
    errors={
        403: "`forbidden`: project staff create projects only for an organisation they act for.",
        422: "`invalid_input` or `invalid_project`.",
    },
)
def create_project_view() -> ResponseReturnValue:
    """A project with its lead, partners (organisation and role) and funders with their
    settings (grant, limits in per cent, variance, whether volunteer time and in-kind
    count as co-financing)."""

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[Project]:
        user = _caller(session)
        lead = data["lead_organisation_id"]
        if not user.roles & STAFF_ROLES and lead not in member_organisations(session, user.id):
            raise ProjectForbiddenError(
                "Puoi creare progetti solo per un'organizzazione per cui operi.",
                organisation_id=lead,
            )
        funders = [
            FunderSettings(
                f["foundation_id"],
                parse_money(f["grant"], data["currency"], f"funders.{i}.grant").minor,
                f["max_grant_pct"],
                f["min_cofinancing_pct"],
                f["max_overheads_pct"],
                f["variance_pct"],
                f["volunteer_counts"],
                f["in_kind_counts"],
            )
            for i, f in enumerate(data["funders"])
        ]
        return commands.create_project(
            session,
            title=data["title"],
            lead_organisation_id=lead,
            starts_on=data["starts_on"],
            ends_on=data["ends_on"],
            currency=data["currency"],
            programme=data["programme"],
            call_reference=data["call_reference"],
            partners=[(p["organisation_id"], p["role"]) for p in data["partners"]],
            funders=funders,
            origin=origin,
            clock=views.clock(),
            key=key,
        )

    return command_post(
        ProjectCreateSchema(),
        act,
        lambda session, project: project_body(session, project, _caller(session)),
        ProjectSchema(),
    )


@bp.post("/projects/<int:project_id>/budget-versions")
@allow(*ACTORS)
@needs_scope(MONEY)
@documented(
    "Propose a budget version",
    tag=TAG,
    body=BudgetProposeSchema,
    idempotent=True,
    responses={201: ("The proposed version.", VersionSchema)},
    errors={**ACT_ERRORS, 422: "`invalid_input` or `budget_rule` (a funder's limit broken)."},
)
def propose_budget_view(project_id: int) -> ResponseReturnValue:
    """The first budget or a revision (rimodulazione): lines by source, a grant's `ref`
    being the foundation's id and a partner's its organisation's. A second person
    approves it."""

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[BudgetVersion]:
        project = _actable(session, project_id)
        lines = []
        for i, line in enumerate(data["lines"]):
            amounts = []
            for j, a in enumerate(line["amounts"]):
                ref = a["ref"]
                if a["source"] == "grant":
                    ref = _funder_ref(session, project_id, ref, f"lines.{i}.amounts.{j}.ref")
                amount = _minor(project, a["amount"], f"lines.{i}.amounts.{j}.amount")
                amounts.append(SourceAmount(a["source"], amount, ref))
            lines.append(LineSpec(line["code"], line["category"], line["title"], tuple(amounts)))
        return commands.propose_budget(
            session,
            project_id,
            lines,
            note=data["note"],
            origin=origin,
            clock=views.clock(),
            key=key,
        )

    return command_post(BudgetProposeSchema(), act, lambda _s, v: _version_body(v), VersionSchema())


@bp.post("/projects/<int:project_id>/budget-versions/<int:version_id>/approve")
@allow(*ACTORS)
@needs_scope(MONEY)
@documented(
    "Approve a budget version",
    tag=TAG,
    idempotent=True,
    body_required=False,
    responses={200: ("The approved version, now in force.", VersionSchema)},
    errors={
        **ACT_ERRORS,
        409: "`project_four_eyes` (the proposer may not approve), `budget_state` (not "
        "proposed), or `idempotency_conflict`.",
    },
)
def approve_budget_view(project_id: int, version_id: int) -> ResponseReturnValue:
    """Four eyes: a person other than the proposer approves it."""

    def act(session: Session, _data: Any, origin: Origin, key: str) -> Outcome[BudgetVersion]:
        _actable(session, project_id)
        if get_version(session, version_id).project_id != project_id:
            raise ProjectNotFoundError(
                f"Nessuna versione di budget con id {version_id}.", version_id=version_id
            )
        return commands.approve_budget(
            session, version_id, origin=origin, clock=views.clock(), key=key
        )

    return command_post(
        None,
        act,
        lambda _s, v: _version_body(v),
        VersionSchema(),
        status=200,
        body_required=False,
    )


@bp.post("/projects/<int:project_id>/expenses")
@allow(*ACTORS)
@needs_scope(MONEY)
@documented(
    "Record an expense",
    tag=TAG,
    body=ExpenseCreateSchema,
    idempotent=True,
    responses={201: ("The document and its entry.", ExpenseAnswerSchema)},
    errors={
        **ACT_ERRORS,
        409: "`expense_over_allocated`: the allocations exceed the document's eligible "
        "amount (nothing written); or `idempotency_conflict`.",
        413: "`payload_too_large`: the body is over 14 MB.",
        422: "`invalid_input`, `invalid_expense`, `invalid_file` (not a PDF, JPEG or PNG, "
        "empty or over 10 MB), `proof_of_payment`.",
    },
)
def record_expense_view(project_id: int) -> ResponseReturnValue:
    """A document (invoice, receipt, payslip, timesheet) with its file as base64 in
    `file`, its proof of payment (a reconciled bank line or an entry) and its
    allocations to budget lines and sources; one journal entry."""
    request.max_content_length = EXPENSE_BODY_MAX

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[Expense]:
        project = _actable(session, project_id)
        return commands.record_expense(
            session,
            project_id,
            kind=data["kind"],
            supplier_id=data["supplier_id"],
            number=data["number"],
            issued_on=data["issued_on"],
            net_minor=_minor(project, data["net"], "net"),
            vat_minor=_minor(project, data["vat"], "vat", positive=False),
            vat_recoverable=data["vat_recoverable"],
            paid_by=data["paid_by"],
            partner_id=data["partner_id"],
            allocations=_allocations(session, project, data["allocations"]),
            file=_file(data),
            payment_line_id=data["bank_line_id"],
            payment_sequence=data["entry_sequence"],
            origin=origin,
            clock=views.clock(),
            key=key,
        )

    return command_post(ExpenseCreateSchema(), act, _expense_body, ExpenseAnswerSchema())


def _expense_body(session: Session, expense: Expense) -> dict[str, Any]:
    document = get_document(session, expense.document_id)
    currency = get_project(session, document.project_id).currency
    return {
        "document_id": expense.document_id,
        "sequence": expense.sequence,
        "eligible": format_minor(expense.eligible_minor, currency),
        "allocated": format_minor(expense.allocated_minor, currency),
    }


@bp.post("/projects/<int:project_id>/documents/<int:document_id>/charges")
@allow(*ACTORS)
@needs_scope(MONEY)
@documented(
    "Charge more of a document",
    tag=TAG,
    body=ChargeSchema,
    idempotent=True,
    responses={201: ("The document and the charge's entry.", ExpenseAnswerSchema)},
    errors={
        **ACT_ERRORS,
        409: "`expense_over_allocated` (beyond its eligible amount, counted over every "
        "charge) or `idempotency_conflict`.",
        422: "`invalid_input` or `invalid_expense`.",
    },
)
def charge_document_view(project_id: int, document_id: int) -> ResponseReturnValue:
    """Allocate more of a recorded document (to another funder, say); never beyond it."""

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[Expense]:
        project = _actable(session, project_id)
        _document_of(session, project_id, document_id)
        return commands.charge_document(
            session,
            document_id,
            _allocations(session, project, data["allocations"]),
            origin=origin,
            clock=views.clock(),
            key=key,
        )

    return command_post(ChargeSchema(), act, _expense_body, ExpenseAnswerSchema())


@bp.post("/projects/<int:project_id>/documents/<int:document_id>/proof")
@allow(*ACTORS)
@needs_scope(MONEY)
@documented(
    "Attach a document's proof of payment",
    tag=TAG,
    body=ProofSchema,
    idempotent=True,
    responses={201: ("The document.", ProofAnswerSchema)},
    errors={**ACT_ERRORS, 422: "`invalid_input` or `proof_of_payment`."},
)
def record_proof_view(project_id: int, document_id: int) -> ResponseReturnValue:
    """A reconciled outgoing bank line (`bank_line_id`) or a journal entry
    (`entry_sequence`), once."""

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[int]:
        _actable(session, project_id)
        _document_of(session, project_id, document_id)
        return commands.record_proof(
            session,
            document_id,
            payment_line_id=data["bank_line_id"],
            payment_sequence=data["entry_sequence"],
            origin=origin,
            clock=views.clock(),
            key=key,
        )

    return command_post(
        ProofSchema(), act, lambda _s, doc_id: {"document_id": doc_id}, ProofAnswerSchema()
    )


@bp.post("/projects/<int:project_id>/grant-received")
@allow(*ACTORS)
@needs_scope(MONEY)
@documented(
    "Book a funder's advance or tranche",
    tag=TAG,
    body=GrantReceivedSchema,
    idempotent=True,
    responses={201: ("The receipt and its entry.", ReceivedSchema)},
    errors={**ACT_ERRORS, 422: "`invalid_input` or `invalid_project`."},
)
def grant_received_view(project_id: int) -> ResponseReturnValue:
    """Money received from the funder `funder_id` (a foundation's id)."""

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[Received]:
        project = _actable(session, project_id)
        return commands.receive_grant(
            session,
            project_id,
            _funder_ref(session, project_id, data["funder_id"], "funder_id"),
            _minor(project, data["amount"], "amount"),
            kind=data["kind"],
            received_on=data["received_on"],
            origin=origin,
            clock=views.clock(),
            key=key,
        )

    return command_post(GrantReceivedSchema(), act, _received_body, ReceivedSchema())


@bp.post("/projects/<int:project_id>/contributions")
@allow(*ACTORS)
@needs_scope(MONEY)
@documented(
    "Book a partner's cash contribution",
    tag=TAG,
    body=ContributionSchema,
    idempotent=True,
    responses={201: ("The receipt and its entry.", ReceivedSchema)},
    errors={**ACT_ERRORS, 422: "`invalid_input` or `invalid_project`."},
)
def contribution_view(project_id: int) -> ResponseReturnValue:
    """A partner's co-financing paid in cash through the bank."""

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[Received]:
        project = _actable(session, project_id)
        return commands.receive_contribution(
            session,
            project_id,
            data["organisation_id"],
            _minor(project, data["amount"], "amount"),
            received_on=data["received_on"],
            origin=origin,
            clock=views.clock(),
            key=key,
        )

    return command_post(ContributionSchema(), act, _received_body, ReceivedSchema())


@bp.post("/projects/<int:project_id>/campaigns")
@allow(*BOOKS)
@needs_scope(MONEY)
@documented(
    "Link a campaign to the project",
    tag=TAG,
    body=CampaignRefSchema,
    idempotent=True,
    responses={201: ("The link.", LinkAnswerSchema)},
    errors={**ACT_ERRORS, 409: "`project_payout` or `idempotency_conflict`."},
)
def link_campaign_view(project_id: int) -> ResponseReturnValue:
    """Once the campaign succeeds, its escrow (and released matches) can be paid out to
    the project."""

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[int]:
        _actable(session, project_id)
        return commands.link_campaign(
            session, project_id, data["campaign_id"], origin=origin, clock=views.clock(), key=key
        )

    return command_post(
        CampaignRefSchema(),
        act,
        lambda _s, campaign_id: {"project_id": project_id, "campaign_id": campaign_id},
        LinkAnswerSchema(),
    )


@bp.post("/projects/<int:project_id>/payouts")
@allow(*ACTORS)
@needs_scope(MONEY)
@documented(
    "Propose a campaign payout",
    tag=TAG,
    body=CampaignRefSchema,
    idempotent=True,
    responses={201: ("The proposed payout.", PayoutSchema)},
    errors={
        **ACT_ERRORS,
        409: "`project_payout` (not linked, not succeeded, proposed "
        "already) or `idempotency_conflict`.",
    },
)
def propose_payout_view(project_id: int) -> ResponseReturnValue:
    """Pay a succeeded campaign's escrow and released matches to the project: a second
    person pays it."""

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[int]:
        _actable(session, project_id)
        return commands.propose_payout(
            session, project_id, data["campaign_id"], origin=origin, clock=views.clock(), key=key
        )

    return command_post(CampaignRefSchema(), act, _payout_body, PayoutSchema())


@bp.post("/projects/<int:project_id>/payouts/<int:receipt_id>/pay")
@allow(*BOOKS)
@needs_scope(MONEY)
@documented(
    "Pay a proposed campaign payout",
    tag=TAG,
    idempotent=True,
    body_required=False,
    responses={200: ("The paid payout and its entry.", PayoutSchema)},
    errors={
        **ACT_ERRORS,
        409: "`project_four_eyes` (the proposer may not pay), "
        "`project_payout` (paid already) or `idempotency_conflict`.",
    },
)
def pay_payout_view(project_id: int, receipt_id: int) -> ResponseReturnValue:
    """Four eyes: a person other than the proposer pays it; one entry."""

    def act(session: Session, _data: Any, origin: Origin, key: str) -> Outcome[Received]:
        _actable(session, project_id)
        receipt = session.get(ProjectReceipt, receipt_id)
        if receipt is None or receipt.project_id != project_id:
            raise ProjectNotFoundError(
                f"Nessun pagamento {receipt_id} nel progetto {project_id}.",
                receipt_id=receipt_id,
            )
        return commands.pay_payout(session, receipt_id, origin=origin, clock=views.clock(), key=key)

    return command_post(
        None,
        act,
        lambda session, received: _payout_body(session, received.receipt_id),
        PayoutSchema(),
        status=200,
        body_required=False,
    )


@bp.post("/volunteer-rates")
@allow(*BOOKS)
@needs_scope(MONEY)
@documented(
    "Add a volunteer rate",
    tag=TAG,
    body=RateCreateSchema,
    idempotent=True,
    responses={201: ("The rate.", RateSchema)},
    errors={422: "`invalid_input` or `invalid_project`."},
)
def create_rate_view() -> ResponseReturnValue:
    """A role's hourly rate from a date (the collective-agreement rate of the equivalent
    job), by which volunteer time is valued."""

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[VolunteerRate]:
        return commands.set_volunteer_rate(
            session,
            role=data["role"],
            hourly_minor=parse_money(data["hourly"], data["currency"], "hourly").minor,
            valid_from=data["valid_from"],
            currency=data["currency"],
            basis=data["basis"],
            origin=origin,
            clock=views.clock(),
            key=key,
        )

    return command_post(
        RateCreateSchema(),
        act,
        lambda _s, rate: {
            "id": rate.id,
            "role": rate.role,
            "hourly": format_minor(rate.hourly_minor, rate.currency),
            "currency": rate.currency,
            "valid_from": rate.valid_from,
            "basis": rate.basis,
        },
        RateSchema(),
    )


def _register_keeper(session: Session) -> User:
    """The caller, if they may keep the register of volunteers; 403 otherwise."""
    user = _caller(session)
    if not may_keep_volunteer_register(session, user):
        raise ProjectForbiddenError(
            "Solo chi registra le ore di volontariato tiene il registro dei volontari."
        )
    return user


def _enrolment_body(
    session: Session, row: VolunteerEnrolment, names: dict[int, str] | None = None
) -> dict[str, Any]:
    if names is None:
        names = volunteers.names_of(session, [row.person_id])
    return {
        "id": row.id,
        "person_id": row.person_id,
        "name": names.get(row.person_id, ""),
        "enrolled_on": row.enrolled_on,
        "ended_on": row.ended_on,
        "activity": row.activity,
    }


REGISTER_FORBIDDEN = {
    403: "`forbidden`: the caller does not keep the register, or the token lacks the scope "
    "(`insufficient_scope`)."
}


@bp.get("/volunteers")
@allow(*ACTORS)
@needs_scope(READ)
@documented(
    "The register of volunteers",
    tag=TAG,
    responses={200: ("Every period of the register.", RegisterSchema)},
    errors=REGISTER_FORBIDDEN,
)
def volunteer_register_view() -> ResponseReturnValue:
    """The organisation's register of volunteers (art. 17 c.1 CTS): who, from, to, the
    service. Volunteer hours count only on a day inside a period of their person."""

    def read(session: Session) -> dict[str, Any]:
        _register_keeper(session)
        rows = volunteers.register(session)
        names = volunteers.names_of(session, [r.person_id for r in rows])
        return {"volunteers": [_enrolment_body(session, r, names) for r in rows]}

    return json_answer(RegisterSchema(), in_transaction(read, read_only=True))


@bp.post("/volunteers")
@allow(*ACTORS)
@needs_scope(MONEY)
@documented(
    "Enrol a volunteer",
    tag=TAG,
    body=EnrolSchema,
    idempotent=True,
    responses={201: ("The enrolment (an open period).", EnrolmentSchema)},
    errors={
        **REGISTER_FORBIDDEN,
        409: "`volunteer_register` (the person has an open enrolment, or the period would "
        "overlap an earlier one) or `idempotency_conflict`.",
        422: "`invalid_input` or `invalid_project` (no such person, or erased).",
    },
)
def enrol_volunteer_view() -> ResponseReturnValue:
    """Enrol a person in the register of volunteers from a day."""

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[VolunteerEnrolment]:
        _register_keeper(session)
        return commands.enrol_volunteer(
            session,
            person_id=data["person_id"],
            enrolled_on=data["enrolled_on"],
            activity=data["activity"],
            origin=origin,
            clock=views.clock(),
            key=key,
        )

    return command_post(EnrolSchema(), act, _enrolment_body, EnrolmentSchema())


@bp.post("/volunteers/<int:enrolment_id>/end")
@allow(*ACTORS)
@needs_scope(MONEY)
@documented(
    "End a volunteer's enrolment",
    tag=TAG,
    body=EndEnrolmentSchema,
    idempotent=True,
    responses={200: ("The ended enrolment.", EnrolmentSchema)},
    errors={
        **REGISTER_FORBIDDEN,
        404: "`volunteer_enrolment_not_found`.",
        409: "`volunteer_register` (ended already, or hours of the person are recorded "
        "after that day) or `idempotency_conflict`.",
        422: "`invalid_input` or `invalid_project` (the last day is before the first).",
    },
)
def end_volunteer_view(enrolment_id: int) -> ResponseReturnValue:
    """End an enrolment of the register on its last day (included)."""

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[VolunteerEnrolment]:
        _register_keeper(session)
        return commands.end_volunteer(
            session,
            enrolment_id=enrolment_id,
            ended_on=data["ended_on"],
            origin=origin,
            clock=views.clock(),
            key=key,
        )

    return command_post(EndEnrolmentSchema(), act, _enrolment_body, EnrolmentSchema(), status=200)


@bp.post("/projects/<int:project_id>/volunteer-hours")
@allow(*ACTORS)
@needs_scope(MONEY)
@documented(
    "Record volunteer hours",
    tag=TAG,
    body=VolunteerHoursSchema,
    idempotent=True,
    responses={201: ("The figurative item and its entry.", FigurativeAnswerSchema)},
    errors={
        **ACT_ERRORS,
        422: "`invalid_input` or `invalid_project` (no rate for the role; on `person`: not "
        "enrolled in the register of volunteers on `done_on`).",
    },
)
def volunteer_hours_view(project_id: int) -> ResponseReturnValue:
    """The time of a volunteer enrolled in the register on `done_on` on an activity, valued
    at the role's rate (figurative: kept out of cash balances)."""

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[Figurative]:
        _actable(session, project_id)
        return commands.record_volunteer_hours(
            session,
            project_id,
            person_id=data["person_id"],
            activity=data["activity"],
            role=data["role"],
            minutes=data["minutes"],
            done_on=data["done_on"],
            origin=origin,
            clock=views.clock(),
            key=key,
        )

    return command_post(
        VolunteerHoursSchema(),
        act,
        _figurative_body,
        FigurativeAnswerSchema(),
    )


@bp.post("/projects/<int:project_id>/in-kind")
@allow(*ACTORS)
@needs_scope(MONEY)
@documented(
    "Record goods or services received in kind",
    tag=TAG,
    body=InKindSchema,
    idempotent=True,
    responses={201: ("The figurative item and its entry.", FigurativeAnswerSchema)},
    errors={**ACT_ERRORS, 422: "`invalid_input` or `invalid_project`."},
)
def in_kind_view(project_id: int) -> ResponseReturnValue:
    """At fair value, from an organisation or not (figurative)."""

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[Figurative]:
        project = _actable(session, project_id)
        return commands.record_in_kind(
            session,
            project_id,
            description=data["description"],
            fair_value_minor=_minor(project, data["fair_value"], "fair_value"),
            received_on=data["received_on"],
            organisation_id=data["organisation_id"],
            origin=origin,
            clock=views.clock(),
            key=key,
        )

    return command_post(
        InKindSchema(),
        act,
        _figurative_body,
        FigurativeAnswerSchema(),
    )
