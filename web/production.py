"""What `ledger serve --production` refuses to start with (web/gunicorn_conf.py, web/wsgi.py).

A production server must not run on settings made for development: sessions and
links signed with a missing (random per process) or published secret key, no
Stripe webhook secret, TOTP secrets sealed under the public development key, the
test or debug switches, or the demo users of `ledger demo --with-users`, whose
password is in the README. `unsafe_settings` names every such problem, one
sentence each; an empty list means the server may start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select

from ledger.core.sealing import SecretBox
from ledger.core.service import Ledger
from ledger.demo import DEMO_EMAILS
from ledger.people.models import Person, User

# The shortest secret key accepted: 32 characters, what `secrets.token_urlsafe(24)` gives.
MIN_SECRET_KEY_LENGTH = 32
# Published values that are not secrets: placeholders, and the local webhook secret of
# `make run`.
DEVELOPMENT_SECRET_KEYS = frozenset(
    {"dev", "development", "secret", "changeme", "change-me", "development-secret-key"}
)
DEVELOPMENT_WEBHOOK_SECRETS = frozenset({"whsec_local_development"})


class UnsafeConfiguration(Exception):
    """The production server refuses these settings (one sentence per problem)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def unsafe_settings(config: Mapping[str, Any]) -> list[str]:
    """Every reason, read from the settings alone, not to serve in production."""
    problems: list[str] = []
    secret = str(config.get("SECRET_KEY") or "")
    if not secret.strip():
        problems.append(
            "LEDGER_SECRET_KEY is not set: sessions and e-mailed links would be signed with "
            "a random key per process (set a random value of at least "
            f"{MIN_SECRET_KEY_LENGTH} characters, e.g. from `python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`)"
        )
    elif secret in DEVELOPMENT_SECRET_KEYS or len(secret) < MIN_SECRET_KEY_LENGTH:
        problems.append(
            "LEDGER_SECRET_KEY is a development secret (a published placeholder or shorter "
            f"than {MIN_SECRET_KEY_LENGTH} characters): set a random value"
        )
    webhook = [s.strip() for s in str(config.get("STRIPE_WEBHOOK_SECRET") or "").split(",")]
    webhook = [s for s in webhook if s]
    if not webhook:
        problems.append(
            "LEDGER_STRIPE_WEBHOOK_SECRET is not set: Stripe's webhooks could not be "
            "verified (set the endpoint's signing secret, whsec_...)"
        )
    elif any(s in DEVELOPMENT_WEBHOOK_SECRETS for s in webhook):
        problems.append(
            "LEDGER_STRIPE_WEBHOOK_SECRET is the local development secret of `make run`: set "
            "the signing secret of the Stripe endpoint"
        )
    totp = str(config.get("TOTP_KEY") or "")
    if not totp.strip():
        problems.append(
            "LEDGER_TOTP_KEY is not set: users' TOTP secrets could not be sealed (make one "
            "with `ledger users new-totp-key`)"
        )
    else:
        try:
            box = SecretBox.from_setting(totp)
        except ValueError as exc:
            problems.append(f"LEDGER_TOTP_KEY: {exc}")
        else:
            if box.uses_development_key:
                problems.append(
                    "LEDGER_TOTP_KEY holds the public development key: anyone could read the "
                    "TOTP secrets (make a key with `ledger users new-totp-key`, rotate with "
                    "`ledger users reseal-totp`)"
                )
    for switch in ("TESTING", "DEBUG"):
        if config.get(switch):
            problems.append(f"LEDGER_{switch} is on: it is for tests and development only")
    workers = int(config.get("SERVER_WORKERS") or 1)
    storage = str(config.get("RATELIMIT_STORAGE_URI") or "memory://")
    if not config.get("RATELIMIT_ENABLED", True):
        problems.append(
            "LEDGER_RATELIMIT_ENABLED is off: sign-in and two-factor codes could be guessed "
            "without limit"
        )
    elif workers > 1 and storage.startswith("memory://"):
        problems.append(
            f"LEDGER_RATELIMIT_STORAGE_URI is memory:// with {workers} workers: each process "
            "would count sign-in and two-factor attempts on its own, multiplying what a "
            "guesser may try (set a shared store such as redis://127.0.0.1:6379/0, or "
            "LEDGER_SERVER_WORKERS=1)"
        )
    if not config.get("SESSION_COOKIE_SECURE", True):
        problems.append(
            "LEDGER_SESSION_COOKIE_SECURE is off: the session cookie would travel over plain "
            "HTTP (serve behind HTTPS and leave it on)"
        )
    return problems


def demo_users_present(ledger: Ledger) -> int:
    """How many of the demo users (published password) the database holds."""
    return int(
        ledger.read(
            lambda session: session.scalar(
                select(func.count())
                .select_from(User)
                .join(Person, Person.id == User.person_id)
                .where(Person.email.in_(DEMO_EMAILS))
            )
        )
        or 0
    )


def demo_user_problems(ledger: Ledger) -> list[str]:
    """The reason not to serve this database in production, if it holds demo users."""
    demo = demo_users_present(ledger)
    if not demo:
        return []
    return [
        f"the database holds {demo} demo user(s) of `ledger demo --with-users`, whose "
        "password is published: serve a programme's own database, not the demo's"
    ]


def refuse_unsafe(config: Mapping[str, Any], ledger: Ledger) -> None:
    """Raise UnsafeConfiguration naming every problem; the database is read last."""
    problems = unsafe_settings(config) + demo_user_problems(ledger)
    if problems:
        raise UnsafeConfiguration(problems)
