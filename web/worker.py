"""The jobs of `ledger worker` that need the application, beside the domain's.

The outbox (e-mail and card refunds sent to Stripe: `web.outbox.send`) and the
Stripe sync (`ledger stripe sync`) build messages and reach Stripe with the
application's settings, so they run inside its context; the others are the
domain's (`ledger.jobs.registry`). The Stripe sync is scheduled only when a
Stripe key is set. Intervals and the runner's settings come from the app's
config (`LEDGER_JOB_*`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from flask import Flask

from ledger.jobs.registry import Counts, Job, JobContext, JobFailed, domain_jobs, job
from ledger.jobs.runner import RUNNER_DEFAULTS
from ledger.outbox.service import dispatch_pending

STRIPE_SYNC_OLDER_THAN = timedelta(minutes=30)
STRIPE_SYNC_LIMIT = 500


def _in_app(app: Flask, run: Callable[[JobContext], Counts]) -> Callable[[JobContext], Counts]:
    def wrapped(ctx: JobContext) -> Counts:
        with app.app_context():
            return run(ctx)

    return wrapped


def dispatch_outbox(ctx: JobContext) -> Counts:
    """`ledger outbox dispatch`: the pending messages; one not sent fails the run."""
    from web.outbox import send

    sent, failed = dispatch_pending(ctx.ledger.sessions, send, ctx.ledger.clock)
    counts = {"sent": sent, "failed": failed}
    if failed:
        raise JobFailed([f"{failed} message(s) not sent, kept for the next run"], counts)
    return counts


def sync_stripe(ctx: JobContext) -> Counts:
    """`ledger stripe sync`: stuck card gifts and refunds, and recent payouts."""
    from ledger.campaigns.sync import sync_pending, sync_refunds
    from ledger.reconcile.sync import sync_payouts
    from web.campaigns.payments import gateway

    ledger, origin = ctx.ledger, ctx.origin
    stripe = gateway()
    options: dict[str, Any] = {"clock": ledger.clock, "origin": origin, "limit": STRIPE_SYNC_LIMIT}
    gifts = sync_pending(ledger.sessions, stripe, older_than=STRIPE_SYNC_OLDER_THAN, **options)
    refunds = sync_refunds(ledger.sessions, stripe, older_than=STRIPE_SYNC_OLDER_THAN, **options)
    payouts = sync_payouts(ledger.sessions, stripe, **options)
    errors = [*gifts.errors, *refunds.errors, *payouts.errors]
    counts = {
        "gifts_examined": gifts.examined,
        "refunds_examined": refunds.examined,
        "errors": len(errors),
    }
    if errors:
        raise JobFailed(errors, counts)
    return counts


def worker_settings(app: Flask) -> Mapping[str, Any]:
    """The app's config, read by the jobs (intervals) and the runner."""
    return {**RUNNER_DEFAULTS, **app.config}


def worker_jobs(app: Flask) -> list[Job]:
    """Every job `ledger worker` runs, in the order `--once` runs them: the outbox last,
    so what the others queued is sent in the same pass."""
    settings = worker_settings(app)
    jobs = domain_jobs(settings)
    if app.config.get("STRIPE_SECRET_KEY"):
        jobs.insert(0, job("stripe_sync", _in_app(app, sync_stripe), default_seconds=900)(settings))
    jobs.append(job("outbox", _in_app(app, dispatch_outbox), default_seconds=60)(settings))
    return jobs
