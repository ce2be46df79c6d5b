"""The administration pages and the home page in a real browser, in Italian and English:
accessible (axe-core, no serious or critical violation), within their
Content-Security-Policy, and usable on a 360-pixel phone (nothing scrolls sideways);
the menu grouped by area opens on a phone; and a user creates an API token on their
account page, sees it once, and revokes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, StorageState, expect

from tests.browser.conftest import PHONE, LiveServer
from tests.browser.flows import at, sign_in, switch_language
from tests.browser.helpers import (
    assert_accessible,
    assert_fits_width,
    assert_no_csp_violations,
    watch_console,
)

LANGUAGES = ["it", "en"]
PAGES = {
    "home": "/",
    "users": "/admin/utenti",
    "user": None,  # the user's own page, known once they exist
    "foundations": "/admin/fondazioni",
    "settings": "/admin/impostazioni",
    "periods": "/admin/periodi",
    "verify": "/admin/verifica",
    "exports": "/admin/esportazioni",
    "tokens": "/account/tokens",
}


@pytest.fixture(scope="module")
def world(browser: Browser, live_server: LiveServer) -> dict[str, Any]:
    """A treasurer who is also an admin, signed in with their second factor; a foundation
    with no officer yet."""
    staff = live_server.create_user(["treasurer", "admin"], with_totp=True)
    context = browser.new_context(base_url=live_server.url, locale="it-IT")
    page = context.new_page()
    sign_in(page, staff)
    page.goto("/admin/fondazioni")
    page.get_by_label("Nome della fondazione").fill("Fondazione di Comunità")
    page.get_by_role("button", name="Registra la fondazione").click()
    expect(page.locator("#contenuto")).to_contain_text("Fondazione di Comunità")
    page.goto("/admin/utenti")
    page.get_by_role("link", name=staff.email).click()
    user_path = re.sub(r"^https?://[^/]+", "", page.url)
    state: StorageState = context.storage_state()
    context.close()
    return {"state": state, "paths": {**PAGES, "user": user_path}}


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
@pytest.mark.parametrize("name", list(PAGES))
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


@pytest.mark.parametrize("name", list(PAGES))
def test_the_page_fits_a_360_pixel_phone_screen(
    new_context: Callable[..., BrowserContext], world: dict[str, Any], name: str
) -> None:
    page = open_page(new_context, world, name, "it", viewport=PHONE, is_mobile=True, has_touch=True)
    assert_fits_width(page, PHONE["width"])


def test_verify_shows_its_result_accessibly_on_a_phone(
    new_context: Callable[..., BrowserContext], world: dict[str, Any], axe_source: str
) -> None:
    page = open_page(
        new_context, world, "verify", "it", viewport=PHONE, is_mobile=True, has_touch=True
    )
    page.get_by_role("button", name="Verifica i conti").click()
    expect(page.locator("#verify-result")).to_contain_text("Tutto in regola")
    assert_accessible(page, axe_source)
    assert_fits_width(page, PHONE["width"])


def test_the_menu_opens_a_group_of_links_on_a_phone_and_still_fits(
    new_context: Callable[..., BrowserContext], world: dict[str, Any], axe_source: str
) -> None:
    page = open_page(
        new_context, world, "home", "it", viewport=PHONE, is_mobile=True, has_touch=True
    )
    banner = page.get_by_role("banner")
    users = banner.get_by_role("link", name="Utenti e ruoli", exact=True)
    expect(users).to_be_hidden()
    banner.get_by_text("Amministrazione", exact=True).click()
    expect(users).to_be_visible()
    assert_fits_width(page, PHONE["width"])
    assert_accessible(page, axe_source)
    users.click()
    expect(page).to_have_url(at("/admin/utenti"))


def test_a_user_creates_a_token_sees_it_once_and_revokes_it(
    new_context: Callable[..., BrowserContext], world: dict[str, Any], live_server: LiveServer
) -> None:
    page = open_page(new_context, world, "tokens", "it")
    page.get_by_label("A cosa serve").fill("esportazione notturna")
    page.get_by_label("Validità (giorni)").fill("30")
    page.get_by_role("button", name="Crea il token").click()
    token = page.locator("#issued-token").inner_text().strip()
    assert token
    api = page.context.request
    me = api.get(f"{live_server.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status == 200

    page.goto("/account/tokens")
    expect(page.locator("#issued-token")).to_have_count(0)  # shown once only
    row = page.get_by_role("row").filter(has_text="esportazione notturna")
    row.get_by_role("button", name="Revoca").click()
    expect(page.get_by_role("row").filter(has_text="esportazione notturna")).to_contain_text(
        "revocato"
    )
    refused = api.get(f"{live_server.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert refused.status == 401
