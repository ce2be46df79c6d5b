"""The language switch in the header: Italian by default, English on request."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer
from tests.browser.flows import at, sign_in, switch_language


def test_the_language_switch_turns_the_pages_into_english_and_back(page: Page) -> None:
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", "it")
    expect(page.get_by_role("button", name="Accedi", exact=True)).to_be_visible()

    switch_language(page, "en")
    expect(page).to_have_url(at("/login"))
    expect(page.get_by_label("E-mail", exact=True)).to_be_visible()
    expect(page.get_by_label("Password", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()

    page.goto("/register")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("button", name="Create account", exact=True)).to_be_visible()

    switch_language(page, "it")
    expect(page).to_have_url(at("/register"))
    expect(page.get_by_role("button", name="Crea l'account", exact=True)).to_be_visible()


def test_a_signed_in_user_reads_their_account_in_english(
    page: Page, live_server: LiveServer
) -> None:
    user = live_server.create_user(["donor"], name="Anna Greco")
    sign_in(page, user)
    page.goto("/account")
    expect(page.get_by_role("heading", level=1)).to_have_text("Area personale")

    switch_language(page, "en")
    expect(page).to_have_url(at("/account"))
    expect(page.get_by_role("heading", level=1)).to_have_text("My account")
    expect(page.get_by_role("main")).to_contain_text("Anna Greco")
    page.goto("/account")
    expect(page.locator("html")).to_have_attribute("lang", "en")
