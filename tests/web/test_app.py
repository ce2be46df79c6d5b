"""The web skeleton: factory, settings, /healthz, /readyz, the trial balance, errors, headers."""

from __future__ import annotations

import logging
import re
import secrets
from datetime import date, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from ledger.core.accounts import create_account
from ledger.core.chain import GENESIS_HASH
from ledger.core.clock import SystemClock
from ledger.core.errors import AccountNotFoundError, IdempotencyConflictError
from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.migrate import head_revisions
from ledger.core.models import Account
from ledger.core.money import Money
from ledger.core.sealing import DEVELOPMENT_KEY
from ledger.core.service import Ledger
from ledger.core.storage import DEFAULT_DATABASE_URL
from tests.web.conftest import TRIAL_BALANCE, table_rows
from web import create_app
from web.access import public
from web.config import ConfigError, load_config
from web.db import in_transaction

UNREACHABLE_PG = "postgresql://postgres@127.0.0.1:1/nowhere"


def eur(text: str) -> Money:
    return Money.parse(text, "EUR")


def open_books(ledger: Ledger) -> None:
    ledger.create_account("assets:bank:intesa", "asset", name="Conto Intesa")
    ledger.create_account("income:donations", "income", name="Donazioni <online> & bonifici")
    ledger.create_account("liabilities:campaigns:42:escrow", "liability", name="Campagna 42")


def donate(
    ledger: Ledger, key: str, amount: str, on: date, credit: str = "income:donations"
) -> None:
    ledger.post(
        EntrySpec(
            key,
            "donation",
            [
                PostingSpec("assets:bank:intesa", eur(amount)),
                PostingSpec(credit, eur(f"-{amount}")),
            ],
            effective_on=on,
        )
    )


def row_for(rows: list[list[str]], code: str) -> list[str]:
    matches = [row for row in rows if row[0] == code]
    assert len(matches) == 1, f"{code} not in {rows}"
    return matches[0]


def unreachable_app(**extra: object) -> Flask:
    return create_app(
        {"DATABASE_URL": UNREACHABLE_PG, "TESTING": True, "DATABASE_CONNECT_TIMEOUT": 2, **extra}
    )


