"""The report to a funder: the worked figures of the funders' rules, the journal's own
balances, and the same figures in JSON, CSV, XLSX and the PDF's extracted text."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from ledger.core.balances import balance
from ledger.projects import accounts, commands, rules
from ledger.projects.expenses import AllocationSpec
from ledger.projects.report import funder_report
from ledger.projects.service import LineSpec, SourceAmount
from ledger.statements.project_report import report_csv, report_json, report_xlsx
from ledger.statements.project_report_pdf import report_pdf
from tests.integration.projects_world import ENDS, STARTS, build_world, eur

PDF = b"%PDF-1.4\n%%EOF\n"


def pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def spend(world, number, line, amount, *, source="grant", ref=None, issued_on=date(2026, 5, 4)):
    ref = world.funder if ref is None and source == "grant" else (ref or 0)
    return world.run(
        lambda s: commands.record_expense(
            s,
            world.project,
            kind="invoice",
            supplier_id=world.supplier,
            number=number,
            issued_on=issued_on,
            net_minor=amount,
            vat_minor=0,
            vat_recoverable=False,
            paid_by="payable",
            allocations=[AllocationSpec(line, source, amount, ref)],
            file=PDF,
            origin=world.origin(),
            clock=world.clock,
            key=number,
        )
    ).value


def worked_world(ledger, clock, **settings):
    """Budget 100,000.00: line A.1 90,000.00 (grant 60,000, partner 30,000), line B.1
    10,000.00 (partner); grant 60,000.00."""
    world = build_world(ledger, clock, **settings)
    world.budget(
        [
            LineSpec(
                "A.1",
                "personnel",
                "Operatori di comunità",
                (
                    SourceAmount("grant", eur("60000.00"), world.funder),
                    SourceAmount("partner", eur("30000.00"), world.partner),
                ),
            ),
            LineSpec(
                "B.1",
                "services",
                "Servizi esterni",
                (SourceAmount("partner", eur("10000.00"), world.partner),),
            ),
        ]
    )
    return world


def report(world, starts_on=STARTS, ends_on=ENDS):
    return world.read(
        lambda s: funder_report(s, world.project, world.foundation, starts_on, ends_on)
    )


def test_a_project_that_spends_90000_of_a_100000_budget_is_due_54000_of_a_60000_grant(
    ledger, clock
):
    world = worked_world(ledger, clock)
    spend(world, "F-1", "A.1", eur("50000.00"))
    spend(world, "F-2", "A.1", eur("30000.00"), source="partner", ref=world.partner)
    spend(world, "F-3", "B.1", eur("10000.00"), source="own")
    r = report(world)
    assert (r.total_budget_minor, r.total_actual_minor) == (eur("100000.00"), eur("90000.00"))
    assert r.grant_due_minor == eur("54000.00")
    assert r.kind == "final"
    data = report_json(r)
    assert data["grant"] == "60000.00"
    assert data["grant_due"] == "54000.00"
    assert data["total_budget"] == "100000.00"
    assert data["total_actual"] == "90000.00"
    assert [(x["code"], x["budget"], x["actual"]) for x in data["lines"]] == [
        ("A.1", "90000.00", "80000.00"),
        ("B.1", "10000.00", "10000.00"),
    ]
    # Co-financing share = non-grant sources / total cost: (30,000 + 10,000) / 90,000.
    assert data["cofinancing_share"] == "0.4444"
    assert data["cofinancing_share_budget"] == "0.4000"


def test_the_grant_due_is_never_above_the_grant_and_rounds_down():
    assert rules.grant_due(eur("60000.00"), eur("90000.00"), eur("100000.00")) == eur("54000.00")
    assert rules.grant_due(eur("60000.00"), eur("120000.00"), eur("100000.00")) == eur("60000.00")
    assert rules.grant_due(100, 1, 3) == 33  # 33.33... -> 33


@pytest.mark.parametrize(("threshold", "flagged"), [("20", True), ("30", False)])
def test_a_10000_line_that_spends_12500_is_flagged_at_20_percent_and_not_at_30(
    ledger, clock, threshold, flagged
):
    world = worked_world(ledger, clock, variance_pct=threshold)
    spend(world, "F-1", "B.1", eur("12500.00"), source="own")
    line = {x.code: x for x in report(world).lines}["B.1"]
    assert (line.budget_minor, line.actual_minor, line.pct) == (
        eur("10000.00"),
        eur("12500.00"),
        Decimal("125.00"),
    )
    assert line.flagged is flagged


def test_advances_above_the_grant_due_are_to_be_given_back(ledger, clock):
    world = worked_world(ledger, clock)
    spend(world, "F-1", "A.1", eur("45000.00"))
    world.run(
        lambda s: commands.receive_grant(
            s,
            world.project,
            world.funder,
            eur("30000.00"),
            received_on=date(2026, 2, 1),
            origin=world.origin(),
            clock=clock,
            key="adv",
        )
    )
    r = report(world)
    assert r.grant_due_minor == eur("27000.00")
    assert (r.advances_minor, r.still_due_minor, r.to_give_back_minor) == (
        eur("30000.00"),
        0,
        eur("3000.00"),
    )


def test_an_interim_report_counts_only_the_documents_of_its_period_as_the_journal_does(
    ledger, clock
):
    world = worked_world(ledger, clock)
    spend(world, "F-1", "A.1", eur("1000.00"), issued_on=date(2026, 3, 1))
    spend(world, "F-2", "A.1", eur("2000.00"), issued_on=date(2026, 9, 1))
    r = report(world, STARTS, date(2026, 6, 30))
    assert r.kind == "interim"
    assert [d.number for d in r.documents] == ["F-1"]
    line = {x.code: x for x in r.lines}["A.1"]
    assert line.actual_minor == eur("1000.00")
    journal = ledger.read(
        lambda s: balance(s, accounts.line(world.project, "A.1"), date(2026, 6, 30)).posted
    )
    assert journal == line.actual_minor


def test_volunteer_time_enters_the_totals_only_when_the_funder_counts_it(ledger, clock):
    world = worked_world(ledger, clock, volunteer_counts=True)
    world.run(
        lambda s: commands.set_volunteer_rate(
            s,
            role="animatore",
            hourly_minor=eur("20.00"),
            valid_from=STARTS,
            origin=world.origin(),
            clock=clock,
        )
    )
    person = world.volunteer()
    world.run(
        lambda s: commands.record_volunteer_hours(
            s,
            world.project,
            person_id=person,
            activity="Feste di quartiere",
            role="animatore",
            minutes=600,
            done_on=date(2026, 4, 4),
            origin=world.origin(),
            clock=clock,
            key="v",
        )
    )
    spend(world, "F-1", "A.1", eur("1000.00"))
    r = report(world)
    assert r.figurative.volunteer_minor == eur("200.00")
    assert r.figurative.volunteer_minutes == 600
    assert r.total_actual_minor == eur("1200.00")
    assert r.cofinancing_share == Decimal("0.1667")


def test_the_csv_xlsx_and_pdf_carry_the_same_figures(ledger, clock):
    world = worked_world(ledger, clock)
    spend(world, "=HYPERLINK(1)", "A.1", eur("50000.00"))
    spend(world, "F-2", "B.1", eur("12500.00"), source="own")
    r = report(world)

    rows = list(csv.reader(io.StringIO(report_csv(r))))
    totals = {row[0]: row[1] for row in rows if len(row) >= 2}
    assert totals["Contributo spettante"] == "37500.00"
    assert ["A.1", "personnel", "Operatori di comunità", "90000.00", "50000.00"] == rows[9][:5]
    assert any(row[2] == "'=HYPERLINK(1)" for row in rows if len(row) > 2)

    sheet = load_workbook(io.BytesIO(report_xlsx(r))).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    spettante = next(v for v in values if v[0] == "Contributo spettante")
    assert Decimal(str(spettante[1])) == Decimal("37500")
    assert all(not (isinstance(v, str) and v.startswith("=")) for row in values for v in row)

    text = pdf_text(report_pdf(r, generated_on=date(2027, 7, 1)))
    for needle in (
        "Rendiconto finale al finanziatore Fondazione Cariplo",
        "Fare #BeneComune",
        "A.1 Operatori di comunità 90.000,00 EUR 50.000,00 EUR 55,56 % SÌ",
        "B.1 Servizi esterni 10.000,00 EUR 12.500,00 EUR 125,00 % SÌ",
        "Contributo spettante (arrotondato per difetto al centesimo) 37.500,00 EUR",
        "Contributo concesso 60.000,00 EUR",
        "Quota di cofinanziamento (effettiva) 20,00 %",
        "F-2 del 04/05/2026 Tipografia Ticino srl 12.500,00 EUR 0,00 EUR manca (da pagare)",
        r.head_hash,
    ):
        assert needle in text, (needle, text)
    assert report_pdf(r, generated_on=date(2027, 7, 1)) == report_pdf(
        r, generated_on=date(2027, 7, 1)
    )


def test_a_report_for_a_past_period_uses_the_budget_then_in_force(ledger, clock):
    """A revision (rimodulazione) approved later does not change what an earlier
    period's report is measured against; a report ending after it uses it."""
    from datetime import timedelta

    world = worked_world(ledger, clock)  # version 1, approved at the clock's day
    approved_v1 = clock.now().date()
    clock.instant += timedelta(days=120)
    world.budget(
        [
            LineSpec(
                "A.1",
                "personnel",
                "Operatori di comunità",
                (
                    SourceAmount("grant", eur("60000.00"), world.funder),
                    SourceAmount("partner", eur("20000.00"), world.partner),
                ),
            ),
            LineSpec(
                "B.1",
                "services",
                "Servizi esterni",
                (SourceAmount("partner", eur("20000.00"), world.partner),),
            ),
        ]
    )
    approved_v2 = clock.now().date()
    before = report(world, STARTS, approved_v2 - timedelta(days=1))
    after = report(world, STARTS, approved_v2)
    assert before.budget_version == 1 and after.budget_version == 2
    assert {line.code: line.budget_minor for line in before.lines} == {
        "A.1": eur("90000.00"),
        "B.1": eur("10000.00"),
    }
    assert {line.code: line.budget_minor for line in after.lines} == {
        "A.1": eur("80000.00"),
        "B.1": eur("20000.00"),
    }
    assert report(world, STARTS, approved_v1 - timedelta(days=1)).budget_version == 1
