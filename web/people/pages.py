"""Pages of signing in and of the personal area: registration and its link, sign-in
with optional TOTP or with a one-time link by e-mail, sign-out, password change and
reset, the confirmation of an account's address, the correction of one's name and
codice fiscale, TOTP enrolment, the user's own API tokens and the language switch.

Each page parses its form, calls a use case of `ledger.people` (which makes
the change and writes its audit event in the request's one unit of work, so a
refused request leaves neither) and answers. The session cookie is the page's
business: flask-login, the pending second step, the language. E-mail (links)
goes to the outbox in the use case's unit and is sent after the commit.

Nothing here tells which addresses are registered: a failed sign-in says the
same thing whether the e-mail exists or not, and takes as long; registering and
asking for a reset answer the same way for a known and an unknown address, do
the same work (a password hashed, one message queued) and send the mail only
once the answer has gone out. Links are signed with the secret key, expire
(`PASSWORD_RESET_MAX_AGE`, `EMAIL_VERIFY_MAX_AGE`, `SIGN_IN_LINK_MAX_AGE`) and
work once.

Nobody can lock an account out (see `web.extensions`): refused sign-ins are
counted per address and client network, and past the per-account ceiling the
password alone no longer signs in, right or wrong; the page offers a one-time
sign-in link by e-mail instead. Every e-mailed link (reset, sign-in,
registration, address confirmation) carries its token in the URL fragment; the
page's script puts it into a form that POSTs it, so no token travels in a
request line.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import login_user, logout_user
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from ledger.core.errors import LedgerError
from ledger.people import commands, totp
from ledger.people import service as people
from ledger.people import session_commands as sessions
from ledger.people.errors import InvalidTotpCodeError, WrongPasswordError
from ledger.people.models import Registration, SignInLink, User
from web import views
from web.access import (
    SESSION_PENDING_USER,
    SESSION_SIGNED_IN_AT,
    SESSION_TWO_FACTOR,
    Principal,
    allow,
    current_principal,
    public,
    signed_in,
)
from web.db import in_transaction
from web.extensions import (
    count_refused_sign_in,
    failed_sign_in,
    limiter,
    login_email_limit,
    login_limit,
    password_change_limit,
    register_limit,
    reset_limit,
    sign_in_ceiling_reached,
    signed_in_user_key,
    submitted_email_and_network,
    two_factor_key,
    two_factor_limit,
)
from web.forms import ActionForm, field_error
from web.i18n import LANGUAGES, SESSION_LANGUAGE
from web.mail import flush_outbox, flush_outbox_after_response
from web.people.forms import (
    TOKEN_SCOPE_CHOICES,
    CodeForm,
    ConfirmEmailForm,
    ConfirmRegistrationForm,
    EnrolForm,
    IdentityForm,
    LinkRequestForm,
    LinkSignInForm,
    LoginForm,
    PasswordChangeForm,
    RegisterForm,
    ResetForm,
    ResetRequestForm,
    TokenForm,
)
from web.people.reads import own_tokens

bp = Blueprint("auth", __name__)

SESSION_PENDING_SINCE = "pending_two_factor_since"
PENDING_SECONDS = 300
RESET_SALT = "password-reset"
SIGN_IN_LINK_SALT = "sign-in-link"
REGISTRATION_SALT = "registration"
VERIFY_SALT = "email-verify"
# Who may correct anyone's name and codice fiscale through the pages.
IDENTITY_STAFF = ("treasurer", "admin")


def safe_next(default: str) -> str:
    """The `next` target when it is a path on this site, else `default` (no open redirect)."""
    target = request.values.get("next") or ""
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.netloc:
        if not parts.scheme and "\\" not in target:
            return target
    return default


def _start_session(principal: Principal, *, two_factor: bool, since: int | None = None) -> None:
    """Sign `principal` in; the sign-in began now, or at `since` when it goes on (after a
    password change), and ends LEDGER_SESSION_ABSOLUTE_LIFETIME seconds later."""
    language = session.get(SESSION_LANGUAGE)
    session.clear()  # a new session id for a new identity: no fixation
    session.permanent = True
    if language in LANGUAGES:
        session[SESSION_LANGUAGE] = language
    elif principal.locale in LANGUAGES:
        session[SESSION_LANGUAGE] = principal.locale
    login_user(principal)
    session[SESSION_TWO_FACTOR] = two_factor
    session[SESSION_SIGNED_IN_AT] = since if since is not None else int(time.time())


def _principal_of(user: User | None) -> Principal | None:
    return Principal.of(user) if user is not None else None


# ------------------------------------------------------------------ registration
def _link_serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def registration_token(registration: Registration) -> str:
    """A signed link token naming a registration (it works while the registration waits)."""
    return _link_serializer(REGISTRATION_SALT).dumps({"r": registration.id})


def verification_token(user: User) -> str:
    """A signed link token naming the user and their verification fingerprint."""
    return _link_serializer(VERIFY_SALT).dumps(
        {"u": user.id, "v": people.verification_fingerprint(user)}
    )


def _verify_hours() -> int:
    return max(1, int(current_app.config["EMAIL_VERIFY_MAX_AGE"]) // 3600)


@bp.route("/register", methods=["GET", "POST"])
@public
@limiter.limit(register_limit, methods=["POST"])
def register() -> ResponseReturnValue:
    """Self-registration of donors and proponents: the account is made by the mailed link.

    The answer is the same whether the address is new or has an account (whose
    owner is told that someone tried), and so is the work.
    """
    if current_principal() is not None:
        return redirect(url_for("auth.account"))
    form = RegisterForm()
    if form.validate_on_submit():
        person = people.NewPerson(
            email=form.email.data or "",
            full_name=form.full_name.data or "",
            codice_fiscale=form.codice_fiscale.data or None,
        )
        language = session.get(SESSION_LANGUAGE, "it")
        try:
            in_transaction(
                lambda db: commands.register(
                    db,
                    person,
                    role=form.role.data or "donor",
                    password=form.password.data or "",
                    locale=language if language in LANGUAGES else "it",
                    origin=views.origin(),
                    clock=views.clock(),
                    link_lifetime=timedelta(
                        seconds=int(current_app.config["EMAIL_VERIFY_MAX_AGE"])
                    ),
                )
            )
        except LedgerError as exc:
            field_error(form, exc)
        else:
            flush_outbox_after_response()
            flash(
                _(
                    "Ti abbiamo scritto all'indirizzo indicato: per attivare l'account apri il "
                    "link dell'e-mail entro %(hours)s ore e inserisci la password che hai scelto.",
                    hours=_verify_hours(),
                ),
                "success",
            )
            return redirect(url_for("auth.login"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/register.html", form=form), status


@bp.route("/register/confirm", methods=["GET", "POST"])
@public
@limiter.limit(login_limit, methods=["POST"])
def register_confirm() -> ResponseReturnValue:
    """Make the account of a registration: its mailed link and the password chosen.

    The link is `/register/confirm#token=...`: the page's script puts the token
    into the form, which POSTs it with the password.
    """
    form = ConfirmRegistrationForm()
    if not form.is_submitted():
        return render_template("auth/register_confirm.html", form=form)
    try:
        data = _link_serializer(REGISTRATION_SALT).loads(
            form.token.data or "", max_age=int(current_app.config["EMAIL_VERIFY_MAX_AGE"])
        )
        registration_id = int(data["r"])
    except SignatureExpired:
        return _bad_link(_("Il link è scaduto: registrati di nuovo."))
    except (BadSignature, KeyError, TypeError, ValueError):
        return _bad_link(_("Il link non è valido: registrati di nuovo."))

    used = _("Il link è già stato usato: accedi con la tua password.")
    if form.validate_on_submit():
        password = form.password.data or ""
        try:
            principal = in_transaction(
                lambda db: _principal_of(
                    commands.confirm_registration(
                        db, registration_id, password, origin=views.origin(), clock=views.clock()
                    ).value
                )
            )
        except LedgerError as exc:
            field_error(form, exc)
        else:
            if principal is None:
                return _bad_link(used)
            _start_session(principal, two_factor=False)
            flash(_("Registrazione completata: benvenuto!"), "success")
            return redirect(url_for("auth.account"))
    elif not views.read_once(
        lambda db: people.pending_registration(db, registration_id) is not None
    ):
        return _bad_link(used)
    return render_template("auth/register_confirm.html", form=form), 422


# ------------------------------------------------------------------ sign-in
@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(login_limit, methods=["POST"])
@limiter.limit(
    login_email_limit,
    methods=["POST"],
    key_func=submitted_email_and_network,
    deduct_when=failed_sign_in,
)
def login() -> ResponseReturnValue:
    """Sign in with e-mail and password; users with TOTP then confirm a code.

    Past the per-account ceiling of refused sign-ins the password is not even
    checked (the answer is the same, right or wrong): the page offers a
    one-time sign-in link by e-mail (403).
    """
    if current_principal() is not None:
        return redirect(safe_next(url_for("auth.account")))
    form = LoginForm()
    failed = False
    if form.validate_on_submit():
        email = form.email.data or ""
        password = form.password.data or ""
        if sign_in_ceiling_reached(email):
            offer = LinkRequestForm(formdata=None, email=email)
            return render_template("auth/login.html", form=form, step_up=offer), 403
        principal = in_transaction(
            lambda db: _principal_of(
                sessions.sign_in(
                    db, email, password, origin=views.origin(), clock=views.clock()
                ).value
            )
        )
        if principal is None:
            count_refused_sign_in(email)
            failed = True
        else:
            return _first_step_passed(principal)
    status = 422 if form.is_submitted() else 200
    return render_template("auth/login.html", form=form, failed=failed), status


def _first_step_passed(principal: Principal) -> ResponseReturnValue:
    """The password (or a sign-in link) was accepted: sign in, or ask for the TOTP code."""
    if principal.totp_enrolled:
        session.clear()
        session[SESSION_PENDING_USER] = principal.get_id()
        session[SESSION_PENDING_SINCE] = int(views.clock().now().timestamp())
        target = safe_next("")
        return redirect(url_for("auth.two_factor_login", **({"next": target} if target else {})))
    _start_session(principal, two_factor=False)
    return redirect(safe_next(url_for("auth.account")))


def _sign_in_serializer() -> URLSafeTimedSerializer:
    return _link_serializer(SIGN_IN_LINK_SALT)


def sign_in_token(link: SignInLink) -> str:
    """The signed token of a one-time sign-in link (made when its e-mail is built)."""
    return _sign_in_serializer().dumps({"l": link.id})


@bp.route("/login/link/request", methods=["GET", "POST"])
@public
@limiter.limit(reset_limit, methods=["POST"])
def sign_in_link_request() -> ResponseReturnValue:
    """Ask for a one-time sign-in link by e-mail; the answer is the same whether the
    address is known."""
    form = LinkRequestForm()
    if form.validate_on_submit():
        email = form.email.data or ""
        lifetime = timedelta(seconds=int(current_app.config["SIGN_IN_LINK_MAX_AGE"]))
        in_transaction(
            lambda db: sessions.issue_sign_in_link(
                db, email, lifetime=lifetime, origin=views.origin(), clock=views.clock()
            )
        )
        flush_outbox()
        flash(
            _(
                "Se l'indirizzo è registrato, riceverai un'e-mail con un link di accesso. "
                "Il link vale %(minutes)s minuti e si può usare una volta sola.",
                minutes=int(lifetime.total_seconds()) // 60,
            ),
            "success",
        )
        return redirect(url_for("auth.login"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/sign_in_link_request.html", form=form), status


@bp.route("/login/link", methods=["GET", "POST"])
@public
@limiter.limit(login_limit, methods=["POST"])
def sign_in_link() -> ResponseReturnValue:
    """Sign in with a one-time link from an e-mail (`/login/link#token=...`): the page's
    script puts the token into the form, which POSTs it; a user with TOTP then gives
    a code."""
    form = LinkSignInForm()
    if not form.validate_on_submit():
        status = 422 if form.is_submitted() else 200
        return render_template("auth/sign_in_link.html", form=form), status
    again = "auth.sign_in_link_request"
    try:
        data = _sign_in_serializer().loads(
            form.token.data or "", max_age=int(current_app.config["SIGN_IN_LINK_MAX_AGE"])
        )
        link_id = int(data["l"])
    except SignatureExpired:
        return _bad_link(_("Il link è scaduto: chiedine uno nuovo."), again=again)
    except (BadSignature, KeyError, TypeError, ValueError):
        return _bad_link(_("Il link non è valido: chiedine uno nuovo."), again=again)
    principal = in_transaction(
        lambda db: _principal_of(
            sessions.sign_in_with_link(
                db, link_id, origin=views.origin(), clock=views.clock()
            ).value
        )
    )
    if principal is None:
        return _bad_link(
            _("Il link è scaduto o è già stato usato: chiedine uno nuovo."), again=again
        )
    return _first_step_passed(principal)


def _pending_sign_in() -> tuple[int, str] | None:
    """The user whose password was accepted and who has a code to give (their id and
    the session fingerprint the password step saw), for at most PENDING_SECONDS:
    after that, the password must be given again."""
    pending = str(session.get(SESSION_PENDING_USER) or "")
    user_part, _sep, fingerprint = pending.partition(":")
    since = session.get(SESSION_PENDING_SINCE)
    if not user_part.isdigit() or not isinstance(since, int):
        return None
    if not 0 <= views.clock().now().timestamp() - since <= PENDING_SECONDS:
        session.pop(SESSION_PENDING_USER, None)
        return None
    return int(user_part), fingerprint


@bp.route("/login/2fa", methods=["GET", "POST"])
@public
@limiter.limit(login_limit, methods=["POST"])
@limiter.limit(two_factor_limit, methods=["POST"], key_func=two_factor_key)
def two_factor_login() -> ResponseReturnValue:
    """The second step of signing in: a TOTP code."""
    pending = _pending_sign_in()
    if pending is None:
        return redirect(url_for("auth.login"))
    user_id, fingerprint = pending
    form = CodeForm()
    failed = False
    if form.validate_on_submit():
        code = form.code.data or ""
        principal = in_transaction(
            lambda db: _principal_of(
                sessions.confirm_sign_in(
                    db,
                    user_id,
                    fingerprint,
                    code,
                    box=views.secret_box(),
                    origin=views.origin(),
                    clock=views.clock(),
                ).value
            )
        )
        if principal is None:
            failed = True
        else:
            _start_session(principal, two_factor=True)
            return redirect(safe_next(url_for("auth.account")))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/two_factor_login.html", form=form, failed=failed), status


@bp.route("/account/2fa/verify", methods=["GET", "POST"])
@signed_in
@limiter.limit(login_limit, methods=["POST"])
@limiter.limit(two_factor_limit, methods=["POST"], key_func=two_factor_key)
def two_factor_verify() -> ResponseReturnValue:
    """Confirm a TOTP code in this session (for a session that has not yet)."""
    principal = views.principal()
    if not principal.totp_enrolled:
        return redirect(url_for("auth.two_factor_enrol", next=safe_next("")))
    form = CodeForm()
    failed = False
    if form.validate_on_submit():
        code = form.code.data or ""
        confirmed = in_transaction(
            lambda db: (
                sessions.confirm_two_factor(
                    db,
                    principal.user_id,
                    code,
                    box=views.secret_box(),
                    origin=views.origin(),
                    clock=views.clock(),
                ).value
            )
        )
        if confirmed:
            session[SESSION_TWO_FACTOR] = True
            return redirect(safe_next(url_for("auth.account")))
        failed = True
    status = 422 if form.is_submitted() else 200
    return render_template("auth/two_factor_login.html", form=form, failed=failed), status


@bp.post("/logout")
@public
def logout() -> ResponseReturnValue:
    """Sign out (POST with a CSRF token, so another site cannot sign you out)."""
    ActionForm()  # CSRFProtect has already checked the token
    principal = current_principal()
    if principal is not None:
        in_transaction(
            lambda db: sessions.sign_out(
                db, principal.user_id, origin=views.origin(), clock=views.clock()
            )
        )
    language = session.get(SESSION_LANGUAGE)
    logout_user()
    session.clear()
    if language in LANGUAGES:
        session[SESSION_LANGUAGE] = language
    flash(_("Sei uscito dal registro."), "success")
    return redirect(url_for("home.index"))


# ------------------------------------------------------------------ personal area
@bp.get("/account")
@signed_in
def account() -> ResponseReturnValue:
    """The signed-in user's own data: identity, roles and security settings."""
    principal = views.principal()

    def read(db: Session) -> dict[str, Any]:
        user = people.get_user(db, principal.user_id)
        return {
            "full_name": user.person.full_name,
            "email": user.person.email,
            "email_verified": user.email_verified,
            "codice_fiscale": user.person.codice_fiscale,
            "address": user.person.address,
            "roles": sorted(user.roles),
            "totp_enrolled": user.totp_enrolled,
            "created_at": user.created_at,
        }

    return render_template(
        "auth/account.html", me=views.read_once(read), principal=principal, form=ActionForm()
    )


