"""Administration: the periodic jobs' latest runs (`ledger worker`, ledger.jobs)."""

from __future__ import annotations

from flask import render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from ledger.jobs.runs import RunRow, recent_runs, stale_jobs
from web.access import allow
from web.admin.common import ADMIN, bp
from web.db import current_ledger, in_transaction


@bp.get("/lavori")
@allow(ADMIN, two_factor=True)
def job_runs() -> ResponseReturnValue:
    """The periodic jobs' latest runs (`ledger worker`), newest first, and the stale jobs."""
    job = (request.args.get("job") or "").strip()[:64] or None
    now = current_ledger().clock.now()

    def read(db: Session) -> tuple[list[RunRow], list[str]]:
        return recent_runs(db, job=job, limit=100), stale_jobs(db, now)

    runs, stale = in_transaction(read, read_only=True)
    return render_template("admin/job_runs.html", runs=runs, stale=stale, job=job or "")
