"""A request's unit of work whose database connection the server ends under it runs
once more on a new connection (web.db.in_transaction): every command is idempotent,
so running it again is safe. PostgreSQL only: it needs a server process to end."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from ledger.core.accounts import create_account
from ledger.core.clock import FixedClock
from web import create_app
from web.db import in_transaction


def test_a_unit_whose_connection_the_server_ends_runs_again_on_a_new_one(
    pg_url: str, clock: FixedClock
) -> None:
    app = create_app({"DATABASE_URL": pg_url, "TESTING": True, "CLOCK": clock})
    ledger = app.extensions["ledger"]
    backends: list[int] = []

    def work(session):  # type: ignore[no-untyped-def]
        backends.append(session.scalar(text("SELECT pg_backend_pid()")))
        create_account(session, "assets:cash", "asset", clock=clock)
        if len(backends) == 1:  # the server ends this connection in the middle of the unit
            session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return "done"

    try:
        with app.test_request_context("/"):
            assert in_transaction(work) == "done"
        assert len(backends) == 2 and backends[0] != backends[1]
        assert [a.code for a in ledger.accounts()] == ["assets:cash"]  # once
    finally:
        ledger.engine.dispose()


def test_a_unit_whose_connection_dies_every_time_fails_after_the_second_run(
    pg_url: str, clock: FixedClock
) -> None:
    app = create_app({"DATABASE_URL": pg_url, "TESTING": True, "CLOCK": clock})
    runs: list[int] = []

    def work(session):  # type: ignore[no-untyped-def]
        runs.append(1)
        session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    try:
        with app.test_request_context("/"), pytest.raises(OperationalError):
            in_transaction(work)
        assert len(runs) == 2
    finally:
        app.extensions["ledger"].engine.dispose()
