"""Public pages of calls for ideas (blueprint `calls`): the calls and what they financed."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from ledger.funds.call_models import Call
from ledger.funds.calls import CallFigures, call_figures, list_calls
from web import views
from web.access import public
from web.calls.reads import call_page_data
from web.campaigns import description_html

bp = Blueprint("calls", __name__)


@bp.get("/bandi")
@public
def index() -> ResponseReturnValue:
    """Every call for ideas: open ones first, then the past ones with what they financed."""

    def read(db: Session) -> list[tuple[Call, CallFigures]]:
        return [(c, call_figures(db, c.id)) for c in list_calls(db)]

    rows = views.read_once(read)
    return render_template("calls/index.html", rows=rows, now=views.clock().now())


@bp.get("/bandi/<int:call_id>")
@public
def call(call_id: int) -> ResponseReturnValue:
    """A call: its rules, its window, its rubric and the ideas it financed."""
    page = views.read_once(lambda db: call_page_data(db, call_id))
    return render_template(
        "calls/call.html", page=page, description=description_html(page.call.description_md)
    )
