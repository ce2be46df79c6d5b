"""Demo of projects reported to a funder, loaded once.

"Fare #BeneComune" (Pavia): a consortium as lead, the municipality and nine
partners, Fondazione Cariplo's grant of EUR 800,000 with its settings (grant at
most 70 % of the cost, EUR 1,150,000 with volunteer time and in-kind; co-financing
at least 30 %, overheads at most 10 %, variance 20 %, volunteer time and in-kind
counted). Its budget (seven lines,
every funding source) is proposed by one person and approved by another; in
the first half of 2026 it receives the 30 % advance and the municipality's cash, records
expenses with their documents (a payslip, invoices with and without
recoverable VAT, a receipt, goods bought directly by a partner), the hours of
three volunteers enrolled in the register of volunteers (art. 17 c.1 CTS) from
mid January, valued by the rate table, and a room lent in kind. Its interim report (stato di
avanzamento) for the half year is `ledger projects report <id> --funder <Cariplo's
id> --from 2026-01-01 --to 2026-06-30`. Everything is dated before 15 June 2026, the
demo's "today".

"FareLegami" (Cremona): a EUR 3,300,000 plan, EUR 1,500,000 from Cariplo and
the rest co-financed by 100 partners and fundraising, approved.

Everything goes through the use cases (`ledger.projects.commands`), so the demo
is what the pages would have written; a second run finds the projects by title
and changes nothing. Its two staff members have no password (nobody signs in as
them); its volunteers are persons without a user.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.commands import Origin
from ledger.core.clock import Clock
from ledger.core.money import Money
from ledger.grants.models import Foundation
from ledger.people.models import Person
from ledger.people.service import NewPerson, create_user, find_user_by_email
from ledger.projects import commands
from ledger.projects.expenses import AllocationSpec
from ledger.projects.getters import funders_of
from ledger.projects.models import OrganisationMember, Project, ProjectOrganisation
from ledger.projects.service import FunderSettings, LineSpec, SourceAmount

BENE_COMUNE = "Fare #BeneComune"
FARE_LEGAMI = "FareLegami"
FUNDER = "Fondazione Cariplo"
DEMO_PROJECT_PEOPLE: tuple[tuple[str, str], ...] = (
    ("progettazione@demo.registro.example", "Ufficio progettazione"),
    ("amministrazione.progetti@demo.registro.example", "Amministrazione progetti"),
)
DEMO_PROJECT_EMAILS = frozenset(email for email, _name in DEMO_PROJECT_PEOPLE)
VOLUNTEERS = (
    ("volontaria.1@demo.registro.example", "Volontaria Uno"),
    ("volontario.2@demo.registro.example", "Volontario Due"),
    ("volontaria.3@demo.registro.example", "Volontaria Tre"),
)
# Their service as the register of volunteers records it, and the day they enrolled.
VOLUNTEER_SERVICES = (
    "Doposcuola e accompagnamento allo studio",
    "Emporio solidale e distribuzione",
    "Animazione di quartiere",
)
ENROLLED_ON = date(2026, 1, 15)
PARTNERS = (
    ("Comune di Pavia", "public_body"),
    ("Caritas Diocesana di Pavia", "association"),
    ("ACLI Provinciali di Pavia", "association"),
    ("Cooperativa Sociale Il Convoglio", "cooperative"),
    ("Associazione Babele", "association"),
    ("Auser Pavia", "association"),
    ("Emporio Solidale Pavese", "association"),
    ("Fondazione Comunitaria della Provincia di Pavia", "foundation"),
    ("Cooperativa Sociale Aldia", "cooperative"),
    ("CSV Lombardia Sud", "association"),
)
# A tiny valid PDF: the demo's documents have a file, as the staff upload them.
DEMO_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


def _eur(text: str) -> int:
    return Money.parse(text, "EUR").minor


def _staff(session: Session, clock: Clock) -> list[int]:
    ids = []
    for email, name in DEMO_PROJECT_PEOPLE:
        user = find_user_by_email(session, email)
        if user is None:
            user = create_user(
                session,
                NewPerson(email=email, full_name=name),
                roles=["treasurer"],
                password=None,
                now=clock.now(),
                email_verified_at=clock.now(),
            )
        ids.append(user.id)
    return ids


def _organisation(session: Session, name: str, kind: str, origin: Origin, clock: Clock) -> int:
    found = session.scalar(select(ProjectOrganisation.id).where(ProjectOrganisation.name == name))
    if found is not None:
        return int(found)
    return int(
        commands.create_organisation(
            session, name=name, kind=kind, origin=origin, clock=clock
        ).value.id
    )


def link_demo_members(
    session: Session, clock: Clock, *, staff_email: str, partner_email: str
) -> int:
    """Let the demo's project staff user act for the lead of "Fare #BeneComune" and its
    partner's user for the municipality, when those users exist; how many were linked."""
    linked = 0
    for email, name in ((staff_email, "Consorzio Sociale Pavese"), (partner_email, PARTNERS[0][0])):
        user = find_user_by_email(session, email)
        organisation = session.scalar(
            select(ProjectOrganisation.id).where(ProjectOrganisation.name == name)
        )
        if user is None or organisation is None:
            continue
        if session.get(OrganisationMember, (organisation, user.id)) is not None:
            continue
        commands.add_organisation_member(
            session,
            organisation_id=int(organisation),
            user_id=user.id,
            origin=Origin.command_line(),
            clock=clock,
        )
        linked += 1
    return linked


