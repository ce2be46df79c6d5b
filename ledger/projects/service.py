"""Organisations, projects (partners and funders) and budget versions, with the funders' limits.

A budget is a version of lines x funding sources. A revision (rimodulazione) is
a new version: proposed by one person, approved by another (four-eyes, also a
CHECK on the table); the budget in force is the latest approved version and the
earlier ones stay readable. A version is checked against every funder's
settings when it is proposed (and again when it is approved, the settings may
have changed): the grant budgeted for a funder at most its grant and at most
its largest share of the total cost, the co-financing (every source but grants)
at least its least share, the overheads at most their largest share. Volunteer
time and in-kind count in the total and in the co-financing only for a funder
whose settings say so. A refusal raises `BudgetRuleError` and writes nothing.
Services take the caller's session and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.core.clock import Clock
from ledger.core.errors import UnknownCurrencyError
from ledger.core.money import exponent, format_it
from ledger.grants.models import Foundation
from ledger.people.models import User
from ledger.projects import rules
from ledger.projects.errors import (
    BudgetRuleError,
    BudgetStateError,
    FourEyesError,
    InvalidProjectError,
)
from ledger.projects.getters import get_organisation, get_project, get_version, version_rows
from ledger.projects.models import (
    CATEGORIES,
    ORGANISATION_KINDS,
    PARTNER_ROLES,
    SOURCES,
    BudgetAmount,
    BudgetLine,
    BudgetVersion,
    OrganisationMember,
    Project,
    ProjectFunder,
    ProjectOrganisation,
    ProjectPartner,
)

MAX_LINES = 500


def _text(value: object, name: str, limit: int, *, required: bool = True) -> str | None:
    clean = " ".join(value.split()) if isinstance(value, str) else ""
    if not clean:
        if required:
            raise InvalidProjectError(f"Il campo {name} è obbligatorio.", field=name)
        return None
    if len(clean) > limit:
        raise InvalidProjectError(f"Il campo {name} ha al massimo {limit} caratteri.", field=name)
    return clean


# --------------------------------------------------------------------- organisations
def create_organisation(
    session: Session,
    *,
    name: str,
    kind: str,
    tax_code: str | None = None,
    vat_number: str | None = None,
    clock: Clock,
) -> ProjectOrganisation:
    """A partner, co-funder or supplier organisation; the name is unique."""
    clean = _text(name, "name", 200)
    if kind not in ORGANISATION_KINDS:
        raise InvalidProjectError(
            f"Tipo di organizzazione sconosciuto: {kind}. Possibili: "
            + ", ".join(ORGANISATION_KINDS)
            + ".",
            field="kind",
        )
    tax = _text(tax_code, "tax_code", 16, required=False)
    vat = _text(vat_number, "vat_number", 16, required=False)
    if (
        session.scalar(select(ProjectOrganisation.id).where(ProjectOrganisation.name == clean))
        is not None
    ):
        raise InvalidProjectError(f"Esiste già un'organizzazione «{clean}».", field="name")
    row = ProjectOrganisation(
        name=clean, kind=kind, tax_code=tax, vat_number=vat, created_at=clock.now()
    )
    session.add(row)
    session.flush()
    return row


def add_member(
    session: Session, *, organisation_id: int, user_id: int, clock: Clock
) -> OrganisationMember:
    """Let a user act for an organisation: a project staff member of the projects it
    leads, or a partner's user who reads its own contributions and costs. The user must
    hold the `project_staff` or `partner` role; a user already a member is refused."""
    organisation = get_organisation(session, organisation_id)
    user = session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None:
        raise InvalidProjectError(f"Nessun utente con id {user_id}.", field="user")
    if not user.roles & {"project_staff", "partner"}:
        raise InvalidProjectError(
            "L'utente non ha il ruolo di staff di progetto o di partner di progetto.",
            field="user",
        )
    if session.get(OrganisationMember, (organisation.id, user.id)) is not None:
        raise InvalidProjectError(f"L'utente agisce già per «{organisation.name}».", field="user")
    row = OrganisationMember(organisation_id=organisation.id, user_id=user.id, added_at=clock.now())
    session.add(row)
    session.flush()
    return row


def list_organisations(session: Session) -> list[ProjectOrganisation]:
    return list(session.scalars(select(ProjectOrganisation).order_by(ProjectOrganisation.id)))


# --------------------------------------------------------------------- projects
@dataclass(frozen=True, slots=True)
class FunderSettings:
    """A funder of a project and its reporting settings (percentages as decimal strings)."""

    foundation_id: int
    grant_minor: int
    max_grant_pct: str | None = None
    min_cofinancing_pct: str | None = None
    max_overheads_pct: str | None = None
    variance_pct: str = "20"
    volunteer_counts: bool = False
    in_kind_counts: bool = False

    def plain(self) -> dict[str, object]:
        return {
            "foundation": self.foundation_id,
            "grant": self.grant_minor,
            "max_grant_pct": self.max_grant_pct,
            "min_cofinancing_pct": self.min_cofinancing_pct,
            "max_overheads_pct": self.max_overheads_pct,
            "variance_pct": self.variance_pct,
            "volunteer_counts": self.volunteer_counts,
            "in_kind_counts": self.in_kind_counts,
        }


def _check_settings(settings: FunderSettings) -> None:
    g = settings.grant_minor
    if isinstance(g, bool) or not isinstance(g, int) or g <= 0:
        raise InvalidProjectError(
            "Il contributo del finanziatore è un numero intero di centesimi maggiore di zero.",
            field="grant",
        )
    for name in ("max_grant_pct", "min_cofinancing_pct", "max_overheads_pct", "variance_pct"):
        try:
            rules.percent(getattr(settings, name), name)
        except ValueError as exc:
            raise InvalidProjectError(str(exc), field=name) from None


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
    clock: Clock,
    actor: str | None = None,
) -> Project:
    """A project with its lead, partners (organisation, role) and funders."""
    clean = _text(title, "title", 200)
    if session.get(ProjectOrganisation, lead_organisation_id) is None:
        raise InvalidProjectError(
            f"Nessuna organizzazione con id {lead_organisation_id} (capofila).",
            field="lead_organisation",
        )
    if not isinstance(starts_on, date) or not isinstance(ends_on, date) or ends_on < starts_on:
        raise InvalidProjectError("Il periodo del progetto non è valido.", field="period")
    try:
        exponent(currency)
    except UnknownCurrencyError:
        raise InvalidProjectError(f"Valuta sconosciuta: {currency}.", field="currency") from None
    project = Project(
        title=clean,
        lead_organisation_id=lead_organisation_id,
        programme=_text(programme, "programme", 200, required=False),
        call_reference=_text(call_reference, "call_reference", 120, required=False),
        starts_on=starts_on,
        ends_on=ends_on,
        status="running",
        currency=currency,
        created_by=actor,
        created_at=clock.now(),
    )
    session.add(project)
    session.flush()
    for organisation_id, role in partners:
        add_partner(session, project, organisation_id, role)
    for settings in funders:
        add_funder(session, project, settings, clock=clock)
    return project


def add_partner(session: Session, project: Project, organisation_id: int, role: str) -> None:
    if role not in PARTNER_ROLES:
        raise InvalidProjectError(
            f"Ruolo sconosciuto: {role}. Possibili: partner, co_funder, supplier.", field="role"
        )
    if session.get(ProjectOrganisation, organisation_id) is None:
        raise InvalidProjectError(
            f"Nessuna organizzazione con id {organisation_id}.", field="partners"
        )
    if session.get(ProjectPartner, (project.id, organisation_id, role)) is None:
        session.add(
            ProjectPartner(project_id=project.id, organisation_id=organisation_id, role=role)
        )
        session.flush()


def add_funder(
    session: Session, project: Project, settings: FunderSettings, *, clock: Clock
) -> ProjectFunder:
    _check_settings(settings)
    if session.get(Foundation, settings.foundation_id) is None:
        raise InvalidProjectError(
            f"Nessuna fondazione con id {settings.foundation_id}.", field="funders"
        )
    if (
        session.scalar(
            select(ProjectFunder.id).where(
                ProjectFunder.project_id == project.id,
                ProjectFunder.foundation_id == settings.foundation_id,
            )
        )
        is not None
    ):
        raise InvalidProjectError(
            f"La fondazione {settings.foundation_id} finanzia già il progetto.", field="funders"
        )
    row = ProjectFunder(
        project_id=project.id,
        foundation_id=settings.foundation_id,
        grant_minor=settings.grant_minor,
        max_grant_pct=settings.max_grant_pct,
        min_cofinancing_pct=settings.min_cofinancing_pct,
        max_overheads_pct=settings.max_overheads_pct,
        variance_pct=settings.variance_pct,
        volunteer_counts=settings.volunteer_counts,
        in_kind_counts=settings.in_kind_counts,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    return row


def partner_ids(session: Session, project_id: int) -> set[int]:
    return set(
        session.scalars(
            select(ProjectPartner.organisation_id).where(ProjectPartner.project_id == project_id)
        )
    )


def list_projects(session: Session) -> list[Project]:
    return list(session.scalars(select(Project).order_by(Project.id)))


# --------------------------------------------------------------------- budgets
@dataclass(frozen=True, slots=True)
class SourceAmount:
    """A line's amount from one source; `ref` is the funder id of a grant, the
    organisation id of a partner's share, 0 otherwise."""

    source: str
    amount_minor: int
    ref: int = 0


