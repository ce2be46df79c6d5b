"""TOTP secrets at rest: migration 0009 on secrets enrolled in clear, rotation, `ledger users`.

The databases here start empty and are brought by the real migrations to the
revision before 0009, where treasurers enrol as they did then (the secret in
`users.totp_secret`, in clear); the tests then upgrade with or without
LEDGER_TOTP_KEY in the environment and read the table the way an attacker with
a copy of it would.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner, Result
from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.cli import cli
from ledger.core.clock import FixedClock
from ledger.core.errors import SecretKeyError
from ledger.core.migrate import alembic_config, downgrade, upgrade
from ledger.core.sealing import SecretBox, new_key
from ledger.core.service import Ledger
from ledger.people import service, totp
from tests.conftest import BACKENDS, _pg_admin_engine, _pg_drop
from tests.integration.conftest import audit_log

REVISION = "0009_totp_encrypted"
BEFORE = ScriptDirectory.from_config(alembic_config()).get_revision(REVISION).down_revision
NOW = datetime(2026, 6, 15, 12, 0, 15, tzinfo=UTC)
ANNA, BRUNO = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "KRUGKIDROVUWG2ZAMJZG653OEBTG66BA"


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no schema) of each backend; dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    admin, base = _pg_admin_engine()
    name = f"ledger_mig_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        _pg_drop(admin, name)
        admin.dispose()


def enrolled_in_clear(url: str, secrets: dict[str, str]) -> None:
    """At the revision before 0009: treasurers enrolled the old way, secret in clear."""
    upgrade(url, BEFORE)
    book = Ledger.from_url(url)

    def work(session: Session) -> None:
        for n, (email, secret) in enumerate(secrets.items(), start=1):
            session.execute(
                text(
                    "INSERT INTO persons (id, full_name, email, created_at) "
                    "VALUES (:id, :name, :email, :now)"
                ),
                {"id": n, "name": email.split("@")[0].title(), "email": email, "now": NOW},
            )
            session.execute(
                text(
                    "INSERT INTO users (id, person_id, active, locale, totp_secret, "
                    "totp_enrolled_at, created_at) "
                    "VALUES (:id, :id, TRUE, 'it', :secret, :now, :now)"
                ),
                {"id": n, "secret": secret, "now": NOW},
            )
            session.execute(
                text("INSERT INTO user_roles (user_id, role) VALUES (:id, 'treasurer')"), {"id": n}
            )

    book.run(work)
    book.engine.dispose()


def stored_values(book: Ledger) -> list[str]:
    """Every text the users table holds, as a copy of it would show."""

    def read(session: Session) -> list[str]:
        rows = session.execute(text("SELECT * FROM users")).mappings()
        return [v for row in rows for v in row.values() if isinstance(v, str)]

    return book.read(read)


def column(book: Ledger, name: str) -> list[Any]:
    return book.read(
        lambda s: list(s.execute(text(f"SELECT {name} FROM users ORDER BY id")).scalars())
    )


def verifies(book: Ledger, user_id: int, secret: str, box: SecretBox) -> bool:
    """The code step of signing in, with the code the user's app shows now."""
    code = totp.code_at(secret, NOW)
    return book.run(
        lambda s: service.verify_totp(service.lock_user(s, user_id), code, now=NOW, box=box)
    )


def ledger_cmd(url: str, *args: str, key: str | None) -> Result:
    env = {"LEDGER_TOTP_KEY": key or ""}
    return CliRunner().invoke(cli, ["--database", url, *args], env=env, catch_exceptions=False)


@pytest.fixture
def book_at(request: pytest.FixtureRequest) -> Iterator[Any]:
    made: list[Ledger] = []

    def open_book(url: str, box: SecretBox | None = None) -> Ledger:
        made.append(Ledger.from_url(url, clock=FixedClock(NOW), secret_box=box))
        return made[-1]

    yield open_book
    for book in made:
        book.engine.dispose()


def test_upgrading_with_the_key_in_the_environment_seals_every_secret_left_in_clear(
    empty_url, book_at, monkeypatch
):
    enrolled_in_clear(empty_url, {"anna@example.org": ANNA, "bruno@example.org": BRUNO})
    key = new_key()
    monkeypatch.setenv("LEDGER_TOTP_KEY", key)
    upgrade(empty_url)  # runs REVISION, then the later ones the models need

    book = book_at(empty_url, SecretBox([key]))
    values = stored_values(book)
    assert not any(ANNA in v or BRUNO in v for v in values)
    assert column(book, "totp_secret_clear") == [None, None]
    # The owners still sign in with their apps' codes; another key cannot verify them.
    assert verifies(book, 1, ANNA, SecretBox([key]))
    with pytest.raises(SecretKeyError):
        verifies(book, 2, BRUNO, SecretBox([new_key()]))
    assert verifies(book, 2, BRUNO, SecretBox([key]))


