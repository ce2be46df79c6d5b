"""The fund and loan pages in a real browser, in Italian and English: accessible (axe-core,
no serious or critical violation), within their Content-Security-Policy, and usable on a
360-pixel phone (nothing scrolls sideways). A treasurer (with TOTP) sees the funds, a fund,
a loan and the forms; a borrower sees their own loan.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, StorageState, expect
from sqlalchemy.orm import Session

from ledger.core.clock import SystemClock, rome_today
from ledger.funds import lending
from ledger.funds import service as funds
from ledger.funds.loans import add_months
from ledger.people.service import find_user_by_email
from tests.browser.conftest import PHONE, LiveServer
from tests.browser.flows import at, sign_in, switch_language
from tests.browser.helpers import (
    assert_accessible,
    assert_fits_width,
    assert_no_csp_violations,
    watch_console,
)

PAGES = ["funds", "fund", "new-loan", "loan", "own-loan"]
LANGUAGES = ["it", "en"]


@pytest.fixture(scope="module")
def world(browser: Browser, live_server: LiveServer) -> dict[str, Any]:
    """A fund with money, a product and a disbursed loan; a treasurer's and the borrower's
    signed-in sessions."""
    clock = SystemClock()
    treasurer = live_server.create_user(["treasurer"], with_totp=True)
    borrower = live_server.create_user(["proponent"], name="Elena Sarti")
    today = rome_today(clock)

    def work(session: Session) -> tuple[int, int]:
        person = find_user_by_email(session, borrower.email)
        assert person is not None
        fund = funds.create_fund(
            session, name="Fondo rotativo del quartiere", kind="revolving", clock=clock
        )
        funds.deposit(
            session, fund.id, 2_000_000, source="foundation_grant", key="browser", clock=clock
        )
        product = lending.create_loan_product(
            session,
            fund_id=fund.id,
            name="Microcredito d'impresa al 6%",
            min_amount_minor=100_000,
            max_amount_minor=1_500_000,
            annual_rate="0.06",
            method="declining_equal_instalments",
            min_term_months=6,
            max_term_months=36,
            clock=clock,
        )
        loan = lending.open_loan(
            session,
            fund_id=fund.id,
            product_id=product.id,
            borrower_person_id=person.person_id,
            principal_minor=500_000,
            term_months=24,
            first_due_on=add_months(today, 1),
            key="browser-loan",
            clock=clock,
        )
        lending.disburse_loan(session, loan.id, clock=clock)
        return fund.id, loan.id

    fund_id, loan_id = live_server.books.run(work)
    states: dict[str, StorageState] = {}
    for who, user in (("treasurer", treasurer), ("borrower", borrower)):
        context = browser.new_context(base_url=live_server.url, locale="it-IT")
        sign_in(context.new_page(), user)
        states[who] = context.storage_state()
        context.close()
    paths = {
        "funds": ("treasurer", "/tesoreria/fondi"),
        "fund": ("treasurer", f"/tesoreria/fondi/{fund_id}"),
        "new-loan": ("treasurer", f"/tesoreria/fondi/{fund_id}/prestiti/nuovo"),
        "loan": ("treasurer", f"/tesoreria/prestiti/{loan_id}"),
        "own-loan": ("borrower", f"/account/prestiti/{loan_id}"),
    }
    return {"states": states, "paths": paths, "today": today}


def open_page(
    new_context: Callable[..., BrowserContext],
    world: dict[str, Any],
    name: str,
    language: str,
    **options: Any,
) -> Page:
    who, path = world["paths"][name]
    page = watch_console(new_context(storage_state=world["states"][who], **options).new_page())
    page.goto(path)
    expect(page).to_have_url(at(path))
    if language != "it":
        switch_language(page, language)
        expect(page).to_have_url(at(path))
    page.wait_for_load_state("load")
    return page


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", PAGES)
def test_the_fund_page_is_accessible_and_within_its_content_security_policy(
    new_context: Callable[..., BrowserContext],
    world: dict[str, Any],
    axe_source: str,
    name: str,
    language: str,
) -> None:
    page = open_page(new_context, world, name, language)
    assert_accessible(page, axe_source)
    assert_no_csp_violations(page)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", PAGES)
def test_the_fund_page_fits_a_360_pixel_phone_screen(
    new_context: Callable[..., BrowserContext], world: dict[str, Any], name: str, language: str
) -> None:
    page = open_page(
        new_context, world, name, language, viewport=PHONE, is_mobile=True, has_touch=True
    )
    assert_fits_width(page, PHONE["width"])


def test_a_treasurer_records_a_repayment_in_the_browser(
    new_context: Callable[..., BrowserContext], world: dict[str, Any], live_server: LiveServer
) -> None:
    page = open_page(new_context, world, "loan", "it")
    page.get_by_label("Importo ricevuto").fill("215,10")
    page.get_by_label("Data del pagamento").fill(world["today"].isoformat())
    page.get_by_role("button", name="Registra il pagamento").click()
    expect(page.get_by_role("status")).to_contain_text("Pagamento registrato")
    expect(page.locator("table").nth(1)).to_contain_text("215,10 EUR")
