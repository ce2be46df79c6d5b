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


@bp.get("/privacy")
@public
def privacy() -> ResponseReturnValue:
    """The privacy notice (GDPR art. 13): who holds which data, why, for how long, and the
    rights of the people it is about."""
    from flask import current_app

    config = current_app.config
    return render_template(
        "privacy.html",
        organisation=config.get("ORGANISATION_NAME"),
        tax_code=config.get("ORGANISATION_TAX_CODE"),
        audit_days=int(config.get("AUDIT_IP_RETENTION_DAYS") or 90),
        principal=current_principal(),
    )