@bp.get("/account/esporta-dati")
@signed_in
def data_export() -> ResponseReturnValue:
    """The signed-in user's own data as a JSON file (GDPR art. 15 and 20), audited as
    `person.export`; what is linked to them only through an unconfirmed address is left out."""
    from ledger.privacy.commands import export_person

    principal = views.principal()
    origin, clock = views.origin(), views.clock()

    def work(db: Session) -> dict[str, Any]:
        person_id = people.get_user(db, principal.user_id).person_id
        return export_person(db, person_id, origin=origin, clock=clock).value

    return json_download(in_transaction(work), f"dati-personali-{principal.user_id}.json")


def json_download(data: Any, filename: str) -> ResponseReturnValue:
    """A JSON attachment no cache may keep."""
    import json

    response = current_app.response_class(
        json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True),
        mimetype="application/json",
    )
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/account/email")
@signed_in
@limiter.limit(reset_limit)
def request_verification() -> ResponseReturnValue:
    """Mail a link that confirms the address of an account that has not confirmed it."""
    ActionForm()  # CSRFProtect has already checked the token
    principal = views.principal()
    queued = in_transaction(
        lambda db: (
            commands.request_verification(
                db, principal.user_id, origin=views.origin(), clock=views.clock()
            ).created
        )
    )
    if queued:
        flush_outbox()
        flash(
            _(
                "Ti abbiamo mandato un link per confermare l'indirizzo: aprilo entro %(hours)s "
                "ore, con questo account aperto.",
                hours=_verify_hours(),
            ),
            "success",
        )
    return redirect(url_for("auth.account"))


