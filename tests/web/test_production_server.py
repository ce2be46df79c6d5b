"""`ledger serve --production`: the real gunicorn serves a signed-in page and an API call,
on SQLite and PostgreSQL; it refuses each unsafe configuration, saying why.

The server runs in its own process group on a free port against the test's throwaway
database and is stopped (SIGTERM to its group) whatever the test's outcome.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner
from sqlalchemy import select

from ledger.audit.service import Origin
from ledger.books.demo_commands import load_demo
from ledger.core.clock import SystemClock
from ledger.core.sealing import DEVELOPMENT_KEY, new_key
from ledger.core.service import Ledger
from ledger.demo import DEMO_EMAILS
from ledger.people import commands as people_commands
from ledger.people.models import Person, User
from tests.web.conftest import PASSWORD, csrf_token, make_user
from web import cli as web_cli

ROOT = Path(__file__).resolve().parents[2]
TREASURER = "tesoriera@example.org"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# The shared rate-limit store of the production tests (CI requires Redis: .ci/run);
# a database of its own, emptied after each server.
LIMITS_REDIS = (
    os.environ.get("LEDGER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0] + "/14"
)


def safe_environment(db_url: str) -> dict[str, str]:
    """Settings the production server accepts (nothing published, no demo)."""
    return {
        "LEDGER_DATABASE_URL": db_url,
        "LEDGER_RATELIMIT_STORAGE_URI": LIMITS_REDIS,
        "LEDGER_SECRET_KEY": "k" * 8 + os.urandom(16).hex(),
        "LEDGER_STRIPE_WEBHOOK_SECRET": "whsec_" + os.urandom(16).hex(),
        "LEDGER_TOTP_KEY": new_key(),
        "LEDGER_MAIL_SENDER": "log",
    }


@dataclass
class Browser:
    """http.client with a cookie jar of its own (the session cookie is Secure, and
    http.cookiejar would not send it back over http://127.0.0.1)."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            for header in response.headers.get_all("Set-Cookie") or []:
                name, _sep, rest = header.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
            return response.status, dict(response.headers), response.read().decode()
        finally:
            connection.close()


@pytest.fixture
def production_server(db_url: str, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """`ledger serve --production` on a free port; yields the port and its log's path."""
    port = free_port()
    log = tmp_path / "server.log"
    prefix = f"ledger-test-{uuid.uuid4().hex}"
    env = {
        **os.environ,
        **safe_environment(db_url),
        "LEDGER_RATELIMIT_KEY_PREFIX": prefix,
        "PYTHONPATH": str(ROOT),
        "LEDGER_SERVER_BIND": f"127.0.0.1:{port}",
        "LEDGER_SERVER_WORKERS": "2",
        "LEDGER_SERVER_THREADS": "2",
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "web.cli", "serve", "--production"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, log.read_text()
            try:
                status, _headers, _body = Browser(port).request("GET", "/healthz")
                if status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not answer:\n" + log.read_text()
            time.sleep(0.3)
        yield port, log
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        store = redis.Redis.from_url(LIMITS_REDIS)
        for key in store.scan_iter(match=f"*{prefix}*"):
            store.delete(key)
        store.close()


def load_demo_users(ledger: Ledger) -> int:
    """Load the demo with its users; how many of them sign in with the published password."""
    ledger.run(
        lambda s: load_demo(s, with_users=True, origin=Origin.command_line(), clock=ledger.clock)
    )
    return len(
        ledger.run(
            lambda s: s.scalars(
                select(User.id)
                .join(Person, Person.id == User.person_id)
                .where(Person.email.in_(DEMO_EMAILS), User.password_hash.is_not(None))
            ).all()
        )
    )


def test_the_production_server_serves_a_signed_in_page_and_an_api_call(
    production_server: tuple[int, Path], ledger: Ledger
) -> None:
    port, log = production_server
    make_user(ledger, TREASURER, ["treasurer"])
    # The server runs on the real clock: the token is issued on it too (the fixture's
    # fixed clock is months behind, and the token would have expired there).
    token = ledger.run(
        lambda s: (
            people_commands.issue_token(
                s, TREASURER, "script", origin=Origin.command_line(), clock=SystemClock()
            ).value.token
        )
    )
    ledger.create_account("assets:bank:intesa", "asset", name="Conto Intesa")

    browser = Browser(port)
    status, _headers, html = browser.request("GET", "/login")
    assert status == 200
    form = (
        f"csrf_token={csrf_token(html)}&email={TREASURER.replace('@', '%40')}"
        f"&password={PASSWORD.replace(' ', '+')}"
    )
    status, headers, _body = browser.request("POST", "/login", form)
    assert status == 302, _body
    assert headers["Location"].endswith("/account")
    status, _headers, page = browser.request("GET", "/account")
    assert status == 200
    assert TREASURER in page

    api = Browser(port)
    status, _headers, body = api.request(
        "GET", "/api/v1/accounts", headers={"Authorization": f"Bearer {token}"}
    )
    assert status == 200, body
    assert "assets:bank:intesa" in body

    status, _headers, body = api.request("GET", "/readyz")
    assert status == 200, body
    assert api.request("GET", "/?cerca=Mario+Rossi")[0] == 200

    # The access log names the paths asked, never a query string or the client's address.
    time.sleep(0.5)
    access = [line for line in log.read_text().splitlines() if '"GET /' in line]
    assert any('"GET /account"' in line for line in access), log.read_text()
    assert not [line for line in access if "Rossi" in line or "cerca" in line]
    assert not [line for line in access if "127.0.0.1" in line]


# ------------------------------------------------------------------ refusals
@pytest.fixture
def no_exec(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused start must never reach gunicorn: reaching it fails the test instead of
    turning the test process into a server."""

    def refuse(*args: object) -> None:
        raise AssertionError("the production server was started")

    monkeypatch.setattr(web_cli.os, "execv", refuse)


def start_refused(monkeypatch: pytest.MonkeyPatch, db_url: str, **changes: str | None) -> str:
    """Run `ledger serve --production` with safe settings changed by `changes` (None:
    unset); it must exit 2 without starting; return what it printed."""
    for name in [n for n in os.environ if n.startswith("LEDGER_")]:
        monkeypatch.delenv(name)
    settings: dict[str, str | None] = {**safe_environment(db_url), **changes}
    for name, value in settings.items():
        if value is not None:
            monkeypatch.setenv(name, value)
    result = CliRunner().invoke(web_cli.cli, ["serve", "--production"])
    assert result.exit_code == 2, result.output
    assert "the production server did not start" in result.output
    return result.output


def test_it_refuses_to_start_without_a_secret_key(no_exec, monkeypatch, db_url):
    output = start_refused(monkeypatch, db_url, LEDGER_SECRET_KEY=None)
    assert "refused: LEDGER_SECRET_KEY is not set" in output


@pytest.mark.parametrize("secret", ["changeme", "development", "short-but-random-9f2c"])
def test_it_refuses_to_start_with_a_development_secret_key(no_exec, monkeypatch, db_url, secret):
    output = start_refused(monkeypatch, db_url, LEDGER_SECRET_KEY=secret)
    assert "refused: LEDGER_SECRET_KEY is a development secret" in output


def test_it_refuses_to_start_without_a_stripe_webhook_secret(no_exec, monkeypatch, db_url):
    output = start_refused(monkeypatch, db_url, LEDGER_STRIPE_WEBHOOK_SECRET=None)
    assert "refused: LEDGER_STRIPE_WEBHOOK_SECRET is not set" in output


def test_it_refuses_to_start_with_the_webhook_secret_of_make_run(no_exec, monkeypatch, db_url):
    output = start_refused(
        monkeypatch, db_url, LEDGER_STRIPE_WEBHOOK_SECRET="whsec_local_development"
    )
    assert "refused: LEDGER_STRIPE_WEBHOOK_SECRET is the local development secret" in output


def test_it_refuses_to_start_with_the_public_development_totp_key(no_exec, monkeypatch, db_url):
    output = start_refused(monkeypatch, db_url, LEDGER_TOTP_KEY=DEVELOPMENT_KEY)
    assert "refused: LEDGER_TOTP_KEY holds the public development key" in output
    # Put second, as while rotating, it still opens secrets: still refused.
    output = start_refused(monkeypatch, db_url, LEDGER_TOTP_KEY=f"{new_key()},{DEVELOPMENT_KEY}")
    assert "refused: LEDGER_TOTP_KEY holds the public development key" in output


def test_it_refuses_to_start_without_a_totp_key(no_exec, monkeypatch, db_url):
    output = start_refused(monkeypatch, db_url, LEDGER_TOTP_KEY=None)
    assert "refused: LEDGER_TOTP_KEY is not set" in output


def test_it_refuses_to_start_in_test_or_debug_mode(no_exec, monkeypatch, db_url):
    output = start_refused(monkeypatch, db_url, LEDGER_TESTING="true", LEDGER_DEBUG="1")
    assert "refused: LEDGER_TESTING is on" in output
    assert "refused: LEDGER_DEBUG is on" in output


def test_it_refuses_to_start_on_a_database_with_the_demo_users(
    no_exec, monkeypatch, db_url, ledger
):
    users = load_demo_users(ledger)
    assert users > 0
    output = start_refused(monkeypatch, db_url)
    assert f"refused: the database holds {users} demo user(s)" in output, output
    assert output.count("refused:") == 1


def test_it_refuses_per_process_rate_limits_with_several_workers(no_exec, monkeypatch, db_url):
    # The finding of the security review (2026-12-07): with the default two workers and
    # memory:// storage, every limit (sign-in, two-factor codes) counted per process.
    output = start_refused(
        monkeypatch,
        db_url,
        LEDGER_RATELIMIT_STORAGE_URI="memory://",
        LEDGER_SERVER_WORKERS="2",
    )
    assert "refused: LEDGER_RATELIMIT_STORAGE_URI is memory:// with 2 workers" in output
    assert output.count("refused:") == 1


def test_it_refuses_to_start_with_rate_limits_off(no_exec, monkeypatch, db_url):
    output = start_refused(monkeypatch, db_url, LEDGER_RATELIMIT_ENABLED="false")
    assert "refused: LEDGER_RATELIMIT_ENABLED is off" in output
    assert output.count("refused:") == 1


def test_it_refuses_a_session_cookie_sent_over_plain_http(no_exec, monkeypatch, db_url):
    output = start_refused(monkeypatch, db_url, LEDGER_SESSION_COOKIE_SECURE="false")
    assert "refused: LEDGER_SESSION_COOKIE_SECURE is off" in output


def test_every_problem_is_named_at_once(no_exec, monkeypatch, db_url):
    output = start_refused(
        monkeypatch,
        db_url,
        LEDGER_SECRET_KEY=None,
        LEDGER_STRIPE_WEBHOOK_SECRET=None,
        LEDGER_TOTP_KEY=DEVELOPMENT_KEY,
    )
    assert output.count("refused:") == 3


def test_gunicorn_started_by_hand_refuses_the_same_settings(db_url, ledger, tmp_path):
    users = load_demo_users(ledger)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")},
        **safe_environment(db_url),
        "PYTHONPATH": str(ROOT),
        "LEDGER_SERVER_BIND": f"127.0.0.1:{free_port()}",
        "LEDGER_SERVER_WORKERS": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", "python:web.gunicorn_conf", "web.wsgi:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert f"UnsafeConfiguration: the database holds {users} demo user(s)" in done.stderr, (
        done.stderr
    )
