"""`ledger demo`: loads demo data for a community programme in one transaction with its
`demo.load` audit event; running it twice changes nothing. Demo users, one per role with the
published demo password, are created only with `--with-users`, and that is refused when the
database holds any other user.
"""

from __future__ import annotations

import click
from sqlalchemy.orm import Session

from ledger.cli.common import _audit, open_ledger


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
    from ledger.demo import DEMO_PASSWORD, DEMO_USERS, DemoResult, load_demo_into

    ledger = open_ledger(ctx)

    def work(session: Session) -> DemoResult:
        result = load_demo_into(session, ledger.clock, with_users=with_users)
        if result.changed:
            _audit(
                session,
                ledger,
                "demo.load",
                subject_type="demo",
                subject_id=None,
                details={
                    "accounts": result.accounts_created,
                    "entries": result.entries_created,
                    "holds": result.holds_created,
                    "users": result.users_created,
                    "campaigns": result.campaigns_created,
                },
            )
        return result

    result = ledger.run(work)
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
