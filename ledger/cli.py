"""The `ledger` command line for treasurers and operators (no Flask needed).

Every command opens its own unit of work. Errors print their stable code and
exit non-zero. `web.cli` adds `serve` to this group and is the console script.
"""

from __future__ import annotations

import click

from ledger.core.service import Ledger


def open_ledger(ctx: click.Context) -> Ledger:
    """The Ledger for LEDGER_DATABASE_URL (or --database), made once per invocation."""
    obj = ctx.ensure_object(dict)
    if "ledger" not in obj:
        obj["ledger"] = Ledger.from_url(obj.get("database_url"))
    ledger: Ledger = obj["ledger"]
    return ledger


@click.group()
@click.option("--database", "database_url", envvar="LEDGER_DATABASE_URL", default=None,
              help="Database URL (default: LEDGER_DATABASE_URL, else instance/ledger.sqlite3).")
@click.pass_context
def cli(ctx: click.Context, database_url: str | None) -> None:
    """Community ledger: double-entry books for community-welfare programmes."""
    ctx.ensure_object(dict)["database_url"] = database_url


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Run the migrations up to the newest schema."""
    from ledger.core.migrate import upgrade

    upgrade(ctx.obj.get("database_url"))
    click.echo("database is up to date")


def main() -> None:
    cli()
