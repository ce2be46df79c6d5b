"""The staff's pages (blueprint `call_admin`): calls, screening, ranking, awards and tranches.

Admins and treasurers read every call and application; creating a call is an
admin's. Every action also needs a confirmed TOTP code, and each is a use case
of `ledger.funds.call_commands`: proposing and approving an award (two
different people), approving and paying a tranche (two different people
again), closing an award, booking money given back, disbursing a loan.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound
from wtforms.fields.choices import SelectChoice

from ledger.commands import Outcome
from ledger.core.clock import ROME
from ledger.core.errors import LedgerError
from ledger.core.money import format_minor
from ledger.funds import applications as apps
from ledger.funds import awards as award_rules
from ledger.funds import call_commands
from ledger.funds import reviews as review_rules
from ledger.funds.call_models import Application, Call
from ledger.funds.calls import CallFigures, NewCall, call_figures, committee, list_calls
from web import views
from web.access import allow
from web.calls import STAFF
from web.calls.forms import ActionForm, CallForm, ProposalForm, ReturnForm, attach
from web.calls.parsers import amount_field, parse_criteria, parse_questions, parse_tranches
from web.calls.reads import (
    ApplicationPage,
    CallPage,
    application_page_data,
    call_page_data,
    names,
    new_call_choices,
)
from web.calls.texts import error_message
from web.db import in_transaction

bp = Blueprint("call_admin", __name__)


@bp.get("/gestione/bandi")
@allow(*STAFF)
def calls_admin() -> ResponseReturnValue:
    """Every call with its budget figures."""

    def read(db: Session) -> list[tuple[Call, CallFigures]]:
        return [(c, call_figures(db, c.id)) for c in list_calls(db)]

    return render_template(
        "calls/admin_index.html", rows=views.read_once(read), now=views.clock().now()
    )


def _rome(value: datetime) -> datetime:
    """A local date-time typed in the form, in Italian time, as an aware instant."""
    return value.replace(tzinfo=ROME)


@bp.route("/gestione/bandi/nuovo", methods=["GET", "POST"])
@allow("admin", two_factor=True)
def new_call() -> ResponseReturnValue:
    """Create a call for ideas: fund, budget, window, rules, rubric and committee."""
    funds, products, reviewers = views.snapshot(new_call_choices)
    form = CallForm()
    # Made when the form is shown: a double submit creates one call.
    key = views.form_key(form)
    form.fund.choices = [SelectChoice(str(f.id), f"{f.name} (n. {f.id})") for f in funds]
    form.loan_product.choices = [SelectChoice("", "—")] + [
        SelectChoice(str(p.id), f"{p.name} (n. {p.id}, fondo {p.fund_id})") for p in products
    ]
    form.reviewers.choices = [SelectChoice(i, n) for i, n in reviewers]
    if form.validate_on_submit():
        try:
            fund = next(f for f in funds if str(f.id) == form.fund.data)
            opens, closes = form.opens_at.data, form.closes_at.data
            assert opens is not None and closes is not None
            spec = NewCall(
                fund_id=fund.id,
                title=form.title.data or "",
                description_md=form.description.data or "",
                budget_minor=amount_field(form.budget.data, fund.currency, "budget"),
                max_award_minor=amount_field(form.max_award.data, fund.currency, "max_award"),
                currency=fund.currency,
                opens_at=_rome(opens),
                closes_at=_rome(closes),
                award_kind=form.award_kind.data or "",
                questions=parse_questions(form.questions.data or ""),
                criteria=parse_criteria(form.criteria.data or ""),
                reviewer_user_ids=list(form.reviewers.data or []),
                loan_product_id=int(form.loan_product.data) if form.loan_product.data else None,
            )
            created = in_transaction(
                lambda db: (
                    call_commands.create_call(
                        db, spec, origin=views.origin(), clock=views.clock(), key=key
                    ).value
                )
            )
        except LedgerError as exc:
            attach(form, exc)
        else:
            flash(_("Bando «%(title)s» creato.", title=created.title), "success")
            return redirect(url_for("call_admin.call_detail", call_id=created.id), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("calls/new_call.html", form=form, has_funds=bool(funds)), status


@bp.get("/gestione/bandi/<int:call_id>")
@allow(*STAFF)
def call_detail(call_id: int) -> ResponseReturnValue:
    """A call's applications: the ranking of those in review and every other state."""

    def read(db: Session) -> tuple[CallPage, list[review_rules.Ranked], list[Application], Any]:
        page = call_page_data(db, call_id)
        ranked = review_rules.ranking(db, call_id)
        shown = {r.application.id for r in ranked}
        others = [
            a
            for a in apps.applications_of_call(db, call_id)
            if a.id not in shown and a.status != "draft"
        ]
        return page, ranked, others, names(db, set(committee(db, call_id)))

    page, ranked, others, members = views.read_once(read)
    return render_template(
        "calls/admin_call.html", page=page, ranked=ranked, others=others, members=members
    )


