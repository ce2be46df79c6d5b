"""Run the Alembic migrations in `migrations/` (the only way the schema is made)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from ledger.core.storage import database_url

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url(url).replace("%", "%%"))
    return config


def upgrade(url: str | None = None, revision: str = "head", engine: Engine | None = None) -> None:
    """Bring the database at `url` (or `engine`) to `revision`."""
    config = alembic_config(url)
    if engine is not None:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    else:
        command.upgrade(config, revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def head_revisions() -> frozenset[str]:
    """The newest revision(s) of `migrations/`: what `upgrade` brings a database to."""
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return frozenset(ScriptDirectory.from_config(config).get_heads())


def applied_revisions(engine: Engine) -> frozenset[str]:
    """The revision(s) the database at `engine` is at (empty when never migrated).

    Read on the driver connection, outside any transaction, like a health check's
    `SELECT 1`: on SQLite every transaction begins IMMEDIATE and a readiness probe
    must not queue behind a writer for the write lock.
    """
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            try:
                cursor.execute("SELECT version_num FROM alembic_version")
            except Exception:  # no alembic_version table: a database never migrated
                return frozenset()
            return frozenset(str(row[0]) for row in cursor.fetchall())
        finally:
            cursor.close()
    finally:
        connection.rollback()
        connection.close()
