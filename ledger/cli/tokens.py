"""`ledger tokens`: API tokens, the bearer credentials for /api/v1. `tokens create` issues a
token for a user and prints it once (only its SHA-256 hash is stored), `tokens list` shows
tokens without the tokens themselves, and `tokens revoke` revokes one at once. Creating and
revoking go through the use cases of `ledger.people.commands`: creating and the first
revocation write `token.create` and `token.revoke` audit events.

A token has scopes (`read`: every GET; `money`: whatever moves money or changes state)
and expires (after LEDGER_API_TOKEN_DAYS days, 90 unless set). The operator may issue
any scope here; a user who issues their own money token on the account page confirms a
TOTP code first.
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
from ledger.people.models import READ, TOKEN_SCOPES


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@click.group()
def tokens() -> None:
    """API tokens (bearer credentials for /api/v1)."""


@tokens.command("create")
@click.argument("email")
@click.option("--name", default="token", show_default=True, help="What the token is for.")
@click.option(
    "--scope",
    "scopes",
    type=click.Choice(TOKEN_SCOPES),
    multiple=True,
    help="read (every GET) or money (moves money or changes state); repeat for both. "
    "Default: read.",
)
@click.option(
    "--days",
    type=click.IntRange(min=1, max=people.MAX_TOKEN_DAYS),
    default=people.DEFAULT_TOKEN_DAYS,
    envvar="LEDGER_API_TOKEN_DAYS",
    show_default=True,
    help="Days until the token expires (default: LEDGER_API_TOKEN_DAYS, else 90).",
)
@click.pass_context
def tokens_create(
    ctx: click.Context, email: str, name: str, scopes: tuple[str, ...], days: int
) -> None:
    """Issue an API token for EMAIL (shown once).

    The token is printed alone on the last line of standard output, so a script
    can take it with `tail -n 1`. Only its SHA-256 hash is stored: copy it now, it
    cannot be shown again. Writes a `token.create` audit event.
    """
    ledger = open_ledger(ctx)

    def work(session: Session) -> tuple[str, int, int, str, str, datetime]:
        issued = people_commands.issue_token(
            session,
            email,
            name,
            scopes=scopes or (READ,),
            days=days,
            origin=Origin.command_line(),
            clock=ledger.clock,
        ).value
        row = issued.row
        return issued.token, row.id, row.user_id, row.name, row.scopes, row.expires_at

    token, token_id, user_id, label, granted, expires_at = ledger.run(work)
    click.echo(f'created API token {token_id} "{label}" for user {user_id}')
    click.echo(f"scopes: {', '.join(granted.split())}; expires {expires_at.isoformat()}")
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

    Shows id, prefix, name, user, scopes, created, expiry, last use and whether
    it is live, revoked or expired; never the tokens themselves.
    """
    ledger = open_ledger(ctx)
    now = ledger.clock.now()

    def read(session: Session) -> list[dict[str, Any]]:
        owner = people.get_user_by_email(session, email) if email is not None else None
        return [
            {
                "id": t.id,
                "prefix": t.prefix,
                "name": t.name,
                "user_id": t.user_id,
                "email": t.user.email,
                "scopes": sorted(t.scope_set),
                "created_at": _iso(t.created_at),
                "expires_at": _iso(t.expires_at),
                "revoked_at": _iso(t.revoked_at),
                "expired": t.expires_at <= now,
                "last_used_at": _iso(t.last_used_at),
                "last_used_from": t.last_used_from,
            }
            for t in people.list_tokens(session, owner)
        ]

    def status(row: dict[str, Any]) -> str:
        if row["revoked_at"]:
            return f"revoked {row['revoked_at']}"
        return f"expired {row['expires_at']}" if row["expired"] else "live"

    _echo_listing(
        ledger.read(read),
        fmt,
        empty="no API tokens",
        columns=(
            _Column("id", lambda r: str(r["id"]), right=True, min_width=5),
            _Column("prefix", lambda r: str(r["prefix"])),
            _Column("name", lambda r: str(r["name"])),
            _Column("user", lambda r: f"{r['user_id']} {r['email']}"),
            _Column("scopes", lambda r: ",".join(r["scopes"])),
            _Column("created", lambda r: str(r["created_at"])),
            _Column("expires", lambda r: str(r["expires_at"])),
            _Column(
                "last used",
                lambda r: (
                    f"{r['last_used_at']} {r['last_used_from'] or ''}".strip()
                    if r["last_used_at"]
                    else "never"
                ),
            ),
            _Column("status", status),
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
