"""What the browser tests check on a page: accessibility (axe-core), CSP, phone width.

`watch_console` records a page's console messages and uncaught errors from the
moment it is called, across navigations. The application sends a strict
Content-Security-Policy (scripts and styles from 'self' only, no inline code,
no style attributes): chromium reports every refusal on the console, so a page
with no such message loads with nothing blocked.

axe-core is evaluated through the DevTools protocol (`page.evaluate`), which
the page's CSP does not govern, so the checks run on the page exactly as the
application serves it, policy included.
"""

from __future__ import annotations

import json
from typing import Any
from weakref import WeakKeyDictionary

from playwright.sync_api import ConsoleMessage, Error, Page

BLOCKING_IMPACTS = ("serious", "critical")

_console: WeakKeyDictionary[Page, list[str]] = WeakKeyDictionary()


def watch_console(page: Page) -> Page:
    """Record `page`'s console errors and warnings and its uncaught exceptions."""
    messages: list[str] = []
    _console[page] = messages

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            messages.append(f"{message.type}: {message.text}")

    def on_error(error: Error) -> None:
        messages.append(f"uncaught: {error}")

    page.on("console", on_console)
    page.on("pageerror", on_error)
    return page


def console_messages(page: Page) -> list[str]:
    return list(_console.get(page, []))


def csp_violations(page: Page) -> list[str]:
    """Console messages of resources or code the Content-Security-Policy refused."""
    return [m for m in console_messages(page) if "Content Security Policy" in m]


def assert_no_csp_violations(page: Page) -> None:
    refused = csp_violations(page)
    assert not refused, f"{page.url}: the Content-Security-Policy refused:\n" + "\n".join(refused)


def axe_violations(page: Page, axe_source: str) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(f"() => {{\n{axe_source}\n}}")  # the script sets window.axe
    results = page.evaluate(
        """async () => {
            const results = await axe.run(document, {resultTypes: ["violations"]});
            return results.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                nodes: v.nodes.map(n => ({target: n.target, summary: n.failureSummary})),
            }));
        }"""
    )
    return [v for v in results if v["impact"] in BLOCKING_IMPACTS]


def describe_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            summary = " ".join((node["summary"] or "").split())
            lines.append(f"    at {json.dumps(node['target'])}: {summary}")
    return "\n".join(lines)


def assert_accessible(page: Page, axe_source: str) -> None:
    """Fail listing every serious or critical axe-core violation of the page."""
    found = axe_violations(page, axe_source)
    assert not found, (
        f"{page.url} ({page.evaluate('document.documentElement.lang')}): "
        f"axe-core found {len(found)} serious or critical violation(s):\n"
        + describe_violations(found)
    )


OVERFLOW_SCRIPT = """() => {
    // Elements whose box, or whose visible overflowing content, reaches past the
    // right edge; only the innermost are named (their ancestors overflow with them).
    const width = document.documentElement.clientWidth;
    const name = (element) => element.tagName.toLowerCase()
        + (element.id ? "#" + element.id : "")
        + (typeof element.className === "string" && element.className.trim()
            ? "." + element.className.trim().split(/\\s+/).join(".") : "");
    const wide = [];
    for (const element of document.body.querySelectorAll("*")) {
        const box = element.getBoundingClientRect();
        if (box.width === 0 && box.height === 0) continue;
        const spills = getComputedStyle(element).overflowX === "visible"
            && element.scrollWidth > element.clientWidth;
        const right = spills ? box.left + element.scrollWidth : box.right;
        if (right > width + 0.5 || box.left < -0.5) wide.push({element, right, left: box.left});
    }
    const innermost = wide.filter(
        (outer) => !wide.some((inner) => inner !== outer && outer.element.contains(inner.element))
    );
    return {
        scrollWidth: document.scrollingElement.scrollWidth,
        width,
        wide: innermost.slice(0, 10).map(
            (w) => `${name(w.element)} spans ${Math.round(w.left)}..${Math.round(w.right)}px`
        ),
    };
}"""


def horizontal_overflow(page: Page) -> dict[str, Any]:
    """The page's scroll width, viewport width and up to ten elements wider than it."""
    result: dict[str, Any] = page.evaluate(OVERFLOW_SCRIPT)
    return result


def assert_fits_width(page: Page, width: int) -> None:
    """The page does not scroll sideways at `width` CSS pixels."""
    found = horizontal_overflow(page)
    assert found["scrollWidth"] <= width, (
        f"{page.url}: the page is {found['scrollWidth']}px wide on a {width}px screen; "
        "too wide: " + "; ".join(found["wide"])
    )
