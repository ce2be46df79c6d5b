"""The projects' demo: Fare #BeneComune and the FareLegami plan with 100 partners, loaded
once through the use cases, and part of `ledger demo`."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import func, select

from ledger.projects.demo import FARE_LEGAMI, load_demo_projects
from ledger.projects.getters import budget_in_force, funders_of, version_rows
from ledger.projects.models import Project, ProjectPartner
from ledger.projects.report import funder_report


def test_the_demo_projects_load_once(ledger, clock):
    assert ledger.run(lambda s: load_demo_projects(s, clock)) == 2
    assert ledger.run(lambda s: load_demo_projects(s, clock)) == 0
    assert ledger.verify().ok


def test_farelegami_is_cofinanced_by_100_partners_within_cariplos_limits(ledger, clock):
    ledger.run(lambda s: load_demo_projects(s, clock))

    def read(s):
        project = s.scalar(select(Project.id).where(Project.title == FARE_LEGAMI))
        partners = s.scalar(
            select(func.count())
            .select_from(ProjectPartner)
            .where(ProjectPartner.project_id == project)
        )
        version = budget_in_force(s, project)
        total = sum(a.amount_minor for _l, amounts in version_rows(s, version.id) for a in amounts)
        foundation = funders_of(s, project)[0].foundation_id
        report = funder_report(s, project, foundation, date(2026, 1, 1), date(2026, 12, 31))
        return partners, version.status, total, report

    partners, status, total, report = ledger.read(read)
    assert (partners, status, total) == (100, "approved", 330_000_000)
    assert report.grant_minor == 150_000_000
    assert str(report.cofinancing_share_budget) == "0.5455"


def test_ledger_demo_loads_the_projects_too(run, book):
    assert run("demo").exit_code == 0
    listed = json.loads(run("projects", "list", "--format", "json").output)
    assert [p["title"] for p in listed] == ["Fare #BeneComune", "FareLegami"]
    assert run("demo").output.strip() == "the demo data is already there; nothing changed"
