"""The report to a funder (rendicontazione) for any period: a data object the statements print.

For a project, a funder (a foundation) and a period [starts_on, ends_on]:

- per budget line (the budget in force): the budget (every cash source), the
  actual (the allocations of documents dated in the period), actual / budget
  in per cent and a flag when |actual - budget| / budget is strictly above the
  funder's variance threshold; a line charged but not in the budget in force
  shows a budget of zero (flagged);
- totals per funding source, budget and actual;
- the eligible totals: the lines, plus volunteer time and in-kind where the
  funder's settings count them;
- the co-financing share = non-grant sources / total cost (budget and actual);
- the grant due after proportional reduction, min(G, G x actual / budget),
  rounded down to the cent (`rules.GRANT_ROUNDING`), and the funder's advances
  received up to the period's end against it: what is still due, or what to give
  back;
- the documents of the period with their proof of payment and file digest;
- volunteer time and in-kind in their own section;
- the chain head: the last journal entry dated on or before the period's end and
  its hash, so the funder can check the books were not altered afterwards.

The actuals are the allocation rows; the same figures are the engine's balances
of the line accounts over the period (each expense and charge is one entry on
the document's date), which the tests assert.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.core.head import head_as_of
from ledger.grants.models import Foundation
from ledger.projects import rules
from ledger.projects.errors import InvalidProjectError
from ledger.projects.getters import (
    budget_at,
    funder_by_foundation,
    get_project,
    version_rows,
)
from ledger.projects.models import (
    FIGURATIVE_SOURCES,
    ExpenseAllocation,
    FigurativeItem,
    ProjectDocument,
    ProjectFile,
    ProjectFunder,
    ProjectOrganisation,
    ProjectReceipt,
)

SOURCE_LABELS = {
    "grant": "Contributo",
    "partner": "Cofinanziamento",
    "fundraising": "Raccolta fondi",
    "own": "Fondi propri",
    "public": "Fondi pubblici",
    "volunteer": "Volontariato valorizzato",
    "in_kind": "Apporti in natura",
}


@dataclass(frozen=True, slots=True)
class ReportLine:
    code: str
    category: str
    title: str
    budget_minor: int
    actual_minor: int
    pct: Decimal | None  # actual / budget x 100, two places; None without a budget
    flagged: bool


@dataclass(frozen=True, slots=True)
class SourceTotal:
    source: str
    ref: int
    label: str
    budget_minor: int
    actual_minor: int
    counted: bool  # in this funder's total cost


@dataclass(frozen=True, slots=True)
class ReportDocument:
    id: int
    kind: str
    number: str
    issued_on: date
    supplier: str
    net_minor: int
    vat_minor: int
    eligible_minor: int
    charged_minor: int  # charged to any source in total
    charged_to_funder_minor: int  # charged to this funder's grant
    paid_by: str
    proof: str | None  # "bank_line:12", "entry:34" or None
    sha256: str | None


@dataclass(frozen=True, slots=True)
class FigurativeSection:
    volunteer_minutes: int
    volunteer_minor: int
    volunteer_counted: bool
    in_kind_minor: int
    in_kind_counted: bool
    volunteer_budget_minor: int
    in_kind_budget_minor: int


@dataclass(frozen=True, slots=True)
class FunderReport:
    project_id: int
    title: str
    lead: str
    programme: str | None
    call_reference: str | None
    currency: str
    foundation_id: int
    funder_name: str
    starts_on: date
    ends_on: date
    kind: str  # "interim" or "final"
    budget_version: int | None
    variance_pct: Decimal
    lines: tuple[ReportLine, ...]
    sources: tuple[SourceTotal, ...]
    total_budget_minor: int
    total_actual_minor: int
    grant_minor: int
    grant_budget_minor: int
    grant_actual_minor: int
    grant_due_minor: int
    grant_rounding: str
    cofinancing_share: Decimal
    cofinancing_share_budget: Decimal
    advances_minor: int
    still_due_minor: int
    to_give_back_minor: int
    documents: tuple[ReportDocument, ...]
    figurative: FigurativeSection
    head_sequence: int
    head_hash: str


def _counted(source: str, funder: ProjectFunder) -> bool:
    if source == "volunteer":
        return funder.volunteer_counts
    if source == "in_kind":
        return funder.in_kind_counts
    return True


def funder_report(
    session: Session, project_id: int, foundation_id: int, starts_on: date, ends_on: date
) -> FunderReport:
    """The report of project `project_id` to foundation `foundation_id` for the period."""
    if ends_on < starts_on:
        raise InvalidProjectError("Il periodo del rendiconto non è valido.", field="period")
    project = get_project(session, project_id)
    funder = funder_by_foundation(session, project.id, foundation_id)
    foundation = session.get(Foundation, foundation_id)
    assert foundation is not None
    threshold = rules.percent(funder.variance_pct, "variance_pct") or Decimal(0)
    version = budget_at(session, project.id, ends_on)
    rows = version_rows(session, version.id) if version is not None else []

    # Budget by line (cash sources) and by source.
    line_budget: dict[str, int] = {}
    line_meta: dict[str, tuple[str, str]] = {}
    source_budget: dict[tuple[str, int], int] = defaultdict(int)
    for line, amounts in rows:
        line_meta[line.code] = (line.category, line.title)
        line_budget[line.code] = sum(
            a.amount_minor for a in amounts if a.source not in FIGURATIVE_SOURCES
        )
        for a in amounts:
            source_budget[(a.source, a.source_ref)] += a.amount_minor

    # Actual: allocations of documents dated in the period.
    in_period = (ProjectDocument.issued_on >= starts_on) & (ProjectDocument.issued_on <= ends_on)
    allocations = session.execute(
        select(
            ExpenseAllocation.line_code,
            ExpenseAllocation.source,
            ExpenseAllocation.source_ref,
            ExpenseAllocation.amount_minor,
        )
        .join(ProjectDocument, ProjectDocument.id == ExpenseAllocation.document_id)
        .where(ProjectDocument.project_id == project.id, in_period)
    ).all()
    line_actual: dict[str, int] = defaultdict(int)
    source_actual: dict[tuple[str, int], int] = defaultdict(int)
    for code, source, ref, amount in allocations:
        line_actual[code] += amount
        source_actual[(source, ref)] += amount

    figurative_rows = session.execute(
        select(FigurativeItem.kind, FigurativeItem.minutes, FigurativeItem.value_minor).where(
            FigurativeItem.project_id == project.id,
            FigurativeItem.done_on >= starts_on,
            FigurativeItem.done_on <= ends_on,
        )
    ).all()
    volunteer_minor = sum(v for k, _m, v in figurative_rows if k == "volunteer")
    volunteer_minutes = sum(m or 0 for k, m, _v in figurative_rows if k == "volunteer")
    in_kind_minor = sum(v for k, _m, v in figurative_rows if k == "in_kind")
    source_actual[("volunteer", 0)] += volunteer_minor
    source_actual[("in_kind", 0)] += in_kind_minor

    codes = list(line_meta) + sorted(c for c in line_actual if c not in line_meta)
    lines = tuple(
        ReportLine(
            code=code,
            category=line_meta.get(code, ("", ""))[0],
            title=line_meta.get(code, ("", "(fuori dal budget in vigore)"))[1],
            budget_minor=line_budget.get(code, 0),
            actual_minor=line_actual.get(code, 0),
            pct=rules.variance_pct(line_budget.get(code, 0), line_actual.get(code, 0)),
            flagged=rules.variance_flagged(
                line_budget.get(code, 0), line_actual.get(code, 0), threshold
            ),
        )
        for code in codes
    )

    names = dict(session.execute(select(ProjectOrganisation.id, ProjectOrganisation.name)).all())
    funder_names = dict(
        session.execute(
            select(ProjectFunder.id, Foundation.name)
            .join(Foundation, Foundation.id == ProjectFunder.foundation_id)
            .where(ProjectFunder.project_id == project.id)
        ).all()
    )

    def label(source: str, ref: int) -> str:
        if source == "grant":
            return f"{SOURCE_LABELS[source]}: {funder_names.get(ref, ref)}"
        if source == "partner":
            return f"{SOURCE_LABELS[source]}: {names.get(ref, ref)}"
        return SOURCE_LABELS[source]

    keys = sorted(set(source_budget) | {k for k, v in source_actual.items() if v})
    order = {s: i for i, s in enumerate(SOURCE_LABELS)}
    keys.sort(key=lambda k: (order[k[0]], k[1]))
    sources = tuple(
        SourceTotal(
            source=s,
            ref=r,
            label=label(s, r),
            budget_minor=source_budget.get((s, r), 0),
            actual_minor=source_actual.get((s, r), 0),
            counted=_counted(s, funder),
        )
        for s, r in keys
    )
    total_budget = sum(t.budget_minor for t in sources if t.counted)
    total_actual = sum(t.actual_minor for t in sources if t.counted)
    grants_budget = sum(t.budget_minor for t in sources if t.counted and t.source == "grant")
    grants_actual = sum(t.actual_minor for t in sources if t.counted and t.source == "grant")
    due = rules.grant_due(funder.grant_minor, total_actual, total_budget)
    advances = int(
        session.scalar(
            select(func.coalesce(func.sum(ProjectReceipt.amount_minor), 0)).where(
                ProjectReceipt.project_id == project.id,
                ProjectReceipt.funder_id == funder.id,
                ProjectReceipt.status == "paid",
                ProjectReceipt.received_on <= ends_on,
            )
        )
        or 0
    )

    rows_in_period = list(
        session.scalars(
            select(ProjectDocument)
            .where(ProjectDocument.project_id == project.id, in_period)
            .order_by(ProjectDocument.issued_on, ProjectDocument.id)
        )
    )
    # One query for every charge of the period's documents (whenever charged), one
    # for their files' digests: no query per document.
    charged: dict[int, int] = defaultdict(int)
    charged_to_funder: dict[int, int] = defaultdict(int)
    for document_id, source, ref, amount in session.execute(
        select(
            ExpenseAllocation.document_id,
            ExpenseAllocation.source,
            ExpenseAllocation.source_ref,
            ExpenseAllocation.amount_minor,
        )
        .join(ProjectDocument, ProjectDocument.id == ExpenseAllocation.document_id)
        .where(ProjectDocument.project_id == project.id, in_period)
    ):
        charged[document_id] += amount
        if source == "grant" and ref == funder.id:
            charged_to_funder[document_id] += amount
    digests = dict(
        session.execute(
            select(ProjectDocument.id, ProjectFile.sha256)
            .join(ProjectFile, ProjectFile.id == ProjectDocument.file_id)
            .where(ProjectDocument.project_id == project.id, in_period)
        ).all()
    )
    documents = []
    for document in rows_in_period:
        proof = (
            f"bank_line:{document.payment_line_id}"
            if document.payment_line_id is not None
            else f"entry:{document.payment_sequence}"
            if document.payment_sequence is not None
            else None
        )
        documents.append(
            ReportDocument(
                id=document.id,
                kind=document.kind,
                number=document.number,
                issued_on=document.issued_on,
                supplier=names[document.supplier_id],
                net_minor=document.net_minor,
                vat_minor=document.vat_minor,
                eligible_minor=document.eligible_minor,
                charged_minor=charged[document.id],
                charged_to_funder_minor=charged_to_funder[document.id],
                paid_by=document.paid_by,
                proof=proof,
                sha256=digests.get(document.id),
            )
        )
    sequence, digest = head_as_of(session, ends_on)
    return FunderReport(
        project_id=project.id,
        title=project.title,
        lead=names[project.lead_organisation_id],
        programme=project.programme,
        call_reference=project.call_reference,
        currency=project.currency,
        foundation_id=foundation.id,
        funder_name=foundation.name,
        starts_on=starts_on,
        ends_on=ends_on,
        kind="final" if ends_on >= project.ends_on else "interim",
        budget_version=version.number if version is not None else None,
        variance_pct=threshold,
        lines=lines,
        sources=sources,
        total_budget_minor=total_budget,
        total_actual_minor=total_actual,
        grant_minor=funder.grant_minor,
        grant_budget_minor=source_budget.get(("grant", funder.id), 0),
        grant_actual_minor=source_actual.get(("grant", funder.id), 0),
        grant_due_minor=due,
        grant_rounding=rules.GRANT_ROUNDING,
        cofinancing_share=rules.share(total_actual - grants_actual, total_actual),
        cofinancing_share_budget=rules.share(total_budget - grants_budget, total_budget),
        advances_minor=advances,
        still_due_minor=max(0, due - advances),
        to_give_back_minor=max(0, advances - due),
        documents=tuple(documents),
        figurative=FigurativeSection(
            volunteer_minutes=volunteer_minutes,
            volunteer_minor=volunteer_minor,
            volunteer_counted=funder.volunteer_counts,
            in_kind_minor=in_kind_minor,
            in_kind_counted=funder.in_kind_counts,
            volunteer_budget_minor=source_budget.get(("volunteer", 0), 0),
            in_kind_budget_minor=source_budget.get(("in_kind", 0), 0),
        ),
        head_sequence=sequence,
        head_hash=digest,
    )
