"""The public home page: what the register is and where each kind of user goes."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from web.access import current_principal, public

bp = Blueprint("home", __name__)


@bp.get("/")
@public
def index() -> ResponseReturnValue:
    """Landing page for everyone; signed-in users see links for their roles."""
    return render_template("home.html", principal=current_principal())
