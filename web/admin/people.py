"""Administration: a person's data, exported or erased (GDPR arts. 15, 17, 20; ledger.privacy)."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from ledger.core.errors import LedgerError
from ledger.people.errors import PersonNotFoundError
from ledger.people.service import get_person, get_person_by_email, user_of_person
from ledger.privacy import commands as privacy
from web import views
from web.access import allow
from web.admin.common import ADMIN, bp
from web.db import in_transaction
from web.extensions import limiter, two_factor_key, two_factor_limit
from web.forms import field_error
from web.people.forms import EraseForm
from web.people.pages import json_download


def _person_facts(db: Session, person_id: int) -> dict[str, Any]:
    person = get_person(db, person_id)
    user = user_of_person(db, person_id)
    return {
        "id": person.id,
        "full_name": person.full_name,
        "email": person.email,
        "erased_at": person.erased_at,
        "user_id": user.id if user is not None else None,
        "roles": sorted(user.roles) if user is not None else [],
        "active": user.active if user is not None else False,
    }


@bp.get("/persone")
@allow(ADMIN, two_factor=True)
def people() -> ResponseReturnValue:
    """Find a person by e-mail, to download their data or erase them."""
    email = (request.args.get("email") or "").strip()[:254]
    found: dict[str, Any] | None = None
    if email:

        def read(db: Session) -> dict[str, Any] | None:
            try:
                return _person_facts(db, get_person_by_email(db, email).id)
            except PersonNotFoundError:
                return None

        found = in_transaction(read, read_only=True)
    return render_template("admin/people.html", email=email, found=found)


@bp.get("/persone/<int:person_id>/dati")
@allow(ADMIN, two_factor=True)
def person_export(person_id: int) -> ResponseReturnValue:
    """Everything the product holds about the person, as a JSON file (audited)."""
    origin, clock = views.origin(), views.clock()
    data = in_transaction(
        lambda db: privacy.export_person(db, person_id, origin=origin, clock=clock).value
    )
    return json_download(data, f"persona-{person_id}.json")


@bp.route("/persone/<int:person_id>/cancella", methods=["GET", "POST"])
@allow(ADMIN, two_factor=True)
@limiter.limit(two_factor_limit, methods=["POST"], key_func=two_factor_key)
def person_erase(person_id: int) -> ResponseReturnValue:
    """Erase a person (GDPR art. 17), with the admin's TOTP code; shows what was replaced
    and what the law requires to keep, and why."""
    try:
        facts = views.snapshot(lambda db: _person_facts(db, person_id))
    except PersonNotFoundError:
        abort(404)
    form = EraseForm()
    done = None
    if facts["erased_at"] is None and form.validate_on_submit():
        origin, clock, box = views.origin(), views.clock(), views.secret_box()
        try:
            done = in_transaction(
                lambda db: (
                    privacy.erase_person(
                        db, person_id, origin=origin, clock=clock, code=form.code.data, box=box
                    ).value
                )
            )
        except LedgerError as exc:
            field_error(form, exc)
    form.code.data = ""
    status = 422 if form.is_submitted() and done is None else 200
    return (
        render_template("admin/person_erase.html", person=facts, form=form, done=done),
        status,
    )
