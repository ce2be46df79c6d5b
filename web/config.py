"""Settings of the web application: defaults, then `LEDGER_*` variables, then a mapping.

Every environment variable named `LEDGER_<KEY>` sets the setting `<KEY>`
(`LEDGER_DATABASE_URL` -> `DATABASE_URL`). A value read from the environment is
text (an empty one counts as unset); when the setting has a boolean or integer
default it is converted, and a value that does not convert is a `ConfigError`
rather than a silent default.
The mapping given to `create_app` (tests, `ledger serve`) wins over both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ledger.core.storage import DEFAULT_DATABASE_URL

ENV_PREFIX = "LEDGER_"

DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": DEFAULT_DATABASE_URL,
    # Seconds to wait for a PostgreSQL connection: a health check against an
    # unreachable host must answer, not hang on the operating system's timeout.
    "DATABASE_CONNECT_TIMEOUT": 5,
    # None means "generate one for this process" (see web.create_app).
    "SECRET_KEY": None,
    "TESTING": False,
    "DEBUG": False,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    # Cookies travel over HTTPS only. Browsers treat http://127.0.0.1 and
    # http://localhost as secure, so `make run` and the browser tests work too.
    "SESSION_COOKIE_SECURE": True,
    "SESSION_COOKIE_NAME": "ledger_session",
    "REMEMBER_COOKIE_SECURE": True,
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "PERMANENT_SESSION_LIFETIME": 8 * 3600,
    # A sign-in ends this many seconds after it began, however active the session
    # (the cookie's lifetime above is renewed at every request).
    "SESSION_ABSOLUTE_LIFETIME": 12 * 3600,
    # CSRF tokens on every form (Flask-WTF); a token lives as long as the session.
    "WTF_CSRF_ENABLED": True,
    "WTF_CSRF_TIME_LIMIT": None,
    # Rate limits (Flask-Limiter syntax). Storage is per process in memory unless
    # LEDGER_RATELIMIT_STORAGE_URI names a shared store such as redis://host:6379/0.
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_HEADERS_ENABLED": True,
    "RATELIMIT_LOGIN": "10 per minute",
    # Refused sign-ins per e-mail address and client network (/24, /64): 429 there.
    "RATELIMIT_LOGIN_EMAIL": "20 per hour",
    # Refused sign-ins per e-mail address from every network: past it, the password
    # alone no longer signs in and the owner is offered a one-time link by e-mail.
    "RATELIMIT_LOGIN_ACCOUNT": "50 per hour;200 per day",
    "RATELIMIT_REGISTER": "5 per hour",
    "RATELIMIT_RESET": "5 per hour",
    "RATELIMIT_TWO_FACTOR": "5 per minute;30 per hour",
    "RATELIMIT_PASSWORD_CHANGE": "5 per minute;20 per hour",
    "RATELIMIT_DONATE": "20 per hour",
    # How many reverse proxies stand in front of the app (0: none). With 1, the
    # client address comes from the proxy's X-Forwarded-For.
    "PROXY_HOPS": 0,
    # Stripe: the secret API key (sk_test_... or sk_live_...), another API base
    # (a local fake in tests), and the webhook endpoint secret (whsec_...; two,
    # comma-separated, while rotating). Without a webhook secret the app refuses
    # to start outside tests.
    "STRIPE_SECRET_KEY": None,
    "STRIPE_API_BASE": None,
    "STRIPE_WEBHOOK_SECRET": None,
    # Keys that seal users' TOTP secrets in the database (ledger.core.sealing): Fernet
    # keys, comma-separated while rotating (the first seals, all open). Without one
    # the app refuses to start outside tests; tests use the public development key,
    # and `make run` sets it explicitly.
    "TOTP_KEY": None,
    # Starts every idempotency key sent to Stripe (`<prefix>refund-7`): unique per
    # database sharing the Stripe account, and changed when a database is reset
    # or restored, because Stripe replays a key it saw in the last 24 hours.
    # Letters, digits, `.`, `_`, `:`, `-` (e.g. `prod-2026a-`). Required with a
    # live key; unset with a test key outside tests, the app warns at start.
    "STRIPE_KEY_PREFIX": None,
    # Online gifts: smallest and largest amount, in cents.
    "DONATION_MIN_MINOR": 100,
    "DONATION_MAX_MINOR": 1_000_000,
    # Gifts received offline (cash, bank transfer): the largest amount, in cents
    # (1,000,000.00 EUR); a larger one is refused, not booked.
    "OFFLINE_DONATION_MAX_MINOR": 100_000_000,
    # The organisation that runs this instance: the default recipient of campaigns.
    "ORGANISATION_NAME": "Ente gestore del registro comunitario",
    "ORGANISATION_TAX_CODE": None,
    "ORGANISATION_QUALIFICATION": "ETS",
    # The organisation's bank account donors give to by transfer (an IBAN, checked
    # at start) and its BIC (optional inside the SEPA area). Without an IBAN the
    # campaign pages say that gifts by transfer are not available.
    "ORGANISATION_IBAN": None,
    "ORGANISATION_BIC": None,
    # API tokens issued on the account page expire after this many days unless their
    # owner chooses otherwise (1 to 366); `ledger tokens create` reads it too.
    "API_TOKEN_DAYS": 90,
    # Password-reset links expire after this many seconds.
    "PASSWORD_RESET_MAX_AGE": 3600,
    # One-time sign-in links by e-mail expire after this many seconds.
    "SIGN_IN_LINK_MAX_AGE": 900,
    # Links that confirm an e-mail address (a registration's, an account's)
    # expire after this many seconds.
    "EMAIL_VERIFY_MAX_AGE": 86400,
    # How e-mail leaves: "smtp" sends it through LEDGER_SMTP_HOST:LEDGER_SMTP_PORT;
    # "log" writes it to the application log with its tokens hidden (nothing is
    # sent); "file" writes each whole message into MAIL_DIR (development).
    "MAIL_SENDER": "log",
    "MAIL_DIR": "instance/mail",
    # Start of every link in e-mail (https://registro.example.org); required with
    # smtp. Unset, the development server's address is used.
    "BASE_URL": None,
    "MAIL_FROM": "registro@localhost",
    "SMTP_HOST": "localhost",
    "SMTP_PORT": 25,
    "SMTP_USERNAME": None,
    "SMTP_PASSWORD": None,
    "SMTP_STARTTLS": False,
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    # The largest bank statement file a treasurer may upload (page and API), in bytes.
    "BANK_UPLOAD_MAX_BYTES": 10 * 1024 * 1024,
    # The production server (`ledger serve --production`, gunicorn; web/gunicorn_conf.py):
    # the address it listens on, its processes and the threads of each, the seconds a
    # request may take before its worker is restarted, the seconds workers get to
    # finish their requests at a stop, the seconds an idle kept-alive connection
    # stays open, and where the access log goes ("-" standard output, a file's path,
    # or "off"). The access log holds the time, method, path without its query
    # string, status, size and duration: no address, user agent or referrer.
    "SERVER_BIND": "127.0.0.1:8000",
    "SERVER_WORKERS": 2,
    "SERVER_THREADS": 4,
    "SERVER_TIMEOUT": 30,
    "SERVER_GRACEFUL_TIMEOUT": 30,
    "SERVER_KEEPALIVE": 5,
    "SERVER_ACCESS_LOG": "-",
    # The job runner (`ledger worker`, ledger.jobs): each job's interval in seconds
    # (LEDGER_JOB_<NAME>_INTERVAL), the retries of a failed run and the first wait
    # between them (doubling, at most the interval), how many consecutive failed
    # runs e-mail the admins, and after how long a run still marked running on
    # SQLite is taken for a dead worker's.
    "JOB_OUTBOX_INTERVAL": 60,
    "JOB_STRIPE_SYNC_INTERVAL": 15 * 60,
    "JOB_CAMPAIGNS_CLOSE_DUE_INTERVAL": 15 * 60,
    "JOB_HOLDS_EXPIRE_INTERVAL": 5 * 60,
    "JOB_BANK_MATCH_INTERVAL": 60 * 60,
    "JOB_AUDIT_RETENTION_INTERVAL": 24 * 60 * 60,
    # The audit log's client addresses and user agents are blanked after this many
    # days (by the worker's audit_retention job); the events themselves stay.
    "AUDIT_IP_RETENTION_DAYS": 90,
    "JOB_RETRIES": 2,
    "JOB_RETRY_BACKOFF": 30,
    "JOB_ALERT_AFTER": 3,
    "JOB_LEASE": 3600,
    # A ledger.core.clock.Clock for the app's Ledger; only a mapping can set it.
    "CLOCK": None,
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """A setting has a value the application cannot use."""


def _coerce(key: str, text: str) -> Any:
    default = DEFAULTS.get(key)
    if isinstance(default, bool):
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigError(f"{ENV_PREFIX}{key} must be true or false, not {text!r}")
    if isinstance(default, int):
        try:
            return int(text.strip())
        except ValueError:
            raise ConfigError(f"{ENV_PREFIX}{key} must be a whole number, not {text!r}") from None
    return text


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings named by `LEDGER_*` variables, prefix stripped and values converted."""
    settings: dict[str, Any] = {}
    for name, text in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX:
            continue
        key = name[len(ENV_PREFIX) :]
        if key == "CLOCK":
            continue  # an object, not text: only a mapping can provide one
        if text == "":
            continue  # `LEDGER_SECRET_KEY=` means unset, not an empty secret
        settings[key] = _coerce(key, text)
    return settings


def load_config(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Merge the settings: defaults < `LEDGER_*` environment < `overrides`."""
    settings = dict(DEFAULTS)
    settings.update(from_environment(os.environ if environ is None else environ))
    if overrides:
        settings.update(overrides)
    if not settings.get("DATABASE_URL"):
        raise ConfigError("DATABASE_URL is empty; set LEDGER_DATABASE_URL or leave it unset")
    return settings