def _staff_page(application_id: int) -> ApplicationPage:
    def read(db: Session) -> ApplicationPage:
        found = apps.get_application(db, application_id)
        if found.status == "draft":
            raise NotFound()
        return application_page_data(db, found, staff=True)

    return views.snapshot(read)


def _render_staff(
    application_id: int,
    *,
    error: str | None = None,
    status: int = 200,
    proposal: ProposalForm | None = None,
) -> ResponseReturnValue:
    page = _staff_page(application_id)
    form = proposal or ProposalForm(formdata=None)
    if proposal is None:
        form.kind.data = page.application.kind
        form.amount.data = format_minor(
            page.application.requested_minor, page.application.currency
        ).replace(".", ",")
    return render_template(
        "calls/admin_application.html",
        page=page,
        action=ActionForm(formdata=None),
        proposal=form,
        returned=ReturnForm(formdata=None, form_key=uuid.uuid4().hex),
        error=error,
    ), status


@bp.get("/gestione/candidature/<int:application_id>")
@allow(*STAFF)
def application_detail(application_id: int) -> ResponseReturnValue:
    """An application for the staff: answers, reviews, history, award and tranches."""
    return _render_staff(application_id)


def _staff_action(
    application_id: int,
    act: Callable[..., Outcome[Any]],
    subject_id: int,
    done: str,
    **arguments: Any,
) -> ResponseReturnValue:
    """Run the staff's use case `act` on `subject_id` (an application, award or tranche)
    from its confirmed button; a refusal shows on the application's page."""
    form = ActionForm()
    if not form.validate_on_submit():
        return _render_staff(application_id, error=_("Modulo scaduto: riprova."), status=400)
    try:
        in_transaction(
            lambda db: act(db, subject_id, origin=views.origin(), clock=views.clock(), **arguments)
        )
    except LedgerError as exc:
        if exc.http_status == 404:
            raise NotFound() from None
        return _render_staff(application_id, error=error_message(exc), status=exc.http_status)
    flash(done, "success")
    return redirect(url_for("call_admin.application_detail", application_id=application_id), 303)


def _application_of_award(award_id: int) -> int:
    def read(db: Session) -> int:
        return award_rules.get_award(db, award_id).application_id

    try:
        return views.snapshot(read)
    except LedgerError:
        raise NotFound() from None


def _application_of_tranche(tranche_id: int) -> int:
    def read(db: Session) -> int:
        tranche = award_rules.get_tranche(db, tranche_id)
        return award_rules.get_award(db, tranche.award_id).application_id

    try:
        return views.snapshot(read)
    except LedgerError:
        raise NotFound() from None


def _note() -> str | None:
    return (request.form.get("note") or "").strip()[:500] or None


@bp.post("/gestione/candidature/<int:application_id>/verifica")
@allow(*STAFF, two_factor=True)
def screen(application_id: int) -> ResponseReturnValue:
    """Screen a submitted application: eligible ones go to the committee."""
    return _staff_action(
        application_id,
        call_commands.screen_application,
        application_id,
        _("Requisiti verificati."),
    )


@bp.post("/gestione/candidature/<int:application_id>/respingi")
@allow(*STAFF, two_factor=True)
def reject(application_id: int) -> ResponseReturnValue:
    """The idea is not financed."""
    note = _note()
    return _staff_action(
        application_id,
        call_commands.reject_application,
        application_id,
        _("Candidatura non finanziata."),
        note=note,
    )


