"""The books' administration: closing a month (with the reconciliation warning), verify
with its result, and the whole journal exported as beancount or CSV.

Closing is the use case `ledger.books.commands.close_period` (`period.close`
audit event); the page shows, before and after, the unexplained bank lines
dated on or before the month's end that `ledger periods close` prints (the
close stands all the same). Verify and the exports only read: verify checks
every invariant of the whole book (`Ledger.verify`, as `ledger verify`); the
exports are `ledger.statements.export`, as `ledger export`, built in memory
in one read-only snapshot.
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

from flask import Response, flash, render_template
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from ledger.books import commands
from ledger.books.queries import closing_warnings, locked_through
from ledger.core.errors import LedgerError
from ledger.core.money import Money
from ledger.statements.export import export_beancount, export_csv
from web import views
from web.access import allow
from web.admin.common import BOOKS, bp
from web.admin.forms import ClosePeriodForm, VerifyForm
from web.db import current_ledger, in_transaction
from web.forms import field_error


def _shown(warnings: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    """The warnings with their total in minor units, for the money filter."""
    return [
        {**w, "total_minor": Money.parse(str(w["total"]), str(w["currency"])).minor}
        for w in warnings
    ]


def _last_month_end(today: date) -> date:
    return today.replace(day=1) - timedelta(days=1)


def _periods_page(
    form: ClosePeriodForm, *, closed: commands.ClosedPeriod | None = None, status: int = 200
) -> ResponseReturnValue:
    ends_on = _last_month_end(views.today())

    def read(db: Session) -> tuple[date | None, list[dict[str, Any]]]:
        return locked_through(db), closing_warnings(db, ends_on)

    through, preview = views.snapshot(read)
    return render_template(
        "admin/periods.html",
        form=form,
        locked_through=through,
        preview_ends_on=ends_on,
        preview=_shown(preview),
        closed=closed,
        closed_warnings=_shown(closed.warnings) if closed else [],
    ), status


@bp.route("/periodi", methods=["GET", "POST"])
@allow(*BOOKS, two_factor=True)
def periods() -> ResponseReturnValue:
    """Close a month: nothing may be dated on or before its last day afterwards."""
    form = ClosePeriodForm()
    if not form.is_submitted():
        form.period.data = _last_month_end(views.today()).strftime("%Y-%m")
        return _periods_page(form)
    if not form.validate_on_submit():
        return _periods_page(form, status=422)
    key = views.form_key(form)
    origin, clock = views.origin(), views.clock()
    period = form.period.data or ""
    try:
        outcome = in_transaction(
            lambda db: commands.close_period(db, period, origin=origin, clock=clock, key=key)
        )
    except LedgerError as exc:
        field_error(form, exc)
        return _periods_page(form, status=422)
    if outcome.created:
        flash(
            _(
                "%(period)s chiuso: nulla può più essere registrato fino al %(day)s.",
                period=period,
                day=outcome.value.ends_on.strftime("%d/%m/%Y"),
            ),
            "success",
        )
    else:
        flash(_("%(period)s era già chiuso: nulla è cambiato.", period=period), "warning")
    return _periods_page(ClosePeriodForm(formdata=None), closed=outcome.value)


@bp.route("/verifica", methods=["GET", "POST"])
@allow(*BOOKS, two_factor=True)
def verify() -> ResponseReturnValue:
    """Check every invariant over the whole book and show the result (reads only)."""
    form = VerifyForm()
    report = None
    if form.validate_on_submit():
        report = current_ledger().verify()
    violations = sorted(report.violations, key=lambda v: v.sort_key()) if report else []
    return render_template("admin/verify.html", form=form, report=report, violations=violations)


@bp.get("/esportazioni")
@allow(*BOOKS, two_factor=True)
def exports() -> ResponseReturnValue:
    """The exports of the whole journal: beancount and CSV of postings."""
    return render_template("admin/exports.html")


def _export(exporter: Any, filename: str, mimetype: str) -> Response:
    buffer = io.StringIO(newline="")
    views.read_once(lambda db: exporter(db, buffer))
    return Response(
        buffer.getvalue().encode("utf-8"),
        mimetype=mimetype,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@bp.get("/esportazioni/registro.beancount")
@allow(*BOOKS, two_factor=True)
def export_beancount_file() -> ResponseReturnValue:
    """The whole journal as a beancount ledger (as `ledger export --format beancount`)."""
    name = f"registro-{views.today().isoformat()}.beancount"
    return _export(export_beancount, name, "text/plain; charset=utf-8")


@bp.get("/esportazioni/registrazioni.csv")
@allow(*BOOKS, two_factor=True)
def export_csv_file() -> ResponseReturnValue:
    """The whole journal as a CSV of postings (as `ledger export --format csv`)."""
    name = f"registrazioni-{views.today().isoformat()}.csv"
    return _export(export_csv, name, "text/csv; charset=utf-8")
