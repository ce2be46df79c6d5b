"""The `ledger` command line for treasurers and operators (no Flask needed).

Every command opens its own unit of work; every command that changes state
(accounts, entries, periods, holds, the demo, users, API tokens) writes its
audit event (channel "cli", the host as source) in that same transaction, so a
refused command leaves neither the change nor an event. Errors print their
stable code and exit non-zero. `web.cli` adds `serve` to this group and is the
console script. Amounts are printed as decimal strings in the currency's scale
("12.50"); long commands show progress on standard error only when it is a
terminal.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.cli import accounts, books, db, demo, holds, journal, periods, tokens, users
from ledger.cli.common import (
    DATE,
    CommandError,
    Counter,
    _audit,
    _user_or_fail,
    cli,
    main,
    open_ledger,
)
from ledger.cli.journal import entry_from_json, entry_json, split_documents
from ledger.core.errors import (
    LedgerError,
)
from ledger.core.money import Money, format_minor

cli.add_command(db.db)


# --------------------------------------------------------------------------- accounts
cli.add_command(accounts.accounts)


# --------------------------------------------------------------------------- post
cli.add_command(journal.post)


cli.add_command(journal.reverse)


# --------------------------------------------------------------------------- entries
cli.add_command(journal.entries)


# --------------------------------------------------------------------------- balances
cli.add_command(journal.balance)


cli.add_command(journal.trial_balance_cmd)


# --------------------------------------------------------------------------- periods, holds
cli.add_command(periods.periods)


cli.add_command(holds.holds)


# --------------------------------------------------------------------------- verify
cli.add_command(books.verify_cmd)


# --------------------------------------------------------------------------- export, demo
cli.add_command(books.export_cmd)


cli.add_command(demo.demo)


# --------------------------------------------------------------------------- users, tokens
cli.add_command(users.users)


cli.add_command(tokens.tokens)


__all__ = [
    "CommandError",
    "Counter",
    "cli",
    "entry_from_json",
    "entry_json",
    "main",
    "open_ledger",
    "split_documents",
]


# --------------------------------------------------------------------------- campaigns
@cli.group()
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
    from ledger.campaigns.models import Campaign
    from ledger.campaigns.service import close_campaign

    ledger = open_ledger(ctx)
    now = ledger.clock.now()
    due = ledger.read(
        lambda s: list(
            s.scalars(
                select(Campaign.id)
                .where(
                    (Campaign.status == "failed")
                    | ((Campaign.status.in_(["live", "succeeded"])) & (Campaign.deadline_at <= now))
                )
                .order_by(Campaign.id)
            )
        )
    )
    failures = 0
    for campaign_id in due:

        def work(session: Session, campaign_id: int = campaign_id) -> tuple[str, int, int]:
            result = close_campaign(session, campaign_id, clock=ledger.clock)
            if result.refunds_created or result.status == "closed":
                _audit(
                    session,
                    ledger,
                    "campaign.close",
                    subject_type="campaign",
                    subject_id=campaign_id,
                    details={
                        "status": result.status,
                        "refunds_created": result.refunds_created,
                        "refunds_pending": result.refunds_pending,
                    },
                )
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


@cli.group()
def foundations() -> None:
    """Foundations that co-finance campaigns, and the officers who act for them."""


@foundations.command("create")
@click.argument("name")
@click.option("--tax-code", default=None, help="The foundation's codice fiscale.")
@click.pass_context
def foundations_create(ctx: click.Context, name: str, tax_code: str | None) -> None:
    """Register a foundation (writes a `foundation.create` audit event)."""
    from ledger.grants.service import create_foundation

    ledger = open_ledger(ctx)

    def work(session: Session) -> int:
        foundation = create_foundation(
            session, name=name, tax_code=tax_code, now=ledger.clock.now()
        )
        _audit(
            session,
            ledger,
            "foundation.create",
            subject_type="foundation",
            subject_id=foundation.id,
        )
        return foundation.id

    click.echo(f"created foundation {ledger.run(work)}")


@foundations.command("add-officer")
@click.argument("foundation_id", type=int)
@click.argument("email")
@click.pass_context
def foundations_add_officer(ctx: click.Context, foundation_id: int, email: str) -> None:
    """Let the user EMAIL act for the foundation (they need the foundation_officer role)."""
    from ledger.grants.service import add_officer

    ledger = open_ledger(ctx)

    def work(session: Session) -> int:
        user = _user_or_fail(session, email)
        if "foundation_officer" not in user.roles:
            raise CommandError(
                "role_missing", f"user {user.id} needs the foundation_officer role first"
            )
        add_officer(session, foundation_id, user.id, now=ledger.clock.now())
        _audit(
            session,
            ledger,
            "foundation.add_officer",
            subject_type="foundation",
            subject_id=foundation_id,
            details={"user_id": user.id},
        )
        return user.id

    click.echo(f"user {ledger.run(work)} now acts for foundation {foundation_id}")


@cli.group()
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
    from ledger.grants.matching import record_disbursement
    from ledger.grants.service import get_commitment

    ledger = open_ledger(ctx)

    def work(session: Session) -> int:
        row = get_commitment(session, commitment_id)
        minor = Money.parse(amount, row.currency).minor
        sequence = record_disbursement(
            session,
            commitment_id,
            campaign_id,
            minor,
            key=reference,
            clock=ledger.clock,
            actor="cli",
        )
        _audit(
            session,
            ledger,
            "grant.disbursement",
            subject_type="commitment",
            subject_id=commitment_id,
            details={"campaign_id": campaign_id, "amount_minor": minor},
        )
        return sequence

    click.echo(f"booked as entry {ledger.run(work)}")


@cli.group()
def funds() -> None:
    """Microgrant and revolving microcredit funds."""


@funds.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def funds_list(ctx: click.Context, fmt: str) -> None:
    """Every fund with its position today: cash, committed, available, loans, PAR30."""
    from ledger.core.clock import rome_today
    from ledger.funds.service import fund_position, list_funds

    ledger = open_ledger(ctx)
    today = rome_today(ledger.clock)

    def read(session: Session) -> list[dict[str, Any]]:
        rows = []
        for fund in list_funds(session):
            p = fund_position(session, fund.id, on=today)
            rows.append(
                {
                    "id": fund.id,
                    "kind": fund.kind,
                    "currency": fund.currency,
                    "cash": format_minor(p.cash_minor, fund.currency),
                    "committed": format_minor(p.committed_minor, fund.currency),
                    "available": format_minor(p.available_minor, fund.currency),
                    "loans_outstanding": format_minor(p.loans_outstanding_minor, fund.currency),
                    "par30": str(p.par30),
                    "name": fund.name,
                }
            )
        return rows

    rows = ledger.read(read)
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        click.echo(
            f"{r['id']:>4}  {r['kind']:<10} cash {r['cash']:>12}  committed {r['committed']:>12}  "
            f"available {r['available']:>12}  loans {r['loans_outstanding']:>12} "
            f"{r['currency']}  PAR30 {r['par30']}  {r['name']}"
        )


@funds.command("statement")
@click.argument("fund_id", type=int)
@click.option("--from", "start", type=DATE, required=True, help="First day (YYYY-MM-DD).")
@click.option("--to", "end", type=DATE, required=True, help="Last day (YYYY-MM-DD).")
@click.option("--format", "fmt", type=click.Choice(["pdf", "csv"]), default="pdf")
@click.option(
    "--output", type=click.Path(dir_okay=False, writable=True), required=True, help="File."
)
@click.pass_context
def funds_statement(
    ctx: click.Context, fund_id: int, start: datetime, end: datetime, fmt: str, output: str
) -> None:
    """Write a fund's statement for a period (opening and closing balance, money in by
    source, grants, loans, repayments, write-offs, PAR30, chain head) as PDF or CSV."""
    from ledger.statements import funds as statements

    def read(session: Session) -> bytes:
        statement = statements.fund_statement(session, fund_id, start.date(), end.date())
        if fmt == "pdf":
            return statements.render_fund_statement_pdf(statement)
        return statements.fund_statement_csv(statement).encode("utf-8")

    data = open_ledger(ctx).read(read)
    with open(output, "wb") as out:
        out.write(data)
    click.echo(f"statement of fund {fund_id} written to {output}")