@bp.post("/gestione/candidature/<int:application_id>/proposta")
@allow(*STAFF, two_factor=True)
def propose(application_id: int) -> ResponseReturnValue:
    """Propose an award (amount, kind, tranches or loan terms); another person approves it."""
    page = _staff_page(application_id)
    form = ProposalForm()
    if not form.validate_on_submit():
        status = 422 if form.is_submitted() else 400
        return _render_staff(application_id, proposal=form, status=status)
    try:
        currency = page.application.currency
        amount_minor = amount_field(form.amount.data, currency, "amount")
        tranches = parse_tranches(form.tranches.data or "", currency)
        in_transaction(
            lambda db: call_commands.propose_award(
                db,
                application_id,
                amount_minor=amount_minor,
                kind=form.kind.data or "",
                tranches=tranches,
                term_months=form.term_months.data,
                first_due_on=form.first_due_on.data,
                origin=views.origin(),
                clock=views.clock(),
            )
        )
    except LedgerError as exc:
        attach(form, exc)
        return _render_staff(application_id, proposal=form, status=exc.http_status)
    flash(_("Contributo proposto: ora serve l'approvazione di un'altra persona."), "success")
    return redirect(url_for("call_admin.application_detail", application_id=application_id), 303)


@bp.post("/gestione/contributi/<int:award_id>/approva")
@allow(*STAFF, two_factor=True)
def approve_award(award_id: int) -> ResponseReturnValue:
    """Approve a proposed award (not its proposer): the fund reserves the money."""
    return _staff_action(
        _application_of_award(award_id),
        call_commands.approve_award,
        award_id,
        _("Contributo approvato: il denaro è impegnato sul fondo."),
    )


@bp.post("/gestione/contributi/<int:award_id>/rifiuta")
@allow(*STAFF, two_factor=True)
def refuse_award(award_id: int) -> ResponseReturnValue:
    """Refuse a proposal: the application goes back to review."""
    note = _note()
    return _staff_action(
        _application_of_award(award_id),
        call_commands.refuse_award,
        award_id,
        _("Proposta non approvata: la candidatura torna in valutazione."),
        note=note,
    )


@bp.post("/gestione/tranche/<int:tranche_id>/approva")
@allow(*STAFF, two_factor=True)
def approve_tranche(tranche_id: int) -> ResponseReturnValue:
    """Approve a tranche for payment (after the previous milestone's report)."""
    return _staff_action(
        _application_of_tranche(tranche_id),
        call_commands.approve_tranche,
        tranche_id,
        _("Tranche approvata: un'altra persona la paga."),
    )


@bp.post("/gestione/tranche/<int:tranche_id>/paga")
@allow(*STAFF, two_factor=True)
def pay_tranche(tranche_id: int) -> ResponseReturnValue:
    """Pay an approved tranche (not its approver): the fund's entry is booked."""
    return _staff_action(
        _application_of_tranche(tranche_id),
        call_commands.pay_tranche,
        tranche_id,
        _("Tranche pagata e registrata."),
    )


@bp.post("/gestione/contributi/<int:award_id>/chiudi")
@allow(*STAFF, two_factor=True)
def close_award(award_id: int) -> ResponseReturnValue:
    """Close a grant: tranches never paid go back to the fund."""
    return _staff_action(
        _application_of_award(award_id),
        call_commands.close_award,
        award_id,
        _("Contributo chiuso: quanto non erogato è tornato disponibile nel fondo."),
    )


@bp.post("/gestione/contributi/<int:award_id>/restituzione")
@allow(*STAFF, two_factor=True)
def return_unspent(award_id: int) -> ResponseReturnValue:
    """Book money the proponent gave back unspent: it returns to the fund."""
    application_id = _application_of_award(award_id)
    form = ReturnForm()
    if not form.validate_on_submit():
        return _render_staff(application_id, error=_("Indica l'importo restituito."), status=422)
    # The form's key was made when the page was shown: a double submit books once.
    key = views.form_key(form)
    try:
        currency = views.snapshot(lambda db: award_rules.get_award(db, award_id).currency)
        minor = amount_field(form.amount.data, currency, "amount")
        in_transaction(
            lambda db: call_commands.return_unspent(
                db, award_id, minor, origin=views.origin(), clock=views.clock(), key=key
            )
        )
    except LedgerError as exc:
        return _render_staff(application_id, error=error_message(exc), status=exc.http_status)
    flash(_("Restituzione registrata: il denaro è tornato nel fondo."), "success")
    return redirect(url_for("call_admin.application_detail", application_id=application_id), 303)


@bp.post("/gestione/contributi/<int:award_id>/eroga")
@allow(*STAFF, two_factor=True)
def disburse_loan(award_id: int) -> ResponseReturnValue:
    """Disburse an approved loan award (not its approver)."""
    return _staff_action(
        _application_of_award(award_id),
        call_commands.disburse_award_loan,
        award_id,
        _("Prestito erogato: prosegue con le sue rate nel fondo."),
    )
