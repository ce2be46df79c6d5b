"""The Flask application: `create_app` builds it without touching the database.

The factory reads the settings (`web.config`), makes the SQLAlchemy engine
(which opens no connection until a request needs one), keeps a `Ledger` in
`app.extensions["ledger"]`, registers the blueprints, the error handlers and
the security headers every response carries. No migrations, queries or
network calls happen here, so the app builds even when the database is down;
`/readyz` is where that shows.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import Flask, Response, request
from sqlalchemy.engine import make_url
from werkzeug.middleware.proxy_fix import ProxyFix

from ledger.core.sealing import SecretBox
from ledger.core.service import Ledger
from ledger.core.storage import make_engine
from ledger.wiring import wire
from web.config import ConfigError, load_config
from web.db import EXTENSION
from web.routing import IdConverter

__all__ = ["create_app"]

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; "
    "script-src 'self'; "
    "style-src 'self'; "
    "img-src 'self'; "
    "object-src 'none'; "
    "base-uri 'none'; "
    "form-action 'self'; "
    "frame-ancestors 'none'"
)

# Browser features no page of the ledger uses, refused to every page and to anything
# a page might embed; card payments happen on Stripe's own page, not through this site.
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": PERMISSIONS_POLICY,
    # A window this site opens, or that opens it, gets no handle on the other.
    "Cross-Origin-Opener-Policy": "same-origin",
}


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application: defaults, then `LEDGER_*` variables, then `config`."""
    wire()  # the grants react to campaign events (no I/O: subscriptions only)
    app = Flask(__name__, instance_relative_config=False)
    # Before any route: an id in a path beyond what the database holds is a 404.
    app.url_map.converters["int"] = IdConverter
    settings = load_config(config)
    app.config.update(settings)
    _ensure_secret_key(app)

    app.extensions[EXTENSION] = Ledger(
        make_engine(app.config["DATABASE_URL"], **_engine_options(app)),
        clock=app.config.get("CLOCK"),
        secret_box=_totp_secret_box(app),
    )

    from web import admin, books, health, home, people
    from web.access import init_access
    from web.api import init_api
    from web.campaigns.webhooks import init_webhooks
    from web.errors import register_error_handlers
    from web.extensions import csrf, limiter
    from web.i18n import init_i18n
    from web.mail import init_mail

    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(
        seconds=int(app.config["PERMANENT_SESSION_LIFETIME"])
    )
    hops = int(app.config["PROXY_HOPS"])
    if hops:
        # Behind a reverse proxy, trust its X-Forwarded-For/-Proto so the audit log
        # and the rate limits see the client's address, not the proxy's.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    csrf.init_app(app)
    limiter.init_app(app)
    init_i18n(app)
    init_access(app)
    init_mail(app)
    app.register_blueprint(home.bp)
    app.register_blueprint(health.bp)
    people.register(app)
    books.register(app)
    admin.register(app)
    from web import campaigns

    campaigns.register(app)
    from web import calls

    calls.register(app)
    from web import grants

    grants.register(app)
    from web import funds

    funds.register(app)
    from web import bank

    bank.register(app)
    from web import projects

    projects.register(app)
    init_api(app)
    init_webhooks(app)
    register_error_handlers(app)
    _register_template_helpers(app)
    app.after_request(_security_headers)
    return app


def _ensure_secret_key(app: Flask) -> None:
    if app.config.get("SECRET_KEY"):
        return
    # A fresh random key per process keeps sessions unforgeable without a secret in
    # the repository; the cost is that they end at a restart and differ per worker.
    app.config["SECRET_KEY"] = secrets.token_urlsafe(32)
    if not app.config.get("TESTING"):
        app.logger.warning(
            "LEDGER_SECRET_KEY is not set: using a random key for this process; sessions "
            "will not survive a restart and are not shared between processes"
        )


def _totp_secret_box(app: Flask) -> SecretBox:
    """The keys TOTP secrets are sealed under (LEDGER_TOTP_KEY); outside tests, required.

    Tests without a key get the public development key. Anywhere else a missing
    or malformed key stops the app, like a missing webhook secret: a server that
    started without one would have to keep new secrets in clear or under a key
    anyone can read.
    """
    raw = str(app.config.get("TOTP_KEY") or "")
    if not raw.strip():
        if app.config.get("TESTING"):
            return SecretBox.development()
        raise ConfigError(
            "LEDGER_TOTP_KEY is not set: users' TOTP secrets could not be sealed in the "
            "database. Set it to a key made by `ledger users new-totp-key` (two, "
            "comma-separated, while rotating); `make run` sets a local development one"
        )
    try:
        box = SecretBox.from_setting(raw)
    except ValueError as exc:
        raise ConfigError(f"LEDGER_TOTP_KEY: {exc}") from None
    if box.uses_development_key and not app.config.get("TESTING"):
        app.logger.warning(
            "LEDGER_TOTP_KEY holds the public development key: TOTP secrets in this "
            "database are readable by anyone; use it for local development only"
        )
    return box


def _engine_options(app: Flask) -> dict[str, Any]:
    url = make_url(app.config["DATABASE_URL"])
    if url.get_backend_name() == "postgresql":
        return {"connect_args": {"connect_timeout": int(app.config["DATABASE_CONNECT_TIMEOUT"])}}
    return {}


def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if not request.path.startswith("/static/"):
        # Pages show the books: keep them out of shared and back-button caches.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _register_template_helpers(app: Flask) -> None:
    from web.access import current_principal

    app.jinja_env.globals["current_principal"] = current_principal
