"""A treasurer's TOTP: enrolment before the first money-moving page, then codes at sign-in."""

from __future__ import annotations

import pyotp
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer
from tests.browser.flows import (
    at,
    enter_code,
    fill_sign_in,
    fresh_code,
    header,
    sign_in,
    signed_in_header,
)

MONEY_PAGE = "/contabilita/registrazioni/nuova"


def wrong_code(right: str) -> str:
    return f"{(int(right) + 500_000) % 1_000_000:06d}"


def test_a_treasurer_enrols_totp_before_the_first_money_page_then_signs_in_with_a_fresh_code(
    page: Page, live_server: LiveServer
) -> None:
    treasurer = live_server.create_user(["treasurer"], name="Paola Conti")
    sign_in(page, treasurer)

    page.goto(MONEY_PAGE)
    expect(page).to_have_url(at("/account/2fa"))
    secret = "".join(page.locator("code#totp-secret").inner_text().split())
    assert len(secret) >= 16
    expect(page.get_by_role("main").locator("svg").first).to_be_visible()
    used = pyotp.TOTP(secret).now()
    enter_code(page, used, "Attiva")

    expect(page).to_have_url(at(MONEY_PAGE))
    expect(page.get_by_role("heading", level=1)).to_have_text("Nuova registrazione")
    expect(page.get_by_role("status")).to_contain_text("Autenticazione a due fattori attivata.")

    header(page).get_by_role("button", name="Esci", exact=True).click()
    expect(page).to_have_url(at("/"))
    fill_sign_in(page, treasurer.email, treasurer.password)
    expect(page).to_have_url(at("/login/2fa"))
    enter_code(page, used, "Verifica")
    expect(page).to_have_url(at("/login/2fa"))
    expect(header(page).get_by_role("button", name="Esci", exact=True)).to_have_count(0)

    enter_code(page, fresh_code(secret), "Verifica")
    signed_in_header(page)
    page.goto(MONEY_PAGE)
    expect(page).to_have_url(at(MONEY_PAGE))
    expect(page.get_by_role("heading", level=1)).to_have_text("Nuova registrazione")


def test_a_wrong_code_does_not_activate_two_factor_or_open_the_money_page(
    page: Page, live_server: LiveServer
) -> None:
    treasurer = live_server.create_user(["treasurer"])
    sign_in(page, treasurer)
    page.goto(MONEY_PAGE)
    expect(page).to_have_url(at("/account/2fa"))
    secret = "".join(page.locator("code#totp-secret").inner_text().split())

    enter_code(page, wrong_code(pyotp.TOTP(secret).now()), "Attiva")
    expect(page).to_have_url(at("/account/2fa"))
    expect(page.get_by_label("Codice a 6 cifre", exact=True)).to_be_visible()
    page.goto(MONEY_PAGE)
    expect(page).to_have_url(at("/account/2fa"))


def test_a_wrong_code_at_sign_in_leaves_the_treasurer_signed_out(
    page: Page, live_server: LiveServer
) -> None:
    treasurer = live_server.create_user(["treasurer"], with_totp=True)
    assert treasurer.totp_secret is not None
    fill_sign_in(page, treasurer.email, treasurer.password)
    expect(page).to_have_url(at("/login/2fa"))

    enter_code(page, wrong_code(pyotp.TOTP(treasurer.totp_secret).now()), "Verifica")
    expect(page).to_have_url(at("/login/2fa"))
    expect(header(page).get_by_role("button", name="Esci", exact=True)).to_have_count(0)
    page.goto("/contabilita/bilancio")
    expect(page).not_to_have_url(at("/contabilita/bilancio"))
