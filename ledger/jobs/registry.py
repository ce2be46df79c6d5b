"""The periodic jobs of the domain: each calls existing use cases with the worker's Origin.

A job is a name, an interval (from the setting `JOB_<NAME>_INTERVAL`, seconds,
read from `LEDGER_JOB_<NAME>_INTERVAL`) and a function of a `JobContext` that
returns its counts (JSON-safe integers) or raises: a job that did part of its
work and met refusals raises `JobFailed` with the counts of what it did. The
web layer adds the jobs that need the application (`web.worker`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.books import commands as books
from ledger.campaigns.commands import close_campaign
from ledger.campaigns.queries import due_for_closing
from ledger.commands import Origin
from ledger.core.errors import LedgerError
from ledger.core.service import Ledger
from ledger.jobs.runs import JobFailed
from ledger.privacy.commands import blank_old_audit_addresses
from ledger.reconcile.commands import apply_references
from ledger.reconcile.models import BankAccount

Counts = Mapping[str, int]

__all__ = ["Counts", "Job", "JobContext", "JobFailed", "domain_jobs", "job"]


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a job is given: the ledger (its sessions and clock), who acts, the settings."""

    ledger: Ledger
    origin: Origin
    settings: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    interval: timedelta
    run: Callable[[JobContext], Counts]


def interval_setting(name: str) -> str:
    """The setting of a job's interval in seconds: `JOB_HOLDS_EXPIRE_INTERVAL`."""
    return f"JOB_{name.upper()}_INTERVAL"


def job(
    name: str, run: Callable[[JobContext], Counts], *, default_seconds: int
) -> Callable[[Mapping[str, Any]], Job]:
    """A job whose interval the settings decide (`default_seconds` when unset)."""

    def make(settings: Mapping[str, Any]) -> Job:
        seconds = int(settings.get(interval_setting(name)) or default_seconds)
        if seconds <= 0:
            raise ValueError(f"{interval_setting(name)} must be a positive number of seconds")
        return Job(name=name, interval=timedelta(seconds=seconds), run=run)

    return make


def close_due_campaigns(ctx: JobContext) -> Counts:
    """`ledger campaigns close-due`: each due campaign through `close_campaign`."""
    ledger = ctx.ledger
    now = ledger.clock.now()
    due = ledger.read(lambda s: due_for_closing(s, now=now))
    closed = refunds = 0
    errors: list[str] = []
    for campaign_id in due:

        def work(session: Session, campaign_id: int = campaign_id) -> int:
            return close_campaign(
                session, campaign_id, origin=ctx.origin, clock=ledger.clock
            ).value.refunds_created

        try:
            refunds += ledger.run(work)
        except LedgerError as exc:  # one campaign's refusal must not stop the others
            errors.append(f"campaign {campaign_id}: {exc.code}")
            continue
        closed += 1
    counts = {"due": len(due), "closed": closed, "refunds_requested": refunds}
    if errors:
        raise JobFailed(errors, counts)
    return counts


def expire_holds(ctx: JobContext) -> Counts:
    """`ledger holds expire`."""
    expired = ctx.ledger.run(
        lambda s: books.expire_holds(s, origin=ctx.origin, clock=ctx.ledger.clock)
    ).value
    return {"expired": len(expired)}


def match_bank_lines(ctx: JobContext) -> Counts:
    """Every bank account's lines through `apply_references` (references, payouts, rules)."""
    ledger = ctx.ledger
    ibans = ledger.read(
        lambda s: list(s.scalars(select(BankAccount.iban).order_by(BankAccount.id)))
    )
    totals = {"accounts": 0, "examined": 0, "explained": 0, "left": 0}
    errors: list[str] = []
    for number, iban in enumerate(ibans, start=1):

        def work(session: Session, iban: str = iban) -> dict[str, int]:
            return apply_references(
                session, iban, origin=ctx.origin, clock=ledger.clock
            ).value.as_dict()

        try:
            found = ledger.run(work)
        except LedgerError as exc:
            errors.append(f"bank account #{number}: {exc.code}")
            continue
        totals["accounts"] += 1
        totals["examined"] += found["examined"]
        totals["left"] += found["left"]
        totals["explained"] += found["examined"] - found["left"]
    if errors:
        raise JobFailed(errors, totals)
    return totals


# Days after which the audit log's client addresses and user agents are blanked.
AUDIT_IP_RETENTION_DAYS = 90


def audit_retention(ctx: JobContext) -> Counts:
    """Blank the address and user agent of audit events older than
    AUDIT_IP_RETENTION_DAYS (LEDGER_AUDIT_IP_RETENTION_DAYS) days."""
    days = int(ctx.settings.get("AUDIT_IP_RETENTION_DAYS") or AUDIT_IP_RETENTION_DAYS)
    blanked = ctx.ledger.run(
        lambda s: blank_old_audit_addresses(s, days=days, origin=ctx.origin, clock=ctx.ledger.clock)
    ).value
    return {"blanked": blanked, "days": days}


# The domain's jobs and their default intervals (seconds).
DOMAIN_JOBS: tuple[Callable[[Mapping[str, Any]], Job], ...] = (
    job("campaigns_close_due", close_due_campaigns, default_seconds=15 * 60),
    job("holds_expire", expire_holds, default_seconds=5 * 60),
    job("bank_match", match_bank_lines, default_seconds=60 * 60),
    job("audit_retention", audit_retention, default_seconds=24 * 60 * 60),
)


def domain_jobs(settings: Mapping[str, Any]) -> list[Job]:
    return [make(settings) for make in DOMAIN_JOBS]
