"""The proponent's pages (blueprint `my_applications`): apply, edit, submit, withdraw, report.

A proponent sees only their own applications; anyone else's is not found. Each
act is a use case of `ledger.funds.call_commands`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound

from ledger.core.errors import LedgerError
from ledger.core.money import format_minor
from ledger.funds import applications as apps
from ledger.funds import call_commands
from ledger.funds.call_errors import ApplicationNotFoundError, CallNotFoundError
from ledger.funds.call_models import Application, Call, CallQuestion
from ledger.funds.calls import get_call
from web import views
from web.access import allow
from web.calls import PROPONENT
from web.calls.forms import ActionForm, ApplicationForm, ReportForm, attach
from web.calls.parsers import amount_field
from web.calls.reads import ApplicationPage, CallPage, application_page_data, call_page_data
from web.calls.texts import error_message
from web.db import in_transaction

bp = Blueprint("my_applications", __name__)


def _answers_from_form(questions: list[CallQuestion]) -> dict[int, bool]:
    answers = {}
    for question in questions:
        raw = request.form.get(f"answer_{question.id}", "")
        if raw in ("yes", "no"):
            answers[question.id] = raw == "yes"
    return answers


def _draft_from_form(
    form: ApplicationForm, questions: list[CallQuestion], currency: str
) -> apps.ApplicationDraft:
    return apps.ApplicationDraft(
        title=form.title.data or "",
        summary=form.summary.data or "",
        requested_minor=amount_field(form.requested.data, currency, "requested"),
        kind=form.kind.data or "",
        answers=_answers_from_form(questions),
        public_name_consent=bool(form.public_name_consent.data),
    )


@bp.route("/bandi/<int:call_id>/candidatura", methods=["GET", "POST"])
@allow(PROPONENT)
def new(call_id: int) -> ResponseReturnValue:
    """Apply to a call: the application is saved as a draft, to submit afterwards."""
    page = views.snapshot(lambda db: call_page_data(db, call_id))
    form = ApplicationForm()
    # Made when the form is shown: a double submit saves one draft.
    key = views.form_key(form)
    if page.call.award_kind != "either" and request.method == "GET":
        form.kind.data = page.call.award_kind
    answers = _answers_from_form(page.questions) if request.method == "POST" else {}
    status = 200
    if form.validate_on_submit():
        try:
            draft = _draft_from_form(form, page.questions, page.call.currency)
            created = in_transaction(
                lambda db: (
                    call_commands.create_application(
                        db, call_id, draft, origin=views.origin(), clock=views.clock(), key=key
                    ).value.id
                )
            )
        except LedgerError as exc:
            attach(form, exc)
            status = exc.http_status
        else:
            flash(
                _("Bozza salvata. Controllala e inviala prima della chiusura del bando."),
                "success",
            )
            return redirect(url_for("my_applications.detail", application_id=created), 303)
    if form.is_submitted() and status == 200:
        status = 422
    return render_template(
        "calls/apply.html", page=page, form=form, answers=answers, application=None
    ), status


@bp.route("/account/candidature/<int:application_id>/modifica", methods=["GET", "POST"])
@allow(PROPONENT)
def edit(application_id: int) -> ResponseReturnValue:
    """Change a draft."""
    user_id = views.principal().user_id

    def read(db: Session) -> tuple[Application, CallPage, dict[int, bool]]:
        found = apps.own_application(db, application_id, user_id)
        return found, call_page_data(db, found.call_id), apps.answers_of(db, found.id)

    found, page, answers = views.snapshot(read)
    form = ApplicationForm(obj=None)
    if request.method == "GET":
        form.title.data = found.title
        form.summary.data = found.summary
        form.requested.data = format_minor(found.requested_minor, found.currency).replace(".", ",")
        form.kind.data = found.kind
        form.public_name_consent.data = found.public_name_consent
    else:
        answers = _answers_from_form(page.questions)
    status = 200
    if form.validate_on_submit():
        try:
            draft = _draft_from_form(form, page.questions, page.call.currency)
            in_transaction(
                lambda db: call_commands.update_application(
                    db, application_id, draft, origin=views.origin(), clock=views.clock()
                )
            )
        except LedgerError as exc:
            attach(form, exc)
            status = exc.http_status
        else:
            flash(_("Bozza aggiornata."), "success")
            return redirect(url_for("my_applications.detail", application_id=application_id), 303)
    if form.is_submitted() and status == 200:
        status = 422
    return render_template(
        "calls/apply.html", page=page, form=form, answers=answers, application=found
    ), status


@bp.get("/account/candidature")
@allow(PROPONENT)
def mine() -> ResponseReturnValue:
    """The proponent's own applications."""
    user_id = views.principal().user_id

    def read(db: Session) -> list[tuple[Application, Call]]:
        return [(a, get_call(db, a.call_id)) for a in apps.applications_of_user(db, user_id)]

    return render_template("calls/mine.html", rows=views.read_once(read))


