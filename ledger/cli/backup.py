"""`ledger backup --output FILE` and `ledger restore FILE`: the whole database to a file and
back, through `ledger.books.backup` (SQLite's online backup API; pg_dump / pg_restore for
PostgreSQL), which records the `database.backup` and `database.restore` audit events.
"""

from __future__ import annotations

from pathlib import Path

import click

from ledger.cli.common import open_ledger
from ledger.commands import Origin


@click.command("backup")
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="The backup file to write (replaced only once the new backup is complete).",
)
@click.pass_context
def backup_cmd(ctx: click.Context, output: Path) -> None:
    """Back up the whole database into one file (safe while the application runs).

    SQLite: a SQLite database file; PostgreSQL: a pg_dump custom-format archive. The
    file holds personal data: keep it as safe as the database.
    """
    from ledger.books.backup import back_up

    made = back_up(open_ledger(ctx), output, origin=Origin.command_line()).value
    click.echo(
        f"backup written: {made.path} ({made.backend}, {made.size} bytes, sha256 {made.sha256})"
    )


@click.command("restore")
@click.argument("backup", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--force",
    is_flag=True,
    help="Replace everything the database holds (refused otherwise when it holds any table).",
)
@click.pass_context
def restore_cmd(ctx: click.Context, backup: Path, force: bool) -> None:
    """Restore a backup of `ledger backup` into the configured database (empty unless --force).

    Stop the application first; then run `ledger verify`. Change
    LEDGER_STRIPE_KEY_PREFIX when this database replaces one that talked to Stripe.
    """
    from ledger.books.backup import restore

    done = restore(open_ledger(ctx), backup, force=force, origin=Origin.command_line()).value
    click.echo(
        f"backup restored: {done.backend}, {done.size} bytes, sha256 {done.sha256}; "
        "run `ledger verify`"
    )
