"""Administration: the audit log (who did what, when and from where), the job runs, and a
person's data (export and erasure)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.audit.service import AuditPage, list_events
from ledger.core.errors import LedgerError
from ledger.jobs.runs import RunRow, recent_runs, stale_jobs
from ledger.people.errors import PersonNotFoundError
from ledger.people.models import Person, User
from ledger.people.service import get_person, get_person_by_email, user_of_person
from ledger.privacy import commands as privacy
from web import views
from web.access import allow
from web.db import current_ledger, in_transaction
from web.forms import field_error
from web.people.forms import EraseForm
from web.people.pages import json_download

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


def _person_facts(db: Session, person_id: int) -> dict[str, Any]:
    person = get_person(db, person_id)
    user = user_of_person(db, person_id)
    return {
        "id": person.id,
        "full_name": person.full_name,
        "email": person.email,
        "erased_at": person.erased_at,
        "user_id": user.id if user is not None else None,
        "roles": sorted(user.roles) if user is not None else [],
        "active": user.active if user is not None else False,
    }


@bp.get("/persone")
@allow("admin", two_factor=True)
def people() -> ResponseReturnValue:
    """Find a person by e-mail, to download their data or erase them."""
    email = (request.args.get("email") or "").strip()[:254]
    found: dict[str, Any] | None = None
    if email:

        def read(db: Session) -> dict[str, Any] | None:
            try:
                return _person_facts(db, get_person_by_email(db, email).id)
            except PersonNotFoundError:
                return None

        found = in_transaction(read, read_only=True)
    return render_template("admin/people.html", email=email, found=found)


@bp.get("/persone/<int:person_id>/dati")
@allow("admin", two_factor=True)
def person_export(person_id: int) -> ResponseReturnValue:
    """Everything the product holds about the person, as a JSON file (audited)."""
    origin, clock = views.origin(), views.clock()
    data = in_transaction(
        lambda db: privacy.export_person(db, person_id, origin=origin, clock=clock).value
    )
    return json_download(data, f"persona-{person_id}.json")


@bp.route("/persone/<int:person_id>/cancella", methods=["GET", "POST"])
@allow("admin", two_factor=True)
def person_erase(person_id: int) -> ResponseReturnValue:
    """Erase a person (GDPR art. 17), with the admin's TOTP code; shows what was replaced
    and what the law requires to keep, and why."""
    try:
        facts = views.snapshot(lambda db: _person_facts(db, person_id))
    except PersonNotFoundError:
        abort(404)
    form = EraseForm()
    done = None
    if facts["erased_at"] is None and form.validate_on_submit():
        origin, clock, box = views.origin(), views.clock(), views.secret_box()
        try:
            done = in_transaction(
                lambda db: (
                    privacy.erase_person(
                        db, person_id, origin=origin, clock=clock, code=form.code.data, box=box
                    ).value
                )
            )
        except LedgerError as exc:
            field_error(form, exc)
    form.code.data = ""
    status = 422 if form.is_submitted() and done is None else 200
    return (
        render_template("admin/person_erase.html", person=facts, form=form, done=done),
        status,
    )