@dataclass(frozen=True, slots=True)
class LineSpec:
    code: str
    category: str
    title: str
    amounts: tuple[SourceAmount, ...] = field(default_factory=tuple)

    def plain(self) -> dict[str, object]:
        return {
            "code": self.code,
            "category": self.category,
            "title": self.title,
            "amounts": [[a.source, a.ref, a.amount_minor] for a in self.amounts],
        }


def counted(source: str, funder: ProjectFunder) -> bool:
    """Whether a source counts in `funder`'s total cost and co-financing."""
    if source == "volunteer":
        return funder.volunteer_counts
    if source == "in_kind":
        return funder.in_kind_counts
    return True


def _check_lines(session: Session, project: Project, lines: Sequence[LineSpec]) -> None:
    if not lines or len(lines) > MAX_LINES:
        raise InvalidProjectError(f"Un budget ha da 1 a {MAX_LINES} voci.", field="lines")
    funders = {
        f.id
        for f in session.scalars(
            select(ProjectFunder).where(ProjectFunder.project_id == project.id)
        )
    }
    partners = partner_ids(session, project.id)
    codes: set[str] = set()
    for spec in lines:
        code = spec.code.strip() if isinstance(spec.code, str) else ""
        if not code or len(code) > 16 or not all(c.isalnum() or c in "._-" for c in code):
            raise InvalidProjectError(
                f"Codice di voce non valido: {spec.code!r} (lettere, cifre, '.', '-', '_').",
                field="code",
            )
        if code.lower() in codes:
            raise InvalidProjectError(f"La voce {code} compare due volte.", field="code")
        codes.add(code.lower())
        if spec.category not in CATEGORIES:
            raise InvalidProjectError(
                f"Categoria sconosciuta: {spec.category}. Possibili: " + ", ".join(CATEGORIES),
                field="category",
            )
        _text(spec.title, "title", 200)
        seen: set[tuple[str, int]] = set()
        for a in spec.amounts:
            if a.source not in SOURCES:
                raise InvalidProjectError(
                    f"Fonte sconosciuta: {a.source}. Possibili: " + ", ".join(SOURCES),
                    field="source",
                )
            if (
                isinstance(a.amount_minor, bool)
                or not isinstance(a.amount_minor, int)
                or (a.amount_minor < 0)
            ):
                raise InvalidProjectError(
                    "Gli importi del budget sono centesimi interi non negativi.", field="amount"
                )
            if a.source == "grant" and a.ref not in funders:
                raise InvalidProjectError(
                    f"La voce {code} nomina il finanziatore {a.ref}, che non finanzia il progetto.",
                    field="source",
                )
            if a.source == "partner" and a.ref not in partners:
                raise InvalidProjectError(
                    f"La voce {code} nomina l'organizzazione {a.ref}, che non è partner del "
                    "progetto.",
                    field="source",
                )
            if a.source not in ("grant", "partner") and a.ref != 0:
                raise InvalidProjectError(
                    f"La fonte {a.source} non nomina un finanziatore o un partner.",
                    field="source",
                )
            if (a.source, a.ref) in seen:
                raise InvalidProjectError(
                    f"La voce {code} ha due volte la fonte {a.source}.", field="source"
                )
            seen.add((a.source, a.ref))


