"""Flask extensions shared by the blueprints: CSRF, rate limits and translations.

They are created unbound here and bound to the app in `create_app`, so a
blueprint can decorate its views with `limiter.limit(...)` at import time.
"""

from __future__ import annotations

from flask import Response, current_app, request, session
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
limiter = Limiter(get_remote_address)
babel = Babel()


def login_limit() -> str:
    """Sign-in attempts allowed per client address (LEDGER_RATELIMIT_LOGIN)."""
    return str(current_app.config["RATELIMIT_LOGIN"])


def login_email_limit() -> str:
    """Sign-in attempts allowed per e-mail address, whatever the client address."""
    return str(current_app.config["RATELIMIT_LOGIN_EMAIL"])


def register_limit() -> str:
    """Registrations allowed per client address (LEDGER_RATELIMIT_REGISTER)."""
    return str(current_app.config["RATELIMIT_REGISTER"])


def reset_limit() -> str:
    """Password-reset requests allowed per client address."""
    return str(current_app.config["RATELIMIT_RESET"])


def submitted_email() -> str:
    """The rate-limit key of a sign-in by e-mail address (lower-cased)."""
    return "email:" + (request.form.get("email") or "").strip().lower()[:254]


def two_factor_limit() -> str:
    """TOTP codes that may be tried per user (LEDGER_RATELIMIT_TWO_FACTOR): with three
    valid codes at any moment out of a million, this keeps guessing hopeless."""
    return str(current_app.config["RATELIMIT_TWO_FACTOR"])


def two_factor_key() -> str:
    """The rate-limit key of a TOTP attempt: the user it is for, from any address."""
    from web.access import SESSION_PENDING_USER, current_principal

    principal = current_principal()
    if principal is not None:
        return f"totp:{principal.user_id}"
    pending = str(session.get(SESSION_PENDING_USER) or "")
    return "totp:" + (pending.partition(":")[0] or get_remote_address())


def failed_sign_in(response: Response) -> bool:
    """Only refused sign-ins count against an e-mail address, so a stranger cannot
    lock someone out by signing in as them with the right rate of wrong guesses
    while the owner's own successful sign-ins are never counted."""
    return response.status_code != 302


def password_change_limit() -> str:
    """Password changes a signed-in user may attempt (LEDGER_RATELIMIT_PASSWORD_CHANGE):
    a stolen session cannot guess the current password."""
    return str(current_app.config["RATELIMIT_PASSWORD_CHANGE"])


def signed_in_user_key() -> str:
    """The rate-limit key of an act of the signed-in user, from any address."""
    from web.access import current_principal

    principal = current_principal()
    return f"user:{principal.user_id}" if principal is not None else get_remote_address()


def donate_limit() -> str:
    """Card donations a client address may start (LEDGER_RATELIMIT_DONATE): each one
    creates a Checkout Session, so an unbounded form invites card testing."""
    return str(current_app.config["RATELIMIT_DONATE"])
