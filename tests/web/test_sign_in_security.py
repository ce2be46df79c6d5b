"""The attacks of the security review (issue 12) on signing in, passwords, e-mailed links,
sessions and response headers, each performed against the pages.

- Nobody can lock an account out: wrong passwords are counted per account and client
  network (the attacker's network is throttled, the owner's is not), and past a higher
  per-account ceiling the password alone no longer signs in: the owner is offered a
  one-time sign-in link by e-mail and signs in with it.
- A signed-in session cannot guess the current password at the password-change page.
- No token of an e-mailed link (reset, sign-in, registration, address confirmation) is
  written to the application log or travels in a request line: links carry it in the
  URL fragment, and the page POSTs it.
- A sign-in ends a fixed time after it began, however active; every response denies
  powerful browser features and isolates its window.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import select

from ledger.audit.models import AuditEvent
from ledger.core.clock import FixedClock
from ledger.people import totp
from tests.web.conftest import (
    PASSWORD,
    ServerLikeClient,
    csrf_token,
    follow_link,
    form_post,
    make_user,
    sign_in,
    totp_code,
)
from web import create_app
from web.access import SESSION_SIGNED_IN_AT

OWNER = "anna@example.org"
# The fragment of an e-mailed link: browsers never send it to the server.
_LINK = re.compile(r"http://127\.0\.0\.1:5000(/\S*?)#token=(\S+)")


def actions(ledger) -> list[str]:  # type: ignore[no-untyped-def]
    return ledger.read(lambda s: list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id))))


def client_at(app: Flask, address: str) -> FlaskClient:
    """A browser at `address`."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def mailed_link(app: Flask) -> tuple[str, str]:
    """The path and the token of the link in the last e-mail."""
    mail = app.extensions["sent_mail"][-1]
    match = _LINK.search(mail.body)
    assert match, mail.body
    return match.group(1), match.group(2)


@pytest.fixture
def request_lines(app: Flask) -> Iterator[list[str]]:
    """Every request line the app receives during the test (what an access log keeps)."""
    seen: list[str] = []
    app.before_request(lambda: seen.append(f"{request.method} {request.full_path}") and None)
    yield seen


# ------------------------------------------------------------------ finding 3: no lock-out
@pytest.mark.parametrize(
    ("attacker", "owner"),
    [
        ("198.51.100.{n}", "203.0.113.7"),
        ("2001:db8:1:2::{n:x}", "2001:db8:1:3::1"),  # a /64 each, same /48
    ],
)
def test_wrong_passwords_from_one_network_never_lock_the_owner_out_from_another(
    app, ledger, attacker, owner
):
    make_user(ledger, OWNER, ["donor"])
    # The attacker moves across the addresses of their network to dodge the
    # per-address limit: their network is throttled all the same.
    statuses = [
        sign_in(client_at(app, attacker.format(n=n)), OWNER, "indovino!!!").status_code
        for n in range(1, 31)
    ]
    assert statuses == [422] * 20 + [429] * 10

    response = sign_in(client_at(app, owner), OWNER)
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"


def _fail_from_many_networks(app: Flask, email: str, attempts: int = 50) -> None:
    """Wrong passwords for `email`, one from each of `attempts` networks (a botnet)."""
    for n in range(attempts):
        assert sign_in(client_at(app, f"10.{n}.0.1"), email, "indovino!!!").status_code == 422


def test_past_the_account_ceiling_the_owner_is_offered_an_e_mailed_link_and_signs_in_with_it(
    app, ledger, request_lines
):
    make_user(ledger, OWNER, ["donor"])
    _fail_from_many_networks(app, OWNER)

    owner = client_at(app, "203.0.113.7")
    offered = sign_in(owner, OWNER)
    assert offered.status_code == 403
    html = offered.get_data(as_text=True)
    assert "link di accesso" in html
    assert owner.get("/account").status_code == 302  # the password alone did not sign in

    # The offer is a form that asks for the link for this address.
    asked = owner.post("/login/link/request", data={"csrf_token": csrf_token(html), "email": OWNER})
    assert asked.status_code == 302
    [mail] = app.extensions["sent_mail"]
    assert mail.to == OWNER
    path, token = mailed_link(app)
    assert path == "/login/link"

    page = owner.get(path)
    assert page.status_code == 200
    assert 'id="link-token"' in page.get_data(as_text=True)
    signed = owner.post(
        path, data={"csrf_token": csrf_token(page.get_data(as_text=True)), "token": token}
    )
    assert signed.status_code == 302
    assert signed.headers["Location"] == "/account"
    assert owner.get("/account").status_code == 200
    assert actions(ledger)[-2:] == ["session.link_issue", "session.login"]

    # Single use: the same link again signs nobody in.
    thief = client_at(app, "192.0.2.1")
    page = thief.get(path).get_data(as_text=True)
    again = thief.post(path, data={"csrf_token": csrf_token(page), "token": token})
    assert again.status_code == 410
    assert thief.get("/account").status_code == 302
    assert not any(token in line for line in request_lines)