@dataclass(frozen=True, slots=True)
class _Row:
    category: str
    source: str
    ref: int
    amount_minor: int


def check_limits(funders: Sequence[ProjectFunder], rows: Sequence[_Row], currency: str) -> None:
    """Refuse a budget that breaks a funder's settings (BudgetRuleError)."""
    for funder in funders:
        mine = [r for r in rows if counted(r.source, funder)]
        total = sum(r.amount_minor for r in mine)
        grant = sum(r.amount_minor for r in mine if r.source == "grant" and r.ref == funder.id)
        grants = sum(r.amount_minor for r in mine if r.source == "grant")
        overheads = sum(r.amount_minor for r in mine if r.category == "overheads")
        money = {"funder_id": funder.id, "total_minor": total}
        if grant > funder.grant_minor:
            raise BudgetRuleError(
                f"Il budget chiede al finanziatore {funder.id} {format_it(grant, currency)}, "
                f"oltre il contributo concesso di {format_it(funder.grant_minor, currency)}. "
                "Nulla è stato registrato.",
                rule="grant",
                grant_minor=grant,
                **money,
            )
        limit = rules.percent(funder.max_grant_pct, "max_grant_pct")
        if limit is not None and not rules.at_most(grant, total, limit):
            raise BudgetRuleError(
                f"Il contributo del finanziatore {funder.id} ({format_it(grant, currency)}) "
                f"supera il {limit} % del costo totale ({format_it(total, currency)}). "
                "Nulla è stato registrato.",
                rule="max_grant_pct",
                grant_minor=grant,
                **money,
            )
        least = rules.percent(funder.min_cofinancing_pct, "min_cofinancing_pct")
        if least is not None and not rules.at_least(total - grants, total, least):
            raise BudgetRuleError(
                f"Il cofinanziamento ({format_it(total - grants, currency)}) è sotto il "
                f"{least} % del costo totale ({format_it(total, currency)}) richiesto dal "
                f"finanziatore {funder.id}. Nulla è stato registrato.",
                rule="min_cofinancing_pct",
                cofinancing_minor=total - grants,
                **money,
            )
        most = rules.percent(funder.max_overheads_pct, "max_overheads_pct")
        if most is not None and not rules.at_most(overheads, total, most):
            raise BudgetRuleError(
                f"I costi generali ({format_it(overheads, currency)}) superano il {most} % del "
                f"costo totale ({format_it(total, currency)}) ammesso dal finanziatore "
                f"{funder.id}. Nulla è stato registrato.",
                rule="max_overheads_pct",
                overheads_minor=overheads,
                **money,
            )


