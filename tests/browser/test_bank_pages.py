"""The treasurer's bank pages in a real browser, in Italian and English: accessible
(axe-core, no serious or critical violation), within their Content-Security-Policy, and
usable on a 360-pixel phone (nothing scrolls sideways); and the statement upload with
its progress bar, which only a browser runs (bank-upload.js sends the file by
XMLHttpRequest and follows the answer).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, StorageState, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.commands import Origin
from ledger.core.clock import SystemClock
from ledger.reconcile.commands import create_bank_account, import_statement
from ledger.reconcile.models import BankLine
from ledger.reconcile.rule_commands import create_rule
from ledger.reconcile.rules import Conditions
from tests.bank_fixtures import FI_053, fixture_bytes, fixtures_dir
from tests.browser.conftest import PHONE, LiveServer
from tests.browser.flows import at, sign_in, switch_language
from tests.browser.helpers import (
    assert_accessible,
    assert_fits_width,
    assert_no_csp_violations,
    watch_console,
)

# The FI sample's account, and another for the upload test.
FI_IBAN = "FI7433010001222090"
PAGES = ["accounts", "import", "queue", "line", "rules", "preset", "reconciliation"]
LANGUAGES = ["it", "en"]
CLI = Origin(channel="cli", source="browser-test")


@pytest.fixture(scope="module")
def world(browser: Browser, live_server: LiveServer) -> dict[str, Any]:
    """A bank account with the FI camt.053 imported; a treasurer's signed-in session."""
    clock = SystemClock()
    treasurer = live_server.create_user(["treasurer"], with_totp=True)
    live_server.books.create_account("assets:bank:fi", "asset")
    live_server.books.create_account("expenses:bank_fees", "expense")

    def work(session: Session) -> tuple[int, int]:
        account = create_bank_account(
            session, iban=FI_IBAN, account_code="assets:bank:fi", origin=CLI, clock=clock
        ).value
        import_statement(session, FI_IBAN, fixture_bytes(FI_053), origin=CLI, clock=clock)
        for name, text in (("Commissioni", "commissioni"), ("Interessi", "interessi")):
            create_rule(
                session,
                FI_IBAN,
                name,
                Conditions(text_contains=text, direction="out"),
                action="book",
                account_code="expenses:bank_fees",
                narration=name,
                origin=CLI,
                clock=clock,
            )
        line = session.scalars(
            select(BankLine.id)
            .where(BankLine.bank_account_id == account.id, BankLine.amount_minor > 0)
            .limit(1)
        ).one()
        return account.id, line

    account_id, line_id = live_server.books.run(work)
    context = browser.new_context(base_url=live_server.url, locale="it-IT")
    sign_in(context.new_page(), treasurer)
    state: StorageState = context.storage_state()
    context.close()
    paths = {
        "accounts": "/banca",
        "import": f"/banca/{account_id}/importa",
        "queue": f"/banca/{account_id}/movimenti",
        "line": f"/banca/movimenti/{line_id}",
        "rules": f"/banca/{account_id}/regole",
        "preset": f"/banca/{account_id}/colonne",
        "reconciliation": f"/banca/{account_id}/riconciliazione",
    }
    return {"state": state, "paths": paths, "account_id": account_id}


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
def test_the_bank_page_is_accessible_and_within_its_content_security_policy(
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
def test_the_bank_page_fits_a_360_pixel_phone_screen(
    new_context: Callable[..., BrowserContext], world: dict[str, Any], name: str
) -> None:
    page = open_page(new_context, world, name, "it", viewport=PHONE, is_mobile=True, has_touch=True)
    assert_fits_width(page, PHONE["width"])


def test_a_statement_uploads_with_its_progress_bar_and_shows_what_was_already_there(
    new_context: Callable[..., BrowserContext], world: dict[str, Any]
) -> None:
    page = open_page(new_context, world, "import", "it")
    page.set_input_files("input[type=file]", str(fixtures_dir() / FI_053))
    page.get_by_role("button", name="Importa").click()
    # The script followed the redirect to the import's result: the same file again adds
    # nothing and says which lines were there already.
    expect(page).to_have_url(re.compile(r"/banca/importazioni/\d+$"), timeout=15_000)
    expect(page.locator("#known-count")).not_to_have_text("0")
    expect(page.locator("#contenuto")).to_contain_text("Movimenti già importati")
    assert_no_csp_violations(page)
