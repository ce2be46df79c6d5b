"""E-mail: the messages the outbox sends, built at send time, and their transports.

A view that queued messages (`ledger.outbox.service.enqueue`) calls
`flush_outbox()` after its unit of work has committed, or
`flush_outbox_after_response()` when the answer must not wait for the mail
server (registration, password reset: a known address must not answer more
slowly than an unknown one); the dispatch itself lives in `web.outbox` (which
also sends refunds to Stripe), and this module's `mail_delivery` builds the
e-mail kinds. Each message is built at send time from ids (the address is read
from `persons` or `registrations`, links are signed then), so the outbox never
stores an address or a secret.

Kinds: `password_reset` {user_id} (the reset link; a null user is the message
an unknown address queues, and sends nothing), `registration`
{registration_id} (the link that makes the account), `registration_known`
{user_id} (someone tried to register an address that has an account),
`email_verify` {user_id} (the link that verifies an operator-made account), and
`job_failures` {user_id, job, failures, run_id} (a periodic job failed N times in
a row: queued for each admin by `ledger.jobs.runner`).

`LEDGER_MAIL_SENDER` chooses the transport: `smtp`; `log` (nothing is sent:
the message is written to the application log as a warning, with every token
in it hidden); `file` (development: each message is written, whole, as an
`.eml` file into `LEDGER_MAIL_DIR`, so a developer can follow its link while
the log stays free of tokens); or `memory` (keeps messages in
`app.extensions["sent_mail"]`, for tests).
Links in messages start with `LEDGER_BASE_URL`, never with the Host header of
the request that happened to send them (a forged Host would otherwise put an
attacker's site into someone's reset link), and carry their token in the URL
fragment (`/password/new#token=...`): browsers never send a fragment, so the
token reaches no request line, access log or Referer; the page's script puts
it into a form that POSTs it. A failure to send is kept on the message and
retried by the next flush or by `ledger outbox dispatch`; it never fails the
request that already committed.
"""

from __future__ import annotations

import secrets
import smtplib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from flask import Flask, Response, after_this_request, current_app, render_template, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from ledger.jobs.models import JobRun
from ledger.jobs.runner import JOB_FAILURES_MESSAGE
from ledger.outbox.models import OutboxMessage
from ledger.people.commands import (
    REGISTRATION_KNOWN_MESSAGE,
    REGISTRATION_MESSAGE,
    RESET_MESSAGE,
    VERIFY_MESSAGE,
)
from ledger.people.models import Registration, SignInLink, User
from web.config import ConfigError

SENDERS = ("log", "smtp", "file", "memory")
HIDDEN = "[token hidden]"  # what the log shows instead of a token
SIGN_IN_LINK_MESSAGE = "sign_in_link"
# The outbox kinds that are e-mail (built by `mail_delivery`).
MAIL_KINDS = frozenset(
    {
        RESET_MESSAGE,
        REGISTRATION_MESSAGE,
        REGISTRATION_KNOWN_MESSAGE,
        VERIFY_MESSAGE,
        SIGN_IN_LINK_MESSAGE,
        JOB_FAILURES_MESSAGE,
    }
)


@dataclass(frozen=True, slots=True)
class Mail:
    """A message to send; `secrets` are the parts of the body no log may show (tokens)."""

    to: str
    subject: str
    body: str
    secrets: tuple[str, ...] = ()

    def redacted(self) -> str:
        """The body with every secret hidden."""
        body = self.body
        for secret in self.secrets:
            body = body.replace(secret, HIDDEN)
        return body


DEVELOPMENT_BASE_URL = "http://127.0.0.1:5000"


