"""`ledger campaigns`: crowdfunding campaigns. `campaigns list` shows every campaign with its
status, goal, settled money raised and donors. `campaigns close-due` (for cron; safe to run
twice) closes the campaigns whose deadline has passed: an all-or-nothing campaign that missed
its goal fails and every gift gets one refund, and a failed campaign closes once its refunds
are done. Each campaign is `ledger.campaigns.commands.close_campaign`, which writes a
`campaign.close` audit event when the campaign moves or refunds are requested; one
campaign's refusal does not stop the others.
"""

from __future__ import annotations

import json
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.audit.service import Origin
from ledger.cli.common import open_ledger
from ledger.core.errors import LedgerError
from ledger.core.money import format_minor


@click.group()
def campaigns() -> None:
    """Crowdfunding campaigns."""


@campaigns.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def campaigns_list(ctx: click.Context, fmt: str) -> None:
    """Every campaign with its status, goal, settled money raised and donors."""
    from ledger.campaigns.models import Campaign
    from ledger.campaigns.service import figures

    def read(session: Session) -> list[dict[str, Any]]:
        rows = []
        for campaign in session.scalars(select(Campaign).order_by(Campaign.id)):
            f = figures(session, campaign.id)
            rows.append(
                {
                    "id": campaign.id,
                    "status": campaign.status,
                    "model": campaign.funding_model,
                    "goal": format_minor(f.goal_minor, f.currency),
                    "raised": format_minor(f.raised_minor, f.currency),
                    "currency": f.currency,
                    "donors": f.donor_count,
                    "deadline": campaign.deadline_at.isoformat(),
                    "title": campaign.title,
                }
            )
        return rows

    rows = open_ledger(ctx).read(read)
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        click.echo(
            f"{row['id']:>4}  {row['status']:<9}  {row['raised']:>12} / {row['goal']:>12} "
            f"{row['currency']}  {row['donors']:>4} donors  {row['title']}"
        )


@campaigns.command("close-due")
@click.pass_context
def campaigns_close_due(ctx: click.Context) -> None:
    """Close every live campaign whose deadline has passed (for cron; safe to run twice).

    An all-or-nothing campaign that missed its goal fails and every gift gets
    one refund (card refunds go to Stripe through `ledger outbox dispatch`); a
    failed campaign closes once its refunds are done.
    """
    from ledger.campaigns.commands import close_campaign
    from ledger.campaigns.queries import due_for_closing

    ledger = open_ledger(ctx)
    now = ledger.clock.now()
    due = ledger.read(lambda s: due_for_closing(s, now=now))
    failures = 0
    for campaign_id in due:

        def work(session: Session, campaign_id: int = campaign_id) -> tuple[str, int, int]:
            result = close_campaign(
                session, campaign_id, origin=Origin.command_line(), clock=ledger.clock
            ).value
            return result.status, result.refunds_created, result.refunds_pending

        try:
            status, created, pending = ledger.run(work)
        except LedgerError as exc:  # one campaign's refusal must not stop the others
            failures += 1
            click.echo(f"campaign {campaign_id}: not closed: {exc.code}: {exc.message}", err=True)
            continue
        click.echo(
            f"campaign {campaign_id}: {status}"
            + (f", {created} refunds requested" if created else "")
            + (f", {pending} refunds pending" if pending else "")
        )
    if not due:
        click.echo("no campaign is due")
    if failures:
        ctx.exit(1)
