"""`ledger funds`: microgrant and revolving microcredit funds. `funds list` shows every fund's
position today (cash, committed, available, loans outstanding, PAR30), and `funds statement`
writes a fund's statement for a period to a PDF or CSV file. Neither changes the books.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click
from sqlalchemy.orm import Session

from ledger.cli.common import DATE, open_ledger
from ledger.core.money import format_minor


@click.group()
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