def _funders(session: Session, project_id: int) -> list[ProjectFunder]:
    return list(
        session.scalars(
            select(ProjectFunder)
            .where(ProjectFunder.project_id == project_id)
            .order_by(ProjectFunder.id)
        )
    )


def propose_budget(
    session: Session,
    project_id: int,
    lines: Sequence[LineSpec],
    *,
    proposed_by_user_id: int,
    note: str | None = None,
    clock: Clock,
) -> BudgetVersion:
    """A new budget version (the next number), checked against every funder's limits."""
    project = get_project(session, project_id, lock=True)
    _check_lines(session, project, lines)
    check_limits(
        _funders(session, project.id),
        [_Row(s.category, a.source, a.ref, a.amount_minor) for s in lines for a in s.amounts],
        project.currency,
    )
    number = (
        session.scalar(
            select(func.max(BudgetVersion.number)).where(BudgetVersion.project_id == project.id)
        )
        or 0
    ) + 1
    version = BudgetVersion(
        project_id=project.id,
        number=number,
        status="proposed",
        note=_text(note, "note", 500, required=False),
        proposed_by_user_id=proposed_by_user_id,
        proposed_at=clock.now(),
    )
    session.add(version)
    session.flush()
    for spec in lines:
        row = BudgetLine(
            version_id=version.id,
            code=spec.code.strip(),
            category=spec.category,
            title=_text(spec.title, "title", 200) or "",
        )
        session.add(row)
        session.flush()
        for a in spec.amounts:
            session.add(
                BudgetAmount(
                    line_id=row.id, source=a.source, source_ref=a.ref, amount_minor=a.amount_minor
                )
            )
    session.flush()
    return version


def approve_budget(
    session: Session, version_id: int, *, approved_by_user_id: int, clock: Clock
) -> BudgetVersion:
    """proposed -> approved by a second person; it becomes the budget in force."""
    version = get_version(session, version_id, lock=True)
    if version.status != "proposed":
        raise BudgetStateError(
            f"La versione {version.number} è {version.status}: si approva solo se proposta.",
            status=version.status,
        )
    if version.proposed_by_user_id == approved_by_user_id:
        raise FourEyesError(
            "Chi ha proposto il budget non può anche approvarlo: serve una seconda persona."
        )
    later = session.scalar(
        select(func.max(BudgetVersion.number)).where(
            BudgetVersion.project_id == version.project_id, BudgetVersion.status == "approved"
        )
    )
    if later is not None and later > version.number:
        raise BudgetStateError(
            f"La versione {later} è già approvata: la versione {version.number} è superata.",
            status="superseded",
        )
    project = get_project(session, version.project_id)
    check_limits(
        _funders(session, project.id),
        [
            _Row(line.category, a.source, a.source_ref, a.amount_minor)
            for line, amounts in version_rows(session, version.id)
            for a in amounts
        ],
        project.currency,
    )
    version.status = "approved"
    version.approved_by_user_id = approved_by_user_id
    version.approved_at = clock.now()
    session.flush()
    return version