# --------------------------------------------------------------------------- factory
def test_the_factory_builds_an_app_for_an_unreachable_database_and_readyz_reports_it():
    app = unreachable_app()
    engine = app.extensions["ledger"].engine
    assert engine.pool.checkedout() == 0
    client = app.test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}  # alive: no database asked
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {
        "status": "unavailable",
        "checks": [{"name": "database", "ok": False, "detail": "unreachable (OperationalError)"}],
    }
    # From another machine: which check fails, not why (the security review of
    # 2026-12-07 found the schema's revisions, stale jobs and exception classes public).
    remote = client.get("/readyz", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert remote.status_code == 503
    assert remote.get_json() == {
        "status": "unavailable",
        "checks": [{"name": "database", "ok": False}],
    }
    # Through a reverse proxy on this machine: the request comes from 127.0.0.1 but
    # is someone else's.
    proxied = client.get("/readyz", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.get_json()["checks"] == [{"name": "database", "ok": False}]
    engine.dispose()


def test_the_factory_opens_no_database_file_until_a_request_needs_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    database = tmp_path / "later.sqlite3"
    app = create_app({"DATABASE_URL": f"sqlite:///{database}", "TESTING": True})
    assert isinstance(app.extensions["ledger"], Ledger)
    assert not database.exists()
    assert app.test_client().get("/healthz").status_code == 200
    assert not database.exists()  # alive says nothing of the database
    assert app.test_client().get("/readyz").status_code == 503  # reached, never migrated
    assert database.exists()
    app.extensions["ledger"].engine.dispose()


def test_settings_come_from_defaults_then_ledger_variables_then_the_mapping(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in (
        "LEDGER_DATABASE_URL",
        "LEDGER_SECRET_KEY",
        "LEDGER_DATABASE_CONNECT_TIMEOUT",
        "LEDGER_TESTING",
    ):
        monkeypatch.delenv(name, raising=False)
    defaults = load_config()
    assert defaults["DATABASE_URL"] == DEFAULT_DATABASE_URL
    assert defaults["DATABASE_CONNECT_TIMEOUT"] == 5
    assert defaults["TESTING"] is False

    env_key = secrets.token_hex(16)
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"sqlite:///{tmp_path / 'env.sqlite3'}")
    monkeypatch.setenv("LEDGER_SECRET_KEY", env_key)
    monkeypatch.setenv("LEDGER_DATABASE_CONNECT_TIMEOUT", "9")
    monkeypatch.setenv("LEDGER_TESTING", "yes")
    from_env = create_app()
    assert from_env.config["DATABASE_URL"].endswith("env.sqlite3")
    assert from_env.config["SECRET_KEY"] == env_key
    assert from_env.config["DATABASE_CONNECT_TIMEOUT"] == 9
    assert from_env.config["TESTING"] is True
    assert str(from_env.extensions["ledger"].engine.url).endswith("env.sqlite3")

    mapped = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'mapped.sqlite3'}"})
    assert mapped.config["DATABASE_URL"].endswith("mapped.sqlite3")
    assert str(mapped.extensions["ledger"].engine.url).endswith("mapped.sqlite3")
    assert mapped.config["SECRET_KEY"] == env_key  # untouched by the mapping: env still wins


def test_a_ledger_variable_that_does_not_convert_is_refused_not_ignored(monkeypatch):
    monkeypatch.setenv("LEDGER_TESTING", "maybe")
    with pytest.raises(ConfigError, match="LEDGER_TESTING"):
        create_app()
    monkeypatch.setenv("LEDGER_TESTING", "1")
    monkeypatch.setenv("LEDGER_DATABASE_CONNECT_TIMEOUT", "five")
    with pytest.raises(ConfigError, match="LEDGER_DATABASE_CONNECT_TIMEOUT"):
        create_app()


def test_without_a_secret_key_each_process_gets_a_random_one_and_a_warning(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.delenv("LEDGER_SECRET_KEY", raising=False)
    monkeypatch.delenv("LEDGER_TESTING", raising=False)
    # Outside tests the app also needs a webhook secret to start.
    monkeypatch.setenv("LEDGER_STRIPE_WEBHOOK_SECRET", "whsec_test_secret_key_test")
    monkeypatch.setenv("LEDGER_TOTP_KEY", DEVELOPMENT_KEY)  # and a TOTP key
    url = f"sqlite:///{tmp_path / 'k.sqlite3'}"
    with caplog.at_level(logging.WARNING):
        first = create_app({"DATABASE_URL": url})
    second = create_app({"DATABASE_URL": url})
    assert len(first.config["SECRET_KEY"]) >= 32
    assert first.config["SECRET_KEY"] != second.config["SECRET_KEY"]
    assert any("sessions will not survive a restart" in r.getMessage() for r in caplog.records)


def test_outside_tests_the_app_refuses_to_start_without_a_totp_key_or_with_a_bad_one(
    tmp_path, monkeypatch, caplog
):
    from cryptography.fernet import Fernet

    monkeypatch.delenv("LEDGER_TESTING", raising=False)
    monkeypatch.delenv("LEDGER_TOTP_KEY", raising=False)
    monkeypatch.setenv("LEDGER_STRIPE_WEBHOOK_SECRET", "whsec_test_secret_key_test")
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path / 'totp.sqlite3'}", "SECRET_KEY": "x" * 32}
    # Production without a key: refused, not started with a key anyone could know.
    with pytest.raises(ConfigError, match="LEDGER_TOTP_KEY is not set"):
        create_app(settings)
    # A value that is not a key is refused without being echoed.
    with pytest.raises(ConfigError, match="LEDGER_TOTP_KEY") as refused:
        create_app({**settings, "TOTP_KEY": "correct-horse-battery-staple"})
    assert "correct-horse" not in str(refused.value)
    with pytest.raises(ConfigError, match="LEDGER_TOTP_KEY"):
        create_app({**settings, "TOTP_KEY": f"{Fernet.generate_key().decode()},short"})

    # With a key (two while rotating) it starts; the public development key starts with a warning.
    monkeypatch.setenv(
        "LEDGER_TOTP_KEY", f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}"
    )
    started = create_app(settings)
    with caplog.at_level(logging.WARNING):
        development = create_app({**settings, "TOTP_KEY": DEVELOPMENT_KEY})
    assert any("development key" in r.getMessage() for r in caplog.records)
    for application in (started, development):
        application.extensions["ledger"].engine.dispose()


def test_make_run_serves_with_the_public_development_key_the_code_names_and_warns_of():
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text(encoding="utf-8")
    assert f"DEVELOPMENT_TOTP_KEY := {DEVELOPMENT_KEY}\n" in makefile


