"""Every main page, in Italian and English: accessible, within its CSP, usable on a phone.

Accessibility is checked with axe-core (no serious or critical violation); the
Content-Security-Policy check fails on any resource or code chromium refused
while the page and the steps to reach it loaded; at 360 CSS pixels (a small
phone) nothing may make the page scroll sideways. Each page is reached the way
its user reaches it (signed in, with a TOTP code where the role needs one),
and the test checks it is on that page, so a redirect cannot pass for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, StorageState, expect

from tests.browser.conftest import PHONE, LiveServer
from tests.browser.flows import TEXTS, at, fill_sign_in, sign_in, switch_language
from tests.browser.helpers import (
    assert_accessible,
    assert_fits_width,
    assert_no_csp_violations,
    watch_console,
)


@dataclass(frozen=True)
class Visit:
    """A page as one kind of user sees it."""

    name: str
    path: str
    who: str | None = None  # the role signed in, None for an anonymous visitor


VISITS = [
    Visit("home", "/"),
    Visit("sign-in", "/login"),
    Visit("sign-in-refused", "/login", who="wrong-password"),
    Visit("register", "/register"),
    Visit("account", "/account", who="donor"),
    Visit("totp-enrolment", "/account/2fa", who="treasurer-enrolling"),
    Visit("totp-at-sign-in", "/login/2fa", who="treasurer-between-password-and-code"),
    Visit("trial-balance", "/contabilita/bilancio", who="treasurer"),
    Visit("new-entry", "/contabilita/registrazioni/nuova", who="treasurer"),
    Visit("audit-log", "/admin/audit", who="admin"),
]
LANGUAGES = ["it", "en"]
CASES = [
    pytest.param(visit, language, id=f"{visit.name}-{language}")
    for visit in VISITS
    for language in LANGUAGES
]


# Signed-in visits start from a session made once per role (in a context of its
# own, closed at once) and loaded into each test's fresh context; the sign-in
# pages themselves have their own visits above.
SIGNED_IN = {
    "donor": {"roles": ["donor"], "with_totp": False},
    "treasurer-enrolling": {"roles": ["treasurer"], "with_totp": False},
    "treasurer": {"roles": ["treasurer"], "with_totp": True},
    "admin": {"roles": ["admin"], "with_totp": True},
}


@pytest.fixture(scope="module")
def signed_in_state(browser: Browser, live_server: LiveServer) -> Callable[[str], StorageState]:
    """The cookies of a signed-in session of `who` (TOTP code given where needed)."""
    made: dict[str, StorageState] = {}

    def state_of(who: str) -> StorageState:
        if who not in made:
            context = browser.new_context(base_url=live_server.url, locale="it-IT")
            sign_in(context.new_page(), live_server.create_user(**SIGNED_IN[who]))
            made[who] = context.storage_state()
            context.close()
        return made[who]

    return state_of


def open_visit(
    new_context: Callable[..., BrowserContext],
    signed_in_state: Callable[[str], StorageState],
    live_server: LiveServer,
    visit: Visit,
    language: str,
    **options: Any,
) -> Page:
    """Reach `visit.path` as its user in a fresh context, switch to `language` there,
    and check the page is the one asked for (not a redirect)."""
    if visit.who in SIGNED_IN:
        options["storage_state"] = signed_in_state(visit.who)
    page = watch_console(new_context(**options).new_page())
    if visit.who == "wrong-password":
        # The refusal is the page after a POST: switch first, then sign in wrongly.
        user = live_server.create_user(["donor"])
        page.goto(visit.path)
        if language != "it":
            switch_language(page, language)
        fill_sign_in(page, user.email, "non-è-la-password-giusta", TEXTS[language]["sign_in"])
        expect(page.get_by_role("alert")).to_be_visible()
        expect(page).to_have_url(at(visit.path))
        return page
    if visit.who == "treasurer-between-password-and-code":
        user = live_server.create_user(["treasurer"], with_totp=True)
        fill_sign_in(page, user.email, user.password)
    else:
        page.goto(visit.path)
    expect(page).to_have_url(at(visit.path))
    if language != "it":
        switch_language(page, language)
        expect(page).to_have_url(at(visit.path))
    # The switch's redirect changes the URL when the new page starts, not when its
    # stylesheet has loaded: measure nothing before the page has finished loading.
    page.wait_for_load_state("load")
    return page


@pytest.fixture
def visit_page(
    new_context: Callable[..., BrowserContext],
    signed_in_state: Callable[[str], StorageState],
    live_server: LiveServer,
) -> Callable[..., Page]:
    def visit_page(visit: Visit, language: str, **options: Any) -> Page:
        return open_visit(new_context, signed_in_state, live_server, visit, language, **options)

    return visit_page


@pytest.mark.parametrize(("visit", "language"), CASES)
def test_the_page_has_no_serious_or_critical_accessibility_violations(
    visit_page: Callable[..., Page], axe_source: str, visit: Visit, language: str
) -> None:
    page = visit_page(visit, language)
    assert_accessible(page, axe_source)


@pytest.mark.parametrize(("visit", "language"), CASES)
def test_the_page_loads_with_nothing_refused_by_its_content_security_policy(
    visit_page: Callable[..., Page], visit: Visit, language: str
) -> None:
    page = visit_page(visit, language)
    page.wait_for_load_state("load")
    assert_no_csp_violations(page)


@pytest.mark.parametrize(("visit", "language"), CASES)
def test_the_page_fits_a_360_pixel_phone_screen(
    visit_page: Callable[..., Page], visit: Visit, language: str
) -> None:
    page = visit_page(visit, language, viewport=PHONE, is_mobile=True, has_touch=True)
    assert_fits_width(page, PHONE["width"])