def _foundation(session: Session, clock: Clock) -> int:
    found = session.scalar(select(Foundation.id).where(Foundation.name == FUNDER))
    if found is not None:
        return int(found)
    row = Foundation(name=FUNDER, tax_code="00774480156", created_at=clock.now())
    session.add(row)
    session.flush()
    return row.id


def _volunteers(session: Session, clock: Clock) -> list[int]:
    ids = []
    for email, name in VOLUNTEERS:
        person = session.scalars(select(Person).where(Person.email == email)).first()
        if person is None:
            person = Person(full_name=name, email=email, created_at=clock.now())
            session.add(person)
            session.flush()
        ids.append(person.id)
    return ids


def load_bene_comune(session: Session, clock: Clock) -> int:
    """Load "Fare #BeneComune" (1 when made, 0 when it was there)."""
    if session.scalar(select(Project.id).where(Project.title == BENE_COMUNE)) is not None:
        return 0
    staff, second = _staff(session, clock)
    me, other = Origin(channel="cli", user_id=staff), Origin(channel="cli", user_id=second)
    foundation = _foundation(session, clock)
    lead = _organisation(session, "Consorzio Sociale Pavese", "cooperative", me, clock)
    partners = [_organisation(session, n, k, me, clock) for n, k in PARTNERS]
    printer = _organisation(session, "Tipografia Ticino srl", "company", me, clock)
    payroll = _organisation(session, "Studio Paghe Lomellina", "company", me, clock)
    grocer = _organisation(session, "Ingrosso Alimentare Oltrepò", "company", me, clock)
    project = commands.create_project(
        session,
        title=BENE_COMUNE,
        lead_organisation_id=lead,
        starts_on=date(2026, 1, 1),
        ends_on=date(2028, 12, 31),
        programme="Welfare in azione",
        call_reference="Cariplo WIA 2025",
        partners=[(p, "partner") for p in partners]
        + [(partners[7], "co_funder"), (printer, "supplier"), (payroll, "supplier")],
        funders=[
            FunderSettings(
                foundation,
                _eur("800000.00"),
                max_grant_pct="70",
                min_cofinancing_pct="30",
                max_overheads_pct="10",
                variance_pct="20",
                volunteer_counts=True,
                in_kind_counts=True,
            )
        ],
        origin=me,
        clock=clock,
    ).value
    p = project.id
    funder = funders_of(session, p)[0].id
    municipality, caritas = partners[0], partners[1]

    def line(code: str, category: str, title: str, *amounts: SourceAmount) -> LineSpec:
        return LineSpec(code, category, title, tuple(amounts))

    def grant(amount: str) -> SourceAmount:
        return SourceAmount("grant", _eur(amount), funder)

    lines = [
        line(
            "A.1",
            "personnel",
            "Operatori di comunità e coordinamento",
            grant("380000.00"),
            SourceAmount("partner", _eur("60000.00"), municipality),
            SourceAmount("own", _eur("60000.00")),
        ),
        line(
            "B.1",
            "services",
            "Servizi educativi e di mediazione",
            grant("150000.00"),
            SourceAmount("fundraising", _eur("50000.00")),
        ),
        line(
            "C.1",
            "goods",
            "Attrezzature e beni per gli empori",
            grant("60000.00"),
            SourceAmount("partner", _eur("20000.00"), caritas),
        ),
        line(
            "D.1",
            "running",
            "Spese di funzionamento dei punti di comunità",
            grant("70000.00"),
            SourceAmount("own", _eur("20000.00")),
        ),
        line(
            "E.1",
            "beneficiaries",
            "Sostegni alle 800 famiglie",
            grant("100000.00"),
            SourceAmount("public", _eur("50000.00")),
        ),
        line(
            "F.1",
            "overheads",
            "Costi generali",
            grant("40000.00"),
            SourceAmount("own", _eur("40000.00")),
        ),
        line(
            "G.1",
            "personnel",
            "Volontariato e apporti in natura valorizzati",
            SourceAmount("volunteer", _eur("40000.00")),
            SourceAmount("in_kind", _eur("10000.00")),
        ),
    ]
    version = commands.propose_budget(
        session, p, lines, note="Piano economico approvato", origin=me, clock=clock
    ).value
    commands.approve_budget(session, version.id, origin=other, clock=clock)
    commands.receive_grant(
        session,
        p,
        funder,
        _eur("240000.00"),
        received_on=date(2026, 2, 16),
        origin=me,
        clock=clock,
        key="demo-bc-advance",
    )
    commands.receive_contribution(
        session,
        p,
        municipality,
        _eur("30000.00"),
        received_on=date(2026, 4, 2),
        origin=me,
        clock=clock,
        key="demo-bc-comune-1",
    )
    expenses: list[tuple[str, int, str, date, str, str, bool, str, list[AllocationSpec]]] = [
        (
            "payslip",
            payroll,
            "LUL-2026-03",
            date(2026, 3, 31),
            "42000.00",
            "0.00",
            False,
            "bank",
            [
                AllocationSpec("A.1", "grant", _eur("32000.00"), funder),
                AllocationSpec("A.1", "own", _eur("10000.00")),
            ],
        ),
        (
            "payslip",
            payroll,
            "LUL-2026-05",
            date(2026, 5, 31),
            "45000.00",
            "0.00",
            False,
            "bank",
            [
                AllocationSpec("A.1", "grant", _eur("33000.00"), funder),
                AllocationSpec("A.1", "partner", _eur("12000.00"), municipality),
            ],
        ),
        (
            "invoice",
            printer,
            "2026/118",
            date(2026, 5, 12),
            "4200.00",
            "924.00",
            True,
            "bank",
            [AllocationSpec("D.1", "grant", _eur("4200.00"), funder)],
        ),
        (
            "invoice",
            partners[3],
            "FE-77",
            date(2026, 4, 20),
            "36000.00",
            "1800.00",
            False,
            "payable",
            [
                AllocationSpec("B.1", "grant", _eur("30000.00"), funder),
                AllocationSpec("B.1", "fundraising", _eur("7800.00")),
            ],
        ),
        (
            "receipt",
            grocer,
            "SC-5521",
            date(2026, 5, 8),
            "18500.00",
            "0.00",
            False,
            "bank",
            [AllocationSpec("E.1", "grant", _eur("18500.00"), funder)],
        ),
        (
            "invoice",
            grocer,
            "2026-CAR-12",
            date(2026, 6, 3),
            "9000.00",
            "1980.00",
            False,
            "partner",
            [AllocationSpec("C.1", "partner", _eur("10980.00"), caritas, caritas)],
        ),
        (
            "invoice",
            printer,
            "2026/240",
            date(2026, 6, 5),
            "6000.00",
            "1320.00",
            True,
            "payable",
            [
                AllocationSpec("F.1", "grant", _eur("3000.00"), funder),
                AllocationSpec("F.1", "own", _eur("3000.00")),
            ],
        ),
    ]
    for kind, supplier, number, issued_on, net, vat, recoverable, paid_by, parts in expenses:
        commands.record_expense(
            session,
            p,
            kind=kind,
            supplier_id=supplier,
            number=number,
            issued_on=issued_on,
            net_minor=_eur(net),
            vat_minor=_eur(vat),
            vat_recoverable=recoverable,
            paid_by=paid_by,
            partner_id=caritas if paid_by == "partner" else None,
            allocations=parts,
            file=DEMO_PDF + number.encode("ascii"),
            origin=me,
            clock=clock,
            key=f"demo-bc-expense-{number}",
        )
    for role, hourly, basis in (
        ("educatore", "18.50", "CCNL cooperative sociali, livello C1"),
        ("animatore", "16.20", "CCNL cooperative sociali, livello B1"),
    ):
        commands.set_volunteer_rate(
            session,
            role=role,
            hourly_minor=_eur(hourly),
            valid_from=date(2026, 1, 1),
            basis=basis,
            origin=me,
            clock=clock,
        )
    volunteers = _volunteers(session, clock)
    for i, (person, service) in enumerate(zip(volunteers, VOLUNTEER_SERVICES, strict=True)):
        commands.enrol_volunteer(
            session,
            person_id=person,
            enrolled_on=ENROLLED_ON,
            activity=service,
            origin=me,
            clock=clock,
            key=f"demo-bc-volunteer-{i}",
        )
    hours = (
        (0, "Doposcuola al punto di comunità", "educatore", 6 * 60, date(2026, 3, 14)),
        (1, "Distribuzione all'emporio solidale", "animatore", 8 * 60, date(2026, 4, 18)),
        (2, "Festa di quartiere", "animatore", 5 * 60 + 30, date(2026, 5, 21)),
        (0, "Doposcuola al punto di comunità", "educatore", 7 * 60, date(2026, 6, 10)),
    )
    for i, (who, activity, role, minutes, day) in enumerate(hours):
        commands.record_volunteer_hours(
            session,
            p,
            person_id=volunteers[who],
            activity=activity,
            role=role,
            minutes=minutes,
            done_on=day,
            origin=me,
            clock=clock,
            key=f"demo-bc-hours-{i}",
        )
    commands.record_in_kind(
        session,
        p,
        description="Uso gratuito della sala civica per gli incontri (aprile-giugno)",
        fair_value_minor=_eur("2400.00"),
        received_on=date(2026, 4, 1),
        organisation_id=municipality,
        origin=me,
        clock=clock,
        key="demo-bc-in-kind-1",
    )
    return 1


