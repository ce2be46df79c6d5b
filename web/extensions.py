"""Flask extensions shared by the blueprints: CSRF, rate limits and translations.

They are created unbound here and bound to the app in `create_app`, so a
blueprint can decorate its views with `limiter.limit(...)` at import time.
"""

from __future__ import annotations

from flask import current_app, request
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