def _message(config: Mapping[str, Any], mail: Mail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message.set_content(mail.body)
    return message


def _write_file(folder: Path, message: EmailMessage) -> None:
    """Write `message` as a new .eml file readable by its owner only."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}.eml"
    path = folder / name
    path.touch(mode=0o600, exist_ok=False)
    path.write_bytes(message.as_bytes())


def _delivery(app: Flask, mail: Mail) -> Callable[[], None]:
    """The function that hands `mail` to the configured transport (run after commit)."""
    config = app.config
    kind = config["MAIL_SENDER"]
    if kind == "memory":
        return lambda: app.extensions.setdefault("sent_mail", []).append(mail)
    if kind == "log":
        return lambda: app.logger.warning(
            "mail NOT sent (LEDGER_MAIL_SENDER=log; tokens are hidden, LEDGER_MAIL_SENDER=file "
            "writes whole messages to LEDGER_MAIL_DIR) to %s: %s\n%s",
            mail.to,
            mail.subject,
            mail.redacted(),
        )
    if kind == "file":
        folder = Path(config["MAIL_DIR"])
        return lambda: _write_file(folder, _message(config, mail))

    def send_smtp() -> None:
        message = _message(config, mail)
        with smtplib.SMTP(config["SMTP_HOST"], int(config["SMTP_PORT"]), timeout=10) as smtp:
            if config.get("SMTP_STARTTLS"):
                smtp.starttls()
            if config.get("SMTP_USERNAME"):
                smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"] or "")
            smtp.send_message(message)

    return send_smtp


def base_url(app: Flask) -> str:
    """Where links in messages point: LEDGER_BASE_URL, or the development server."""
    return str(app.config.get("BASE_URL") or DEVELOPMENT_BASE_URL).rstrip("/")


def _user(db: Session, message: OutboxMessage) -> User:
    user = db.get(User, int(message.payload["user_id"]))
    if user is None:
        raise LookupError("the user of this message no longer exists")
    return user


def _render(db: Session, message: OutboxMessage) -> Mail | None:
    """The e-mail of a message, or None for one that sends nothing.

    Every token a message carries is named in the Mail's `secrets`, which the
    `log` sender hides; every link (reset, sign-in, registration, address
    confirmation) carries its token in the URL fragment (`#token=`), which
    browsers never send in a request line.
    """
    from web.people.pages import (
        registration_token,
        reset_token,
        sign_in_token,
        verification_token,
    )

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    config = current_app.config
    kind, payload = message.kind, message.payload
    if kind == SIGN_IN_LINK_MESSAGE:
        link_row = db.get(SignInLink, int(payload["link_id"]))
        owner = db.get(User, link_row.user_id) if link_row is not None else None
        if link_row is None or owner is None:
            raise LookupError("the sign-in link of this message no longer exists")
        with force_locale(owner.locale), app.test_request_context(base_url=base_url(app)):
            token = sign_in_token(link_row)
            return Mail(
                to=owner.person.email,
                subject=_("Registro comunitario: il tuo link di accesso"),
                body=render_template(
                    "mail/sign_in_link.txt",
                    link=url_for("auth.sign_in_link", _external=True) + "#token=" + token,
                    minutes=int(config["SIGN_IN_LINK_MAX_AGE"]) // 60,
                ),
                secrets=(token,),
            )
    if kind == RESET_MESSAGE and payload.get("user_id") is None:
        return None  # an unknown address: the same work was done, nothing is sent
    if kind == REGISTRATION_MESSAGE:
        registration = db.get(Registration, int(payload["registration_id"]))
        if registration is None or registration.completed_at is not None:
            return None  # completed, or forgotten once its link expired
        with force_locale(registration.locale), app.test_request_context(base_url=base_url(app)):
            token = registration_token(registration)
            return Mail(
                to=registration.email,
                subject=_("Registro comunitario: conferma il tuo indirizzo"),
                body=render_template(
                    "mail/registration.txt",
                    link=url_for("auth.register_confirm", _external=True) + "#token=" + token,
                    name=registration.full_name,
                    hours=int(config["EMAIL_VERIFY_MAX_AGE"]) // 3600,
                ),
                secrets=(token,),
            )
    user = _user(db, message)
    with force_locale(user.locale), app.test_request_context(base_url=base_url(app)):
        if kind == RESET_MESSAGE:
            token = reset_token(user)
            return Mail(
                to=user.person.email,
                subject=_("Registro comunitario: nuova password"),
                body=render_template(
                    "mail/password_reset.txt",
                    link=url_for("auth.reset", _external=True) + "#token=" + token,
                    minutes=int(config["PASSWORD_RESET_MAX_AGE"]) // 60,
                ),
                secrets=(token,),
            )
        if kind == REGISTRATION_KNOWN_MESSAGE:
            return Mail(
                to=user.person.email,
                subject=_("Registro comunitario: qualcuno ha provato a registrarsi"),
                body=render_template(
                    "mail/registration_known.txt",
                    login=url_for("auth.login", _external=True),
                    reset=url_for("auth.reset_request", _external=True),
                ),
            )
        if kind == JOB_FAILURES_MESSAGE:
            run = db.get(JobRun, int(payload["run_id"]))
            return Mail(
                to=user.person.email,
                subject=_("Registro comunitario: il lavoro %(job)s non riesce", job=payload["job"]),
                body=render_template(
                    "mail/job_failures.txt",
                    job=payload["job"],
                    failures=int(payload["failures"]),
                    error=(run.error if run is not None else None) or "",
                    runs=url_for("admin.job_runs", _external=True),
                ),
            )
        if kind == VERIFY_MESSAGE:
            if user.email_verified:
                return None
            token = verification_token(user)
            return Mail(
                to=user.person.email,
                subject=_("Registro comunitario: conferma il tuo indirizzo"),
                body=render_template(
                    "mail/email_verify.txt",
                    link=url_for("auth.verify_email", _external=True) + "#token=" + token,
                    hours=int(config["EMAIL_VERIFY_MAX_AGE"]) // 3600,
                ),
                secrets=(token,),
            )
    raise LookupError(f"no template for outbox messages of kind {kind!r}")


def mail_delivery(db: Session, message: OutboxMessage) -> Callable[[], None] | None:
    """Build an e-mail message of the outbox and return the function that sends it
    (None: the message sends nothing)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    mail = _render(db, message)
    return None if mail is None else _delivery(app, mail)


def flush_outbox() -> tuple[int, int]:
    """Send what the outbox holds: kept under this name for callers of web.mail;
    the dispatch is `web.outbox.flush_outbox`."""
    from web.outbox import flush_outbox as flush

    return flush()


def flush_outbox_after_response() -> None:
    """Send what the outbox holds once this request's answer has gone out.

    The mail server's time is then never part of the answer: a page that
    queued a message for a known address answers as fast as one that queued
    nothing to send. The WSGI server closes the response after sending it,
    which runs the flush (in an application context of its own).
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def flush_later(response: Response) -> Response:
        def flush() -> None:
            with app.app_context():
                flush_outbox()

        response.call_on_close(flush)
        return response

    after_this_request(flush_later)


def init_mail(app: Flask) -> None:
    """Check the mail settings; a sender that cannot work safely is refused at start."""
    config = app.config
    kind = config["MAIL_SENDER"]
    if kind not in SENDERS:
        raise ConfigError(f"LEDGER_MAIL_SENDER must be one of {', '.join(SENDERS)}")
    if kind == "smtp" and not config.get("BASE_URL"):
        raise ConfigError(
            "LEDGER_MAIL_SENDER=smtp needs LEDGER_BASE_URL (e.g. https://registro.example.org): "
            "links in e-mail must not depend on the Host header of a request"
        )
    if kind == "smtp" and config.get("SMTP_USERNAME") and not config.get("SMTP_STARTTLS"):
        raise ConfigError(
            "LEDGER_SMTP_USERNAME is set without LEDGER_SMTP_STARTTLS=true: the password "
            "would cross the network in clear"
        )
    if kind in ("log", "file") and not (config.get("DEBUG") or config.get("TESTING")):
        where = "logged with its links hidden" if kind == "log" else "written to LEDGER_MAIL_DIR"
        app.logger.warning(
            "LEDGER_MAIL_SENDER=%s: e-mail is not sent but %s; set LEDGER_MAIL_SENDER=smtp "
            "in production",
            kind,
            where,
        )