def load_fare_legami(session: Session, clock: Clock, *, partners: int = 100) -> int:
    """Load the FareLegami-like co-financing plan (1 when made, 0 when it was there)."""
    if session.scalar(select(Project.id).where(Project.title == FARE_LEGAMI)) is not None:
        return 0
    staff, second = _staff(session, clock)
    me, other = Origin(channel="cli", user_id=staff), Origin(channel="cli", user_id=second)
    foundation = _foundation(session, clock)
    lead = _organisation(session, "Comune di Cremona", "public_body", me, clock)
    kinds = ("association", "cooperative", "public_body", "company", "foundation")
    orgs = [
        _organisation(session, f"Partner FareLegami {n:03d}", kinds[n % len(kinds)], me, clock)
        for n in range(1, partners + 1)
    ]
    project = commands.create_project(
        session,
        title=FARE_LEGAMI,
        lead_organisation_id=lead,
        starts_on=date(2026, 1, 1),
        ends_on=date(2028, 12, 31),
        programme="Welfare in azione",
        call_reference="Cariplo WIA 2025",
        partners=[(o, "partner") for o in orgs],
        funders=[
            FunderSettings(
                foundation, _eur("1500000.00"), max_grant_pct="50", min_cofinancing_pct="50"
            )
        ],
        origin=me,
        clock=clock,
    ).value
    funder = funders_of(session, project.id)[0].id
    share = _eur("1600000.00") // partners
    lines = [
        LineSpec(
            "A.1",
            "personnel",
            "Operatori delle reti di prossimità",
            (
                SourceAmount("grant", _eur("1000000.00"), funder),
                *(SourceAmount("partner", share, o) for o in orgs),
            ),
        ),
        LineSpec(
            "B.1",
            "services",
            "Servizi e attività nei quartieri",
            (
                SourceAmount("grant", _eur("500000.00"), funder),
                SourceAmount("fundraising", _eur("200000.00")),
            ),
        ),
    ]
    version = commands.propose_budget(session, project.id, lines, origin=me, clock=clock).value
    commands.approve_budget(session, version.id, origin=other, clock=clock)
    return 1


def load_demo_projects(session: Session, clock: Clock) -> int:
    """Both demo projects; how many were made."""
    return load_bene_comune(session, clock) + load_fare_legami(session, clock)
