"""Projects: expenses through the use case, and the report to a funder over many documents.

A project like the demo's FareLegami (100 partners, a budget of two lines
approved by a second person) records `documents` expense documents through
`record_expense` (each with a small PDF file, two allocation rows, one entry, its
audit event), one per transaction; the baseline in the same run posts the same
entries straight through the engine (`Ledger.post`, no document, no file, no
audit). Then the report to the funder over every document is built
(`funder_report`) and printed as JSON, CSV, XLSX and PDF; its baseline is the
engine's trial balance of the same book.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from ledger.commands import Origin
from ledger.core.clock import FixedClock
from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.people.service import find_user_by_email
from ledger.projects import accounts, commands
from ledger.projects.demo import DEMO_PDF, DEMO_PROJECT_PEOPLE, FARE_LEGAMI, load_fare_legami
from ledger.projects.expenses import AllocationSpec
from ledger.projects.getters import funders_of
from ledger.projects.models import Project, ProjectOrganisation
from ledger.projects.report import funder_report
from ledger.statements.project_report import report_csv, report_json, report_xlsx
from ledger.statements.project_report_pdf import report_pdf
from ledger.wiring import wire


def bench_projects(url: str, out: Callable[[str], None], *, documents: int) -> None:
    wire()
    clock = FixedClock(datetime(2027, 1, 15, 12, 0, tzinfo=UTC))
    ledger = Ledger.from_url(url, clock=clock)
    t0 = time.perf_counter()
    ledger.run(lambda s: load_fare_legami(s, clock))

    def ids(s):  # type: ignore[no-untyped-def]
        project = s.scalar(select(Project.id).where(Project.title == FARE_LEGAMI))
        funder = funders_of(s, project)[0]
        supplier = s.scalar(
            select(ProjectOrganisation.id).where(ProjectOrganisation.name == "Comune di Cremona")
        )
        user = find_user_by_email(s, DEMO_PROJECT_PEOPLE[0][0]).id
        return project, funder.id, funder.foundation_id, supplier, user

    project, funder, foundation, supplier, user = ledger.read(ids)
    origin = Origin(channel="cli", user_id=user, source="bench")
    out(f"- setup (100 partners, budget approved): {time.perf_counter() - t0:.2f} s")
    start = date(2026, 1, 1)

    t0 = time.perf_counter()
    for n in range(documents):
        day = start + timedelta(days=n % 360)
        ledger.run(
            lambda s, n=n, day=day: commands.record_expense(
                s,
                project,
                kind="invoice",
                supplier_id=supplier,
                number=f"B-{n}",
                issued_on=day,
                net_minor=10_000 + n,
                vat_minor=0,
                vat_recoverable=False,
                paid_by="payable",
                allocations=[
                    AllocationSpec("A.1", "grant", 6_000, funder),
                    AllocationSpec("B.1", "fundraising", 4_000 + n),
                ],
                file=DEMO_PDF + str(n).encode(),
                origin=origin,
                clock=clock,
                key=f"bench-{n}",
            )
        )
    through = time.perf_counter() - t0
    out(
        f"- record_expense (document, file, 2 allocations, entry, audit): "
        f"{documents / through:,.0f} documents/s ({through:.2f} s)"
    )
    t0 = time.perf_counter()
    for n in range(documents):
        ledger.post(
            EntrySpec(
                idempotency_key=f"bench-baseline-{n}",
                kind="project_expense",
                postings=[
                    PostingSpec(accounts.line(project, "A.1"), Money(6_000, "EUR")),
                    PostingSpec(accounts.line(project, "B.1"), Money(4_000 + n, "EUR")),
                    PostingSpec(accounts.payables(project), Money(-(10_000 + n), "EUR")),
                ],
                effective_on=start + timedelta(days=n % 360),
            )
        )
    baseline = time.perf_counter() - t0
    out(f"- baseline, Ledger.post of the same entries: {documents / baseline:,.0f} entries/s")

    t0 = time.perf_counter()
    report = ledger.read(lambda s: funder_report(s, project, foundation, start, date(2026, 12, 31)))
    built = time.perf_counter() - t0
    out(f"- funder_report over {len(report.documents)} documents: {built:.2f} s")
    for name, render in (
        ("JSON", lambda: report_json(report)),
        ("CSV", lambda: report_csv(report)),
        ("XLSX", lambda: report_xlsx(report)),
        ("PDF", lambda: report_pdf(report, generated_on=date(2027, 1, 15))),
    ):
        t0 = time.perf_counter()
        render()
        out(f"  rendered as {name}: {time.perf_counter() - t0:.2f} s")
    t0 = time.perf_counter()
    ledger.trial_balance()
    out(f"- baseline, trial balance of the same book: {time.perf_counter() - t0:.2f} s")
    ledger.engine.dispose()