@bp.route("/account/email/confirm", methods=["GET", "POST"])
@signed_in
@limiter.limit(reset_limit, methods=["POST"])
def verify_email() -> ResponseReturnValue:
    """Confirm the account's address from its mailed link, signed in as that account
    (the link proves the mail is read, the sign-in the password).

    The link is `/account/email/confirm#token=...`: the page's script puts the
    token into the form, which POSTs it.
    """
    form = ConfirmEmailForm()
    if not form.is_submitted():
        return render_template("auth/verify_email.html", form=form)
    try:
        data = _link_serializer(VERIFY_SALT).loads(
            form.token.data or "", max_age=int(current_app.config["EMAIL_VERIFY_MAX_AGE"])
        )
        user_id, fingerprint = int(data["u"]), str(data["v"])
    except SignatureExpired:
        return _bad_link(_("Il link è scaduto: chiedine uno nuovo dall'area personale."))
    except (BadSignature, KeyError, TypeError, ValueError):
        return _bad_link(_("Il link non è valido: chiedine uno nuovo dall'area personale."))
    if not form.validate_on_submit():
        return render_template("auth/verify_email.html", form=form), 400
    done = in_transaction(
        lambda db: (
            commands.verify_email(
                db, user_id, fingerprint, origin=views.origin(), clock=views.clock()
            ).value
            is not None
        )
    )
    if not done:
        return _bad_link(_("Il link è già stato usato o è di un altro account."))
    flash(_("Indirizzo e-mail confermato."), "success")
    return redirect(url_for("auth.account"))


