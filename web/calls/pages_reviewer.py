"""The committee's pages (blueprint `committee`): the queue, the conflict declaration, the scores.

A reviewer sees only the applications of the calls they sit on, past the draft.
Declaring and scoring are use cases of `ledger.funds.call_commands`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound

from ledger.core.errors import LedgerError
from ledger.funds import applications as apps
from ledger.funds import call_commands
from ledger.funds import reviews as review_rules
from ledger.funds.call_models import Application, Call, Review
from ledger.funds.calls import calls_of_reviewer, criteria_of, is_reviewer
from web import views
from web.access import allow
from web.calls import REVIEWER
from web.calls.forms import ConflictForm, ScoreForm
from web.calls.reads import ApplicationPage, application_page_data, names
from web.calls.texts import error_message
from web.db import in_transaction

bp = Blueprint("committee", __name__)


@bp.get("/valutazione")
@allow(REVIEWER)
def queue() -> ResponseReturnValue:
    """The calls the reviewer sits on and their applications in review."""
    user_id = views.principal().user_id

    def read(db: Session) -> list[tuple[Call, list[tuple[Application, str]]]]:
        result = []
        for found in calls_of_reviewer(db, user_id):
            rows = []
            for application in apps.applications_of_call(db, found.id):
                if application.status != "in_review":
                    continue
                declared = review_rules.declaration_of(db, application.id, user_id)
                reviewed = db.scalars(
                    select(Review.id).where(
                        Review.application_id == application.id,
                        Review.reviewer_user_id == user_id,
                    )
                ).first()
                if reviewed is not None:
                    state = "scored"
                elif declared is None:
                    state = "undeclared"
                else:
                    state = "conflicted" if declared.conflicted else "to_score"
                rows.append((application, state))
            result.append((found, rows))
        return result

    return render_template("calls/committee.html", calls=views.read_once(read))


def _reviewer_page(application_id: int, user_id: int) -> tuple[ApplicationPage, Any, Any]:
    def read(db: Session) -> tuple[ApplicationPage, Any, Any]:
        found = apps.get_application(db, application_id)
        if found.status == "draft" or not is_reviewer(db, found.call_id, user_id):
            raise NotFound()
        page = application_page_data(db, found, staff=False)
        declared = review_rules.declaration_of(db, application_id, user_id)
        mine = db.scalars(
            select(Review).where(
                Review.application_id == application_id, Review.reviewer_user_id == user_id
            )
        ).first()
        return (
            ApplicationPage(
                application=page.application,
                call=page.call,
                questions=page.questions,
                answers=page.answers,
                history=[],
                awards=[],
                tranches={},
                now=page.now,
                criteria=criteria_of(db, found.call_id),
                # The committee sees who proposed the idea: that is what a conflict is about.
                names=names(db, {found.proponent_user_id}),
            ),
            declared,
            mine,
        )

    return views.snapshot(read)


@bp.route("/valutazione/candidature/<int:application_id>", methods=["GET", "POST"])
@allow(REVIEWER)
def review(application_id: int) -> ResponseReturnValue:
    """One application for a committee member: the conflict declaration, then the scores."""
    page, declared, mine = _reviewer_page(application_id, views.principal().user_id)
    form = ScoreForm()
    conflict_form = ConflictForm(formdata=None)
    values: dict[int, str] = {}
    status = 200
    if form.validate_on_submit():
        scores: dict[int, int] = {}
        for criterion in page.criteria:
            raw = request.form.get(f"score_{criterion.id}", "").strip()
            values[criterion.id] = raw
            if raw.isdigit() and len(raw) <= 2:
                scores[criterion.id] = int(raw)
        try:
            comment = form.comment.data or ""
            in_transaction(
                lambda db: call_commands.score_application(
                    db,
                    application_id,
                    scores=scores,
                    comment=comment,
                    origin=views.origin(),
                    clock=views.clock(),
                )
            )
        except LedgerError as exc:
            form.form_errors.append(error_message(exc))
            status = exc.http_status
        else:
            flash(_("Valutazione registrata."), "success")
            return redirect(url_for("committee.queue"), 303)
    elif form.is_submitted():
        status = 400
    return render_template(
        "calls/review.html",
        page=page,
        form=form,
        conflict_form=conflict_form,
        declared=declared,
        mine=mine,
        values=values,
    ), status


@bp.post("/valutazione/candidature/<int:application_id>/conflitto")
@allow(REVIEWER)
def conflict(application_id: int) -> ResponseReturnValue:
    """Declare whether the reviewer has a conflict of interest (final)."""
    page, declared, mine = _reviewer_page(application_id, views.principal().user_id)
    conflict_form = ConflictForm()
    if conflict_form.validate_on_submit():
        conflicted = conflict_form.conflicted.data == "yes"
        try:
            in_transaction(
                lambda db: call_commands.declare_conflict(
                    db,
                    application_id,
                    conflicted=conflicted,
                    origin=views.origin(),
                    clock=views.clock(),
                )
            )
        except LedgerError as exc:
            conflict_form.form_errors.append(error_message(exc))
            status = exc.http_status
        else:
            flash(_("Dichiarazione registrata."), "success")
            return redirect(url_for("committee.review", application_id=application_id), 303)
    else:
        status = 422
    return render_template(
        "calls/review.html",
        page=page,
        form=ScoreForm(formdata=None),
        conflict_form=conflict_form,
        declared=declared,
        mine=mine,
        values={},
    ), status
