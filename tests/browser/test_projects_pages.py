"""The projects pages in a real browser, in Italian and English: accessible (axe-core, no
serious or critical violation), within their Content-Security-Policy, and usable on a
360-pixel phone (nothing scrolls sideways), expense entry included; and an expense
recorded from the phone with a photo of the receipt.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, StorageState, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.commands import Origin
from ledger.core.clock import SystemClock
from ledger.projects import commands
from ledger.projects.demo import BENE_COMUNE, load_bene_comune
from ledger.projects.models import Project, ProjectDocument
from tests.browser.conftest import PHONE, LiveServer
from tests.browser.flows import at, sign_in, switch_language
from tests.browser.helpers import (
    assert_accessible,
    assert_fits_width,
    assert_no_csp_violations,
    watch_console,
)

PAGES = ["list", "project", "budget", "propose", "expense", "money", "volunteer", "report"]
LANGUAGES = ["it", "en"]
JPEG = b"\xff\xd8\xff\xe0" + b"scontrino" * 40


@pytest.fixture(scope="module")
def world(browser: Browser, live_server: LiveServer) -> dict[str, Any]:
    """The demo project and a signed-in member of its lead organisation's project staff."""
    clock = SystemClock()
    staff = live_server.create_user(["project_staff"], with_totp=True)

    def work(session: Session) -> tuple[int, int]:
        load_bene_comune(session, clock)
        project = session.scalars(select(Project).where(Project.title == BENE_COMUNE)).one()
        from ledger.people.service import find_user_by_email

        user = find_user_by_email(session, staff.email)
        assert user is not None
        commands.add_organisation_member(
            session,
            organisation_id=project.lead_organisation_id,
            user_id=user.id,
            origin=Origin.command_line(),
            clock=clock,
        )
        return project.id, project.lead_organisation_id

    project_id, _lead = live_server.books.run(work)
    context = browser.new_context(base_url=live_server.url, locale="it-IT")
    sign_in(context.new_page(), staff)
    state: StorageState = context.storage_state()
    context.close()
    p = f"/progetti/{project_id}"
    paths = {
        "list": "/progetti",
        "project": p,
        "budget": f"{p}/budget",
        "propose": f"{p}/budget/proponi",
        "expense": f"{p}/spese/nuova",
        "money": f"{p}/entrate",
        "volunteer": f"{p}/volontariato",
        "report": f"{p}/rendiconto",
    }
    return {"state": state, "paths": paths, "project_id": project_id}


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
def test_the_projects_page_is_accessible_and_within_its_content_security_policy(
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
def test_the_projects_page_fits_a_360_pixel_phone_screen(
    new_context: Callable[..., BrowserContext], world: dict[str, Any], name: str
) -> None:
    page = open_page(new_context, world, name, "it", viewport=PHONE, is_mobile=True, has_touch=True)
    assert_fits_width(page, PHONE["width"])


def test_an_expense_is_entered_on_a_phone_with_a_photo_of_the_receipt(
    new_context: Callable[..., BrowserContext],
    world: dict[str, Any],
    live_server: LiveServer,
    tmp_path: Path,
) -> None:
    page = open_page(
        new_context, world, "expense", "it", viewport=PHONE, is_mobile=True, has_touch=True
    )
    photo = tmp_path / "scontrino.jpg"
    photo.write_bytes(JPEG)
    page.get_by_label("Tipo di documento").select_option("receipt")
    page.get_by_label("Fornitore").select_option(label="Tipografia Ticino srl")
    page.get_by_label("Numero del documento").fill("SC-TEL-1")
    page.get_by_label("Imponibile").fill("40,00")
    page.get_by_label("IVA", exact=True).fill("0")
    page.set_input_files("input[type=file]", str(photo))
    page.locator("#allocations-0-line").select_option("B.1")
    page.locator("#allocations-0-source").select_option(index=1)
    page.locator("#allocations-0-amount").fill("40,00")
    page.get_by_role("button", name="Registra la spesa").click()
    expect(page).to_have_url(re.compile(rf"/progetti/{world['project_id']}$"))
    expect(page.locator("#contenuto")).to_contain_text("Spesa registrata.")
    assert_fits_width(page, PHONE["width"])
    found = live_server.books.read(
        lambda s: s.scalar(
            select(ProjectDocument.eligible_minor).where(ProjectDocument.number == "SC-TEL-1")
        )
    )
    assert found == 4000
