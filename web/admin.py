"""Administration: the audit log (who did what, when and from where) and the job runs."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.audit.service import AuditPage, list_events
from ledger.jobs.runs import RunRow, recent_runs, stale_jobs
from ledger.people.models import Person, User
from web.access import allow
from web.db import current_ledger, in_transaction

bp = Blueprint("admin", __name__, url_prefix="/admin")

PER_PAGE = 50


@bp.get("/audit")
@allow("admin", two_factor=True)
def audit_log() -> ResponseReturnValue:
    """The audit log, newest first, filtered by action prefix; 50 events a page."""
    page = request.args.get("page", "1")
    page_number = int(page) if page.isdigit() and 0 < int(page) < 1_000_000 else 1
    action = (request.args.get("action") or "").strip()[:64] or None

    def read(db: Session) -> tuple[AuditPage, dict[int, str]]:
        events = list_events(db, page=page_number, per_page=PER_PAGE, action=action)
        for event in events.events:
            db.expunge(event)  # plain values for the template, after the snapshot ends
        ids = {e.actor_user_id for e in events.events if e.actor_user_id is not None}
        emails: dict[int, str] = {}
        if ids:
            rows = db.execute(
                select(User.id, Person.email).join(Person).where(User.id.in_(ids))
            ).all()
            emails = {int(r.id): str(r.email) for r in rows}
        return events, emails

    events, emails = in_transaction(read, read_only=True)
    return render_template("admin/audit.html", events=events, emails=emails, action=action or "")


@bp.get("/lavori")
@allow("admin", two_factor=True)
def job_runs() -> ResponseReturnValue:
    """The periodic jobs' latest runs (`ledger worker`), newest first, and the stale jobs."""
    job = (request.args.get("job") or "").strip()[:64] or None
    now = current_ledger().clock.now()

    def read(db: Session) -> tuple[list[RunRow], list[str]]:
        return recent_runs(db, job=job, limit=100), stale_jobs(db, now)

    runs, stale = in_transaction(read, read_only=True)
    return render_template("admin/job_runs.html", runs=runs, stale=stale, job=job or "")