# --------------------------------------------------------------------------- health
def test_healthz_answers_alive_and_readyz_lists_its_checks_all_passing(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert [(c["name"], c["ok"]) for c in body["checks"]] == [
        ("database", True),
        ("migrations", True),
        ("jobs", True),
    ]
    assert body["checks"][1]["detail"] == "at " + ", ".join(sorted(head_revisions()))


def test_readyz_is_unavailable_while_a_periodic_job_has_not_succeeded_for_twice_its_interval(
    app, ledger, clock
):
    from ledger.commands import Origin
    from ledger.jobs.registry import Job, JobContext
    from ledger.jobs.runner import run_job

    ctx = JobContext(ledger=ledger, origin=Origin.command_line(), settings={"JOB_RETRIES": 0})
    run_job(ctx, Job("bank_match", timedelta(minutes=10), lambda ctx: {"matched": 0}))
    assert app.test_client().get("/readyz").status_code == 200

    clock.instant += timedelta(minutes=21)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    jobs = response.get_json()["checks"][2]
    assert jobs == {"name": "jobs", "ok": False, "detail": "stale: bank_match"}


def test_readyz_is_unavailable_when_the_database_is_behind_the_migrations(app, ledger):
    with ledger.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0001_engine'"))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    migrations = body["checks"][1]
    assert migrations["name"] == "migrations"
    assert migrations["ok"] is False
    assert migrations["detail"].startswith("at 0001_engine, expected ")
    assert "ledger db upgrade" in migrations["detail"]


# --------------------------------------------------------------------------- trial balance
def test_the_trial_balance_shows_posted_amounts_the_italian_way_with_totals(
    treasurer_client, ledger
):
    open_books(ledger)
    donate(ledger, "d1", "1234.56", date(2026, 6, 1))
    donate(ledger, "d2", "1000000.00", date(2026, 6, 2), credit="liabilities:campaigns:42:escrow")

    response = treasurer_client.get(TRIAL_BALANCE)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    rows = table_rows(html)
    assert row_for(rows["tbody"], "assets:bank:intesa")[1:4] == [
        "Conto Intesa",
        "Attività",
        "1.001.234,56 EUR",
    ]
    donations = row_for(rows["tbody"], "income:donations")
    assert donations[1:3] == ["Donazioni <online> & bonifici", "Proventi"]
    assert donations[4] == "1.234,56 EUR"
    assert row_for(rows["tbody"], "liabilities:campaigns:42:escrow")[4] == "1.000.000,00 EUR"
    assert rows["tfoot"] == [["Totale EUR", "1.001.234,56 EUR", "1.001.234,56 EUR"]]
    # Names are escaped, never injected as markup.
    assert "Donazioni &lt;online&gt; &amp; bonifici" in html


def test_each_currency_gets_its_own_total(treasurer_client, ledger):
    open_books(ledger)
    ledger.create_account("assets:bank:usd", "asset", currency="USD")
    ledger.create_account("income:donations:usd", "income", currency="USD")
    donate(ledger, "d1", "10.00", date(2026, 6, 1))
    ledger.post(
        EntrySpec(
            "u1",
            "donation",
            [
                PostingSpec("assets:bank:usd", Money.parse("2500.25", "USD")),
                PostingSpec("income:donations:usd", Money.parse("-2500.25", "USD")),
            ],
            effective_on=date(2026, 6, 1),
        )
    )

    rows = table_rows(treasurer_client.get(TRIAL_BALANCE).get_data(as_text=True))
    assert rows["tfoot"] == [
        ["Totale EUR", "10,00 EUR", "10,00 EUR"],
        ["Totale USD", "2.500,25 USD", "2.500,25 USD"],
    ]


def test_the_page_shows_the_journal_head_it_was_read_with(treasurer_client, ledger):
    open_books(ledger)
    donate(ledger, "d1", "5.00", date(2026, 6, 1))
    donate(ledger, "d2", "7.00", date(2026, 6, 2))
    head_hash = ledger.entry(2).hash

    html = treasurer_client.get(TRIAL_BALANCE).get_data(as_text=True)
    assert "n. 2" in html
    assert head_hash in html
    assert GENESIS_HASH not in html


def test_an_empty_book_says_so_instead_of_showing_an_empty_table(treasurer_client):
    html = treasurer_client.get(TRIAL_BALANCE).get_data(as_text=True)
    assert "Nessun conto ancora aperto" in html
    assert "nessuna registrazione" in html
    assert "<table" not in html


def test_as_of_shows_only_entries_dated_up_to_that_day(treasurer_client, ledger):
    open_books(ledger)
    donate(ledger, "early", "100.00", date(2026, 6, 1))
    donate(ledger, "late", "23.45", date(2026, 6, 10))

    before = treasurer_client.get(TRIAL_BALANCE + "?as_of=2026-06-05")
    assert before.status_code == 200
    html = before.get_data(as_text=True)
    rows = table_rows(html)
    assert row_for(rows["tbody"], "assets:bank:intesa")[3] == "100,00 EUR"
    assert rows["tfoot"] == [["Totale EUR", "100,00 EUR", "100,00 EUR"]]
    assert "al 05/06/2026" in html

    on_the_day = table_rows(
        treasurer_client.get(TRIAL_BALANCE + "?as_of=2026-06-10").get_data(as_text=True)
    )
    assert on_the_day["tfoot"] == [["Totale EUR", "123,45 EUR", "123,45 EUR"]]

    before_any = table_rows(
        treasurer_client.get(TRIAL_BALANCE + "?as_of=2026-05-31").get_data(as_text=True)
    )
    assert row_for(before_any["tbody"], "assets:bank:intesa")[3] == "–zero"

    empty_means_now = table_rows(
        treasurer_client.get(TRIAL_BALANCE + "?as_of=").get_data(as_text=True)
    )
    assert empty_means_now["tfoot"] == [["Totale EUR", "123,45 EUR", "123,45 EUR"]]


@pytest.mark.parametrize(
    "bad",
    [
        "2026-02-30",
        "30/06/2026",
        "20260630",
        "2026-W26-2",
        "domani",
        "2026-6-5",
        "<script>alert(1)</script>",
        "9" * 5000,
        "2026-06-05T10:00",
    ],
)
def test_a_bad_as_of_is_a_422_page_in_italian_never_a_500(treasurer_client, bad):
    response = treasurer_client.get(TRIAL_BALANCE, query_string={"as_of": bad})
    assert response.status_code == 422
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "Dati non validi" in html
    assert "AAAA-MM-GG" in html
    assert "<script>alert" not in html


def test_a_bad_as_of_asked_for_as_json_gets_the_error_envelope(treasurer_client):
    response = treasurer_client.get(
        TRIAL_BALANCE + "?as_of=2026-13-01", headers={"Accept": "application/json"}
    )
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid_input"
    assert error["details"] == {"field": "as_of", "value": "2026-13-01"}
    assert "AAAA-MM-GG" in error["message"]


# --------------------------------------------------------------------------- errors
def test_an_unknown_page_is_an_italian_404_page(offline_client):
    response = offline_client.get("/non-esiste")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Pagina non trovata" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/v1/nothing", {}),
        ("/api/anything/else", {"Accept": "text/html"}),
        ("/non-esiste", {"Accept": "application/json"}),
    ],
)
def test_an_unknown_api_route_or_a_json_client_gets_the_404_envelope(offline_client, path, headers):
    response = offline_client.get(path, headers=headers)
    assert response.status_code == 404
    assert response.get_json() == {
        "error": {"code": "not_found", "message": "no such resource", "details": {}}
    }