def _own_page(application_id: int) -> ApplicationPage:
    user_id = views.principal().user_id
    return views.snapshot(
        lambda db: application_page_data(
            db, apps.own_application(db, application_id, user_id), staff=False
        )
    )


def _render_own(
    application_id: int, *, error: str | None = None, status: int = 200
) -> ResponseReturnValue:
    page = _own_page(application_id)
    return render_template(
        "calls/application.html", page=page, action=ActionForm(), error=error
    ), status


@bp.get("/account/candidature/<int:application_id>")
@allow(PROPONENT)
def detail(application_id: int) -> ResponseReturnValue:
    """The proponent's application: its state, its history, the decision and the tranches."""
    return _render_own(application_id)


def _own_action(
    application_id: int, work: Callable[[Session], Any], done: str
) -> ResponseReturnValue:
    form = ActionForm()
    if not form.validate_on_submit():
        return _render_own(application_id, error=_("Modulo scaduto: riprova."), status=400)
    try:
        in_transaction(work)
    except (ApplicationNotFoundError, CallNotFoundError):
        raise NotFound() from None
    except LedgerError as exc:
        return _render_own(application_id, error=error_message(exc), status=exc.http_status)
    flash(done, "success")
    return redirect(url_for("my_applications.detail", application_id=application_id), 303)


@bp.post("/account/candidature/<int:application_id>/invia")
@allow(PROPONENT)
def submit(application_id: int) -> ResponseReturnValue:
    """Submit a draft (refused once the call has closed: the draft stays as it was)."""
    return _own_action(
        application_id,
        lambda db: call_commands.submit_application(
            db, application_id, origin=views.origin(), clock=views.clock()
        ),
        _("Candidatura inviata: la commissione la valuterà dopo la verifica dei requisiti."),
    )


@bp.post("/account/candidature/<int:application_id>/ritira")
@allow(PROPONENT)
def withdraw(application_id: int) -> ResponseReturnValue:
    """Withdraw the application (final)."""
    return _own_action(
        application_id,
        lambda db: call_commands.withdraw_application(
            db, application_id, origin=views.origin(), clock=views.clock()
        ),
        _("Candidatura ritirata."),
    )


@bp.route(
    "/account/candidature/<int:application_id>/tranche/<int:tranche_id>/relazione",
    methods=["GET", "POST"],
)
@allow(PROPONENT)
def report(application_id: int, tranche_id: int) -> ResponseReturnValue:
    """Report on the milestone of a paid tranche (the next tranche waits for it)."""
    page = _own_page(application_id)
    tranche = next((t for ts in page.tranches.values() for t in ts if t.id == tranche_id), None)
    if tranche is None:
        raise NotFound()
    form = ReportForm()
    status = 200
    if form.validate_on_submit():
        try:
            text = form.report.data or ""
            in_transaction(
                lambda db: call_commands.report_milestone(
                    db, tranche_id, report=text, origin=views.origin(), clock=views.clock()
                )
            )
        except LedgerError as exc:
            attach(form, exc)
            status = exc.http_status
        else:
            flash(_("Relazione inviata."), "success")
            return redirect(url_for("my_applications.detail", application_id=application_id), 303)
    if form.is_submitted() and status == 200:
        status = 422
    return render_template("calls/report.html", page=page, tranche=tranche, form=form), status
