"""The harness itself: the live server answers, and each check catches what it checks.

The checks are run once on pages made to fail them, so that a green accessibility,
CSP or phone-width test means the check looked, not that it could not see.
"""

from __future__ import annotations

from playwright.sync_api import Page

from tests.browser.conftest import PHONE, LiveServer
from tests.browser.helpers import (
    assert_accessible,
    assert_fits_width,
    axe_violations,
    csp_violations,
    horizontal_overflow,
)

INACCESSIBLE = """<!doctype html><html><head><title>t</title></head><body>
<main><img src="/static/favicon.svg"><input type="text"><button></button></main></body></html>"""


def test_the_live_server_serves_the_application_on_its_database(
    page: Page, live_server: LiveServer
) -> None:
    response = page.goto("/readyz")
    assert response is not None and response.status == 200
    assert response.json()["status"] == "ok"
    assert [check["name"] for check in response.json()["checks"]] == [
        "database",
        "migrations",
        "jobs",
    ]


def test_an_unknown_address_shows_the_italian_error_page_with_its_security_policy(
    page: Page,
) -> None:
    response = page.goto("/non-esiste")
    assert response is not None and response.status == 404
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert page.locator("html").get_attribute("lang") == "it"
    assert page.get_by_role("heading", level=1).inner_text() == "Pagina non trovata"
    assert csp_violations(page) == []


def test_axe_reports_serious_and_critical_violations_with_rule_and_element(
    page: Page, axe_source: str
) -> None:
    page.set_content(INACCESSIBLE)
    found = {v["id"]: v for v in axe_violations(page, axe_source)}
    assert {"image-alt", "label", "button-name", "html-has-lang"} <= set(found)
    assert found["image-alt"]["nodes"][0]["target"] == ["img"]
    try:
        assert_accessible(page, axe_source)
    except AssertionError as failure:
        assert "image-alt (critical)" in str(failure)
    else:
        raise AssertionError("assert_accessible passed a page without alt text or labels")


def test_the_csp_check_sees_an_inline_script_the_policy_refuses(page: Page) -> None:
    page.goto("/non-esiste")
    page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "document.title = 'inline';";
            document.body.append(script);
        }"""
    )
    page.wait_for_timeout(200)
    assert page.title() != "inline"
    refused = csp_violations(page)
    assert refused and "script-src" in refused[0]


def test_the_phone_width_check_names_the_element_that_is_too_wide(phone_page: Page) -> None:
    phone_page.goto("/non-esiste")
    assert_fits_width(phone_page, PHONE["width"])
    phone_page.evaluate(
        """() => {
            const wide = document.createElement("pre");
            wide.id = "troppo-largo";
            wide.textContent = "x".repeat(200);
            document.querySelector("main").append(wide);
        }"""
    )
    found = horizontal_overflow(phone_page)
    assert found["scrollWidth"] > PHONE["width"]
    assert any(entry.startswith("pre#troppo-largo") for entry in found["wide"]), found
