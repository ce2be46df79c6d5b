"""`ledger periods`: accounting periods, which are calendar months. `periods close YYYY-MM`
locks the books through the month's last day, so nothing may be dated on or before it
afterwards; it writes a `period.close` audit event, and closing a closed month changes
nothing.
"""

from __future__ import annotations

import click
from sqlalchemy.orm import Session

from ledger.cli.common import _audit, open_ledger
from ledger.core.periods import PeriodClose, close_period


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

    def work(session: Session) -> PeriodClose:
        closed = close_period(session, period, clock=ledger.clock)
        if closed.created:
            _audit(
                session,
                ledger,
                "period.close",
                subject_type="period",
                subject_id=closed.period,
                details={"ends_on": closed.ends_on.isoformat()},
            )
        return closed

    closed = ledger.run(work)
    if closed.created:
        click.echo(
            f"closed {closed.period}: the books are locked through {closed.ends_on.isoformat()}"
        )
    else:
        click.echo(f"{closed.period} was already closed; nothing changed")
