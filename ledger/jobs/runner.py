"""Run a job once under its lock, record it, retry it with back-off, alert after N failures.

`run_job` is one attempt: it takes the job's lock (`lock.advisory_lock` on
PostgreSQL), and in one write transaction (serialised on SQLite by its write
lock) finds the job due and not running elsewhere, then records the run as
started; it runs the job outside that transaction (the job's use cases open
their own units of work) and records the outcome. A job that is not due, or
that another worker holds, is skipped: nothing is written. `run_with_retries`
tries a failing job again after `JOB_RETRY_BACKOFF * 2**(n-1)` seconds (at
most the job's interval), up to `JOB_RETRIES` more times. After
`JOB_ALERT_AFTER` consecutive failed runs the admins get one e-mail (a
message `job_failures` queued in the outbox with the finishing transaction).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from ledger.core.uow import run_in_transaction
from ledger.jobs import runs
from ledger.jobs.lock import advisory_lock
from ledger.jobs.registry import Job, JobContext, JobFailed
from ledger.outbox.service import enqueue
from ledger.people.models import User, UserRole

log = logging.getLogger(__name__)

# The outbox kind of the e-mail to admins: {"user_id", "job", "failures", "run_id"}.
JOB_FAILURES_MESSAGE = "job_failures"

# Settings of the runner and their defaults.
RUNNER_DEFAULTS: dict[str, int] = {
    "JOB_RETRIES": 2,
    "JOB_RETRY_BACKOFF": 30,
    "JOB_ALERT_AFTER": 3,
    # On SQLite: a run still `running` after this many seconds is a dead worker's.
    "JOB_LEASE": 3600,
}


def setting(settings: Mapping[str, Any], key: str) -> int:
    value = settings.get(key)
    return int(RUNNER_DEFAULTS[key] if value is None else value)


@dataclass(frozen=True, slots=True)
class RunResult:
    """One attempt: `ran` is False when the job was skipped (not due, or held elsewhere)."""

    job: str
    ran: bool
    run_id: int | None = None
    succeeded: bool = False
    counts: Mapping[str, int] | None = None
    error: str | None = None
    alerted: int = 0


def _claim(
    session: Session, job: Job, *, attempt: int, force: bool, lease: timedelta, now_fn: Any
) -> int | None:
    now = now_fn()
    if session.get_bind().dialect.name == "postgresql":
        # We hold the advisory lock: whatever is still `running` lost its worker.
        runs.abandon_running(session, job.name, now=now)
    elif runs.running_since(session, job.name, since=now - lease):
        return None
    else:
        runs.abandon_running(session, job.name, now=now)
    if not force and not runs.is_due(session, job.name, interval=job.interval, now=now):
        return None
    return runs.start(session, job.name, attempt=attempt, interval=job.interval, now=now).id


def _alert(session: Session, job: str, failures: int, run_id: int, now: Any) -> int:
    """Queue one e-mail per active admin; returns how many."""
    admins = list(
        session.scalars(
            select(User.id)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == "admin", User.active.is_(True))
            .order_by(User.id)
        )
    )
    for user_id in admins:
        enqueue(
            session,
            JOB_FAILURES_MESSAGE,
            {"user_id": user_id, "job": job, "failures": failures, "run_id": run_id},
            now=now,
        )
    return len(admins)


def _finish(
    session: Session,
    job: str,
    run_id: int,
    *,
    counts: Mapping[str, int] | None,
    error: BaseException | None,
    alert_after: int,
    now_fn: Any,
) -> int:
    now = now_fn()
    runs.finish(session, run_id, now=now, counts=counts, error=error)
    if error is None:
        return 0
    failures = runs.consecutive_failures(session, job)
    if failures != alert_after:
        return 0  # one e-mail per streak of failures, when it reaches N
    return _alert(session, job, failures, run_id, now)


def run_job(ctx: JobContext, job: Job, *, attempt: int = 1, force: bool = False) -> RunResult:
    """One attempt of `job` (see the module's text); never raises for the job's failure."""
    ledger = ctx.ledger
    now_fn = ledger.clock.now
    lease = timedelta(seconds=setting(ctx.settings, "JOB_LEASE"))
    with advisory_lock(ledger.engine, job.name) as held:
        if not held:
            return RunResult(job.name, ran=False)
        run_id = run_in_transaction(
            ledger.sessions,
            lambda s: _claim(s, job, attempt=attempt, force=force, lease=lease, now_fn=now_fn),
        )
        if run_id is None:
            return RunResult(job.name, ran=False)
        counts: Mapping[str, int] | None = None
        error: BaseException | None = None
        try:
            counts = job.run(ctx)
        except JobFailed as exc:
            counts, error = exc.counts, exc
        except Exception as exc:  # recorded on the run; the worker carries on
            error = exc
        if error is not None:
            log.warning(
                "job %s failed (attempt %d): %s",
                job.name,
                attempt,
                runs.describe_error(error),
                exc_info=error if isinstance(error, StatementError) else None,
            )
        alerted = run_in_transaction(
            ledger.sessions,
            lambda s: _finish(
                s,
                job.name,
                run_id,
                counts=counts,
                error=error,
                alert_after=setting(ctx.settings, "JOB_ALERT_AFTER"),
                now_fn=now_fn,
            ),
        )
    return RunResult(
        job.name,
        ran=True,
        run_id=run_id,
        succeeded=error is None,
        counts=counts,
        error=runs.describe_error(error) if error is not None else None,
        alerted=alerted,
    )


def backoff(settings: Mapping[str, Any], job: Job, attempt: int) -> float:
    """Seconds to wait before attempt `attempt + 1`: doubling, at most the job's interval."""
    base = setting(settings, "JOB_RETRY_BACKOFF")
    return float(min(base * 2 ** (attempt - 1), job.interval.total_seconds()))


def run_with_retries(
    ctx: JobContext,
    job: Job,
    *,
    force: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> list[RunResult]:
    """Run `job`; while it fails, wait and run it again, `JOB_RETRIES` more times at most.
    Returns the attempts made (empty when the job was skipped)."""
    results: list[RunResult] = []
    retries = setting(ctx.settings, "JOB_RETRIES")
    for attempt in range(1, retries + 2):
        result = run_job(ctx, job, attempt=attempt, force=force)
        if not result.ran:
            break
        results.append(result)
        if result.succeeded or attempt > retries:
            break
        sleep(backoff(ctx.settings, job, attempt))
    return results
