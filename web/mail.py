"""E-mail: the messages the outbox sends, built at send time, and their transports.

A view that queued messages (`ledger.outbox.service.enqueue`) calls
`flush_outbox()` after its unit of work has committed; the dispatch itself
lives in `web.outbox` (which also sends refunds to Stripe), and this module's
`mail_delivery` builds the e-mail kinds. Each message is built at send time
from ids (the address is read from `persons`, the reset link is signed then),
so the outbox never stores an address or a secret.

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

from flask import Flask, current_app, render_template, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from ledger.outbox.models import OutboxMessage
from ledger.people.models import SignInLink, User
from web.config import ConfigError

SENDERS = ("log", "smtp", "file", "memory")
HIDDEN = "[token hidden]"  # what the log shows instead of a token
# The outbox kinds that are e-mail (built by `mail_delivery`).
MAIL_KINDS = frozenset({"password_reset", "sign_in_link"})


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


def _render(db: Session, message: OutboxMessage) -> Mail:
    if message.kind == "password_reset":
        from web.people.pages import reset_token

        user = db.get(User, int(message.payload["user_id"]))
        if user is None:
            raise LookupError("the user of this message no longer exists")
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        with force_locale(user.locale), app.test_request_context(base_url=base_url(app)):
            token = reset_token(user)
            link = url_for("auth.reset", _external=True) + "#token=" + token
            minutes = int(current_app.config["PASSWORD_RESET_MAX_AGE"]) // 60
            return Mail(
                to=user.person.email,
                subject=_("Registro comunitario: nuova password"),
                body=render_template("mail/password_reset.txt", link=link, minutes=minutes),
                secrets=(token,),
            )
    if message.kind == "sign_in_link":
        return _sign_in_link_mail(db, int(message.payload["link_id"]))
    raise LookupError(f"no template for outbox messages of kind {message.kind!r}")


def _sign_in_link_mail(db: Session, link_id: int) -> Mail:
    from web.people.pages import sign_in_token

    link_row = db.get(SignInLink, link_id)
    user = db.get(User, link_row.user_id) if link_row is not None else None
    if link_row is None or user is None:
        raise LookupError("the sign-in link of this message no longer exists")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with force_locale(user.locale), app.test_request_context(base_url=base_url(app)):
        token = sign_in_token(link_row)
        link = url_for("auth.sign_in_link", _external=True) + "#token=" + token
        minutes = int(current_app.config["SIGN_IN_LINK_MAX_AGE"]) // 60
        return Mail(
            to=user.person.email,
            subject=_("Registro comunitario: il tuo link di accesso"),
            body=render_template("mail/sign_in_link.txt", link=link, minutes=minutes),
            secrets=(token,),
        )


def mail_delivery(db: Session, message: OutboxMessage) -> Callable[[], None]:
    """Build an e-mail message of the outbox and return the function that sends it."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return _delivery(app, _render(db, message))


def flush_outbox() -> tuple[int, int]:
    """Send what the outbox holds: kept under this name for callers of web.mail;
    the dispatch is `web.outbox.flush_outbox`."""
    from web.outbox import flush_outbox as flush

    return flush()


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
