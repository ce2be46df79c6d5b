"""Administration of users: the list with roles, second factor and status; one user's
page with their roles (granted and taken away together), deactivation and reactivation.

Each act is a use case of `ledger.people.commands` (`change_roles`,
`deactivate_user`, `reactivate_user`), which writes its audit event
(`user.roles`, `user.deactivate`, `user.reactivate`) in the request's unit of
work. An admin cannot deactivate their own account (the use case refuses).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from ledger.people import commands
from ledger.people import service as people
from ledger.people.models import ROLES, User
from web import views
from web.access import allow
from web.admin.common import ADMIN, bp
from web.admin.forms import DeactivateForm, ReactivateForm, RolesForm
from web.db import in_transaction


@dataclass(frozen=True, slots=True)
class UserRow:
    id: int
    email: str
    full_name: str
    roles: tuple[str, ...]
    totp_enrolled: bool
    active: bool


def _row(user: User) -> UserRow:
    return UserRow(
        id=user.id,
        email=user.email,
        full_name=user.person.full_name,
        roles=tuple(role for role in ROLES if role in user.roles),
        totp_enrolled=user.totp_enrolled,
        active=user.active,
    )


def _user_row(user_id: int) -> UserRow:
    return views.snapshot(lambda db: _row(people.get_user(db, user_id)))


@bp.get("/utenti")
@allow(ADMIN, two_factor=True)
def users() -> ResponseReturnValue:
    """Every user with their roles, second factor and whether they may sign in."""
    rows = views.read_once(lambda db: [_row(u) for u in people.list_users(db)])
    return render_template("admin/users.html", rows=rows)


def _user_page(
    user: UserRow,
    *,
    roles_form: RolesForm | None = None,
    deactivate_form: DeactivateForm | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    if roles_form is None:
        roles_form = RolesForm(formdata=None, roles=list(user.roles))
    return render_template(
        "admin/user.html",
        user=user,
        roles_form=roles_form,
        deactivate_form=deactivate_form or DeactivateForm(formdata=None),
        reactivate_form=ReactivateForm(formdata=None),
        is_self=user.id == views.principal().user_id,
    ), status


@bp.get("/utenti/<int:user_id>")
@allow(ADMIN, two_factor=True)
def user(user_id: int) -> ResponseReturnValue:
    """One user: roles, deactivation or reactivation."""
    return _user_page(_user_row(user_id))


@bp.post("/utenti/<int:user_id>/ruoli")
@allow(ADMIN, two_factor=True)
def user_roles(user_id: int) -> ResponseReturnValue:
    """Give the user exactly the roles ticked (at least one): `user.roles`."""
    row = _user_row(user_id)
    form = RolesForm()
    wanted = set(form.roles.data or ())
    origin, clock = views.origin(), views.clock()

    def act(db: Session) -> str:
        outcome = commands.change_roles(
            db,
            row.email,
            added=sorted(wanted - set(row.roles)),
            removed=sorted(set(row.roles) - wanted),
            origin=origin,
            clock=clock,
        )
        if not outcome.created:
            return _("I ruoli di %(email)s non sono cambiati.", email=row.email)
        return _("Ruoli di %(email)s aggiornati.", email=row.email)

    return views.form_action(
        form,
        act,
        done=url_for("admin.user", user_id=user_id),
        again=lambda: _user_page(row, roles_form=form, status=422),
    )


@bp.post("/utenti/<int:user_id>/disattiva")
@allow(ADMIN, two_factor=True)
def deactivate(user_id: int) -> ResponseReturnValue:
    """Stop the user signing in and using API tokens: `user.deactivate`."""
    row = _user_row(user_id)
    form = DeactivateForm()
    origin, clock = views.origin(), views.clock()

    def act(db: Session) -> str:
        outcome = commands.deactivate_user(db, row.email, origin=origin, clock=clock)
        if not outcome.created:
            return _("%(email)s era già disattivato.", email=row.email)
        return _(
            "%(email)s è disattivato: non può più accedere né usare i suoi token.", email=row.email
        )

    return views.form_action(
        form,
        act,
        done=url_for("admin.user", user_id=user_id),
        again=lambda: _user_page(row, deactivate_form=form, status=422),
    )


@bp.post("/utenti/<int:user_id>/riattiva")
@allow(ADMIN, two_factor=True)
def reactivate(user_id: int) -> ResponseReturnValue:
    """Let a deactivated user sign in again: `user.reactivate`."""
    row = _user_row(user_id)
    ReactivateForm()  # CSRFProtect has already checked the token
    origin, clock = views.origin(), views.clock()
    changed = in_transaction(
        lambda db: commands.reactivate_user(db, row.email, origin=origin, clock=clock).created
    )
    flash(
        _("%(email)s può di nuovo accedere.", email=row.email)
        if changed
        else _("%(email)s era già attivo.", email=row.email),
        "success",
    )
    return redirect(url_for("admin.user", user_id=user_id), 303)
