"""What a person does in the browser, by the labels and names the pages show.

Locators go by role and accessible name (label, legend, button text), as a
screen reader would: a test that finds a field by its label also proves the
field has that label.
"""

from __future__ import annotations

import re
import time
import uuid

import pyotp
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import User

# Page texts of the contract, per language.
TEXTS = {
    "it": {
        "sign_in": "Accedi",
        "register": "Crea l'account",
        "sign_out": "Esci",
        "account": "Area personale",
        "switch": "English",
    },
    "en": {
        "sign_in": "Sign in",
        "register": "Create account",
        "sign_out": "Sign out",
        "account": "My account",
        "switch": "Italiano",
    },
}
CODE_LABEL = "Codice a 6 cifre"


def at(path: str) -> re.Pattern[str]:
    """A URL on the live server whose path is `path` (any query string)."""
    return re.compile(rf"^https?://[^/]+{re.escape(path)}(\?.*)?$")


def unique_email(prefix: str = "persona") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@esempio.it"


def fill_sign_in(page: Page, email: str, password: str, button: str = "Accedi") -> None:
    """Submit the sign-in form (opening /login unless the page is already on it)."""
    if not at("/login").match(page.url):
        page.goto("/login")
    page.get_by_label("E-mail", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name=button, exact=True).click()


def header(page: Page) -> Locator:
    """The site header (the page's banner landmark)."""
    return page.get_by_role("banner")


def signed_in_header(page: Page) -> None:
    """The header offers to sign out, and no longer to sign in."""
    expect(header(page).get_by_role("button", name="Esci", exact=True)).to_be_visible()
    expect(header(page).get_by_role("link", name="Accedi", exact=True)).to_have_count(0)


def enter_code(page: Page, code: str, button: str) -> None:
    page.get_by_label(CODE_LABEL, exact=True).fill(code)
    page.get_by_role("button", name=button, exact=True).click()


def fresh_code(secret: str) -> str:
    """A code of the next 30-second step: never used yet, and inside the ±1 step window."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def sign_in(page: Page, user: User) -> None:
    """Sign in with e-mail and password, and with a TOTP code when the user has one."""
    fill_sign_in(page, user.email, user.password)
    if user.totp_secret:
        expect(page).to_have_url(at("/login/2fa"))
        enter_code(page, pyotp.TOTP(user.totp_secret).now(), "Verifica")
    signed_in_header(page)


def switch_language(page: Page, to: str) -> None:
    """Press the header's language button and wait for the page in language `to`."""
    other = "it" if to == "en" else "en"
    page.get_by_role("button", name=TEXTS[other]["switch"], exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", to)
    page.wait_for_load_state("load")  # its stylesheet too, before anyone measures it
