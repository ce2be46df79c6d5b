"""A year of "Fare #BeneComune" (issue 15): the demo's first half of 2026 (budget approved
by a second person, the advance, the municipality's cash, seven documents, volunteer
hours, a room lent in kind), then a second half (a payslip, a tranche, more partner cash,
a document charged in two steps, a budget revision, a volunteer's pause in the register
of volunteers, when their hours are refused, and more hours). Every balance of the
project is asserted, the interim report for the half year and the final report are
checked figure by figure, the PDF's text carries them, the journal verifies and the
beancount export passes bean-check with balances equal to ours.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from ledger.commands import Origin
from ledger.core.accounts import list_accounts, normal_sign
from ledger.core.balances import balance
from ledger.core.money import Money, exponent
from ledger.people.models import Person
from ledger.people.service import find_user_by_email
from ledger.projects import accounts, commands
from ledger.projects.demo import (
    BENE_COMUNE,
    DEMO_PROJECT_PEOPLE,
    load_bene_comune,
)
from ledger.projects.errors import InvalidProjectError
from ledger.projects.expenses import AllocationSpec
from ledger.projects.getters import funders_of, get_version, version_rows, versions_of
from ledger.projects.models import Project, ProjectOrganisation
from ledger.projects.report import funder_report
from ledger.projects.service import LineSpec, SourceAmount
from ledger.statements.project_report import report_json
from ledger.statements.project_report_pdf import report_pdf
from tests.integration.commands_helpers import footprint
from tests.integration.test_beancount_oracle import bean_check, beancount_balances, export


def eur(text: str) -> int:
    return Money.parse(text, "EUR").minor


def _ids(ledger):
    def read(s):
        project = s.scalar(select(Project.id).where(Project.title == BENE_COMUNE))
        org = {o.name: o.id for o in s.scalars(select(ProjectOrganisation))}
        staff = [find_user_by_email(s, email).id for email, _n in DEMO_PROJECT_PEOPLE]
        volunteer = s.scalar(select(Person.id).order_by(Person.id.desc()).limit(1))
        funder = funders_of(s, project)[0]
        return project, funder.id, funder.foundation_id, org, staff, volunteer

    return ledger.read(read)


def _second_half(ledger, clock, project, funder, org, staff, volunteer):
    me, other = (Origin(channel="cli", user_id=u) for u in staff)
    comune = org["Comune di Pavia"]
    payroll = org["Studio Paghe Lomellina"]
    grocer = org["Ingrosso Alimentare Oltrepò"]

    def run(work):
        return ledger.run(work)

    run(
        lambda s: commands.record_expense(
            s,
            project,
            kind="payslip",
            supplier_id=payroll,
            number="LUL-2026-09",
            issued_on=date(2026, 9, 30),
            net_minor=eur("40000.00"),
            vat_minor=0,
            vat_recoverable=False,
            paid_by="bank",
            allocations=[AllocationSpec("A.1", "grant", eur("40000.00"), funder)],
            origin=me,
            clock=clock,
            key="y-lul-09",
        )
    )
    run(
        lambda s: commands.receive_grant(
            s,
            project,
            funder,
            eur("200000.00"),
            kind="grant_tranche",
            received_on=date(2026, 10, 15),
            origin=me,
            clock=clock,
            key="y-tranche-1",
        )
    )
    run(
        lambda s: commands.receive_contribution(
            s,
            project,
            comune,
            eur("30000.00"),
            received_on=date(2026, 11, 2),
            origin=me,
            clock=clock,
            key="y-comune-2",
        )
    )
    document = run(
        lambda s: commands.record_expense(
            s,
            project,
            kind="invoice",
            supplier_id=grocer,
            number="2026-300",
            issued_on=date(2026, 12, 1),
            net_minor=eur("10000.00"),
            vat_minor=0,
            vat_recoverable=False,
            paid_by="payable",
            allocations=[AllocationSpec("E.1", "grant", eur("4000.00"), funder)],
            origin=me,
            clock=clock,
            key="y-2026-300",
        )
    ).value.document_id
    run(
        lambda s: commands.charge_document(
            s,
            document,
            [AllocationSpec("E.1", "own", eur("6000.00"))],
            origin=me,
            clock=clock,
            key="y-2026-300-own",
        )
    )

    def revised(s):
        current = versions_of(s, project)[-1]
        lines = []
        for line, amounts in version_rows(s, current.id):
            moved = []
            for a in amounts:
                delta = 0
                if a.source == "grant" and line.code == "D.1":
                    delta = -eur("20000.00")
                if a.source == "grant" and line.code == "E.1":
                    delta = eur("20000.00")
                moved.append(SourceAmount(a.source, a.amount_minor + delta, a.source_ref))
            lines.append(LineSpec(line.code, line.category, line.title, tuple(moved)))
        return commands.propose_budget(
            s,
            project,
            lines,
            note="Rimodulazione: dai costi di funzionamento ai sostegni",
            origin=me,
            clock=clock,
        ).value.id

    version = run(revised)
    run(lambda s: commands.approve_budget(s, version, origin=other, clock=clock))

    # The volunteer pauses in October: out of the register from 1 October, back on 1
    # November; hours of a day in between do not count (art. 17 c.1 CTS) and are refused.
    run(
        lambda s: commands.end_volunteer(
            s, person_id=volunteer, ended_on=date(2026, 9, 30), origin=me, clock=clock
        )
    )
    run(
        lambda s: commands.enrol_volunteer(
            s,
            person_id=volunteer,
            enrolled_on=date(2026, 11, 1),
            activity="Doposcuola",
            origin=me,
            clock=clock,
        )
    )

    def hours(day, key):
        return lambda s: commands.record_volunteer_hours(
            s,
            project,
            person_id=volunteer,
            activity="Doposcuola",
            role="educatore",
            minutes=600,
            done_on=day,
            origin=me,
            clock=clock,
            key=key,
        )

    before = footprint(ledger)
    with pytest.raises(InvalidProjectError):
        run(hours(date(2026, 10, 15), "y-hours-october"))
    assert footprint(ledger) == before
    run(hours(date(2026, 11, 20), "y-hours"))
    return version


def test_a_year_of_fare_benecomune_balances_reports_and_exports(ledger, clock, tmp_path):
    clock.instant = datetime(2027, 1, 15, 9, 0, tzinfo=UTC)
    assert ledger.run(lambda s: load_bene_comune(s, clock)) == 1
    assert ledger.run(lambda s: load_bene_comune(s, clock)) == 0
    project, funder, foundation, org, staff, volunteer = _ids(ledger)
    p = project
    comune, caritas = org["Comune di Pavia"], org["Caritas Diocesana di Pavia"]

    # ---------------------------------------------------------------- the first half
    interim = ledger.read(
        lambda s: funder_report(s, p, foundation, date(2026, 1, 1), date(2026, 6, 30))
    )
    assert interim.kind == "interim"
    assert [(x.code, x.budget_minor, x.actual_minor, x.flagged) for x in interim.lines] == [
        ("A.1", eur("500000.00"), eur("87000.00"), True),
        ("B.1", eur("200000.00"), eur("37800.00"), True),
        ("C.1", eur("80000.00"), eur("10980.00"), True),
        ("D.1", eur("90000.00"), eur("4200.00"), True),
        ("E.1", eur("150000.00"), eur("18500.00"), True),
        ("F.1", eur("80000.00"), eur("6000.00"), True),
        ("G.1", 0, 0, False),
    ]
    assert interim.total_budget_minor == eur("1150000.00")
    assert interim.total_actual_minor == eur("167339.20")
    assert interim.grant_actual_minor == eur("120700.00")
    assert interim.grant_due_minor == eur("116409.87")
    assert interim.cofinancing_share == Decimal("0.2787")
    assert interim.cofinancing_share_budget == Decimal("0.3043")
    assert (interim.advances_minor, interim.to_give_back_minor) == (
        eur("240000.00"),
        eur("123590.13"),
    )
    assert len(interim.documents) == 7
    assert all(d.sha256 is not None for d in interim.documents)
    assert interim.figurative.volunteer_minor == eur("459.20")
    assert interim.figurative.volunteer_minutes == 26 * 60 + 30
    assert interim.figurative.in_kind_minor == eur("2400.00")

    # ---------------------------------------------------------------- the second half
    version = _second_half(ledger, clock, p, funder, org, staff, volunteer)
    assert ledger.read(lambda s: get_version(s, version).number) == 2

    expected = {
        accounts.cash(p): eur("349376.00"),
        accounts.payables(p): eur("55120.00"),
        accounts.line(p, "A.1"): eur("127000.00"),
        accounts.line(p, "B.1"): eur("37800.00"),
        accounts.line(p, "C.1"): eur("10980.00"),
        accounts.line(p, "D.1"): eur("4200.00"),
        accounts.line(p, "E.1"): eur("28500.00"),
        accounts.line(p, "F.1"): eur("6000.00"),
        accounts.not_charged(p): eur("2244.00"),
        accounts.grants(p, funder): eur("440000.00"),
        accounts.partners(p, comune): eur("60000.00"),
        accounts.partners(p, caritas): eur("10980.00"),
        accounts.figurative_cost(p, "volunteer"): eur("644.20"),
        accounts.figurative_income(p, "volunteer"): eur("644.20"),
        accounts.figurative_cost(p, "in_kind"): eur("2400.00"),
        accounts.figurative_income(p, "in_kind"): eur("2400.00"),
    }
    prefix = (
        f"assets:projects:{p}:",
        f"liabilities:projects:{p}:",
        f"expenses:projects:{p}:",
        f"income:projects:{p}:",
    )

    def balances(s):
        return {
            a.code: balance(s, a.code).posted for a in list_accounts(s) if a.code.startswith(prefix)
        }

    assert ledger.read(balances) == expected

    final = ledger.read(
        lambda s: funder_report(s, p, foundation, date(2026, 1, 1), date(2028, 12, 31))
    )
    assert final.kind == "final"
    assert final.budget_version == 2
    lines = {x.code: (x.budget_minor, x.actual_minor) for x in final.lines}
    assert lines["D.1"] == (eur("70000.00"), eur("4200.00"))
    assert lines["E.1"] == (eur("170000.00"), eur("28500.00"))
    for code, (_budget, actual) in lines.items():
        if code != "G.1":
            assert actual == expected[accounts.line(p, code)]
    assert final.total_actual_minor == eur("217524.20")
    assert final.grant_actual_minor == eur("164700.00")
    assert final.grant_due_minor == eur("151321.18")
    assert final.cofinancing_share == Decimal("0.2428")
    assert (final.advances_minor, final.still_due_minor, final.to_give_back_minor) == (
        eur("440000.00"),
        0,
        eur("288678.82"),
    )
    data = report_json(final)
    assert (data["grant"], data["grant_due"], data["total_budget"], data["total_actual"]) == (
        "800000.00",
        "151321.18",
        "1150000.00",
        "217524.20",
    )
    text = " ".join(
        " ".join(page.extract_text().split())
        for page in PdfReader(io.BytesIO(report_pdf(final, generated_on=date(2027, 1, 15)))).pages
    )
    for needle in (
        "Rendiconto finale al finanziatore Fondazione Cariplo",
        "E.1 Sostegni alle 800 famiglie 170.000,00 EUR 28.500,00 EUR",
        "Contributo spettante (arrotondato per difetto al centesimo) 151.321,18 EUR",
        "Anticipi e tranche ricevuti 440.000,00 EUR",
        "Da restituire 288.678,82 EUR",
        "Quota di cofinanziamento (effettiva) 24,28 %",
        final.head_hash,
    ):
        assert needle in text, needle

    # ---------------------------------------------------------------- the independent checks
    assert ledger.verify().ok
    path = tmp_path / "year.beancount"
    export(ledger, path)
    checked = bean_check(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    theirs, entries = beancount_balances(path)
    from beancount.core import data as bdata

    opened = {e.meta["code"]: e.account for e in entries if isinstance(e, bdata.Open)}
    for code, posted in expected.items():
        account = next(a for a in ledger.accounts() if a.code == code)
        units = theirs.get(opened[code], {}).get("EUR", Decimal(0)).scaleb(exponent("EUR"))
        assert units == normal_sign(account.type) * posted, code
