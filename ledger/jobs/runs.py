"""The record of job runs: start one, finish it, read them back, tell which jobs went stale.

A run is written in two short transactions: `start` inserts the row (outcome
`running`) once the caller holds the job's lock and found the job due; `finish`
sets its end, outcome, counts and error. A worker that died mid-run leaves a
`running` row behind; the next holder of the lock marks it `abandoned`.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from ledger.core.errors import LedgerError
from ledger.jobs.models import JobRun

_ADDRESS = re.compile(r"[^\s@<>()\[\],;:'\"]+@[^\s@<>()\[\],;:'\"]+")
ERROR_LENGTH = 500


class JobFailed(Exception):
    """A run that did part of its work: `counts` is what it did, `errors` what it could
    not (codes and ids, no personal data)."""

    def __init__(self, errors: list[str], counts: Mapping[str, int]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors
        self.counts = dict(counts)


def describe_error(exc: BaseException) -> str:
    """The error kept on a run: a domain error's code and message, or the exception's type
    and text, with e-mail addresses blanked and cut to 500 characters. Domain errors name
    records by id; an address in a driver's message is the one personal datum that may
    appear, and it is blanked."""
    if isinstance(exc, LedgerError):
        text = f"{exc.code}: {exc.message}"
    elif isinstance(exc, JobFailed):
        text = str(exc)
    elif isinstance(exc, StatementError):
        text = _database_error(exc)
    else:
        text = f"{type(exc).__name__}: {exc}"
    return _ADDRESS.sub("<address>", text)[:ERROR_LENGTH]


def _database_error(exc: StatementError) -> str:
    """A database error without its text: SQLAlchemy's message carries the statement's
    parameters and PostgreSQL's a DETAIL with the offending values (a name, a codice
    fiscale, an IBAN), which would reach the admin page and the alert e-mail (security
    review, 2026-12-07). Kept: the type, the SQLSTATE and the constraint; the worker's
    log has the traceback."""
    original = exc.orig
    state = getattr(original, "sqlstate", None) or getattr(original, "sqlite_errorname", None)
    diagnostics = getattr(original, "diag", None)
    constraint = getattr(diagnostics, "constraint_name", None)
    text = f"{type(exc).__name__} ({type(original).__name__}"
    text += f", {state})" if state else ")"
    if constraint:
        text += f" on {constraint}"
    return text + ": the worker's log has the details"


def worker_name() -> str:
    """This process: host and pid."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}"


def abandon_running(session: Session, job: str, *, now: datetime) -> int:
    """Mark the job's `running` rows abandoned (their worker died while it held the lock)."""
    result = session.execute(
        update(JobRun)
        .where(JobRun.job == job, JobRun.outcome == "running")
        .values(outcome="abandoned", finished_at=now, error="the worker stopped during the run")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def running_since(session: Session, job: str, *, since: datetime) -> bool:
    """Whether a run of `job` started after `since` is still running."""
    found = session.scalar(
        select(JobRun.id)
        .where(JobRun.job == job, JobRun.outcome == "running", JobRun.started_at > since)
        .limit(1)
    )
    return found is not None


def last_success(session: Session, job: str) -> datetime | None:
    """When the job's last successful run started."""
    return session.scalar(
        select(func.max(JobRun.started_at)).where(JobRun.job == job, JobRun.outcome == "succeeded")
    )


def is_due(session: Session, job: str, *, interval: timedelta, now: datetime) -> bool:
    """Never succeeded, or its last success started an interval ago or more."""
    last = last_success(session, job)
    return last is None or last + interval <= now


def start(
    session: Session, job: str, *, attempt: int, interval: timedelta, now: datetime
) -> JobRun:
    run = JobRun(
        job=job,
        started_at=now,
        outcome="running",
        attempt=attempt,
        interval_seconds=int(interval.total_seconds()),
        counts={},
        worker=worker_name(),
    )
    session.add(run)
    session.flush()
    return run


def finish(
    session: Session,
    run_id: int,
    *,
    now: datetime,
    counts: Mapping[str, Any] | None = None,
    error: BaseException | None = None,
) -> JobRun:
    run = session.get_one(JobRun, run_id)
    run.finished_at = now
    run.counts = dict(counts or {})
    run.outcome = "failed" if error is not None else "succeeded"
    run.error = describe_error(error) if error is not None else None
    session.flush()
    return run


def consecutive_failures(session: Session, job: str) -> int:
    """How many runs of `job` failed since its last success (abandoned ones count)."""
    query = select(func.count(JobRun.id)).where(
        JobRun.job == job, JobRun.outcome.in_(["failed", "abandoned"])
    )
    last_id = session.scalar(
        select(func.max(JobRun.id)).where(JobRun.job == job, JobRun.outcome == "succeeded")
    )
    if last_id is not None:
        query = query.where(JobRun.id > last_id)
    return int(session.scalar(query) or 0)


@dataclass(frozen=True, slots=True)
class RunRow:
    """A run as a listing shows it."""

    id: int
    job: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    attempt: int
    counts: dict[str, Any]
    error: str | None
    worker: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "job": self.job,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "outcome": self.outcome,
            "attempt": self.attempt,
            "counts": self.counts,
            "error": self.error,
            "worker": self.worker,
        }


def recent_runs(session: Session, *, job: str | None = None, limit: int = 100) -> list[RunRow]:
    """The latest runs, newest first (of one job when `job` is given)."""
    query = select(JobRun).order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(limit)
    if job is not None:
        query = query.where(JobRun.job == job)
    return [
        RunRow(
            id=r.id,
            job=r.job,
            started_at=r.started_at,
            finished_at=r.finished_at,
            outcome=r.outcome,
            attempt=r.attempt,
            counts=dict(r.counts or {}),
            error=r.error,
            worker=r.worker,
        )
        for r in session.scalars(query)
    ]


def stale_jobs(session: Session, now: datetime) -> list[str]:
    """The jobs whose last successful run is older than twice their interval, sorted.

    Every job that ever ran is considered, with the interval of its latest run; one
    that never succeeded is stale once twice its interval has passed since its first
    run. A job that never ran at all is not known here (a worker never started is
    the operator's to notice: /readyz lists what this returns).
    """
    latest = (
        select(JobRun.job, func.max(JobRun.id).label("last_id")).group_by(JobRun.job).subquery()
    )
    rows = session.execute(
        select(JobRun.job, JobRun.interval_seconds).join(latest, JobRun.id == latest.c.last_id)
    ).all()
    stale = []
    for job, interval_seconds in rows:
        since = last_success(session, job)
        if since is None:
            since = session.scalar(select(func.min(JobRun.started_at)).where(JobRun.job == job))
        assert since is not None
        if since + timedelta(seconds=2 * int(interval_seconds)) < now:
            stale.append(str(job))
    return sorted(stale)