def test_past_the_account_ceiling_the_right_and_a_wrong_password_get_the_same_answer(app, ledger):
    make_user(ledger, OWNER, ["donor"])
    _fail_from_many_networks(app, OWNER)
    right = sign_in(client_at(app, "203.0.113.7"), OWNER)
    wrong = sign_in(client_at(app, "203.0.113.8"), OWNER, "indovino!!!")
    unknown = sign_in(client_at(app, "203.0.113.9"), "nessuno@example.org", "indovino!!!")
    assert right.status_code == wrong.status_code == 403
    assert unknown.status_code == 422  # an address with no failures of its own

    def body(response) -> str:  # type: ignore[no-untyped-def]
        return re.sub(r'value="[^"]*"', "", response.get_data(as_text=True))

    assert body(right) == body(wrong)


def test_a_link_asked_for_an_unknown_address_looks_the_same_and_sends_nothing(app, ledger):
    make_user(ledger, OWNER, ["donor"])
    known = form_post(app.test_client(), "/login/link/request", {"email": OWNER})
    unknown = form_post(app.test_client(), "/login/link/request", {"email": "x@example.org"})
    assert known.status_code == unknown.status_code == 302
    assert known.headers["Location"] == unknown.headers["Location"]
    assert [mail.to for mail in app.extensions["sent_mail"]] == [OWNER]


def test_a_sign_in_link_leads_a_user_with_totp_to_the_code_step(app, client, ledger):
    secret = totp.new_secret()
    make_user(ledger, "tesoriere@example.org", ["treasurer"], totp_secret=secret)
    form_post(client, "/login/link/request", {"email": "tesoriere@example.org"})
    path, token = mailed_link(app)
    response = form_post(client, path, {"token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login/2fa"
    assert client.get("/account").status_code == 302  # not yet: the code is still needed
    done = form_post(client, "/login/2fa", {"code": totp_code(ledger, secret)})
    assert done.status_code == 302
    assert client.get("/account").status_code == 200


def test_an_expired_or_tampered_sign_in_link_signs_nobody_in(app, client, ledger, clock):
    make_user(ledger, OWNER, ["donor"])
    form_post(client, "/login/link/request", {"email": OWNER})
    path, token = mailed_link(app)
    assert form_post(client, path, {"token": token[:-3] + "xyz"}).status_code == 410
    clock.instant += timedelta(minutes=16)
    expired = form_post(client, path, {"token": token})
    assert expired.status_code == 410
    assert client.get("/account").status_code == 302


# ------------------------------------------------------------------ finding 9: password change
def change_password(client: FlaskClient, current: str):  # type: ignore[no-untyped-def]
    new = "una password nuova di zecca"
    return form_post(
        client,
        "/account/password",
        {"current_password": current, "new_password": new, "new_password_confirm": new},
    )


def test_a_stolen_session_guessing_the_current_password_is_stopped_and_each_failure_audited(
    client, ledger
):
    make_user(ledger, OWNER, ["donor"])
    sign_in(client, OWNER)
    statuses = [change_password(client, f"tentativo {n:02}!").status_code for n in range(6)]
    assert statuses == [422] * 5 + [429]
    assert change_password(client, PASSWORD).status_code == 429  # even the right one, for now
    assert actions(ledger).count("user.password_change_failed") == 5
    assert "user.password_change" not in actions(ledger)


# ------------------------------------------------------------------ finding 12: tokens in logs
def _valid_tokens(app: Flask, text: str) -> list[str]:
    """The strings of `text` that an e-mailed link (reset, sign-in, registration, address
    confirmation) would accept."""
    found = []
    for salt in ("password-reset", "sign-in-link", "registration", "email-verify"):
        serializer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=salt)
        for candidate in re.findall(r"[A-Za-z0-9_.\-]{20,}", text):
            try:
                serializer.loads(candidate)
            except BadData:
                continue
            found.append(candidate)
    return found


@pytest.mark.parametrize("page", ["/password/reset", "/login/link/request"])
def test_with_the_log_mail_sender_no_token_reaches_the_application_log(
    db_url, clock: FixedClock, ledger, caplog, page
):
    make_user(ledger, OWNER, ["donor"])
    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "CLOCK": clock})
    app.test_client_class = ServerLikeClient  # mail sent after the answer has gone out
    assert app.config["MAIL_SENDER"] == "log"  # the default
    caplog.set_level(logging.DEBUG)
    try:
        assert form_post(app.test_client(), page, {"email": OWNER}).status_code == 302
    finally:
        app.extensions["ledger"].engine.dispose()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "mail NOT sent" in logged  # the message was logged, without its token
    assert _valid_tokens(app, logged) == []


