"""Browser fixtures: a live server on a throwaway database and the Debian `chromium`.

Playwright (Python) drives the `chromium` binary of the operating system, never
a browser it downloaded: the binary is `LEDGER_CHROMIUM` when set, else
`/usr/bin/chromium`, else `chromium` on PATH. `make test` installs it with apt
when run as root and installs axe-core with `npm ci` (see the Makefile).

Without chromium (or without axe-core, for the accessibility checks) the tests
are skipped and say why; with `LEDGER_REQUIRE_BROWSER=1`, as in `.ci/run`, they
fail instead, so CI cannot pass without running them.

One live server for the browser tests: the real application from
`web.create_app` on a SQLite database built by the migrations, served by
werkzeug on a free port of 127.0.0.1 in a thread. Every test gets a fresh
browser context (no cookies, no session) and makes its own users, so tests do
not depend on one another. All tests here are marked `browser` and put in the
xdist group "browser", so that one worker owns the server and the browser.
(pytest 9.2 with pytest-xdist 3.8 ignores the group, pytest-dev/pytest-xdist
#1386: the tests are then spread over the workers and each worker starts its
own server and browser, which works, at the cost of a second chromium.)
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from ledger.core.migrate import upgrade
from ledger.core.sealing import SecretBox
from ledger.core.service import Ledger
from ledger.people import passwords, totp
from ledger.people import service as people
from tests.browser.helpers import watch_console
from web import create_app
from web.serving import ClosingRequestHandler, keep_answers

REPO_ROOT = Path(__file__).resolve().parents[2]
AXE_SCRIPT = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"
BROWSER_DIR = Path(__file__).resolve().parent

CHROMIUM_ENV = "LEDGER_CHROMIUM"
REQUIRE_ENV = "LEDGER_REQUIRE_BROWSER"
DEBIAN_CHROMIUM = "/usr/bin/chromium"

# The machine has no outside network: without these, chromium tries Google's
# services at start and keeps retrying refused connections.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

PASSWORD = "Lungo-e-sicuro-2026!"
PHONE = {"width": 360, "height": 740}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "browser: drives the Debian chromium through Playwright against a live server",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # tryfirst: xdist's own hook reads xdist_group to route the tests to one worker.
    for item in items:
        if BROWSER_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.xdist_group("browser"))


def browser_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip() not in ("", "0")


def unavailable(reason: str) -> None:
    """Skip with `reason`, or fail when the browser tests are required (CI)."""
    if browser_required():
        pytest.fail(f"{reason}; {REQUIRE_ENV} is set, so the browser tests must run", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}")


def find_chromium() -> str | None:
    """The chromium binary to drive, or None when there is none."""
    chosen = os.environ.get(CHROMIUM_ENV, "").strip()
    candidates = [chosen] if chosen else [DEBIAN_CHROMIUM, shutil.which("chromium") or ""]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass
class LiveServer:
    """The application served on 127.0.0.1, and the engine of its database."""

    url: str
    database_url: str
    books: Ledger
    app: Any = None

    def mailed_link(self, to: str, path: str, *, wait: float = 5.0) -> str:
        """The path of the link starting with `path` in the last message mailed to `to`
        (mail leaves once the server has sent its answer: waited for a moment)."""
        deadline = time.monotonic() + wait
        while True:
            sent = [m for m in self.app.extensions.get("sent_mail", []) if m.to == to]
            link = rf"https?://[^/\s]+({re.escape(path)}\S+)"
            found = re.search(link, sent[-1].body) if sent else None
            if found:
                return found.group(1)
            if time.monotonic() > deadline:
                raise AssertionError(f"no link {path} was mailed to {to}")
            time.sleep(0.05)

    def create_user(
        self,
        roles: list[str],
        *,
        name: str = "Giulia Bianchi",
        locale: str = "it",
        with_totp: bool = False,
    ) -> User:
        """A user with `roles` and PASSWORD; with_totp enrols TOTP as the page would."""
        email = f"{roles[0]}-{uuid.uuid4().hex[:10]}@esempio.it"
        now = datetime.now(UTC)

        def work(session: Session) -> str | None:
            user = people.create_user(
                session,
                people.NewPerson(email=email, full_name=name),
                roles=roles,
                password=PASSWORD,
                now=now,
                locale=locale,
                email_verified_at=now,  # the owner has confirmed the address
            )
            secret = None
            if with_totp:
                # Sealed under the public development key, as the test app's.
                box = SecretBox.development()
                secret = people.begin_totp_enrolment(user, box)
                # Confirmed with the previous step's code, so the current and the
                # next step are still unused when the test signs in.
                earlier = now - timedelta(seconds=totp.STEP_SECONDS)
                people.confirm_totp_enrolment(user, totp.code_at(secret, earlier), now=now, box=box)
            return secret

        secret = self.books.run(work)
        return User(email=email, password=PASSWORD, name=name, roles=roles, totp_secret=secret)


@dataclass
class User:
    email: str
    password: str
    name: str
    roles: list[str]
    totp_secret: str | None = None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    found = find_chromium()
    if found is None:
        chosen = os.environ.get(CHROMIUM_ENV, "").strip()
        if chosen:
            where = f"{CHROMIUM_ENV}={chosen} is not an executable"
        else:
            where = f"no {DEBIAN_CHROMIUM} and no chromium on PATH"
        unavailable(
            f"chromium not installed ({where}); run `make test` as root, or `apt install chromium`"
        )
    assert found is not None
    return found


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE_SCRIPT.is_file():
        unavailable(
            f"axe-core not installed ({AXE_SCRIPT.relative_to(REPO_ROOT)} is missing); "
            "run `make browser-deps` (npm ci)"
        )
    return AXE_SCRIPT.read_text(encoding="utf-8")


@pytest.fixture(scope="package")
def cheap_password_hashing() -> Iterator[None]:
    """Argon2id at 8 MiB and one pass while the browser tests run (server included:
    it runs in this process); the default parameters are checked in tests/unit.
    The module's hasher is put back as it was, without hashing anything."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher", passwords._hasher)
        patch.setattr(passwords, "_dummy_hash", passwords._dummy_hash)
        passwords.configure(memory_cost=8 * 1024, time_cost=1)
        yield


