"""E-mail: senders and the after-commit dispatch of the outbox.

A view that queued messages (`ledger.outbox.service.enqueue`) calls
`flush_outbox()` after its unit of work has committed. Each message is built
at send time from ids (the address is read from `persons`, the reset link is
signed then), so the outbox never stores an address or a secret.

`LEDGER_MAIL_SENDER` chooses the transport: `log` (development: the message,
link included, is written to the application log at INFO), `smtp`, or
`memory` (keeps messages in `app.extensions["sent_mail"]`, for tests).
A failure to send is logged and retried by the next flush; it never fails the
request that already committed.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

from flask import Flask, current_app, render_template, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from ledger.outbox.models import OutboxMessage
from ledger.outbox.service import dispatch_pending
from ledger.people.models import User
from web.db import current_ledger

SENDERS = ("log", "smtp", "memory")


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    body: str


def _deliver(mail: Mail) -> None:
    kind = current_app.config["MAIL_SENDER"]
    if kind == "memory":
        current_app.extensions.setdefault("sent_mail", []).append(mail)
    elif kind == "log":
        current_app.logger.info(
            "mail (LEDGER_MAIL_SENDER=log, not sent) to %s: %s\n%s",
            mail.to,
            mail.subject,
            mail.body,
        )
    elif kind == "smtp":
        message = EmailMessage()
        message["From"] = current_app.config["MAIL_FROM"]
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message.set_content(mail.body)
        config = current_app.config
        with smtplib.SMTP(config["SMTP_HOST"], int(config["SMTP_PORT"]), timeout=10) as smtp:
            if config.get("SMTP_STARTTLS"):
                smtp.starttls()
            if config.get("SMTP_USERNAME"):
                smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"] or "")
            smtp.send_message(message)
    else:
        raise RuntimeError(f"unknown LEDGER_MAIL_SENDER {kind!r}")


def _render(db: Session, message: OutboxMessage) -> Mail:
    if message.kind == "password_reset":
        from web.auth import reset_token

        user = db.get(User, int(message.payload["user_id"]))
        if user is None:
            raise LookupError("the user of this message no longer exists")
        with force_locale(user.locale):
            link = url_for("auth.reset", token=reset_token(user), _external=True)
            minutes = int(current_app.config["PASSWORD_RESET_MAX_AGE"]) // 60
            return Mail(
                to=user.person.email,
                subject=_("Registro comunitario: nuova password"),
                body=render_template("mail/password_reset.txt", link=link, minutes=minutes),
            )
    raise LookupError(f"no template for outbox messages of kind {message.kind!r}")


def _send(db: Session, message: OutboxMessage) -> None:
    _deliver(_render(db, message))


def flush_outbox() -> None:
    """Send what the outbox holds (after the request's commit); never raises."""
    ledger = current_ledger()
    try:
        _sent, failed = dispatch_pending(ledger.sessions, _send, ledger.clock)
    except Exception:
        current_app.logger.exception("outbox dispatch failed; messages stay queued")
        return
    if failed:
        current_app.logger.warning(
            "outbox: %d message(s) could not be sent; kept for retry", failed
        )


def init_mail(app: Flask) -> None:
    """Check the sender setting."""
    if app.config["MAIL_SENDER"] not in SENDERS:
        raise ValueError(f"LEDGER_MAIL_SENDER must be one of {', '.join(SENDERS)}")
