"""The privacy notice and the admin's job-runs and people pages in a real browser, in
Italian and English: accessible (axe-core), within their Content-Security-Policy, and
usable on a 360-pixel phone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, StorageState, expect
from sqlalchemy import select

from ledger.commands import Origin
from ledger.jobs.registry import Job, JobContext
from ledger.jobs.runner import run_job
from ledger.people.models import Person
from tests.browser.conftest import PHONE, LiveServer
from tests.browser.flows import at, sign_in, switch_language
from tests.browser.helpers import (
    assert_accessible,
    assert_fits_width,
    assert_no_csp_violations,
    watch_console,
)

PAGES = ["privacy", "job_runs", "people", "erase"]
LANGUAGES = ["it", "en"]


def failing(ctx: JobContext) -> dict[str, int]:
    raise RuntimeError("the bank's server did not answer")


@pytest.fixture(scope="module")
def world(browser: Browser, live_server: LiveServer) -> dict[str, Any]:
    """Two job runs, a donor to find, and an admin's signed-in session."""
    admin = live_server.create_user(["admin"], with_totp=True)
    donor = live_server.create_user(["donor"], name="Ottavia Donatrice")
    ctx = JobContext(ledger=live_server.books, origin=Origin.command_line(), settings={})
    run_job(ctx, Job("holds_expire", timedelta(minutes=5), lambda c: {"expired": 2}))
    run_job(ctx, Job("bank_match", timedelta(hours=1), failing))
    person_id = live_server.books.read(
        lambda s: s.scalars(select(Person.id).where(Person.email == donor.email)).one()
    )
    context = browser.new_context(base_url=live_server.url, locale="it-IT")
    sign_in(context.new_page(), admin)
    state: StorageState = context.storage_state()
    context.close()
    paths = {
        "privacy": "/privacy",
        "job_runs": "/admin/lavori",
        "people": f"/admin/persone?email={donor.email}",
        "erase": f"/admin/persone/{person_id}/cancella",
    }
    return {"state": state, "paths": paths}


def open_page(
    new_context: Callable[..., BrowserContext],
    world: dict[str, Any],
    name: str,
    language: str,
    **options: Any,
) -> Page:
    path = world["paths"][name]
    page = watch_console(new_context(storage_state=world["state"], **options).new_page())
    page.goto(path)
    expect(page).to_have_url(at(path))
    if language != "it":
        switch_language(page, language)
        expect(page).to_have_url(at(path))
    page.wait_for_load_state("load")
    return page


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", PAGES)
def test_the_page_is_accessible_and_within_its_content_security_policy(
    new_context: Callable[..., BrowserContext],
    world: dict[str, Any],
    axe_source: str,
    name: str,
    language: str,
) -> None:
    page = open_page(new_context, world, name, language)
    assert_accessible(page, axe_source)
    assert_no_csp_violations(page)


@pytest.mark.parametrize("name", PAGES)
def test_the_page_fits_a_360_pixel_phone_screen(
    new_context: Callable[..., BrowserContext], world: dict[str, Any], name: str
) -> None:
    page = open_page(new_context, world, name, "it", viewport=PHONE, is_mobile=True, has_touch=True)
    assert_fits_width(page, PHONE["width"])


def test_the_job_runs_page_shows_the_failed_run_and_its_error(
    new_context: Callable[..., BrowserContext], world: dict[str, Any]
) -> None:
    page = open_page(new_context, world, "job_runs", "it")
    expect(
        page.get_by_role("cell", name="RuntimeError: the bank's server did not answer")
    ).to_be_visible()
    expect(page.get_by_role("cell", name="expired 2")).to_be_visible()
