"""`ledger periods`: accounting periods, which are calendar months. `periods close YYYY-MM`
locks the books through the month's last day, so nothing may be dated on or before it
afterwards, through `ledger.books.commands.close_period`, which writes a `period.close` audit
event; closing a closed month changes nothing. When bank lines dated on or before the
month's last day are still unexplained, a second line prints them as JSON
(`{"warnings": [{"iban", "unexplained_lines", "total", ...}]}`); the month is closed all
the same.
"""

from __future__ import annotations

import json

import click

from ledger.books import commands as books
from ledger.cli.common import open_ledger
from ledger.commands import Origin


@click.group()
def periods() -> None:
    """Accounting periods (calendar months)."""


@periods.command("close")
@click.argument("period", metavar="YYYY-MM")
@click.pass_context
def periods_close(ctx: click.Context, period: str) -> None:
    """Close month YYYY-MM: nothing may be dated on or before its last day afterwards.

    Writes a `period.close` audit event; closing a closed month changes nothing.
    """
    ledger = open_ledger(ctx)
    outcome = ledger.run(
        lambda session: books.close_period(
            session, period, origin=Origin.command_line(), clock=ledger.clock
        )
    )
    if outcome.created:
        click.echo(
            f"closed {period}: the books are locked through {outcome.value.ends_on.isoformat()}"
        )
    else:
        click.echo(f"{period} was already closed; nothing changed")
    if outcome.value.warnings:
        # Unexplained bank lines dated in or before the month: the close stands, it warns.
        click.echo(json.dumps({"warnings": list(outcome.value.warnings)}, ensure_ascii=False))
