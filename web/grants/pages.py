"""Pages of matching grants: the foundation officer's dashboard and the treasurer's pages.

- `grants` (foundation officers and admins): the dashboard of one's foundations
  (an officer sees only the foundations they act for, through
  `foundation_officers`; another foundation's commitment or statement is a 404
  for them; admins see every foundation), with each commitment's money states
  and, per campaign, progress (raised vs threshold vs budget, match so far)
  drawn as an inline SVG bar chart with its figures in a table; a commitment's
  page; creating a commitment (ratio or threshold, every rule setting) and
  cancelling one (POST after a confirmation page); the grant statement as PDF
  or CSV for a period chosen in a form.
- `grant_treasury` (treasurers, with a confirmed TOTP code to move money): the
  commitments with money released or due back, a foundation's payment in
  reaching the bank and a clawback repaid to it.

Each change is a use case of `ledger.grants.commands`, run in the request's one
unit of work; the money forms carry a key made when they were shown, so a
double submit records one payment.
"""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy.orm import Session
from wtforms.fields.choices import SelectChoice

from ledger.core.errors import LedgerError
from ledger.grants import commands
from ledger.grants.models import Foundation, GrantEvent
from ledger.statements.grants import (
    build_grant_statement,
    grant_statement_csv,
)
from ledger.statements.grants_pdf import render_grant_statement_pdf
from web import views
from web.access import allow
from web.amounts import parse_amount_text
from web.db import in_transaction
from web.forms import field_error
from web.grants.forms import (
    CommitmentForm,
    ConfirmForm,
    FormInputError,
    MoneyForm,
    StatementForm,
    domain_error,
    scope_choices,
    spec_of,
)
from web.grants.reads import (
    ADMIN,
    CHART_WIDTH,
    OFFICER,
    TREASURER,
    CommitmentView,
    commitment_for,
    commitment_log,
    commitment_view,
    dashboard_of,
    foundation_for,
    treasury_line,
    treasury_lines,
)
from web.grants.texts import STATES_SHOWN, TEMPLATE_GLOBALS
from web.i18n import format_money

bp = Blueprint("grants", __name__)
treasury_bp = Blueprint("grant_treasury", __name__)

for _global in TEMPLATE_GLOBALS:
    bp.add_app_template_global(_global)


# ------------------------------------------------------------------ the officer's pages
@bp.get("/fondazioni")
@allow(OFFICER, ADMIN)
def dashboard() -> ResponseReturnValue:
    """The foundations the user acts for, their commitments and campaigns' progress."""
    principal = views.principal()
    found = views.read_once(lambda db: dashboard_of(db, principal))
    today = views.today()
    return render_template(
        "grants/dashboard.html",
        views=found,
        states=STATES_SHOWN,
        period_start=today.replace(month=1, day=1),
        period_end=today,
        chart_width=CHART_WIDTH,
    )


@bp.get("/fondazioni/impegni/<int:commitment_id>")
@allow(OFFICER, ADMIN)
def commitment(commitment_id: int) -> ResponseReturnValue:
    """One commitment: rules in words, money states, campaigns, its log."""
    principal = views.principal()

    def read(db: Session) -> tuple[CommitmentView, list[GrantEvent]]:
        row = commitment_for(db, principal, commitment_id)
        return commitment_view(db, row), commitment_log(db, row)

    view, events = views.read_once(read)
    today = views.today()
    return render_template(
        "grants/commitment.html",
        view=view,
        events=events,
        states=STATES_SHOWN,
        chart_width=CHART_WIDTH,
        period_start=today.replace(month=1, day=1),
        period_end=today,
    )


# ------------------------------------------------------------------ statements
@bp.get("/fondazioni/<int:foundation_id>/rendiconto")
@allow(OFFICER, ADMIN)
def statement(foundation_id: int) -> ResponseReturnValue:
    """The grant statement of a foundation for a period, as PDF or CSV (the form without
    a period; the form again, with its errors, for a bad one)."""
    principal = views.principal()
    today = views.today()
    form = StatementForm(request.args)
    asked = bool(request.args)
    if not asked:
        form.dal.data = today.replace(month=1, day=1)
        form.al.data = today
    if asked and form.validate():
        start, end = form.dal.data, form.al.data
        if start > end:
            form.al.errors = [_("Il periodo finisce prima di cominciare.")]
        elif end > today:
            form.al.errors = [_("Il periodo non può finire nel futuro.")]
        else:

            def build(db: Session) -> bytes | str:
                foundation = foundation_for(db, principal, foundation_id)
                data = build_grant_statement(db, foundation.id, start, end, today=today)
                if form.formato.data == "csv":
                    return grant_statement_csv(data)
                return render_grant_statement_pdf(data)

            body = views.read_once(build)
            filename = f"rendiconto-fondazione-{foundation_id}-{start}-{end}"
            if form.formato.data == "csv":
                return Response(
                    body,
                    mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
                )
            return Response(
                body,
                mimetype="application/pdf",
                headers={"Content-Disposition": f'attachment; filename="{filename}.pdf"'},
            )
    foundation = views.read_once(lambda db: foundation_for(db, principal, foundation_id))
    status = 422 if asked else 200
    return render_template("grants/statement.html", form=form, foundation=foundation), status


