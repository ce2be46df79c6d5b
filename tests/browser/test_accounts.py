"""Registering, signing in and out, and a refused sign-in, in the browser."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, LiveServer
from tests.browser.flows import at, fill_sign_in, header, sign_in, signed_in_header, unique_email


def test_a_visitor_registers_as_a_donor_and_lands_in_their_personal_area(
    page: Page, live_server: LiveServer
) -> None:
    email = unique_email("donatrice")
    page.goto("/register")
    page.get_by_label("Nome e cognome", exact=True).fill("Lucia Ferrara")
    page.get_by_label("E-mail", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Conferma la password", exact=True).fill(PASSWORD)
    roles = page.get_by_role("group", name="Ruolo")
    expect(roles.get_by_role("radio", name="Proponente", exact=True)).to_have_value("proponent")
    donor = roles.get_by_role("radio", name="Donatore", exact=True)
    expect(donor).to_have_value("donor")
    donor.check()
    page.get_by_role("button", name="Crea l'account", exact=True).click()

    # No account until the link mailed to the address is followed with the password.
    expect(page).to_have_url(at("/login"))
    expect(page.get_by_role("status")).to_contain_text("Ti abbiamo scritto")
    page.goto(live_server.mailed_link(email, "/register/confirm#token="))
    page.get_by_label("La password che hai scelto", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Attiva l'account", exact=True).click()

    expect(page).to_have_url(at("/account"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Area personale")
    expect(page.get_by_role("status")).to_contain_text("Registrazione completata: benvenuto!")
    main = page.get_by_role("main")
    expect(main).to_contain_text("Lucia Ferrara")
    expect(main).to_contain_text(email)
    signed_in_header(page)


def test_a_registered_user_signs_in_with_e_mail_and_password(
    page: Page, live_server: LiveServer
) -> None:
    user = live_server.create_user(["proponent"], name="Marco Esposito")
    sign_in(page, user)
    page.goto("/account")
    expect(page).to_have_url(at("/account"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Area personale")
    expect(page.get_by_role("main")).to_contain_text("Marco Esposito")
    expect(page.get_by_role("main")).to_contain_text(user.email)


def test_signing_out_returns_to_the_home_page_signed_out(
    page: Page, live_server: LiveServer
) -> None:
    user = live_server.create_user(["donor"])
    sign_in(page, user)
    header(page).get_by_role("button", name="Esci", exact=True).click()

    expect(page).to_have_url(at("/"))
    expect(header(page).get_by_role("link", name="Accedi", exact=True)).to_be_visible()
    expect(header(page).get_by_role("link", name="Registrati", exact=True)).to_be_visible()
    expect(header(page).get_by_role("button", name="Esci", exact=True)).to_have_count(0)
    page.goto("/account")
    expect(page).to_have_url(at("/login"))


def test_a_wrong_password_keeps_the_visitor_on_the_sign_in_page_with_an_error(
    page: Page, live_server: LiveServer
) -> None:
    user = live_server.create_user(["donor"])
    fill_sign_in(page, user.email, "non-è-la-password-giusta")

    expect(page).to_have_url(at("/login"))
    expect(page.get_by_role("alert")).to_contain_text("E-mail o password non corretti.")
    expect(header(page).get_by_role("button", name="Esci", exact=True)).to_have_count(0)
    page.goto("/account")
    expect(page).to_have_url(at("/login"))


def test_an_unknown_e_mail_gets_the_same_error_as_a_wrong_password(page: Page) -> None:
    fill_sign_in(page, unique_email("nessuno"), PASSWORD)

    expect(page).to_have_url(at("/login"))
    expect(page.get_by_role("alert")).to_contain_text("E-mail o password non corretti.")


def test_an_anonymous_visitor_is_offered_to_sign_in_or_register(page: Page) -> None:
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "it")
    expect(header(page).get_by_role("link", name="Accedi", exact=True)).to_be_visible()
    expect(header(page).get_by_role("link", name="Registrati", exact=True)).to_be_visible()
    expect(header(page).get_by_role("button", name="Esci", exact=True)).to_have_count(0)
