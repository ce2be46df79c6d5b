"""`ledger accounts`: the chart of accounts. `accounts create` opens an account (its type,
currency, an optional no-overdraft flag and name) through `ledger.books.commands`, whose
`account.create` audit event holds only structural facts, never the free-text name;
`accounts list` shows every account in code order, as a table or as JSON.
"""

from __future__ import annotations

import json
from typing import Any

import click

from ledger.books import commands as books
from ledger.cli.common import open_ledger
from ledger.commands import Origin
from ledger.core.accounts import AccountView
from ledger.core.models import ACCOUNT_TYPES


@click.group()
def accounts() -> None:
    """Chart of accounts."""


@accounts.command("create")
@click.argument("code")
@click.option(
    "--type",
    "account_type",
    required=True,
    type=click.Choice(ACCOUNT_TYPES),
    help="Account type; asset and expense are debit-normal.",
)
@click.option("--currency", default="EUR", show_default=True, help="ISO 4217 currency.")
@click.option(
    "--no-overdraft",
    is_flag=True,
    help="Refuse anything that would take the available balance below zero.",
)
@click.option("--name", default=None, help="Human-readable name (no personal data).")
@click.pass_context
def accounts_create(
    ctx: click.Context,
    code: str,
    account_type: str,
    currency: str,
    no_overdraft: bool,
    name: str | None,
) -> None:
    """Open account CODE (e.g. assets:bank:intesa); writes an `account.create` audit event."""
    ledger = open_ledger(ctx)
    account = ledger.run(
        lambda session: books.create_account(
            session,
            code,
            account_type,
            currency=currency.upper(),
            no_overdraft=no_overdraft,
            name=name,
            origin=Origin.command_line(),
            clock=ledger.clock,
        )
    ).value
    flags = ", no overdraft" if account.no_overdraft else ""
    click.echo(f"created account {account.code} ({account.type}, {account.currency}{flags})")


def _account_json(a: AccountView) -> dict[str, Any]:
    return {
        "code": a.code,
        "name": a.name,
        "type": a.type,
        "currency": a.currency,
        "no_overdraft": a.no_overdraft,
    }


@accounts.command("list")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_context
def accounts_list(ctx: click.Context, fmt: str) -> None:
    """List every account in code order."""
    rows = open_ledger(ctx).accounts()
    if fmt == "json":
        click.echo(json.dumps([_account_json(a) for a in rows], ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no accounts yet (create one with `ledger accounts create`)")
        return
    width = max(len("code"), *(len(a.code) for a in rows))
    click.echo(f"{'code':<{width}}  {'type':<9}  cur  flags         name")
    for a in rows:
        flags = "no-overdraft" if a.no_overdraft else ""
        click.echo(
            f"{a.code:<{width}}  {a.type:<9}  {a.currency}  {flags:<12}  {a.name or ''}".rstrip()
        )