def test_in_development_the_file_mail_sender_keeps_whole_messages_out_of_the_log(
    db_url, clock: FixedClock, ledger, caplog, tmp_path
):
    make_user(ledger, OWNER, ["donor"])
    folder = tmp_path / "mail"
    app = create_app(
        {
            "DATABASE_URL": db_url,
            "TESTING": True,
            "CLOCK": clock,
            "MAIL_SENDER": "file",
            "MAIL_DIR": str(folder),
        }
    )
    app.test_client_class = ServerLikeClient  # mail sent after the answer has gone out
    caplog.set_level(logging.DEBUG)
    try:
        assert form_post(app.test_client(), "/password/reset", {"email": OWNER}).status_code == 302
    finally:
        app.extensions["ledger"].engine.dispose()
    [message] = folder.glob("*.eml")
    assert message.stat().st_mode & 0o077 == 0  # readable by its owner only
    mail = message_from_bytes(message.read_bytes(), policy=policy.default)
    assert mail["To"] == OWNER
    text = mail.get_content()
    [token] = _valid_tokens(app, text)
    assert "/password/new#token=" + token in text
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert token not in logged


def test_a_reset_token_never_travels_in_a_request_line(app, client, ledger, request_lines):
    make_user(ledger, OWNER, ["donor"])
    form_post(client, "/password/reset", {"email": OWNER})
    path, token = mailed_link(app)
    assert path == "/password/new"
    page = client.get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="link-token"' in html
    assert "/static/link-token.js" in html  # a same-origin script reads the fragment
    new = {"password": "scelta dopo il reset", "password_confirm": "scelta dopo il reset"}
    done = client.post(path, data={"csrf_token": csrf_token(html), "token": token, **new})
    assert done.status_code == 302
    assert sign_in(client, OWNER, "scelta dopo il reset").status_code == 302
    assert request_lines, "the hook saw the requests"
    assert not any(token in line for line in request_lines)

    # Used once: the same token again is refused.
    form_post(client, "/logout", {}, page="/account")
    again = form_post(client, path, {"token": token, **new})
    assert again.status_code == 410
    assert "già stato usato" in again.get_data(as_text=True)


NEWCOMER = "nuova@example.org"


def register_newcomer(client: FlaskClient) -> None:
    data = {
        "full_name": "Nuova Iscritta",
        "email": NEWCOMER,
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        "role": "donor",
    }
    assert form_post(client, "/register", data).status_code == 302


def ask_to_confirm_the_address(client: FlaskClient) -> None:
    """Sign in as the unconfirmed OWNER and ask for an address confirmation link."""
    assert sign_in(client, OWNER).status_code == 302
    assert form_post(client, "/account/email", {}, page="/account").status_code == 302


@pytest.mark.parametrize("act", ["register", "ask to confirm the address"])
def test_with_the_log_mail_sender_no_registration_or_confirmation_token_reaches_the_log(
    db_url, clock: FixedClock, ledger, caplog, act
):
    make_user(ledger, OWNER, ["donor"], verified=False)
    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "CLOCK": clock})
    app.test_client_class = ServerLikeClient  # mail sent after the answer has gone out
    assert app.config["MAIL_SENDER"] == "log"  # the default
    caplog.set_level(logging.DEBUG)
    try:
        if act == "register":
            register_newcomer(app.test_client())
        else:
            ask_to_confirm_the_address(app.test_client())
    finally:
        app.extensions["ledger"].engine.dispose()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "mail NOT sent" in logged  # the message was logged, without its token
    assert "#token=[token hidden]" in logged  # its link carries the token in the fragment
    assert _valid_tokens(app, logged) == []


