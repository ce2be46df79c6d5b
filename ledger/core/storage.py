"""Database engines for SQLite (embedded default) and PostgreSQL (production).

SQLite gets foreign keys, WAL and `BEGIN IMMEDIATE`, so a writer takes the
database lock when its transaction starts instead of failing half way; that is
SQLite's stand-in for the row locks PostgreSQL takes with SELECT ... FOR UPDATE.

PostgreSQL (psycopg 3) gets two things instead of SQLAlchemy's defaults:

- a read-only unit of work ends with COMMIT, not ROLLBACK: psycopg forgets every
  prepared statement of the connection after a ROLLBACK (it sends `DEALLOCATE
  ALL` and starts counting executions again), so reads that always ended with
  one kept every pooled connection from ever reusing a prepared statement. A
  transaction that wrote nothing commits nothing, and one in error still rolls
  back.
- no `pool_pre_ping` (a `SELECT 1` round trip before every transaction): a
  connection taken from the pool is instead checked on its socket, without a
  round trip. A server that ended the connection (a restart, an administrator's
  `pg_terminate_backend`, an idle timeout) has written its goodbye there; such a
  connection is dropped and the pool opens a new one, so the command runs on a
  live connection.
"""

from __future__ import annotations

import os
import select
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_DATABASE_URL = "sqlite:///instance/ledger.sqlite3"
READ_ONLY_OPTION = "ledger_read_only"


def database_url(url: str | None = None) -> str:
    """The URL to use: the argument, else LEDGER_DATABASE_URL, else the embedded file."""
    return url or os.environ.get("LEDGER_DATABASE_URL") or DEFAULT_DATABASE_URL


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """Create an engine; no connection is opened until first use."""
    resolved = make_url(database_url(url))
    if resolved.drivername == "postgresql":
        resolved = resolved.set(drivername="postgresql+psycopg")
    if resolved.get_backend_name() == "sqlite":
        database = resolved.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {}).setdefault("timeout", 30)
        engine = create_engine(resolved, **kwargs)
        _configure_sqlite(engine)
        return engine
    engine = create_engine(resolved, **kwargs)
    if engine.dialect.driver == "psycopg":
        _configure_psycopg(engine)
    return engine


def _configure_psycopg(engine: Engine) -> None:
    from psycopg.pq import TransactionStatus

    @event.listens_for(engine, "checkout")
    def _alive(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        # An idle connection has nothing to read unless the server wrote to it, and the
        # ledger listens to no notifications: what waits there is the server's goodbye
        # (FATAL "terminating connection ...") and the end of the stream. The pool
        # drops the connection and checks out a new one.
        if dbapi_connection.closed or dbapi_connection.broken:
            raise DisconnectionError("the pooled connection is closed")
        readable, _, _ = select.select([dbapi_connection.pgconn.socket], [], [], 0)
        if readable:
            raise DisconnectionError("the server wrote to an idle pooled connection: ended")

    @event.listens_for(engine, "rollback")
    def _end_read_only(connection: Any) -> None:
        # Runs just before SQLAlchemy's ROLLBACK; once committed, psycopg's rollback
        # finds no transaction and keeps its prepared statements.
        if connection.invalidated or not connection.get_execution_options().get(READ_ONLY_OPTION):
            return  # a connection the server ended has no transaction to commit
        dbapi_connection = connection.connection.dbapi_connection
        if dbapi_connection.info.transaction_status == TransactionStatus.INTRANS:
            dbapi_connection.commit()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Readers take no write lock, so with WAL they never wait behind a writer.
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


def is_postgresql(session_or_engine: Session | Engine) -> bool:
    if isinstance(session_or_engine, Session):
        return session_or_engine.get_bind().dialect.name == "postgresql"
    return session_or_engine.dialect.name == "postgresql"