def _identity_page(person_id: int, *, done: str, staff: bool) -> ResponseReturnValue:
    """The form that corrects a person's name and codice fiscale (the use case decides
    who may); receipts that printed the old ones are voided and issued again."""
    person = views.snapshot(lambda db: people.get_person(db, person_id))
    form = IdentityForm(
        data={"full_name": person.full_name, "codice_fiscale": person.codice_fiscale or ""}
        if request.method == "GET"
        else None
    )
    if form.validate_on_submit():
        name, code = form.full_name.data or "", form.codice_fiscale.data or None
        try:
            changed = in_transaction(
                lambda db: (
                    commands.correct_identity(
                        db, person_id, name, code, origin=views.origin(), clock=views.clock()
                    ).created
                )
            )
        except LedgerError as exc:
            field_error(form, exc)
        else:
            if changed:
                flash(
                    _(
                        "Dati corretti. Le ricevute già emesse con i dati di prima sono state "
                        "annullate e riemesse con un nuovo numero."
                    ),
                    "success",
                )
            return redirect(done)
    status = 422 if form.is_submitted() else 200
    return render_template(
        "auth/identity.html", form=form, person=person, staff=staff, back=done
    ), status


@bp.route("/account/dati", methods=["GET", "POST"])
@signed_in
def identity() -> ResponseReturnValue:
    """Correct one's own name and codice fiscale (once the address is confirmed)."""
    principal = views.principal()
    if not principal.email_verified:
        flash(
            _("Conferma prima il tuo indirizzo e-mail: segui il link che ti abbiamo mandato."),
            "error",
        )
        return redirect(url_for("auth.account"))
    person_id = views.snapshot(lambda db: people.get_user(db, principal.user_id).person_id)
    return _identity_page(person_id, done=url_for("auth.account"), staff=False)


