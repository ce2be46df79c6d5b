"""`ledger worker`: the jobs on their intervals, with APScheduler 3 (in-process, MIT).

Each job is an APScheduler interval job that first runs at start-up; one
instance at a time in this process (`max_instances=1`, missed runs coalesced)
and, across processes, one at a time by the runner's lock. A run that fails is
retried with back-off inside its own thread (`run_with_retries`), so one job's
wait delays no other. `run_due_once` is `ledger worker --once`: every due job
once (with its retries), one after the other, without a scheduler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from ledger.jobs.registry import Job, JobContext
from ledger.jobs.runner import RunResult, run_with_retries

log = logging.getLogger(__name__)


def run_due_once(
    ctx: JobContext,
    jobs: Sequence[Job],
    *,
    force: bool = False,
    sleep: Callable[[float], None] | None = None,
) -> dict[str, list[RunResult]]:
    """Every due job once, in order (`force`: whether due or not); the attempts by job."""
    done: dict[str, list[RunResult]] = {}
    for job in jobs:
        if sleep is None:
            done[job.name] = run_with_retries(ctx, job, force=force)
        else:
            done[job.name] = run_with_retries(ctx, job, force=force, sleep=sleep)
    return done


def _tick(ctx: JobContext, job: Job) -> None:
    try:
        run_with_retries(ctx, job)
    except Exception:  # the database was unreachable: the next tick tries again
        log.exception("job %s could not be run", job.name)


def scheduler(ctx: JobContext, jobs: Sequence[Job]) -> BlockingScheduler:
    """A scheduler (not started) with one interval job per job, first run at once."""
    blocking = BlockingScheduler(
        executors={"default": ThreadPoolExecutor(max(1, len(jobs)))},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=UTC,
    )
    now = ctx.ledger.clock.now()
    for job in jobs:
        blocking.add_job(
            _tick,
            IntervalTrigger(seconds=int(job.interval.total_seconds()), timezone=UTC),
            args=(ctx, job),
            id=job.name,
            name=job.name,
            next_run_time=now,
        )
    return blocking
