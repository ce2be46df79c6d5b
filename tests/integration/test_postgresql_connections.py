"""PostgreSQL connections as `ledger.core.storage` configures them (psycopg 3).

A read-only unit of work ends without making psycopg forget the connection's
prepared statements, and a pooled connection whose server process was ended is
replaced before a command runs on it, without `pool_pre_ping`'s round trip.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from ledger.core.accounts import create_account
from ledger.core.clock import FixedClock
from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.models import Account
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.core.storage import make_engine


@pytest.fixture
def one_connection(pg_url: str, clock: FixedClock) -> Iterator[Ledger]:
    """A Ledger whose pool holds a single connection, so every unit shares it."""
    ledger = Ledger(make_engine(pg_url, pool_size=1, max_overflow=0), clock=clock)
    yield ledger
    ledger.engine.dispose()


def test_read_only_units_keep_the_prepared_statements_of_their_connection(one_connection):
    ledger = one_connection
    query = select(Account.id).order_by(Account.id).limit(1)
    # psycopg prepares a statement on its sixth execution (prepare_threshold 5); a
    # ROLLBACK would make it forget the counts and send DEALLOCATE ALL.
    for _ in range(8):
        ledger.read(lambda s: s.execute(query).all())
    prepared = ledger.read(lambda s: s.scalar(text("SELECT count(*) FROM pg_prepared_statements")))
    assert prepared >= 1


def test_a_read_only_unit_still_refuses_a_write_and_leaves_nothing(one_connection):
    ledger = one_connection
    with pytest.raises(Exception, match="read-only transaction"):
        ledger.read(
            lambda s: s.execute(
                text(
                    "INSERT INTO accounts (code, name, type, currency, no_overdraft, created_at)"
                    " VALUES ('x', 'x', 'asset', 'EUR', false, now())"
                )
            )
        )
    assert ledger.read(lambda s: s.scalar(select(Account.id).where(Account.code == "x"))) is None


def test_the_next_command_succeeds_after_the_server_ended_the_pooled_connection(
    one_connection, pg_url
):
    ledger = one_connection
    assert not ledger.engine.pool._pre_ping  # no SELECT 1 before each transaction
    ledger.create_account("assets:cash", "asset")
    ledger.create_account("income:gifts", "income")
    killed = ledger.read(lambda s: s.scalar(text("SELECT pg_backend_pid()")))
    admin = create_engine(make_url(pg_url).set(drivername="postgresql+psycopg"))
    try:
        with admin.connect() as connection:
            # Waits (up to 5 s) until the backend has exited.
            assert connection.scalar(
                text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": killed}
            )
    finally:
        admin.dispose()

    result = ledger.post(
        EntrySpec(
            idempotency_key="after-the-kill",
            kind="donation",
            postings=[
                PostingSpec("assets:cash", Money(1000, "EUR")),
                PostingSpec("income:gifts", Money(-1000, "EUR")),
            ],
            effective_on=ledger.clock.now().date(),
        )
    )
    assert result.created
    assert ledger.read(lambda s: s.scalar(text("SELECT pg_backend_pid()"))) != killed
    assert ledger.verify().ok


# ------------------------------------------------------------------ dead connections
def test_a_unit_of_the_cli_whose_connection_dies_before_commit_runs_again_once(pg_ledger):
    """The ledger's own unit of work (the CLI's and the worker's, not only a request's):
    the server ends the connection in the middle of the unit; it runs once more on a
    new connection and writes once. A second death is raised."""
    backends: list[int] = []

    def work(session):  # type: ignore[no-untyped-def]
        backends.append(session.scalar(text("SELECT pg_backend_pid()")))
        create_account(session, "assets:cassa", "asset", clock=pg_ledger.clock)
        if len(backends) == 1:
            session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return "done"

    assert pg_ledger.run(work) == "done"
    assert len(backends) == 2 and backends[0] != backends[1]
    assert [a.code for a in pg_ledger.accounts()] == ["assets:cassa"]

    runs: list[int] = []

    def dies(session):  # type: ignore[no-untyped-def]
        runs.append(1)
        session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    with pytest.raises(OperationalError):
        pg_ledger.run(dies)
    assert len(runs) == 2
    reads: list[int] = []

    def read_dies_once(session):  # type: ignore[no-untyped-def]
        reads.append(1)
        if len(reads) == 1:
            session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return session.scalar(text("SELECT 1"))

    assert pg_ledger.read(read_dies_once) == 1 and len(reads) == 2
