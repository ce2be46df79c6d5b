"""Fixtures: throwaway databases built by the real migrations, on SQLite and PostgreSQL.

Integration tests that take `ledger` (or `db_url`) run once per backend:
SQLite always, PostgreSQL when LEDGER_TEST_POSTGRES_URL names a server (its
database is only used to create and drop throwaway databases). Each backend's
schema is built once per session by running the Alembic migrations into a
template, then copied for every test, and every database made is dropped.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ledger.core.clock import FixedClock
from ledger.core.migrate import upgrade
from ledger.core.sealing import SecretBox
from ledger.core.service import Ledger
from ledger.wiring import wire
from tests import journal_reads

PG_ADMIN_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite", "postgresql"] if PG_ADMIN_URL else ["sqlite"]

# Hypothesis profiles, chosen by HYPOTHESIS_PROFILE (default "dev"). The example
# counts are sized for the most expensive property test, the stateful ledger machine
# (a fresh database per example, verify() after every step), which must stay under a
# minute per backend on two cores; they apply to every property test that does not
# ask for its own count, so cheap pure-function tests set a higher max_examples
# themselves. "ci" is reproducible (derandomize) and prints the blob that replays a
# failure; "nightly" is the long random search. No deadline: a database step's
# duration depends on the machine's load, not on the code under test.
STATEFUL_EXAMPLES = 25
STATEFUL_STEPS = 50
settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=STATEFUL_EXAMPLES,
    stateful_step_count=STATEFUL_STEPS,
    deadline=None,
    print_blob=True,
)
settings.register_profile(
    "dev",
    max_examples=STATEFUL_EXAMPLES,
    stateful_step_count=STATEFUL_STEPS,
    deadline=None,
)
settings.register_profile(
    "nightly",
    max_examples=1000,
    stateful_step_count=100,
    deadline=None,
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


# The grants react to campaign events in every test, as in the app and the CLI.
wire()

# No statement may read the journal's tables past the unit's own unwritten entries.
journal_reads.install()

# The tests' Ledgers and test apps share the public development key of TOTP secrets
# (ledger.core.sealing); a LEDGER_TOTP_KEY exported in the shell must not split them.
# Tests of the key setting set it themselves.
os.environ.pop("LEDGER_TOTP_KEY", None)


def pytest_report_header(config: pytest.Config) -> str:
    if PG_ADMIN_URL:
        return f"databases: SQLite and PostgreSQL ({make_url(PG_ADMIN_URL).render_as_string()})"
    return (
        "databases: SQLite only (set LEDGER_TEST_POSTGRES_URL to run the suite on "
        "PostgreSQL too; PostgreSQL-only tests will be skipped with that reason)"
    )


def _pg_admin_engine():  # type: ignore[no-untyped-def]
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg")
    return create_engine(url, isolation_level="AUTOCOMMIT"), url


def _pg_drop(admin, name: str) -> None:  # type: ignore[no-untyped-def]
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def _templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    made: dict[str, str] = {}
    sqlite_path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    upgrade(f"sqlite:///{sqlite_path}")
    made["sqlite"] = str(sqlite_path)
    admin = None
    if PG_ADMIN_URL:
        admin, base = _pg_admin_engine()
        name = f"ledger_tmpl_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = base.set(database=name)
        upgrade(url.render_as_string(hide_password=False))
        made["postgresql"] = name
    yield made
    if admin is not None:
        _pg_drop(admin, made["postgresql"])
        admin.dispose()


def make_database(backend: str, templates: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """Yield the URL of a fresh migrated database of `backend`; drop it afterwards."""
    if backend == "sqlite":
        target = tmp_path / f"ledger-{uuid.uuid4().hex[:8]}.sqlite3"
        shutil.copyfile(templates["sqlite"], target)
        yield f"sqlite:///{target}"
        return
    admin, base = _pg_admin_engine()
    name = f"ledger_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{templates["postgresql"]}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        _pg_drop(admin, name)
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, _templates: dict[str, str], tmp_path: Path) -> Iterator[str]:
    yield from make_database(backend, _templates, tmp_path)


@pytest.fixture
def pg_url(_templates: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """A throwaway PostgreSQL database, for tests of PostgreSQL-only mechanisms."""
    if not PG_ADMIN_URL:
        pytest.skip("PostgreSQL-only test: LEDGER_TEST_POSTGRES_URL is not set")
    yield from make_database("postgresql", _templates, tmp_path)


@pytest.fixture
def clock() -> FixedClock:
    """A settable clock at 2026-06-15 12:00 UTC (14:00 in Rome)."""
    return FixedClock(datetime(2026, 6, 15, 12, 0, tzinfo=UTC))


@pytest.fixture
def ledger(db_url: str, clock: FixedClock) -> Iterator[Ledger]:
    """A Ledger on a fresh database; TOTP secrets sealed under the public development key,
    as in a test app without LEDGER_TOTP_KEY, so both read what the other wrote."""
    service = Ledger.from_url(db_url, clock=clock, secret_box=SecretBox.development())
    yield service
    service.engine.dispose()


@pytest.fixture
def pg_ledger(pg_url: str, clock: FixedClock) -> Iterator[Ledger]:
    service = Ledger.from_url(pg_url, clock=clock, secret_box=SecretBox.development())
    yield service
    service.engine.dispose()
