"""The home page per role and the navigation grouped by area.

A treasurer's day shows, each as a count and a link to the page that deals with
it: bank lines to explain, refunds waiting, gifts flagged, loans in arrears,
tranches waiting for approval or payment, campaigns closing within a week; and the
last job runs when a source of them is installed (`web.home.set_job_runs_source`).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from ledger.campaigns.models import Donation, Refund
from ledger.commands import Origin
from ledger.core.clock import FixedClock
from ledger.core.service import Ledger
from ledger.jobs.registry import Job, JobContext
from ledger.jobs.runner import run_job
from tests.integration.test_campaign_commands import new_campaign
from tests.integration.test_fund_commands import fund_with_product, paid_out
from tests.integration.test_transfer_gifts import start
from tests.web.test_admin_pages import _sign_in_with_code, _unexplained_may_line, choose_english
from web.home import JobRunLine, set_job_runs_source


def task(html: str, key: str) -> tuple[int, str]:
    """The count and the link of one line of the day."""
    match = re.search(
        rf'id="task-{key}"[^>]*>\s*<a href="([^"]+)"><span class="task-count">(\d+)</span>', html
    )
    assert match, f"no line {key} on the page"
    return int(match.group(2)), match.group(1)


def nav(html: str) -> str:
    return html.split('class="main-nav"', 1)[1].split("</nav>", 1)[0]


def test_a_visitor_sees_what_the_register_is_and_where_to_sign_in(client: FlaskClient):
    html = client.get("/").get_data(as_text=True)
    assert "/register" in html and "/login" in html
    assert "task-list" not in html and "nav-group" not in nav(html)


def test_a_treasurers_day_counts_what_waits_and_links_to_where_it_is_dealt_with(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
):
    _unexplained_may_line(ledger)
    fund_id, product_id = fund_with_product(ledger)
    paid_out(ledger, fund_id, product_id)
    clock.instant += timedelta(days=45)  # the first instalment is now late
    campaign_id = new_campaign(ledger)  # closes 30 days from now
    gift_id = start(ledger, campaign_id, "25.00", "bonifico-1")

    def flag_and_refund(s: Session) -> None:
        s.execute(update(Donation).where(Donation.id == gift_id).values(flagged_reason="importo"))
        s.add(
            Refund(
                donation_id=gift_id,
                amount_minor=500,
                currency="EUR",
                reason="requested",
                status="pending",
                created_at=clock.now(),
            )
        )

    ledger.run(flag_and_refund)
    _sign_in_with_code(client, ledger, "tesoriere@example.org", ["treasurer"])

    html = client.get("/").get_data(as_text=True)
    assert task(html, "bank_lines") == (1, "/banca")
    assert task(html, "refunds") == (1, "/tesoreria/donazioni")
    assert task(html, "flagged") == (1, "/tesoreria/donazioni?segnalate=1")
    assert task(html, "arrears") == (1, "/tesoreria/fondi")
    assert task(html, "tranches_to_approve") == (0, "/gestione/bandi")
    assert task(html, "tranches_to_pay") == (0, "/gestione/bandi")
    assert task(html, "closing") == (0, "/tesoreria/campagne")

    clock.instant += timedelta(days=25)  # five days before the deadline
    html = client.get("/").get_data(as_text=True)
    assert task(html, "closing")[0] == 1


def test_the_day_links_lead_to_pages_the_treasurer_may_open(client: FlaskClient, ledger: Ledger):
    _sign_in_with_code(client, ledger, "tesoriere@example.org", ["treasurer"])
    html = client.get("/").get_data(as_text=True)
    links = re.findall(r'id="task-\w+"[^>]*>\s*<a href="([^"]+)"', html)
    assert len(links) == 7
    for link in set(links):
        assert client.get(link).status_code == 200, link


@pytest.mark.parametrize(("language", "label"), [("it", "Tesoreria"), ("en", "Treasury")])
def test_the_treasurers_home_page_renders_in_italian_and_english(
    client: FlaskClient, ledger: Ledger, language: str, label: str
):
    _sign_in_with_code(client, ledger, "tesoriere@example.org", ["treasurer"])
    if language == "en":
        choose_english(client)
    html = client.get("/").get_data(as_text=True)
    assert f'<html lang="{language}">' in html
    assert label in nav(html)
    assert 'id="task-bank_lines"' in html


def test_the_last_job_runs_are_read_from_the_runs_the_worker_records_or_from_an_installed_source(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
):
    _sign_in_with_code(client, ledger, "admin@example.org", ["admin"])
    before = client.get("/").get_data(as_text=True)
    assert 'id="job-runs"' in before and "Nessun lavoro eseguito finora" in before

    ctx = JobContext(ledger=ledger, origin=Origin.command_line(), settings={"JOB_RETRIES": 0})
    run_job(ctx, Job("bank_match", timedelta(minutes=10), lambda ctx: {"matched": 0}))
    recorded = client.get("/").get_data(as_text=True)
    assert "<code>bank_match</code>: succeeded" in recorded

    run = JobRunLine("outbox", clock.now(), clock.now(), "succeeded")
    set_job_runs_source(client.application, lambda db: [run])
    installed = client.get("/").get_data(as_text=True)
    assert "<code>outbox</code>: succeeded" in installed
    assert "bank_match" not in installed

    set_job_runs_source(client.application, None)
    assert "non sono ancora registrati" in client.get("/").get_data(as_text=True)


def test_a_donor_sees_neither_the_treasurers_day_nor_the_staff_menus(
    client: FlaskClient, ledger: Ledger
):
    from tests.web.conftest import make_user, sign_in

    make_user(ledger, "anna@example.org", ["donor"])
    sign_in(client, "anna@example.org")
    html = client.get("/").get_data(as_text=True)
    assert "task-bank_lines" not in html and 'id="job-runs"' not in html
    menu = nav(html)
    assert 'id="nav-mine"' in menu
    for group in ("treasury", "books", "admin", "review", "grants", "projects"):
        assert f'id="nav-{group}"' not in menu
    assert "/account/tokens" in menu


@pytest.mark.parametrize(
    ("roles", "groups"),
    [
        (["treasurer"], {"mine", "treasury", "books", "projects"}),
        (["admin"], {"mine", "admin", "projects"}),
        (["reviewer", "proponent"], {"mine", "review"}),
        (["foundation_officer"], {"mine", "grants", "projects"}),
        (["project_staff"], {"mine", "projects"}),
        (["partner"], {"mine", "projects"}),
    ],
)
def test_the_navigation_has_a_group_per_area_of_the_users_roles(
    client: FlaskClient, ledger: Ledger, roles: list[str], groups: set[str]
):
    _sign_in_with_code(client, ledger, "persona@example.org", roles)
    html = client.get("/").get_data(as_text=True)
    shown = set(re.findall(r'<details id="nav-(\w+)"', nav(html)))
    assert shown == groups
    for href in set(re.findall(r'href="([^"]+)"', nav(html))):
        assert client.get(href).status_code == 200, href


def test_the_group_of_the_current_page_is_marked(client: FlaskClient, ledger: Ledger):
    _sign_in_with_code(client, ledger, "admin@example.org", ["admin"])
    menu = nav(client.get("/admin/utenti").get_data(as_text=True))
    assert '<details id="nav-admin" data-current>' in menu
    assert 'href="/admin/utenti" aria-current="page"' in menu