def _the_mailed_link(app: Flask, to: str) -> tuple[str, str]:
    """The link of the last message mailed to `to` (path and fragment) and its token,
    wherever in the link it is."""
    mail = [m for m in app.extensions["sent_mail"] if m.to == to][-1]
    [token] = _valid_tokens(app, mail.body)
    match = re.search(r"http://127\.0\.0\.1:5000(/\S*)", mail.body)
    assert match, mail.body
    return match.group(1), token


def test_a_registration_token_reaches_no_request_line_and_no_log(
    app, client, ledger, request_lines, caplog
):
    caplog.set_level(logging.DEBUG)
    register_newcomer(client)
    link, token = _the_mailed_link(app, NEWCOMER)

    done = follow_link(client, link, {"password": PASSWORD})
    assert done.status_code == 302
    assert done.headers["Location"] == "/account"
    assert client.get("/account").status_code == 200
    # Used once: the same link again makes nothing.
    form_post(client, "/logout", {}, page="/account")
    again = follow_link(client, link, {"password": PASSWORD})
    assert again.status_code == 410
    assert "già stato usato" in again.get_data(as_text=True)

    assert request_lines, "the hook saw the requests"
    assert not [line for line in request_lines if token in line]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert _valid_tokens(app, logged) == []


def test_an_address_confirmation_token_reaches_no_request_line_and_no_log(
    app, client, ledger, request_lines, caplog
):
    caplog.set_level(logging.DEBUG)
    make_user(ledger, OWNER, ["donor"], verified=False)
    ask_to_confirm_the_address(client)
    link, token = _the_mailed_link(app, OWNER)

    # Opened in a browser that is not signed in: sent to sign in first.
    elsewhere = app.test_client()
    opened = elsewhere.get(link.partition("#")[0])
    assert opened.status_code == 302
    assert elsewhere.get(opened.headers["Location"]).status_code == 200

    done = follow_link(client, link, {})
    assert done.status_code == 302
    assert done.headers["Location"] == "/account"
    assert "Indirizzo e-mail confermato." in client.get("/account").get_data(as_text=True)
    again = follow_link(client, link, {})
    assert again.status_code == 410
    assert "già stato usato" in again.get_data(as_text=True)

    assert request_lines, "the hook saw the requests"
    assert not [line for line in request_lines if token in line]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert _valid_tokens(app, logged) == []


def test_the_script_that_reads_a_link_token_is_served_from_this_site(client):
    script = client.get("/static/link-token.js")
    assert script.status_code == 200
    assert "location.hash" in script.get_data(as_text=True)


# ------------------------------------------------------------------ finding 15: hardening
def began(client: FlaskClient, ago: timedelta) -> int:
    """Make the client's sign-in have begun `ago` (real time) before now."""
    with client.session_transaction() as cookie:
        cookie[SESSION_SIGNED_IN_AT] = int(time.time() - ago.total_seconds())
        return int(cookie[SESSION_SIGNED_IN_AT])


def test_a_sign_in_ends_twelve_hours_after_it_began_however_active(client, ledger):
    make_user(ledger, OWNER, ["donor"])
    sign_in(client, OWNER)
    for hours in range(12):  # used every hour: never idle
        began(client, timedelta(hours=hours))
        assert client.get("/account").status_code == 200
    began(client, timedelta(hours=11, minutes=59))
    assert client.get("/account").status_code == 200
    began(client, timedelta(hours=12, minutes=1))
    response = client.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    with client.session_transaction() as cookie:
        assert "_user_id" not in cookie  # ended, not only refused once
    assert client.get("/account").status_code == 302


def test_a_session_without_the_start_of_its_sign_in_is_signed_out(client, ledger):
    make_user(ledger, OWNER, ["donor"])
    sign_in(client, OWNER)
    with client.session_transaction() as cookie:
        del cookie[SESSION_SIGNED_IN_AT]  # a cookie made before sign-ins had a lifetime
    assert client.get("/account").status_code == 302


def test_changing_the_password_does_not_extend_the_sign_in(client, ledger):
    make_user(ledger, OWNER, ["donor"])
    sign_in(client, OWNER)
    start = began(client, timedelta(hours=11))
    assert change_password(client, PASSWORD).status_code == 302
    with client.session_transaction() as cookie:
        assert cookie[SESSION_SIGNED_IN_AT] == start
    began(client, timedelta(hours=12, minutes=1))
    assert client.get("/account").status_code == 302


@pytest.mark.parametrize(
    "path", ["/", "/login", "/static/app.css", "/api/v1/openapi.json", "/nessuna-pagina"]
)
def test_every_response_denies_powerful_browser_features_and_isolates_its_window(client, path):
    response = client.get(path)
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    policy = response.headers["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in policy