def test_a_wrong_method_is_a_405_that_names_the_allowed_ones(offline_client):
    page = offline_client.post("/")
    assert page.status_code == 405
    assert "Metodo non consentito" in page.get_data(as_text=True)
    assert "GET" in page.headers["Allow"]

    api = offline_client.post("/healthz", headers={"Accept": "application/json"})
    assert api.status_code == 405
    error = api.get_json()["error"]
    assert error["code"] == "method_not_allowed"
    assert "GET" in error["details"]["allowed"]


def test_domain_errors_map_to_their_status_and_stable_code():
    app = unreachable_app()

    @app.get("/api/test/missing")
    @public
    def missing():  # type: ignore[no-untyped-def]
        raise AccountNotFoundError("account assets:nope does not exist", code="assets:nope")

    @app.get("/test/conflict")
    @public
    def conflict():  # type: ignore[no-untyped-def]
        raise IdempotencyConflictError("key k1 was used for a different request", key="k1")

    client = app.test_client()
    missing_response = client.get("/api/test/missing")
    assert missing_response.status_code == 404
    assert missing_response.get_json() == {
        "error": {
            "code": "account_not_found",
            "message": "account assets:nope does not exist",
            "details": {"code": "assets:nope"},
        }
    }

    conflict_page = client.get("/test/conflict")
    assert conflict_page.status_code == 409
    assert "Operazione in conflitto" in conflict_page.get_data(as_text=True)
    app.extensions["ledger"].engine.dispose()


def test_an_unexpected_failure_is_a_500_that_leaks_nothing():
    app = unreachable_app(PROPAGATE_EXCEPTIONS=False)

    @app.get("/api/test/boom")
    @public
    def boom():  # type: ignore[no-untyped-def]
        raise RuntimeError("password=hunter2 in a stack trace")

    response = app.test_client().get("/api/test/boom")
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal_error"
    assert "hunter2" not in response.get_data(as_text=True)
    app.extensions["ledger"].engine.dispose()


