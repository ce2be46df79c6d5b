"""`ledger jobs`: the periodic jobs' record. `jobs runs` lists the latest runs (started,
finished, outcome, counts, error) as a table or as JSON; `ledger worker` runs the jobs."""

from __future__ import annotations

import json

import click

from ledger.cli.common import _Column, _echo_listing, open_ledger


@click.group()
def jobs() -> None:
    """Periodic jobs (`ledger worker` runs them)."""


@jobs.command("runs")
@click.option("--job", "job_name", default=None, help="Only the runs of this job.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1, max=10_000))
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_context
def jobs_runs(ctx: click.Context, job_name: str | None, limit: int, fmt: str) -> None:
    """The latest runs, newest first."""
    from ledger.jobs.runs import recent_runs

    rows = [
        r.as_dict()
        for r in open_ledger(ctx).read(lambda s: recent_runs(s, job=job_name, limit=limit))
    ]
    _echo_listing(
        rows,
        fmt,
        empty="no job has run yet",
        columns=(
            _Column("STARTED", lambda r: str(r["started_at"])[:19]),
            _Column("JOB", lambda r: str(r["job"])),
            _Column("OUTCOME", lambda r: str(r["outcome"])),
            _Column("TRY", lambda r: str(r["attempt"]), right=True),
            _Column("COUNTS", lambda r: json.dumps(r["counts"], sort_keys=True)),
            _Column("ERROR", lambda r: str(r["error"] or "")),
        ),
    )
