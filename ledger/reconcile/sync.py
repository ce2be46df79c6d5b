"""The periodic sync of Stripe payouts (part of `ledger stripe sync`).

The most recent payouts are listed at Stripe; each one paid that the ledger
has not recorded, or recorded as paid while Stripe now says it failed, is
acted on: its balance transactions are read (all pages) before the
transaction opens, then `commands.sync_payout` checks and books it, or
reverses it, in its own unit of work. A payout the webhook already recorded is
left alone without a write; the two racing book one entry (the payout row's
key and the entry's idempotency key).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from ledger.commands import Origin
from ledger.core.clock import Clock
from ledger.core.errors import LedgerError
from ledger.core.uow import run_in_transaction, run_read_only
from ledger.payments.stripe_gateway import BalanceTransaction, PayoutState
from ledger.reconcile import commands
from ledger.reconcile.models import StripePayout
from ledger.reconcile.payouts import OUTCOMES, PayoutRecorded


class PayoutReader(Protocol):
    """The reads the sync needs (`ledger.payments.stripe_gateway.StripeGateway`)."""

    def list_payouts(self, *, limit: int = 100) -> list[PayoutState]: ...

    def payout_transactions(self, payout_id: str) -> list[BalanceTransaction]: ...


@dataclass
class PayoutSyncReport:
    """What the run did with each payout it examined, and the differences found."""

    examined: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys((*OUTCOMES, "error"), 0))
    recorded: list[PayoutRecorded] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        done = ", ".join(f"{n} {name}" for name, n in self.counts.items() if n)
        return f"stripe sync: payouts: {self.examined} examined" + (f" ({done})" if done else "")

    def difference_lines(self) -> list[str]:
        """One line per difference of the payouts this run recorded."""
        return [
            f"payout {r.payout_id}: {d['kind']}: {d['message']}"
            for r in self.recorded
            for d in r.differences
        ]


def _needs_action(stored: dict[str, str], payout: PayoutState) -> bool:
    status = stored.get(payout.id)
    if payout.status == "paid":
        return status is None
    if payout.status == "failed":
        return status != "failed"
    return False


def sync_payouts(
    sessions: sessionmaker[Session],
    gateway: PayoutReader,
    *,
    clock: Clock,
    origin: Origin,
    limit: int = 100,
    progress: Callable[[int], None] | None = None,
) -> PayoutSyncReport:
    """Record the recent payouts the ledger has not caught up with."""
    report = PayoutSyncReport()
    try:
        payouts = gateway.list_payouts(limit=limit)
    except LedgerError as exc:
        report.errors.append(f"listing payouts: {exc.code}: {exc.message}")
        return report
    ids = [p.id for p in payouts]

    def read(session: Session) -> dict[str, str]:
        rows = session.query(StripePayout.id, StripePayout.status).filter(StripePayout.id.in_(ids))
        return {row_id: status for row_id, status in rows}

    stored = run_read_only(sessions, read) if ids else {}
    for number, payout in enumerate(p for p in payouts if _needs_action(stored, p)):
        report.examined += 1
        try:
            transactions: list[BalanceTransaction] = (
                gateway.payout_transactions(payout.id) if payout.status == "paid" else []
            )

            def work(
                session: Session,
                payout: PayoutState = payout,
                transactions: list[BalanceTransaction] = transactions,
            ) -> Any:
                return commands.sync_payout(
                    session, payout, transactions, origin=origin, clock=clock
                ).value

            recorded: PayoutRecorded = run_in_transaction(sessions, work)
        except LedgerError as exc:
            report.errors.append(f"payout {payout.id}: {exc.code}: {exc.message}")
            report.counts["error"] += 1
        else:
            report.counts[recorded.outcome] += 1
            if recorded.outcome != "already":
                report.recorded.append(recorded)
        if progress is not None:
            progress(number + 1)
    return report