# ------------------------------------------------------------------ commitments
@bp.route("/fondazioni/<int:foundation_id>/impegni/nuovo", methods=["GET", "POST"])
@allow(OFFICER, ADMIN, two_factor=True)
def new_commitment(foundation_id: int) -> ResponseReturnValue:
    """A new matching-grant commitment of the foundation (nothing is written on a bad form)."""
    principal = views.principal()

    def read(db: Session) -> tuple[Foundation, list[SelectChoice]]:
        return foundation_for(db, principal, foundation_id), scope_choices(db)

    foundation, choices = views.snapshot(read)
    form = CommitmentForm()
    form.scope.choices = choices
    key = views.form_key(form)
    if not form.is_submitted():
        today = views.today()
        form.window_start.data = today
        form.window_end.data = today.replace(month=12, day=31)
    if form.validate_on_submit():
        try:
            spec = spec_of(form, foundation_id)

            def create(db: Session) -> int:
                foundation_for(db, principal, foundation_id)
                return commands.create_commitment(
                    db, spec, origin=views.origin(), clock=views.clock(), key=key
                ).value.id

            commitment_id = in_transaction(create)
        except FormInputError as exc:
            field = getattr(form, exc.field)
            field.errors = [*list(field.errors), exc.message]
        except LedgerError as exc:
            domain_error(form, exc)
        else:
            flash(_("Impegno creato: la somma promessa è registrata."), "success")
            return redirect(url_for("grants.commitment", commitment_id=commitment_id), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("grants/new_commitment.html", form=form, foundation=foundation), status


@bp.route("/fondazioni/impegni/<int:commitment_id>/annulla", methods=["GET", "POST"])
@allow(OFFICER, ADMIN, two_factor=True)
def cancel(commitment_id: int) -> ResponseReturnValue:
    """Cancel a commitment after a confirmation: top-ups not reached yet end and the
    unreserved pool goes back to the foundation; matches already reserved for gifts
    received, and what was earned, released or paid in, stay owed."""
    principal = views.principal()
    view = views.snapshot(
        lambda db: commitment_view(db, commitment_for(db, principal, commitment_id))
    )
    form = ConfirmForm()
    if form.validate_on_submit():
        if view.row.status == "cancelled":
            flash(_("L'impegno era già stato annullato."), "warning")
            return redirect(url_for("grants.commitment", commitment_id=commitment_id), 303)

        def work(db: Session) -> None:
            commitment_for(db, principal, commitment_id)
            commands.cancel_commitment(
                db, commitment_id, origin=views.origin(), clock=views.clock()
            )

        try:
            in_transaction(work)
        except LedgerError as exc:
            form.form_errors.append(exc.message)
        else:
            flash(_("Impegno annullato."), "success")
            return redirect(url_for("grants.commitment", commitment_id=commitment_id), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("grants/cancel.html", view=view, form=form, states=STATES_SHOWN), status


# ------------------------------------------------------------------ the treasurer's pages
@treasury_bp.get("/tesoreria/cofinanziamenti")
@allow(TREASURER)
def lines() -> ResponseReturnValue:
    """Every commitment on every campaign: released (to be paid in), paid in, due back."""
    return render_template("grants/treasury.html", lines=views.read_once(treasury_lines))


def _money_page(commitment_id: int, campaign_id: int, *, repayment: bool) -> ResponseReturnValue:
    line = views.snapshot(lambda db: treasury_line(db, commitment_id, campaign_id))
    form = MoneyForm()
    key = views.form_key(form)
    book = commands.repay_clawback if repayment else commands.record_disbursement
    status = 200
    if form.validate_on_submit():
        try:
            amount = parse_amount_text(form.amount.data or "", line.currency).minor
            in_transaction(
                lambda db: book(
                    db,
                    commitment_id,
                    campaign_id,
                    amount,
                    reference=form.reference.data or "",
                    origin=views.origin(),
                    clock=views.clock(),
                    key=key,
                )
            )
        except LedgerError as exc:
            if exc.code == "grant_disbursement":
                limit = line.clawback_due_minor if repayment else line.released_minor
                form.amount.errors = [
                    *list(form.amount.errors),
                    _(
                        "L'importo supera quanto è dovuto: al massimo %(amount)s.",
                        amount=format_money(limit, line.currency),
                    ),
                ]
            else:
                # A key sent again with another amount is a conflict (409, nothing booked):
                # the page says so in its words, never "registrata".
                field_error(form, exc)
                status = int(exc.http_status)
        else:
            flash(
                _("Restituzione registrata.") if repayment else _("Erogazione registrata."),
                "success",
            )
            return redirect(url_for("grant_treasury.lines"), 303)
    if form.is_submitted() and status == 200:
        status = 422
    return render_template("grants/money.html", line=line, form=form, repayment=repayment), status


@treasury_bp.route(
    "/tesoreria/cofinanziamenti/<int:commitment_id>/<int:campaign_id>/erogazione",
    methods=["GET", "POST"],
)
@allow(TREASURER, two_factor=True)
def disbursement(commitment_id: int, campaign_id: int) -> ResponseReturnValue:
    """The foundation's payment of released match reached the bank."""
    return _money_page(commitment_id, campaign_id, repayment=False)


@treasury_bp.route(
    "/tesoreria/cofinanziamenti/<int:commitment_id>/<int:campaign_id>/restituzione",
    methods=["GET", "POST"],
)
@allow(TREASURER, two_factor=True)
def repayment(commitment_id: int, campaign_id: int) -> ResponseReturnValue:
    """Money due back to the foundation (clawback after disbursement) left the bank."""
    return _money_page(commitment_id, campaign_id, repayment=True)
