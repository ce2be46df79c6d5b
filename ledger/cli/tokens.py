"""`ledger tokens`: API tokens, the bearer credentials for /api/v1. `tokens create` issues a
token for a user and prints it once (only its SHA-256 hash is stored), `tokens list` shows
tokens without the tokens themselves, and `tokens revoke` revokes one at once. Creating and
revoking go through the use cases of `ledger.people.commands`: creating and the first
revocation write `token.create` and `token.revoke` audit events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
from sqlalchemy.orm import Session

from ledger.cli.common import _Column, _echo_listing, open_ledger
from ledger.commands import Origin
from ledger.people import commands as people_commands
from ledger.people import service as people


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@click.group()
def tokens() -> None:
    """API tokens (bearer credentials for /api/v1)."""


@tokens.command("create")
@click.argument("email")
@click.option("--name", default="token", show_default=True, help="What the token is for.")
@click.pass_context
def tokens_create(ctx: click.Context, email: str, name: str) -> None:
    """Issue an API token for EMAIL (shown once).

    The token is printed alone on the last line of standard output, so a script
    can take it with `tail -n 1`. Only its SHA-256 hash is stored: copy it now, it
    cannot be shown again. Writes a `token.create` audit event.
    """
    ledger = open_ledger(ctx)

    def work(session: Session) -> tuple[str, int, int, str]:
        issued = people_commands.issue_token(
            session, email, name, origin=Origin.command_line(), clock=ledger.clock
        ).value
        return issued.token, issued.row.id, issued.row.user_id, issued.row.name

    token, token_id, user_id, label = ledger.run(work)
    click.echo(f'created API token {token_id} "{label}" for user {user_id}')
    click.echo("it is shown only now (only its SHA-256 hash is stored); send it as")
    click.echo("'Authorization: Bearer <token>'. The token is the next line:")
    click.echo(token)


@tokens.command("list")
@click.argument("email", required=False)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_context
def tokens_list(ctx: click.Context, email: str | None, fmt: str) -> None:
    """List API tokens, optionally only those of EMAIL.

    Shows id, prefix, name, user, created and revoked; never the tokens themselves.
    """

    def read(session: Session) -> list[dict[str, Any]]:
        owner = people.get_user_by_email(session, email) if email is not None else None
        return [
            {
                "id": t.id,
                "prefix": t.prefix,
                "name": t.name,
                "user_id": t.user_id,
                "email": t.user.email,
                "created_at": _iso(t.created_at),
                "revoked_at": _iso(t.revoked_at),
            }
            for t in people.list_tokens(session, owner)
        ]

    _echo_listing(
        open_ledger(ctx).read(read),
        fmt,
        empty="no API tokens",
        columns=(
            _Column("id", lambda r: str(r["id"]), right=True, min_width=5),
            _Column("prefix", lambda r: str(r["prefix"])),
            _Column("name", lambda r: str(r["name"])),
            _Column("user", lambda r: f"{r['user_id']} {r['email']}"),
            _Column("created", lambda r: str(r["created_at"])),
            _Column(
                "status", lambda r: f"revoked {r['revoked_at']}" if r["revoked_at"] else "live"
            ),
        ),
    )


@tokens.command("revoke")
@click.argument("token_id", type=click.IntRange(min=1))
@click.pass_context
def tokens_revoke(ctx: click.Context, token_id: int) -> None:
    """Revoke API token TOKEN_ID at once.

    TOKEN_ID is the id shown by `ledger tokens list`. Revoking twice changes
    nothing; the first revocation writes a `token.revoke` audit event.
    """
    ledger = open_ledger(ctx)

    def work(session: Session) -> tuple[str, datetime, bool]:
        outcome = people_commands.revoke_token(
            session, token_id, origin=Origin.command_line(), clock=ledger.clock
        )
        row = outcome.value
        assert row.revoked_at is not None
        return row.prefix, row.revoked_at, outcome.created

    prefix, revoked_at, changed = ledger.run(work)
    if changed:
        click.echo(f"revoked API token {token_id} ({prefix}...)")
    else:
        click.echo(
            f"API token {token_id} ({prefix}...) was already revoked at "
            f"{revoked_at.isoformat()}; nothing changed"
        )
