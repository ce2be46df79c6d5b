"""Administration of foundations: the list with the officers who act for each, a new
foundation, and a new officer for one of them.

Each act is a use case of `ledger.grants.commands` (`create_foundation`,
`add_officer`), which writes its audit event (`foundation.create`,
`foundation.add_officer`); the forms carry a key made when they were shown, so
a double submit is one act.
"""

from __future__ import annotations

from flask import render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from ledger.grants import commands
from ledger.grants.getters import get_foundation
from ledger.grants.queries import foundations_with_officers
from web import views
from web.access import allow
from web.admin.common import ADMIN, bp
from web.admin.forms import FoundationForm, OfficerForm


def _prefix(foundation_id: int) -> str:
    """Each foundation's officer form has its own field names and ids on the page."""
    return f"f{foundation_id}"


def _page(
    *,
    foundation_form: FoundationForm | None = None,
    officer_form: OfficerForm | None = None,
    officer_for: int | None = None,
) -> ResponseReturnValue:
    rows = views.snapshot(foundations_with_officers)
    return render_template(
        "admin/foundations.html",
        rows=rows,
        foundation_form=foundation_form or FoundationForm(formdata=None),
        officer_form=officer_form,
        officer_for=officer_for,
        blank_officer_form=lambda foundation_id: OfficerForm(
            formdata=None, prefix=_prefix(foundation_id)
        ),
    )


@bp.get("/fondazioni")
@allow(ADMIN, two_factor=True)
def foundations() -> ResponseReturnValue:
    """Every foundation with its officers; the forms to add either."""
    return _page()


@bp.post("/fondazioni")
@allow(ADMIN, two_factor=True)
def new_foundation() -> ResponseReturnValue:
    """Register a foundation: `foundation.create`."""
    form = FoundationForm()
    key = views.form_key(form)
    origin, clock = views.origin(), views.clock()

    def act(db: Session) -> str:
        outcome = commands.create_foundation(
            db,
            form.name.data or "",
            tax_code=(form.tax_code.data or "").strip().upper() or None,
            origin=origin,
            clock=clock,
            key=key,
        )
        return _("Fondazione «%(name)s» registrata.", name=outcome.value.name)

    return views.form_action(
        form, act, done=url_for("admin.foundations"), again=lambda: _page(foundation_form=form)
    )


@bp.post("/fondazioni/<int:foundation_id>/referenti")
@allow(ADMIN, two_factor=True)
def add_officer(foundation_id: int) -> ResponseReturnValue:
    """Let a user with the foundation_officer role act for the foundation:
    `foundation.add_officer`."""
    name = views.snapshot(lambda db: get_foundation(db, foundation_id).name)
    form = OfficerForm(prefix=_prefix(foundation_id))
    key = views.form_key(form)
    origin, clock = views.origin(), views.clock()

    def act(db: Session) -> str:
        commands.add_officer(
            db, foundation_id, form.email.data or "", origin=origin, clock=clock, key=key
        )
        return _("%(email)s ora agisce per «%(name)s».", email=form.email.data, name=name)

    return views.form_action(
        form,
        act,
        done=url_for("admin.foundations"),
        again=lambda: _page(officer_form=form, officer_for=foundation_id),
    )