@bp.route("/tesoreria/persone/<int:person_id>/dati", methods=["GET", "POST"])
@allow(*IDENTITY_STAFF, two_factor=True)
def staff_identity(person_id: int) -> ResponseReturnValue:
    """Staff correct anyone's name and codice fiscale."""
    back = safe_next(url_for("treasury.donation_list"))
    return _identity_page(person_id, done=back, staff=True)


@bp.route("/account/password", methods=["GET", "POST"])
@signed_in
@limiter.limit(password_change_limit, methods=["POST"], key_func=signed_in_user_key)
def password_change() -> ResponseReturnValue:
    """Change one's password; every other session of the user ends. Attempts are
    limited per user and a wrong current password is audited."""
    principal = views.principal()
    form = PasswordChangeForm()
    if form.validate_on_submit():
        try:
            updated = in_transaction(
                lambda db: _principal_of(
                    commands.change_password(
                        db,
                        principal.user_id,
                        form.current_password.data or "",
                        form.new_password.data or "",
                        origin=views.origin(),
                        clock=views.clock(),
                    ).value
                )
            )
        except LedgerError as exc:
            field_error(form, exc)
        else:
            if updated is None:  # a wrong current password: refused and audited
                wrong = WrongPasswordError(
                    "La password attuale non è corretta.", field="current_password"
                )
                field_error(form, wrong)
            else:
                two_factor = bool(session.get(SESSION_TWO_FACTOR))
                since = session.get(SESSION_SIGNED_IN_AT)
                _start_session(
                    updated, two_factor=two_factor, since=since if isinstance(since, int) else None
                )
                flash(_("Password cambiata."), "success")
                return redirect(url_for("auth.account"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/password_change.html", form=form), status


# ------------------------------------------------------------------ the user's own API tokens
@bp.route("/account/tokens", methods=["GET", "POST"])
@signed_in
@limiter.limit(two_factor_limit, methods=["POST"], key_func=two_factor_key)
def tokens() -> ResponseReturnValue:
    """The user's own API tokens: the list with each one's last use, and a form that
    issues a new one (a token that moves money only with a TOTP code given now).
    The new token is shown once, on this answer, which no cache may keep."""
    principal = views.principal()
    form = TokenForm()
    if not form.is_submitted():
        form.days.data = int(current_app.config["API_TOKEN_DAYS"])
    issued: str | None = None
    if form.validate_on_submit():
        scopes = TOKEN_SCOPE_CHOICES.get(form.scopes.data or "", ("read",))
        try:
            issued = in_transaction(
                lambda db: (
                    commands.issue_own_token(
                        db,
                        principal.user_id,
                        form.name.data or "",
                        scopes=scopes,
                        days=int(form.days.data or 0),
                        code=form.code.data or None,
                        box=views.secret_box(),
                        origin=views.origin(),
                        clock=views.clock(),
                    ).value.token
                )
            )
        except LedgerError as exc:
            field_error(form, exc)
        else:
            form = TokenForm(formdata=None)
            form.days.data = int(current_app.config["API_TOKEN_DAYS"])
    form.code.data = ""
    now = views.clock().now()
    rows = views.snapshot(lambda db: own_tokens(db, principal.user_id, now))
    status = 422 if form.is_submitted() and issued is None else 200
    response = current_app.make_response(
        (
            render_template(
                "auth/tokens.html",
                form=form,
                tokens=rows,
                issued=issued,
                revoke_form=ActionForm(formdata=None),
                totp_enrolled=principal.totp_enrolled,
            ),
            status,
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/account/tokens/<int:token_id>/revoke")
@signed_in
def revoke_token(token_id: int) -> ResponseReturnValue:
    """Revoke one of the user's own tokens at once (another user's is a 404)."""
    ActionForm()  # CSRFProtect has already checked the token
    principal = views.principal()
    revoked = in_transaction(
        lambda db: (
            commands.revoke_token(
                db, token_id, owner_id=principal.user_id, origin=views.origin(), clock=views.clock()
            ).created
        )
    )
    if revoked:
        flash(_("Token revocato: da ora non funziona più."), "success")
    else:
        flash(_("Il token era già stato revocato."), "warning")
    return redirect(url_for("auth.tokens"), 303)


def _reset_serializer() -> URLSafeTimedSerializer:
    return _link_serializer(RESET_SALT)


def reset_token(user: User) -> str:
    """A signed link token naming the user and their current password fingerprint."""
    return _reset_serializer().dumps({"u": user.id, "f": people.password_fingerprint(user)})


@bp.route("/password/reset", methods=["GET", "POST"])
@public
@limiter.limit(reset_limit, methods=["POST"])
def reset_request() -> ResponseReturnValue:
    """Ask for a reset link; the answer, the work and the time are the same whether the
    address is known (the mail leaves after the answer)."""
    form = ResetRequestForm()
    if form.validate_on_submit():
        email = form.email.data or ""
        in_transaction(
            lambda db: commands.request_password_reset(
                db, email, origin=views.origin(), clock=views.clock()
            )
        )
        flush_outbox_after_response()
        flash(
            _(
                "Se l'indirizzo è registrato, riceverai un'e-mail con un link per "
                "scegliere una nuova password. Il link vale un'ora."
            ),
            "success",
        )
        return redirect(url_for("auth.login"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/reset_request.html", form=form), status


@bp.route("/password/new", methods=["GET", "POST"])
@public
@limiter.limit(reset_limit, methods=["POST"])
def reset() -> ResponseReturnValue:
    """Choose a new password from a reset link (signed, expiring, usable once).

    The link is `/password/new#token=...`: the token is in the fragment, which
    browsers never send, so it is in no request line or access log; the page's
    script puts it into the form, which POSTs it with the new password.
    """
    form = ResetForm()
    if not form.is_submitted():
        return render_template("auth/reset.html", form=form)
    try:
        data = _reset_serializer().loads(
            form.token.data or "", max_age=int(current_app.config["PASSWORD_RESET_MAX_AGE"])
        )
        user_id, fingerprint = int(data["u"]), str(data["f"])
    except SignatureExpired:
        return _bad_link(_("Il link è scaduto: chiedine uno nuovo."))
    except (BadSignature, KeyError, TypeError, ValueError):
        return _bad_link(_("Il link non è valido: chiedine uno nuovo."))

    if form.validate_on_submit():
        try:
            done = in_transaction(
                lambda db: (
                    commands.reset_password(
                        db,
                        user_id,
                        fingerprint,
                        form.password.data or "",
                        origin=views.origin(),
                        clock=views.clock(),
                    ).value
                    is not None
                )
            )
        except LedgerError as exc:
            field_error(form, exc)
        else:
            if not done:
                return _bad_link(_("Il link è già stato usato: chiedine uno nuovo."))
            flash(_("Password impostata: ora puoi accedere."), "success")
            return redirect(url_for("auth.login"))
    elif not views.read_once(
        lambda db: people.reset_link_user(db, user_id, fingerprint) is not None
    ):
        return _bad_link(_("Il link è già stato usato: chiedine uno nuovo."))
    return render_template("auth/reset.html", form=form), 422


def _bad_link(message: str, *, again: str = "auth.reset_request") -> ResponseReturnValue:
    """A link that does not work (410), with the page that sends a new one."""
    return render_template("auth/bad_link.html", message=message, again=again), 410


# ------------------------------------------------------------------ two-factor enrolment
@bp.route("/account/2fa", methods=["GET", "POST"])
@signed_in
@limiter.limit(two_factor_limit, methods=["POST"], key_func=two_factor_key)
def two_factor_enrol() -> ResponseReturnValue:
    """Enrol TOTP: show a new secret (text and QR code), activate it with a code."""
    principal = views.principal()
    if principal.totp_enrolled:
        return render_template("auth/two_factor_enrolled.html")
    form = EnrolForm()
    submitted = form.validate_on_submit()
    code = form.code.data or ""

    def work(db: Session) -> tuple[bool, str | None, InvalidTotpCodeError | None]:
        """(enrolled by this request, the secret to show, the refusal to show)."""
        refused = None
        if submitted:
            try:
                commands.enrol_two_factor(
                    db,
                    principal.user_id,
                    code,
                    box=views.secret_box(),
                    origin=views.origin(),
                    clock=views.clock(),
                )
            except InvalidTotpCodeError as exc:
                refused = exc  # refused before any change: the page is shown again
            else:
                return True, None, None
        # The secret being enrolled (made now if there is none yet); None once enrolled.
        return False, people.pending_totp_secret(db, principal.user_id, views.secret_box()), refused

    enrolled, secret, refused = in_transaction(work)
    if enrolled:
        session[SESSION_TWO_FACTOR] = True
        flash(_("Autenticazione a due fattori attivata."), "success")
        return redirect(safe_next(url_for("auth.account")))
    if secret is None:
        return render_template("auth/two_factor_enrolled.html")
    if refused is not None:
        field_error(form, refused)
    uri = totp.provisioning_uri(secret, principal.email)
    status = 422 if form.is_submitted() else 200
    return render_template(
        "auth/two_factor_enrol.html",
        form=form,
        secret=secret,
        grouped_secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        qr_svg=_qr_svg(uri),
    ), status


def _qr_svg(uri: str) -> str:
    import segno

    return str(segno.make(uri, error="m").svg_inline(scale=4, dark="#1b1f23", light="#ffffff"))


# ------------------------------------------------------------------ language
@bp.post("/language")
@public
def language() -> ResponseReturnValue:
    """Switch the language of the pages (kept in the session and on the user)."""
    form = ActionForm()
    chosen = form.lang.data or request.form.get("lang", "")
    if chosen in LANGUAGES:
        session[SESSION_LANGUAGE] = chosen
        principal = current_principal()
        if principal is not None:
            in_transaction(
                lambda db: commands.set_language(
                    db, principal.user_id, chosen, origin=views.origin(), clock=views.clock()
                )
            )
    return redirect(safe_next(url_for("home.index")))