@pytest.fixture(scope="package")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, cheap_password_hashing: None
) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("browser-db")
    database_url = f"sqlite:///{folder / 'ledger.sqlite3'}"
    upgrade(database_url)
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "TESTING": True,
            "SECRET_KEY": "browser-tests-" + uuid.uuid4().hex,
            # Every test signs in and registers from 127.0.0.1: the limits have
            # their own tests in tests/web.
            "RATELIMIT_ENABLED": False,
            "MAIL_SENDER": "memory",
        }
    )
    # As `ledger serve` runs it: an answer is closed (its mail sent) even when Chromium
    # resets the connection while werkzeug drains it (web/serving.py).
    app.wsgi_app = keep_answers(app.wsgi_app)  # type: ignore[method-assign]
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=ClosingRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    books = Ledger.from_url(database_url)
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", database_url, books, app)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        books.engine.dispose()
        app.extensions["ledger"].engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="package")
def browser(chromium_path: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def new_context(
    browser: Browser, live_server: LiveServer
) -> Iterator[Callable[..., BrowserContext]]:
    """Open fresh browser contexts on the live server; all are closed after the test."""
    opened: list[BrowserContext] = []

    def open_context(**options: Any) -> BrowserContext:
        options.setdefault("base_url", live_server.url)
        options.setdefault("locale", "it-IT")
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        opened.append(context)
        return context

    yield open_context
    for context in opened:
        context.close()


@pytest.fixture
def page(new_context: Callable[..., BrowserContext]) -> Page:
    """A page in a fresh context (no cookies), recording console messages."""
    tab = new_context().new_page()
    watch_console(tab)
    return tab


@pytest.fixture
def phone_page(new_context: Callable[..., BrowserContext]) -> Page:
    """A page 360x740 CSS pixels wide, as on a small phone."""
    tab = new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    watch_console(tab)
    return tab
