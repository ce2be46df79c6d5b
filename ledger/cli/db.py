"""`ledger db`: the database schema. `ledger db upgrade` runs the Alembic migrations up to the
newest schema on the database of `--database` (or LEDGER_DATABASE_URL); migrations are the
only way the schema is made. It writes no audit event.
"""

from __future__ import annotations

import click


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Run the migrations up to the newest schema."""
    from ledger.core.migrate import upgrade

    upgrade(ctx.obj.get("database_url"))
    click.echo("database is up to date")