def test_upgrading_without_a_key_keeps_secrets_until_first_use_or_ledger_users_reseal_totp(
    empty_url, book_at, monkeypatch
):
    enrolled_in_clear(empty_url, {"anna@example.org": ANNA, "bruno@example.org": BRUNO})
    monkeypatch.delenv("LEDGER_TOTP_KEY", raising=False)
    upgrade(empty_url)  # runs REVISION, then the later ones the models need
    key = new_key()
    book = book_at(empty_url, SecretBox([key]))
    # Nothing is lost and nobody is locked out: the secrets wait in their own column.
    assert column(book, "totp_secret_clear") == [ANNA, BRUNO]

    # Anna signs in: her secret is sealed at that use.
    assert verifies(book, 1, ANNA, SecretBox([key]))
    assert column(book, "totp_secret_clear") == [None, BRUNO]
    assert SecretBox([key]).open(column(book, "totp_secret_sealed")[0]) == ANNA

    # The operator seals the rest at once; without a key the command refuses.
    refused = ledger_cmd(empty_url, "users", "reseal-totp", key=None)
    assert refused.exit_code == 1 and "secret_key_missing" in refused.output
    done = ledger_cmd(empty_url, "users", "reseal-totp", key=key)
    assert done.exit_code == 0, done.output
    assert "1 users" in done.output
    values = stored_values(book)
    assert not any(ANNA in v or BRUNO in v for v in values)
    assert verifies(book, 2, BRUNO, SecretBox([key]))
    assert [e["action"] for e in audit_log(book)] == ["user.totp_reseal"]
    again = ledger_cmd(empty_url, "users", "reseal-totp", key=key)
    assert "nothing changed" in again.output
    assert len(audit_log(book)) == 1


def test_rotating_the_key_with_ledger_users_reseal_totp_lets_the_old_key_go(
    empty_url, book_at, monkeypatch
):
    enrolled_in_clear(empty_url, {"anna@example.org": ANNA, "bruno@example.org": BRUNO})
    old = new_key()
    monkeypatch.setenv("LEDGER_TOTP_KEY", old)
    upgrade(empty_url)  # runs REVISION, then the later ones the models need

    fresh = ledger_cmd(empty_url, "users", "new-totp-key", key=None).output.strip()
    assert fresh != old and SecretBox([fresh]).open(SecretBox([fresh]).seal("x")) == "x"
    # A list that lacks the old key stops the command with nothing changed.
    lacking = ledger_cmd(empty_url, "users", "reseal-totp", key=new_key())
    assert lacking.exit_code == 1 and "secret_key_mismatch" in lacking.output
    done = ledger_cmd(empty_url, "users", "reseal-totp", key=f"{fresh},{old}")
    assert done.exit_code == 0 and "2 users" in done.output

    book = book_at(empty_url)
    for sealed in column(book, "totp_secret_sealed"):
        with pytest.raises(SecretKeyError):
            SecretBox([old]).open(sealed)
    assert verifies(book, 1, ANNA, SecretBox([fresh]))
    assert verifies(book, 2, BRUNO, SecretBox([fresh]))


def test_a_malformed_key_stops_the_command_without_echoing_it(empty_url):
    upgrade(empty_url)
    result = ledger_cmd(empty_url, "users", "reseal-totp", key="hunter2-not-a-key")
    assert result.exit_code == 1
    assert "LEDGER_TOTP_KEY" in result.output and "hunter2" not in result.output


def test_downgrading_puts_the_secrets_back_in_clear_only_with_a_key_that_opens_them(
    empty_url, book_at, monkeypatch
):
    enrolled_in_clear(empty_url, {"anna@example.org": ANNA})
    key = new_key()
    monkeypatch.setenv("LEDGER_TOTP_KEY", key)
    upgrade(empty_url, REVISION)

    monkeypatch.setenv("LEDGER_TOTP_KEY", new_key())
    with pytest.raises(RuntimeError, match="no key of LEDGER_TOTP_KEY opens"):
        downgrade(empty_url, BEFORE)
    monkeypatch.setenv("LEDGER_TOTP_KEY", key)
    downgrade(empty_url, BEFORE)
    book = book_at(empty_url)
    assert column(book, "totp_secret") == [ANNA]
