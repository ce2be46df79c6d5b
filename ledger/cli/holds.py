"""`ledger holds`: holds, the two-phase (pending) transfers that reserve an amount until they
are posted, voided or expired. `holds expire` expires every open hold whose deadline has
passed (`ledger.books.commands.expire_holds` writes a `hold.expire` audit event for each),
and `holds list` shows the open holds as a table or as JSON.
"""

from __future__ import annotations

import json

import click

from ledger.books import commands as books
from ledger.cli.common import open_ledger
from ledger.commands import Origin


@click.group()
def holds() -> None:
    """Holds (pending transfers)."""


@holds.command("expire")
@click.pass_context
def holds_expire(ctx: click.Context) -> None:
    """Expire every open hold whose deadline has passed (a `hold.expire` event for each)."""
    ledger = open_ledger(ctx)
    expired = ledger.run(
        lambda session: books.expire_holds(
            session, origin=Origin.command_line(), clock=ledger.clock
        )
    ).value
    click.echo(f"expired {len(expired)} hold{'s' if len(expired) != 1 else ''}")
    for hold_id in expired:
        click.echo(f"  {hold_id}")


@holds.command("list")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_context
def holds_list(ctx: click.Context, fmt: str) -> None:
    """List the open holds."""
    from ledger.core.holds import open_holds

    rows = open_ledger(ctx).read(open_holds)
    data = [
        {
            "id": h.id,
            "kind": h.kind,
            "debit_account": h.debit_account,
            "credit_account": h.credit_account,
            "currency": h.amount.currency,
            "amount": h.amount.amount_string(),
            "expires_at": h.expires_at.isoformat() if h.expires_at else None,
            "narration": h.narration,
        }
        for h in rows
    ]
    if fmt == "json":
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    if not data:
        click.echo("no open holds")
    for h in data:
        click.echo(
            f"{h['id']}  {h['amount']:>14} {h['currency']}  {h['debit_account']} -> "
            f"{h['credit_account']}  expires {h['expires_at'] or 'never'}"
        )
