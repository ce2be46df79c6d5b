"""Web fixtures: the Flask app and its test client on a fresh migrated database.

`app` shares `db_url` with the `ledger` fixture of tests/conftest.py, so a test
can post entries through the engine and then read them through the web.
"""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ledger.core.clock import FixedClock
from web import create_app


class ServerLikeClient(FlaskClient):
    """A test client that reads each response's body and closes it, as a WSGI server
    does once the answer is sent (what runs on close, such as mail sent after the
    answer, has run when a request returns)."""

    def open(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


@pytest.fixture
def app(db_url: str, clock: FixedClock) -> Iterator[Flask]:
    application = create_app(
        {"DATABASE_URL": db_url, "TESTING": True, "CLOCK": clock, "MAIL_SENDER": "memory"}
    )
    application.test_client_class = ServerLikeClient
    yield application
    application.extensions["ledger"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def offline_client() -> Iterator[FlaskClient]:
    """A client of an app whose database cannot be reached.

    For responses that must not need the database (input refused before any
    query, unknown routes): if one of them tried to query, it would answer 503.
    """
    application = create_app(
        {
            "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere",
            "DATABASE_CONNECT_TIMEOUT": 2,
            "TESTING": True,
        }
    )
    yield application.test_client()
    application.extensions["ledger"].engine.dispose()


class TableRows(HTMLParser):
    """Collect the text of each table row, per section (thead, tbody, tfoot)."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, list[list[str]]] = {"thead": [], "tbody": [], "tfoot": []}
        self._section: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.sections:
            self._section = tag
        elif tag == "tr" and self._section:
            self._row = []
        elif tag in ("th", "td") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._section:
            self.sections[self._section].append(self._row)
            self._row = None
        elif tag in self.sections:
            self._section = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_rows(html: str) -> dict[str, list[list[str]]]:
    """The trial balance table of a page as lists of cell texts per section."""
    parser = TableRows()
    parser.feed(html)
    return parser.sections


# ------------------------------------------------------------------ people and sign-in
import re  # noqa: E402
from datetime import timedelta  # noqa: E402
from urllib.parse import parse_qsl  # noqa: E402

import pyotp  # noqa: E402

from ledger.core.service import Ledger  # noqa: E402
from ledger.people import passwords  # noqa: E402
from ledger.people.service import NewPerson, create_user  # noqa: E402

PASSWORD = "una password lunga"
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture(autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Argon2id at 8 MiB and one pass: still the real function, fast enough for
    hundreds of sign-ins; the default parameters are checked in tests/unit."""
    passwords.configure(memory_cost=8 * 1024, time_cost=1)
    yield
    passwords.restore_defaults()


def csrf_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = _CSRF.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def form_post(client: FlaskClient, url: str, data: dict[str, str], *, page: str | None = None):  # type: ignore[no-untyped-def]
    """GET the page that holds the form (or `page`), then POST with its CSRF token."""
    html = client.get(page or url).get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_token(html), **data})


def mailed_link(app: Flask, to: str, path: str) -> str:
    """The link starting with `path` in the last message mailed to `to`: its path and
    its `#fragment` (where an e-mailed link carries its token)."""
    mails = [m for m in app.extensions.get("sent_mail", []) if m.to == to]
    assert mails, f"nothing was mailed to {to}"
    match = re.search(rf"http://127\.0\.0\.1:5000({re.escape(path)}\S*)", mails[-1].body)
    assert match, mails[-1].body
    return match.group(1)


def follow_link(client: FlaskClient, link: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    """Follow an e-mailed link as a browser does and submit its page's form with `data`.

    The browser GETs the link without its `#fragment` (browsers never send one); the
    page's script (web/static/link-token.js) puts the fragment's token into the form's
    hidden field, and the form POSTs it with the CSRF token of the page.
    """
    path, _sep, fragment = link.partition("#")
    html = client.get(path).get_data(as_text=True)
    fields = {"csrf_token": csrf_token(html), **data}
    token = dict(parse_qsl(fragment)).get("token")
    if token is not None and 'id="link-token"' in html:
        fields["token"] = token
    return client.post(path, data=fields)


def make_user(
    ledger: Ledger,
    email: str,
    roles: list[str],
    *,
    password: str = PASSWORD,
    totp_secret: str | None = None,
    verified: bool = True,
) -> int:
    """Create a user straight through the domain service; enrol TOTP if a secret is given.

    The user has confirmed their address (as every user had before addresses were
    confirmed) unless `verified` is false.
    """

    def work(session):  # type: ignore[no-untyped-def]
        user = create_user(
            session,
            NewPerson(email=email, full_name=email.split("@", maxsplit=1)[0].title()),
            roles=roles,
            password=password,
            now=ledger.clock.now(),
            email_verified_at=ledger.clock.now() if verified else None,
        )
        if totp_secret:
            user.totp_secret_sealed = ledger.require_secret_box().seal(totp_secret)
            user.totp_enrolled_at = ledger.clock.now()
        return user.id

    return ledger.run(work)


def totp_code(ledger: Ledger, secret: str, steps_ahead: int = 0) -> str:
    """The code an authenticator shows at the ledger clock's instant (plus 30 s steps)."""
    return pyotp.TOTP(secret).at(ledger.clock.now() + timedelta(seconds=30 * steps_ahead))


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD, *, code: str | None = None):  # type: ignore[no-untyped-def]
    """Sign in through the pages; with `code`, also pass the TOTP step."""
    response = form_post(client, "/login", {"email": email, "password": password})
    if code is not None:
        assert response.status_code == 302 and "/login/2fa" in response.headers["Location"]
        response = form_post(client, "/login/2fa", {"code": code})
    return response


TRIAL_BALANCE = "/contabilita/bilancio"


@pytest.fixture
def treasurer_client(client: FlaskClient, ledger: Ledger) -> FlaskClient:
    """The test client signed in as a treasurer (no TOTP: reading needs none)."""
    make_user(ledger, "tesoriere@example.org", ["treasurer"])
    response = sign_in(client, "tesoriere@example.org")
    assert response.status_code == 302, response.get_data(as_text=True)
    return client