def test_a_page_that_needs_the_database_while_it_is_down_is_a_503_page_not_a_500():
    app = unreachable_app()
    app.config["WTF_CSRF_ENABLED"] = False
    response = app.test_client().post(
        "/login", data={"email": "a@example.org", "password": "una password lunga"}
    )
    assert response.status_code == 503
    assert "Servizio non disponibile" in response.get_data(as_text=True)
    app.extensions["ledger"].engine.dispose()


# --------------------------------------------------------------------------- unit of work
def test_a_request_whose_work_fails_leaves_no_trace(app, ledger):
    def create_then_fail(session):  # type: ignore[no-untyped-def]
        create_account(session, "assets:cash", "asset", clock=ledger.clock)
        raise AccountNotFoundError("refused after the write")

    with app.test_request_context("/"), pytest.raises(AccountNotFoundError):
        in_transaction(create_then_fail)
    assert [a.code for a in ledger.accounts()] == []


def test_a_request_may_run_only_one_unit_of_work(app):
    def count(session):  # type: ignore[no-untyped-def]
        return len(session.scalars(select(Account)).all())

    with app.test_request_context("/"):
        assert in_transaction(count) == 0
        with pytest.raises(RuntimeError, match="one unit of work"):
            in_transaction(count)


def test_a_read_only_unit_of_work_cannot_write_on_postgresql(pg_url):
    app = create_app({"DATABASE_URL": pg_url, "TESTING": True})
    clock = SystemClock()

    with app.test_request_context("/"), pytest.raises(DBAPIError, match="read-only"):
        in_transaction(
            lambda s: create_account(s, "assets:cash", "asset", clock=clock), read_only=True
        )
    app.extensions["ledger"].engine.dispose()


# --------------------------------------------------------------------------- headers, markup
SOME_PATHS = [
    "/",
    "/login",
    "/register",
    TRIAL_BALANCE,
    "/healthz",
    "/static/app.css",
    "/non-esiste",
    "/api/v1/nothing",
    "/?as_of=ieri",
    "/?as_of=2026-06-01",
]


def test_every_response_carries_the_security_headers(client):
    for path in SOME_PATHS:
        response = client.get(path)
        csp = response.headers.get("Content-Security-Policy", "")
        assert "default-src 'self'" in csp, path
        assert "frame-ancestors 'none'" in csp, path
        assert "'unsafe-inline'" not in csp, path
        assert response.headers.get("X-Content-Type-Options") == "nosniff", path
        assert response.headers.get("Referrer-Policy") == "same-origin", path


EXTERNAL_URL = re.compile(r"""(?:https?:)?//(?!localhost[:/])[a-z0-9.-]+""", re.IGNORECASE)


def test_rendered_pages_load_nothing_from_other_hosts_and_have_no_inline_code(
    treasurer_client, ledger
):
    open_books(ledger)
    donate(ledger, "d1", "1.00", date(2026, 6, 1))
    paths = ["/", "/account", "/account/2fa", "/account/password", "/non-esiste"]
    paths += [TRIAL_BALANCE, TRIAL_BALANCE + "?as_of=2026-06-01", TRIAL_BALANCE + "?as_of=x"]
    for path in paths:
        html = treasurer_client.get(path).get_data(as_text=True)
        assert EXTERNAL_URL.findall(html) == [], path
        assert "<style" not in html, path
        assert "style=" not in html, path
        assert "<script" not in html, path
        assert re.search(r"\son[a-z]+=", html) is None, path  # no inline event handlers


def test_the_stylesheet_loads_nothing_from_other_hosts():
    css = (Path(__file__).parents[2] / "web" / "static" / "app.css").read_text()
    assert "url(" not in css
    assert "@import" not in css


@pytest.mark.parametrize("path", ["/", "/login", "/register", "/password/reset"])
def test_pages_have_the_landmarks_a_skip_link_and_labelled_fields(client, path):
    html = client.get(path).get_data(as_text=True)
    assert '<html lang="it">' in html
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in html
    for landmark in ("<header", "<nav", "<main", "<footer"):
        assert landmark in html
    skip_target = re.search(r'class="skip-link" href="#([^"]+)"', html)
    assert skip_target is not None
    assert f'id="{skip_target.group(1)}"' in html
    fields = re.compile(
        r'<(?:input|select|textarea)(?![^>]*type="(?:hidden|submit)")[^>]*\sid="([^"]+)"'
    )
    for field_id in fields.findall(html):
        assert f'<label for="{field_id}"' in html
