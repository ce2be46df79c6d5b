"""The home page: for a visitor, what the register is; for a signed-in user, what their
roles have to do today, each item a count and a link to the page that deals with it.

A treasurer's day (`treasurer_day`): bank lines to explain, refunds waiting for
Stripe, gifts flagged, loans in arrears, grant tranches waiting for approval or
for payment, campaigns closing in the next seven days, and the last runs of the
periodic jobs. The counts are read-only queries of the domains, all in one
snapshot; the view only puts them in order.

The last job runs are each job's latest run recorded by the job runner
(`ledger.jobs.runs`); `set_job_runs_source(app, source)` installs another reader
(None: the section says the runs are not recorded here).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Blueprint, Flask, current_app, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from ledger.campaigns.queries import (
    campaigns_closing_between,
    flagged_gift_count,
    pending_refund_count,
)
from ledger.funds.awards import tranches_waiting
from ledger.funds.portfolio import loans_in_arrears
from ledger.jobs.runs import recent_runs
from ledger.reconcile.report import unexplained_through
from web import views
from web.access import current_principal, public

bp = Blueprint("home", __name__)

JOB_RUNS_SOURCE = "ledger_job_runs_source"
CLOSING_SOON = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Task:
    """One line of a day: how many things wait, what they are, where to deal with them."""

    key: str
    label: str
    count: int
    url: str


@dataclass(frozen=True, slots=True)
class JobRunLine:
    """One run of a periodic job as the home page shows it."""

    job: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str  # e.g. succeeded, failed, running


JobRunsSource = Callable[[Session], Sequence[JobRunLine]]


def latest_job_runs(db: Session) -> list[JobRunLine]:
    """Each job's latest run, as `ledger worker` recorded it (newest first)."""
    lines: dict[str, JobRunLine] = {}
    for run in recent_runs(db, limit=200):
        if run.job not in lines:
            lines[run.job] = JobRunLine(run.job, run.started_at, run.finished_at, run.outcome)
    return list(lines.values())


def set_job_runs_source(app: Flask, source: JobRunsSource | None) -> None:
    """Install the function that reads the last job runs (None: no runner yet)."""
    app.extensions[JOB_RUNS_SOURCE] = source


def treasurer_day(db: Session, *, now: datetime) -> list[Task]:
    """What waits for a treasurer at `now`, in the order a day goes."""
    today = views.today()
    to_approve, to_pay = tranches_waiting(db)
    counts = [
        (
            "bank_lines",
            _l("Movimenti bancari da spiegare"),
            sum(w.count for w in unexplained_through(db, today)),
            url_for("bank.accounts"),
        ),
        (
            "refunds",
            _l("Rimborsi in attesa di conferma"),
            pending_refund_count(db),
            url_for("treasury.donation_list"),
        ),
        (
            "flagged",
            _l("Donazioni segnalate"),
            flagged_gift_count(db),
            url_for("treasury.donation_list", segnalate="1"),
        ),
        (
            "arrears",
            _l("Prestiti con rate arretrate"),
            loans_in_arrears(db, today),
            url_for("funds.fund_list"),
        ),
        (
            "tranches_to_approve",
            _l("Tranche da approvare"),
            to_approve,
            url_for("call_admin.calls_admin"),
        ),
        (
            "tranches_to_pay",
            _l("Tranche da pagare"),
            to_pay,
            url_for("call_admin.calls_admin"),
        ),
        (
            "closing",
            _l("Campagne che chiudono entro 7 giorni"),
            campaigns_closing_between(db, now, now + CLOSING_SOON),
            url_for("treasury.campaign_list"),
        ),
    ]
    return [Task(key, str(label), count, url) for key, label, count, url in counts]


@bp.get("/")
@public
def index() -> ResponseReturnValue:
    """Landing page for everyone; signed-in users see what their roles have to do."""
    principal = current_principal()
    tasks: list[Task] = []
    runs: Sequence[JobRunLine] | None = None
    staff = principal is not None and bool({"treasurer", "admin"} & principal.roles)
    if principal is not None and staff:
        source: JobRunsSource | None = current_app.extensions.get(JOB_RUNS_SOURCE, latest_job_runs)
        now = views.clock().now()

        def read(db: Session) -> tuple[list[Task], Sequence[JobRunLine] | None]:
            day = treasurer_day(db, now=now) if "treasurer" in principal.roles else []
            return day, (list(source(db)) if source is not None else None)

        tasks, runs = views.read_once(read)
    return render_template(
        "home.html",
        principal=principal,
        tasks=tasks,
        job_runs=runs,
        show_job_runs=staff,
    )


@bp.get("/privacy")
@public
def privacy() -> ResponseReturnValue:
    """The privacy notice (GDPR art. 13): who holds which data, why, for how long, and the
    rights of the people it is about."""
    config = current_app.config
    return render_template(
        "privacy.html",
        organisation=config.get("ORGANISATION_NAME"),
        tax_code=config.get("ORGANISATION_TAX_CODE"),
        audit_days=int(config.get("AUDIT_IP_RETENTION_DAYS") or 90),
        principal=current_principal(),
    )
