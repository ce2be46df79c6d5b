"""`ledger demo`: loads demo data for a community programme in one transaction through
`ledger.books.demo_commands.load_demo`, which writes its `demo.load` audit event; running it
twice changes nothing. Demo users, one per role with the published demo password, are
created only with `--with-users`, and that is refused when the database holds any other user.
"""

from __future__ import annotations

import click

from ledger.cli.common import open_ledger
from ledger.commands import Origin


@click.command()
@click.option(
    "--with-users",
    is_flag=True,
    help="Also create one demo user per role, all with the published demo password. "
    "Refused (real_users_present) when the database holds any other user.",
)
@click.pass_context
def demo(ctx: click.Context, with_users: bool) -> None:
    """Load demo data for a community programme (idempotent: safe to run twice).

    The whole demo is one transaction with its `demo.load` audit event. Demo users
    are opt-in: their password is public, so never use --with-users on a real
    programme's database.
    """
    from ledger.books.demo_commands import load_demo
    from ledger.demo import DEMO_PASSWORD, DEMO_USERS

    ledger = open_ledger(ctx)
    result = ledger.run(
        lambda session: load_demo(
            session, with_users=with_users, origin=Origin.command_line(), clock=ledger.clock
        )
    ).value
    if result.changed:
        users = f", {result.users_created} users" if with_users else ""
        click.echo(
            f"demo data loaded: {result.accounts_created} accounts, "
            f"{result.entries_created} entries, {result.holds_created} holds, "
            f"{result.campaigns_created} campaigns{users}"
        )
    else:
        click.echo("the demo data is already there; nothing changed")
    if with_users:
        click.echo(
            f"demo sign-in (password {DEMO_PASSWORD}): "
            + ", ".join(f"{email} ({role})" for email, _name, role in DEMO_USERS)
        )
