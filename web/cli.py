"""Console script `ledger`: the domain CLI of `ledger.cli` plus `serve`, `outbox`, `stripe`,
`worker`.

`outbox dispatch` lives here rather than in `ledger.cli` because building a
message (its template, its translated text, its links) and reaching Stripe
with the application's settings are the web layer's job; `stripe sync` reads
the same settings (LEDGER_STRIPE_SECRET_KEY, LEDGER_STRIPE_API_BASE,
LEDGER_STRIPE_KEY_PREFIX).
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from ledger.cli import Counter, cli

if TYPE_CHECKING:
    from flask import Flask


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--production",
    is_flag=True,
    help="Serve with gunicorn (web/gunicorn_conf.py: LEDGER_SERVER_BIND, _WORKERS, _THREADS, "
    "_TIMEOUT, ...) instead of the development server; --host and --port are then "
    "ignored. Refused, with the reasons, on development settings or with demo users.",
)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, production: bool) -> None:
    """Serve the web application (the development server unless --production)."""
    if production:
        _serve_production(ctx)
        return
    from web.serving import ClosingRequestHandler, keep_answers

    app = _app(ctx)
    app.wsgi_app = keep_answers(app.wsgi_app)  # type: ignore[method-assign]
    app.run(host=host, port=port, request_handler=ClosingRequestHandler)


def _serve_production(ctx: click.Context) -> None:
    """Check the settings and the database, then become gunicorn (exec: same process id)."""
    from web.config import ConfigError, load_config
    from web.production import demo_user_problems, unsafe_settings

    overrides = {"DATABASE_URL": ctx.obj["database_url"]} if ctx.obj.get("database_url") else {}
    try:
        problems = unsafe_settings(load_config(overrides))
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from exc
    if not problems:
        app = _app(ctx)
        problems = demo_user_problems(app.extensions["ledger"])
        app.extensions["ledger"].engine.dispose()
    if problems:
        for problem in problems:
            click.echo(f"refused: {problem}", err=True)
        click.echo("the production server did not start", err=True)
        ctx.exit(2)
    if ctx.obj.get("database_url"):
        os.environ["LEDGER_DATABASE_URL"] = ctx.obj["database_url"]
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:web.gunicorn_conf",
        "web.wsgi:app",
    ]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)  # noqa: S606 - our own interpreter, fixed arguments


def _app(ctx: click.Context) -> Flask:
    """The application for a command, on --database when given; its pool closes with it."""
    from web import create_app
    from web.config import ConfigError

    overrides: dict[str, Any] = {}
    if ctx.obj.get("database_url"):
        overrides["DATABASE_URL"] = ctx.obj["database_url"]
    try:
        app = create_app(overrides)
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from exc
    ctx.call_on_close(app.extensions["ledger"].engine.dispose)
    return app


@cli.group()
def outbox() -> None:
    """Messages queued by the application (e-mail, refunds sent to Stripe)."""


@outbox.command("dispatch")
@click.pass_context
def outbox_dispatch(ctx: click.Context) -> None:
    """Send the pending messages (for cron: what failed during a request is retried here)."""
    from web.outbox import flush_outbox

    app = _app(ctx)
    with app.app_context():
        sent, failed = flush_outbox()
    click.echo(f"outbox: {sent} sent, {failed} failed (kept for the next run)")
    if failed:
        ctx.exit(1)


@cli.group()
def stripe() -> None:
    """Card payments at Stripe."""


@stripe.command("sync")
@click.option(
    "--older-than",
    "minutes",
    default=30,
    show_default=True,
    type=click.IntRange(min=0),
    help="Only card gifts and card refunds pending for more than this many minutes.",
)
@click.option(
    "--limit",
    default=500,
    show_default=True,
    type=click.IntRange(min=1),
    help="At most this many gifts, and this many refunds, per run.",
)
@click.pass_context
def stripe_sync(ctx: click.Context, minutes: int, limit: int) -> None:
    """Reconcile card gifts and card refunds whose webhook never came (for cron).

    Each stuck gift is looked up at Stripe and settled, expired or failed by
    the same rules as a webhook. Each stuck refund is read back from Stripe
    and booked or failed; one Stripe never received (found by its metadata,
    never by re-sending blindly) is queued again for `ledger outbox dispatch`.
    Recent payouts are read too: one paid that the books lack is checked
    against its balance transactions (each difference printed) and booked as
    money in transit; one that failed after it was booked is reversed.
    Everything happens once even when two runs overlap, or a run and a
    webhook. Exits 1 if Stripe could not be asked about something (tried
    again by the next run).
    """
    from ledger.audit.service import Origin
    from ledger.campaigns.sync import sync_pending, sync_refunds
    from ledger.reconcile.sync import sync_payouts
    from web.campaigns.payments import gateway
    from web.db import current_ledger

    app = _app(ctx)
    origin = Origin.command_line()
    with app.app_context():
        ledger = current_ledger()
        stripe_gateway = gateway()
        counter = Counter("stripe sync: donations examined")
        report = sync_pending(
            ledger.sessions,
            stripe_gateway,
            clock=ledger.clock,
            origin=origin,
            older_than=timedelta(minutes=minutes),
            limit=limit,
            progress=counter,
        )
        counter.done()
        counter = Counter("stripe sync: refunds examined")
        refunds = sync_refunds(
            ledger.sessions,
            stripe_gateway,
            clock=ledger.clock,
            origin=origin,
            older_than=timedelta(minutes=minutes),
            limit=limit,
            progress=counter,
        )
        counter.done()
        counter = Counter("stripe sync: payouts examined")
        payouts = sync_payouts(
            ledger.sessions,
            stripe_gateway,
            clock=ledger.clock,
            origin=origin,
            limit=limit,
            progress=counter,
        )
        counter.done()
    for line in [*report.errors, *refunds.errors, *payouts.errors]:
        click.echo(f"error: {line}", err=True)
    click.echo(report.summary())
    click.echo(refunds.summary())
    click.echo(payouts.summary())
    for line in payouts.difference_lines():
        click.echo(f"difference: {line}")
    if report.errors or refunds.errors or payouts.errors:
        ctx.exit(1)


@cli.command()
@click.option("--once", is_flag=True, help="Run every due job once, then exit (for cron).")
@click.option(
    "--job",
    "job_names",
    multiple=True,
    help="Only this job (repeatable); with --once it runs whether due or not.",
)
@click.pass_context
def worker(ctx: click.Context, once: bool, job_names: tuple[str, ...]) -> None:
    """Run the periodic jobs on their intervals (LEDGER_JOB_*_INTERVAL seconds).

    Jobs: the outbox (e-mail, card refunds), the Stripe sync (with a Stripe key),
    closing due campaigns, expiring holds, matching bank lines. Several workers
    may run: each job runs once at a time across them. Every run is recorded
    (`ledger jobs runs`); a failed run is retried with back-off and, after
    LEDGER_JOB_ALERT_AFTER consecutive failures, the admins get an e-mail.
    Exits 1 with --once when a job's last attempt failed.
    """
    from ledger.audit.service import Origin
    from ledger.jobs.registry import JobContext
    from ledger.jobs.scheduler import run_due_once, scheduler
    from web.db import current_ledger
    from web.worker import worker_jobs, worker_settings

    app = _app(ctx)
    jobs = worker_jobs(app)
    if job_names:
        known = {j.name for j in jobs}
        unknown = sorted(set(job_names) - known)
        if unknown:
            raise click.UsageError(
                f"unknown job {', '.join(unknown)} (jobs: {', '.join(sorted(known))})"
            )
        jobs = [j for j in jobs if j.name in job_names]
    with app.app_context():
        context = JobContext(
            ledger=current_ledger(), origin=Origin.command_line(), settings=worker_settings(app)
        )
    if not once:
        click.echo(f"worker: {', '.join(j.name for j in jobs)} (Ctrl-C stops)")
        try:
            scheduler(context, jobs).start()
        except (KeyboardInterrupt, SystemExit):
            pass
        return
    done = run_due_once(context, jobs, force=bool(job_names))
    failed = False
    for name, attempts in done.items():
        if not attempts:
            click.echo(f"{name}: not due")
            continue
        last = attempts[-1]
        tries = f" after {len(attempts)} attempts" if len(attempts) > 1 else ""
        if last.succeeded:
            counts = ", ".join(f"{k} {v}" for k, v in (last.counts or {}).items())
            click.echo(f"{name}: succeeded{tries}" + (f" ({counts})" if counts else ""))
        else:
            failed = True
            click.echo(f"{name}: failed{tries}: {last.error}", err=True)
    if failed:
        ctx.exit(1)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
