"""Matching grants: `ledger foundations` registers the foundations that co-finance campaigns
and the officers who act for them, and `ledger grants` lists the commitments with their
money states (from the engine's balances) and books a foundation's disbursement of released
money for a campaign, once per bank transfer reference. Each change writes its audit event
(`foundation.create`, `foundation.add_officer`, `commitment.disbursement`), written by
the use cases of `ledger.grants.commands`.
"""

from __future__ import annotations

import json
from typing import Any

import click
from sqlalchemy.orm import Session

from ledger.cli.common import open_ledger
from ledger.commands import Origin
from ledger.core.money import Money, format_minor
from ledger.grants import commands as grant_commands
from ledger.grants.getters import get_commitment


@click.group()
def foundations() -> None:
    """Foundations that co-finance campaigns, and the officers who act for them."""


@foundations.command("create")
@click.argument("name")
@click.option("--tax-code", default=None, help="The foundation's codice fiscale.")
@click.pass_context
def foundations_create(ctx: click.Context, name: str, tax_code: str | None) -> None:
    """Register a foundation (writes a `foundation.create` audit event)."""
    ledger = open_ledger(ctx)
    outcome = ledger.run(
        lambda session: grant_commands.create_foundation(
            session, name, tax_code=tax_code, origin=Origin.command_line(), clock=ledger.clock
        )
    )
    click.echo(f"created foundation {outcome.value.id}")


@foundations.command("add-officer")
@click.argument("foundation_id", type=int)
@click.argument("email")
@click.pass_context
def foundations_add_officer(ctx: click.Context, foundation_id: int, email: str) -> None:
    """Let the user EMAIL act for the foundation (they need the foundation_officer role)."""
    ledger = open_ledger(ctx)
    outcome = ledger.run(
        lambda session: grant_commands.add_officer(
            session, foundation_id, email, origin=Origin.command_line(), clock=ledger.clock
        )
    )
    click.echo(f"user {outcome.value} now acts for foundation {foundation_id}")


@click.group()
def grants() -> None:
    """Matching-grant commitments and their money states."""


@grants.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def grants_list(ctx: click.Context, fmt: str) -> None:
    """Every commitment with its money states, from the engine's balances."""
    from ledger.grants.queries import commitment_states
    from ledger.grants.service import list_commitments

    def read(session: Session) -> list[dict[str, Any]]:
        rows = []
        for row in list_commitments(session):
            states = commitment_states(session, row.id)
            rows.append(
                {
                    "id": row.id,
                    "foundation_id": row.foundation_id,
                    "kind": row.kind,
                    "status": row.status,
                    "currency": row.currency,
                    "title": row.title,
                    **{
                        name: format_minor(getattr(states, name), row.currency)
                        for name in (
                            "word",
                            "pledged",
                            "reserved",
                            "released",
                            "disbursed",
                            "clawback_due",
                        )
                    },
                }
            )
        return rows

    rows = open_ledger(ctx).read(read)
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        click.echo(
            f"{r['id']:>4}  {r['kind']:<9} {r['status']:<9} word {r['word']:>12}  "
            f"free {r['pledged']:>12}  reserved {r['reserved']:>12}  "
            f"released {r['released']:>12}  disbursed {r['disbursed']:>12} {r['currency']}  "
            f"{r['title']}"
        )


@grants.command("disburse")
@click.argument("commitment_id", type=int)
@click.argument("campaign_id", type=int)
@click.argument("amount")
@click.option("--reference", required=True, help="The bank transfer's reference (the key).")
@click.pass_context
def grants_disburse(
    ctx: click.Context, commitment_id: int, campaign_id: int, amount: str, reference: str
) -> None:
    """Book the foundation's payment of released money for a campaign (once per reference)."""
    ledger = open_ledger(ctx)

    def work(session: Session) -> int:
        currency = get_commitment(session, commitment_id).currency
        outcome = grant_commands.record_disbursement(
            session,
            commitment_id,
            campaign_id,
            Money.parse(amount, currency).minor,
            reference=reference,
            origin=Origin.command_line(),
            clock=ledger.clock,
            key=reference,
        )
        return outcome.value.sequence

    click.echo(f"booked as entry {ledger.run(work)}")
