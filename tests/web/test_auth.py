"""Registration, sign-in, sign-out, passwords, TOTP and rate limits through the pages.

Every POST carries the CSRF token read from its page, as a browser would.
Passwords are hashed with the real Argon2id at a low cost (tests/web/conftest.py).
"""

from __future__ import annotations

import os
import re
import uuid
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from ledger.audit.models import AuditEvent
from ledger.core.journal import load_entries
from ledger.core.models import JournalEntry
from ledger.core.money import Money
from ledger.core.sealing import DEVELOPMENT_KEY
from ledger.outbox.models import OutboxMessage
from ledger.people import passwords, totp
from ledger.people.models import Person, Registration, User
from tests.web.conftest import (
    PASSWORD,
    TRIAL_BALANCE,
    csrf_token,
    follow_link,
    form_post,
    mailed_link,
    make_user,
    sign_in,
    totp_code,
)
from web import create_app

NEW_ENTRY = "/contabilita/registrazioni/nuova"


def count(ledger, model) -> int:  # type: ignore[no-untyped-def]
    return ledger.read(lambda s: s.scalar(select(func.count()).select_from(model)))


def actions(ledger) -> list[str]:  # type: ignore[no-untyped-def]
    return ledger.read(lambda s: list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id))))


def register(client, **fields):  # type: ignore[no-untyped-def]
    data = {
        "full_name": "Anna Rossi",
        "email": "anna@example.org",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        "role": "donor",
    }
    data.update(fields)
    return form_post(client, "/register", data)


def confirm_registration(app, client, email="anna@example.org", password=PASSWORD):  # type: ignore[no-untyped-def]
    """Follow the registration link mailed to `email` and give the password chosen."""
    link = mailed_link(app, email, "/register/confirm#token=")
    assert client.get(link.partition("#")[0]).status_code == 200
    return follow_link(client, link, {"password": password})


# ------------------------------------------------------------------ registration
def test_a_new_donor_registers_confirms_the_mailed_link_and_sees_their_own_data(
    app, client, ledger
):
    response = register(client, codice_fiscale="rssmra85t10a562s")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert client.get("/account").status_code == 302  # no account until the link

    response = confirm_registration(app, client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"

    page = client.get("/account").get_data(as_text=True)
    assert "Registrazione completata: benvenuto!" in page
    assert "Anna Rossi" in page
    assert "anna@example.org" in page
    assert "RSSMRA85T10A562S" in page

    def read(session):  # type: ignore[no-untyped-def]
        user = session.scalars(select(User)).one()
        return user.roles, user.password_hash

    roles, password_hash = ledger.read(read)
    assert roles == frozenset({"donor"})
    assert password_hash.startswith("$argon2id$")
    assert PASSWORD not in password_hash
    assert actions(ledger) == ["user.register", "user.register_confirm"]


def test_a_proponent_can_register_too(app, client, ledger):
    assert register(client, role="proponent").status_code == 302
    assert confirm_registration(app, client).status_code == 302
    assert ledger.read(lambda s: s.scalars(select(User)).one().roles) == {"proponent"}


@pytest.mark.parametrize("role", ["treasurer", "admin", "reviewer", "foundation_officer"])
def test_nobody_can_register_themselves_into_a_role_that_handles_money_or_access(
    client, ledger, role
):
    response = register(client, role=role)
    assert response.status_code == 422
    assert count(ledger, User) == 0
    assert count(ledger, Person) == 0


def _without_csrf(html: str) -> str:
    return re.sub(r'name="csrf_token"[^>]*value="[^"]+"', "", html)


def test_registering_a_known_or_a_new_address_answers_alike_and_does_the_same_work(
    app, ledger, monkeypatch
):
    make_user(ledger, "anna@example.org", ["donor"])
    hashed: list[str] = []
    real_hash = passwords.hash_password
    monkeypatch.setattr(passwords, "hash_password", lambda p: hashed.append(p) or real_hash(p))

    answers = []
    for address in ("Anna@Example.ORG", "nuova@example.org"):
        client = app.test_client()
        hashes, queued = len(hashed), count(ledger, OutboxMessage)
        response = register(client, email=address)
        page = client.get(response.headers.get("Location", "/register"))
        answers.append(
            (
                response.status_code,
                response.headers.get("Location"),
                response.get_data(as_text=True),
                _without_csrf(page.get_data(as_text=True)),
                len(hashed) - hashes,
                count(ledger, OutboxMessage) - queued,
            )
        )
    assert answers[0] == answers[1]
    assert answers[0][0] == 302 and answers[0][4:] == (1, 1)
    # The known address's owner hears that someone tried; the new one gets its link.
    sent = {mail.to: mail.body for mail in app.extensions["sent_mail"]}
    assert "già un account" in sent["anna@example.org"]
    assert "/register/confirm#token=" in sent["nuova@example.org"]
    assert "/register/confirm" not in sent["anna@example.org"]
    assert count(ledger, Person) == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"codice_fiscale": "RSSMRA85T10A562T"}, "codice fiscale non è valido"),
        ({"email": "non-un-indirizzo"}, "e-mail non è valido"),
        ({"password": "corta", "password_confirm": "corta"}, "almeno 10 caratteri"),
        ({"password_confirm": "un'altra password"}, "non coincidono"),
        ({"full_name": ""}, "Campo obbligatorio"),
    ],
)
def test_bad_registration_input_is_a_422_naming_the_field_with_nothing_written(
    client, ledger, fields, message
):
    response = register(client, **fields)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html
    assert 'aria-invalid="true"' in html
    assert count(ledger, Person) == 0


def test_a_form_posted_without_its_csrf_token_is_refused_with_nothing_written(client, ledger):
    response = client.post(
        "/register",
        data={
            "full_name": "Anna Rossi",
            "email": "anna@example.org",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
            "role": "donor",
        },
    )
    assert response.status_code == 400
    assert count(ledger, Person) == 0


# ------------------------------------------------------------------ sign-in and sign-out
def test_a_user_signs_in_and_the_session_cookie_is_secure_http_only_and_same_site(client, ledger):
    make_user(ledger, "anna@example.org", ["donor"])
    response = sign_in(client, "ANNA@example.org ")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    cookie = response.headers["Set-Cookie"]
    assert "ledger_session=" in cookie
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert client.get("/account").status_code == 200
    assert actions(ledger) == ["session.login"]


@pytest.mark.parametrize("email", ["anna@example.org", "nessuno@example.org"])
def test_a_failed_sign_in_says_the_same_thing_whether_or_not_the_address_exists(
    client, ledger, email
):
    make_user(ledger, "anna@example.org", ["donor"])
    response = sign_in(client, email, "password sbagliata")
    assert response.status_code == 422
    assert "E-mail o password non corretti." in response.get_data(as_text=True)
    assert client.get("/account").status_code == 302
    assert actions(ledger) == ["session.login_failed"]


def test_a_deactivated_user_cannot_sign_in_and_their_open_session_ends(client, ledger):
    user_id = make_user(ledger, "anna@example.org", ["donor"])
    sign_in(client, "anna@example.org")
    assert client.get("/account").status_code == 200

    def deactivate(session):  # type: ignore[no-untyped-def]
        session.get(User, user_id).active = False

    ledger.run(deactivate)
    assert client.get("/account").status_code == 302
    assert sign_in(client, "anna@example.org").status_code == 422


@pytest.mark.parametrize(
    "target", ["//evil.example/phish", "https://evil.example/", "/\\evil.example", "javascript:x"]
)
def test_sign_in_never_redirects_to_another_site(client, ledger, target):
    make_user(ledger, "anna@example.org", ["donor"])
    html = client.get("/login").get_data(as_text=True)
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"csrf_token": csrf_token(html), "email": "anna@example.org", "password": PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"


def test_sign_in_returns_to_the_page_that_asked_for_it(client, ledger):
    make_user(ledger, "tesoriere@example.org", ["treasurer"])
    assert client.get(TRIAL_BALANCE).headers["Location"] == f"/login?next={TRIAL_BALANCE}"
    html = client.get(f"/login?next={TRIAL_BALANCE}").get_data(as_text=True)
    response = client.post(
        f"/login?next={TRIAL_BALANCE}",
        data={
            "csrf_token": csrf_token(html),
            "email": "tesoriere@example.org",
            "password": PASSWORD,
        },
    )
    assert response.headers["Location"] == TRIAL_BALANCE


def test_sign_out_is_a_post_with_a_csrf_token_and_ends_the_session(client, ledger):
    make_user(ledger, "anna@example.org", ["donor"])
    sign_in(client, "anna@example.org")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400  # no CSRF token: still signed in
    assert client.get("/account").status_code == 200

    response = form_post(client, "/logout", {}, page="/account")
    assert response.status_code == 302
    assert client.get("/account").status_code == 302
    assert actions(ledger) == ["session.login", "session.logout"]


# ------------------------------------------------------------------ passwords
def test_changing_the_password_needs_the_current_one_and_ends_other_sessions(app, client, ledger):
    make_user(ledger, "anna@example.org", ["donor"])
    other = app.test_client()
    sign_in(client, "anna@example.org")
    sign_in(other, "anna@example.org")

    wrong = form_post(
        client,
        "/account/password",
        {
            "current_password": "non è questa",
            "new_password": "una nuova password",
            "new_password_confirm": "una nuova password",
        },
    )
    assert wrong.status_code == 422
    assert "password attuale non è corretta" in wrong.get_data(as_text=True)

    done = form_post(
        client,
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": "una nuova password",
            "new_password_confirm": "una nuova password",
        },
    )
    assert done.status_code == 302
    assert client.get("/account").status_code == 200  # this session goes on
    assert other.get("/account").status_code == 302  # the other one ended
    form_post(client, "/logout", {}, page="/account")
    assert sign_in(client, "anna@example.org").status_code == 422
    assert sign_in(client, "anna@example.org", "una nuova password").status_code == 302


def reset_token(app) -> str:  # type: ignore[no-untyped-def]
    """The token of the reset link in the last e-mail (`/password/new#token=...`)."""
    mail = app.extensions["sent_mail"][-1]
    match = re.search(r"http://127\.0\.0\.1:5000/password/new#token=(\S+)", mail.body)
    assert match, mail.body
    return match.group(1)


def use_reset_link(client, token: str, password: str = "scelta dopo il reset"):  # type: ignore[no-untyped-def]
    """What the reset page does: its script puts the token into the form, which POSTs it."""
    data = {"token": token, "password": password, "password_confirm": password}
    return form_post(client, "/password/new", data)


def test_a_reset_link_is_mailed_sets_a_new_password_and_works_only_once(app, client, ledger):
    make_user(ledger, "anna@example.org", ["donor"])
    response = form_post(client, "/password/reset", {"email": "anna@example.org"})
    assert response.status_code == 302
    [mail] = app.extensions["sent_mail"]
    assert mail.to == "anna@example.org"
    token = reset_token(app)

    assert use_reset_link(client, token).status_code == 302
    assert sign_in(client, "anna@example.org", "scelta dopo il reset").status_code == 302
    form_post(client, "/logout", {}, page="/account")

    again = use_reset_link(client, token, "e ancora un'altra")
    assert again.status_code == 410
    assert "già stato usato" in again.get_data(as_text=True)
    assert "user.password_reset" in actions(ledger)


def test_asking_a_reset_for_an_unknown_address_looks_the_same_and_sends_nothing(app, client):
    response = form_post(client, "/password/reset", {"email": "nessuno@example.org"})
    assert response.status_code == 302
    assert app.extensions.get("sent_mail", []) == []


def test_a_reset_request_for_a_known_or_an_unknown_address_answers_alike_and_mails_after(
    app, ledger
):
    make_user(ledger, "anna@example.org", ["donor"])
    answers = []
    for address in ("anna@example.org", "nessuno@example.org"):
        # A client that leaves each response open: what runs before the answer is
        # done by then, what a server runs once the answer is sent is not.
        client = FlaskClient(app, app.response_class, use_cookies=True)
        queued, sent = count(ledger, OutboxMessage), len(app.extensions.get("sent_mail", []))
        response = form_post(client, "/password/reset", {"email": address})
        answers.append(
            (
                response.status_code,
                response.headers["Location"],
                response.get_data(as_text=True),
                count(ledger, OutboxMessage) - queued,
                len(app.extensions.get("sent_mail", [])) - sent,
            )
        )
        response.close()
    assert answers[0] == answers[1]
    assert answers[0][3:] == (1, 0)
    assert [mail.to for mail in app.extensions["sent_mail"]] == ["anna@example.org"]


def test_the_outbox_keeps_no_address_and_the_message_is_sent_once(app, client, ledger):
    make_user(ledger, "anna@example.org", ["donor"])
    form_post(client, "/password/reset", {"email": "anna@example.org"})
    rows = ledger.read(
        lambda s: s.execute(text("SELECT payload, sent_at FROM outbox_messages")).all()
    )
    assert len(rows) == 1
    assert "anna@example.org" not in str(rows[0].payload)
    assert rows[0].sent_at is not None
    form_post(client, "/password/reset", {"email": "nessuno@example.org"})
    assert len(app.extensions["sent_mail"]) == 1


def test_an_expired_or_tampered_reset_link_is_refused(app, client, ledger):
    make_user(ledger, "anna@example.org", ["donor"])
    form_post(client, "/password/reset", {"email": "anna@example.org"})
    token = reset_token(app)
    assert use_reset_link(client, token[:-3] + "xyz").status_code == 410
    assert use_reset_link(client, "").status_code == 410
    app.config["PASSWORD_RESET_MAX_AGE"] = -1
    expired = use_reset_link(client, token)
    assert expired.status_code == 410
    assert "scaduto" in expired.get_data(as_text=True)


# ------------------------------------------------------------------ two-factor authentication
def test_a_treasurer_must_enrol_totp_before_moving_money_then_posts_once(client, ledger, clock):
    ledger.create_account("assets:cash", "asset")
    ledger.create_account("income:donations", "income")
    make_user(ledger, "tesoriere@example.org", ["treasurer"])
    sign_in(client, "tesoriere@example.org")

    # Reading the books needs no second factor; moving money does.
    assert client.get(TRIAL_BALANCE).status_code == 200
    response = client.get(NEW_ENTRY)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/account/2fa?next={NEW_ENTRY}"

    page = client.get("/account/2fa").get_data(as_text=True)
    secret = re.search(r'<code id="totp-secret" class="secret">([A-Z2-7]+)</code>', page).group(1)
    assert "<svg" in page
    wrong = form_post(client, f"/account/2fa?next={NEW_ENTRY}", {"code": "000000"})
    assert wrong.status_code == 422
    right = form_post(
        client, f"/account/2fa?next={NEW_ENTRY}", {"code": totp.code_at(secret, clock.now())}
    )
    assert right.status_code == 302
    assert right.headers["Location"] == NEW_ENTRY

    form_page = client.get(NEW_ENTRY)
    assert form_page.status_code == 200
    html = form_page.get_data(as_text=True)
    form_key = re.search(r'name="form_key" type="hidden" value="([0-9a-f]+)"', html).group(1)
    data = {
        "csrf_token": csrf_token(html),
        "form_key": form_key,
        "debit_account": "assets:cash",
        "credit_account": "income:donations",
        "amount": "1.234,56",
        "narration": "Contanti raccolti al punto di comunità",
    }
    first = client.post(NEW_ENTRY, data=data)
    second = client.post(NEW_ENTRY, data=data)  # a double click: the same form again
    assert first.status_code == second.status_code == 302
    assert count(ledger, JournalEntry) == 1
    assert ledger.balance("assets:cash").posted == Money.parse("1234.56", "EUR").minor
    entry = ledger.read(
        lambda s: next(iter(load_entries(s, [s.scalars(select(JournalEntry.id)).one()]).values()))
    )
    assert entry.actor.startswith("user:")
    assert actions(ledger).count("entry.post") == 1
    assert "user.totp_enrol" in actions(ledger)


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("12,345", "due decimali"),
        ("0", "maggiore di zero"),
        ("-5", "maggiore di zero"),
        ("dieci", "Importo non valido"),
    ],
)
def test_a_bad_amount_on_the_entry_page_is_a_422_with_nothing_posted(
    client, ledger, amount, message
):
    ledger.create_account("assets:cash", "asset")
    ledger.create_account("income:donations", "income")
    secret = totp.new_secret()
    make_user(ledger, "tesoriere@example.org", ["treasurer"], totp_secret=secret)
    sign_in(client, "tesoriere@example.org", code=totp_code(ledger, secret))
    response = form_post(
        client,
        NEW_ENTRY,
        {
            "form_key": uuid.uuid4().hex,
            "debit_account": "assets:cash",
            "credit_account": "income:donations",
            "amount": amount,
        },
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert count(ledger, JournalEntry) == 0


def test_an_enrolled_user_confirms_a_code_at_sign_in_and_a_used_code_is_refused(client, ledger):
    secret = totp.new_secret()
    make_user(ledger, "tesoriere@example.org", ["treasurer"], totp_secret=secret)
    code = totp_code(ledger, secret)

    assert sign_in(client, "tesoriere@example.org", code=code).status_code == 302
    assert client.get(NEW_ENTRY).status_code == 200
    form_post(client, "/logout", {}, page="/account")

    # The same code again, after the password: refused (one use per 30-second step).
    replay = sign_in(client, "tesoriere@example.org", code=code)
    assert replay.status_code == 422
    assert client.get("/account").status_code == 302
    # The next step's code (within the ±1 step window) admits.
    fresh = form_post(client, "/login/2fa", {"code": totp_code(ledger, secret, steps_ahead=1)})
    assert fresh.status_code == 302
    assert client.get(NEW_ENTRY).status_code == 200
    assert "session.two_factor_failed" in actions(ledger)


def test_a_password_alone_never_reaches_a_page_behind_the_second_factor(client, ledger):
    secret = totp.new_secret()
    make_user(ledger, "tesoriere@example.org", ["treasurer"], totp_secret=secret)
    response = sign_in(client, "tesoriere@example.org")
    assert response.headers["Location"].startswith("/login/2fa")
    assert client.get(NEW_ENTRY).status_code == 302
    assert client.get("/account").status_code == 302


def test_an_expired_code_is_refused(client, ledger, clock):
    secret = totp.new_secret()
    make_user(ledger, "tesoriere@example.org", ["treasurer"], totp_secret=secret)
    old = totp.code_at(secret, clock.now() - timedelta(seconds=90))
    assert sign_in(client, "tesoriere@example.org", code=old).status_code == 422


# ------------------------------------------------------------------ TOTP secrets at rest
SECRET_SHOWN = re.compile(r'<code id="totp-secret" class="secret">([A-Z2-7]+)</code>')


def _keyed_app(db_url, clock, keys: str):  # type: ignore[no-untyped-def]
    """A test app whose TOTP secrets are sealed under `keys` (comma-separated, first seals)."""
    return create_app(
        {
            "DATABASE_URL": db_url,
            "TESTING": True,
            "CLOCK": clock,
            "MAIL_SENDER": "memory",
            "TOTP_KEY": keys,
        }
    )


def _enrol_through_the_pages(client, ledger, clock, email: str) -> str:  # type: ignore[no-untyped-def]
    """Create a treasurer, sign in, enrol TOTP on the page, sign out; the secret shown."""
    make_user(ledger, email, ["treasurer"])
    sign_in(client, email)
    secret = SECRET_SHOWN.search(client.get("/account/2fa").get_data(as_text=True)).group(1)
    code = totp.code_at(secret, clock.now())
    assert form_post(client, "/account/2fa", {"code": code}).status_code == 302
    form_post(client, "/logout", {}, page="/account")
    clock.instant += timedelta(seconds=30)  # the next sign-in needs a step not used yet
    return secret


def _makes_codes(stored: str, code: str, when) -> bool:  # type: ignore[no-untyped-def]
    """Whether a stored value, read as an authenticator secret some obvious way, gives `code`."""
    import base64
    import binascii

    candidates = [stored, stored.upper(), stored.replace(" ", "")]
    try:
        raw = base64.urlsafe_b64decode(stored + "=" * (-len(stored) % 4))
        candidates.append(base64.b32encode(raw).decode())
    except (binascii.Error, ValueError):
        pass
    for candidate in candidates:
        try:
            if totp.code_at(candidate, when) == code:
                return True
        except (binascii.Error, ValueError, TypeError):
            continue
    return False


def test_a_copy_of_the_users_table_holds_no_totp_secret_and_nothing_that_makes_its_codes(
    client, ledger, clock
):
    secret = _enrol_through_the_pages(client, ledger, clock, "tesoriere@example.org")

    # The attacker's view: a dump of the table (a stolen backup, a read-only SQL injection).
    rows = ledger.read(lambda s: [dict(r._mapping) for r in s.execute(text("SELECT * FROM users"))])
    stored = [v for row in rows for v in row.values() if isinstance(v, str)]
    assert not any(secret in v.upper().replace(" ", "") for v in stored)
    code = totp.code_at(secret, clock.now())
    assert not any(_makes_codes(v, code, clock.now()) for v in stored)
    # The owner still signs in with their app's code.
    assert sign_in(client, "tesoriere@example.org", code=code).status_code == 302
    assert client.get(NEW_ENTRY).status_code == 200


def test_an_app_with_another_totp_key_cannot_verify_the_right_code(db_url, ledger, clock):
    from cryptography.fernet import Fernet

    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    enrolled_under_a = _keyed_app(db_url, clock, key_a)
    secret = _enrol_through_the_pages(
        enrolled_under_a.test_client(), ledger, clock, "tesoriere@example.org"
    )

    other = _keyed_app(db_url, clock, key_b)
    client = other.test_client()
    response = sign_in(client, "tesoriere@example.org", code=totp.code_at(secret, clock.now()))
    assert response.status_code == 500  # a misconfiguration, not the user's wrong code
    assert client.get("/account").status_code == 302  # not signed in
    assert "session.login" not in actions(ledger)[-1:]
    for application in (enrolled_under_a, other):
        application.extensions["ledger"].engine.dispose()


def test_a_rotated_key_list_still_verifies_old_secrets_and_seals_new_ones_with_its_first_key(
    db_url, ledger, clock
):
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = _keyed_app(db_url, clock, old)
    anna = _enrol_through_the_pages(before.test_client(), ledger, clock, "anna@example.org")

    rotated = _keyed_app(db_url, clock, f"{new},{old}")
    # The old key, second in the list, still opens Anna's secret.
    client = rotated.test_client()
    assert (
        sign_in(client, "anna@example.org", code=totp.code_at(anna, clock.now())).status_code == 302
    )
    # A new enrolment is sealed with the first key: the new key alone verifies it...
    bruno = _enrol_through_the_pages(rotated.test_client(), ledger, clock, "bruno@example.org")
    only_new = _keyed_app(db_url, clock, new)
    code = totp.code_at(bruno, clock.now())
    assert sign_in(only_new.test_client(), "bruno@example.org", code=code).status_code == 302
    # ...and Anna's secret, used once under the new list, was sealed again with the new key.
    clock.instant += timedelta(seconds=30)
    code = totp.code_at(anna, clock.now())
    assert sign_in(only_new.test_client(), "anna@example.org", code=code).status_code == 302
    # The old key alone opens neither any more.
    only_old = _keyed_app(db_url, clock, old)
    clock.instant += timedelta(seconds=30)
    code = totp.code_at(bruno, clock.now())
    assert sign_in(only_old.test_client(), "bruno@example.org", code=code).status_code == 500
    for application in (before, rotated, only_new, only_old):
        application.extensions["ledger"].engine.dispose()


# ------------------------------------------------------------------ audit log page
def test_an_admin_reads_the_audit_log_with_who_what_and_from_where(client, ledger):
    secret = totp.new_secret()
    make_user(ledger, "anna@example.org", ["donor"])
    make_user(ledger, "admin@example.org", ["admin"], totp_secret=secret)
    sign_in(client, "anna@example.org", "sbagliata!!")
    sign_in(client, "admin@example.org", code=totp_code(ledger, secret))

    page = client.get("/admin/audit")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "session.login_failed" in html
    assert "anna@example.org" in html
    assert "127.0.0.1" in html
    filtered = client.get("/admin/audit?action=session.login_failed").get_data(as_text=True)
    assert "session.login_failed" in filtered
    assert "<code>session.login</code>" not in filtered


def test_the_audit_log_cannot_be_rewritten(ledger):
    make_user(ledger, "anna@example.org", ["donor"])
    from ledger.audit.service import Origin, record

    ledger.run(lambda s: record(s, Origin("cli"), "user.create", now=ledger.clock.now()))
    with pytest.raises(Exception, match=r"append-only|refused"):
        ledger.run(lambda s: s.execute(text("UPDATE audit_events SET action = 'x'")))
    with pytest.raises(Exception, match=r"append-only|refused"):
        ledger.run(lambda s: s.execute(text("DELETE FROM audit_events")))
    assert actions(ledger) == ["user.create"]


# ------------------------------------------------------------------ rate limits
REDIS_URL = os.environ.get("LEDGER_TEST_REDIS_URL", "")


def _limited_app(db_url, clock, storage):  # type: ignore[no-untyped-def]
    return create_app(
        {
            "DATABASE_URL": db_url,
            "TESTING": True,
            "CLOCK": clock,
            "RATELIMIT_STORAGE_URI": storage,
            "RATELIMIT_LOGIN": "3 per minute",
        }
    )


def _assert_fourth_sign_in_is_429(app) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    statuses = [sign_in(client, "anna@example.org", "sbagliata!!").status_code for _ in range(4)]
    assert statuses == [422, 422, 422, 429]
    assert "Troppe richieste" in sign_in(client, "anna@example.org").get_data(as_text=True)


def test_sign_in_attempts_are_rate_limited_per_address(db_url, clock, ledger):
    make_user(ledger, "anna@example.org", ["donor"])
    app = _limited_app(db_url, clock, "memory://")
    _assert_fourth_sign_in_is_429(app)
    app.extensions["ledger"].engine.dispose()


def test_rate_limits_are_shared_through_redis_when_configured(db_url, clock, ledger):
    if not REDIS_URL:
        pytest.skip("LEDGER_TEST_REDIS_URL is not set (CI sets it; .ci/run requires Redis)")
    import random

    import redis

    server = redis.Redis.from_url(REDIS_URL)
    # Counters are keyed by client address and e-mail: this run's own, so runs on
    # other workers (or the other backend's run) never share them.
    address = "10." + ".".join(str(random.randrange(1, 255)) for _ in range(3))
    email = f"anna-{uuid.uuid4().hex[:8]}@example.org"
    make_user(ledger, email, ["donor"])
    first = _limited_app(db_url, clock, REDIS_URL)
    second = _limited_app(db_url, clock, REDIS_URL)
    try:
        client = first.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        statuses = [sign_in(client, email, "x" * 10).status_code for _ in range(3)]
        assert statuses == [422, 422, 422]
        # A second process (here: a second app) sees the same counter.
        other = second.test_client()
        other.environ_base["REMOTE_ADDR"] = address
        assert sign_in(other, email).status_code == 429
    finally:
        ours = [k for k in server.keys("LIMITS*") if address.encode() in k or email.encode() in k]
        if ours:
            server.delete(*ours)
        first.extensions["ledger"].engine.dispose()
        second.extensions["ledger"].engine.dispose()
    assert ours, "the counters were kept in Redis"


# ------------------------------------------------------------------ where requests come from
def sources(ledger) -> list[str | None]:  # type: ignore[no-untyped-def]
    return ledger.read(lambda s: list(s.scalars(select(AuditEvent.source).order_by(AuditEvent.id))))


def test_the_audit_log_ignores_forwarded_addresses_unless_a_proxy_is_configured(
    db_url, clock, ledger
):
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    direct = create_app({"DATABASE_URL": db_url, "TESTING": True, "CLOCK": clock})
    client = direct.test_client()
    html = client.get("/login").get_data(as_text=True)
    data = {"csrf_token": csrf_token(html), "email": "x@example.org", "password": "sbagliata!!"}
    client.post("/login", data=data, headers=forwarded)
    direct.extensions["ledger"].engine.dispose()

    proxied = create_app({"DATABASE_URL": db_url, "TESTING": True, "CLOCK": clock, "PROXY_HOPS": 1})
    client = proxied.test_client()
    html = client.get("/login").get_data(as_text=True)
    data["csrf_token"] = csrf_token(html)
    client.post("/login", data=data, headers=forwarded)
    proxied.extensions["ledger"].engine.dispose()
    assert sources(ledger) == ["127.0.0.1", "203.0.113.9"]


def test_pages_served_over_https_ask_browsers_to_stay_on_https(client):
    assert "Strict-Transport-Security" not in client.get("/").headers
    secure = client.get("/", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"


# ------------------------------------------------------------------ review follow-ups
def test_after_sign_out_a_copy_of_the_old_session_cookie_signs_nobody_in(app, client, ledger):
    make_user(ledger, "anna@example.org", ["donor"])
    sign_in(client, "anna@example.org")
    stolen = client.get_cookie("ledger_session").value
    form_post(client, "/logout", {}, page="/account")
    thief = app.test_client()
    thief.set_cookie("ledger_session", stolen, domain="localhost")
    assert thief.get("/account").status_code == 302


def test_a_reset_link_never_takes_the_host_of_the_request_that_asked_for_it(app, client, ledger):
    make_user(ledger, "anna@example.org", ["donor"])
    app.config["BASE_URL"] = "https://registro.example.org/"
    evil = {"Host": "evil.example"}
    html = client.get("/password/reset", headers=evil).get_data(as_text=True)
    response = client.post(
        "/password/reset",
        data={"csrf_token": csrf_token(html), "email": "anna@example.org"},
        headers=evil,
    )
    assert response.status_code == 302
    [mail] = app.extensions["sent_mail"]
    assert "evil.example" not in mail.body
    assert "https://registro.example.org/password/new#token=" in mail.body


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"MAIL_SENDER": "smtp"}, "LEDGER_BASE_URL"),
        (
            {"MAIL_SENDER": "smtp", "BASE_URL": "https://r.example.org", "SMTP_USERNAME": "u"},
            "STARTTLS",
        ),
        ({"MAIL_SENDER": "pigeon"}, "LEDGER_MAIL_SENDER"),
    ],
)
def test_mail_settings_that_cannot_work_safely_stop_the_app_from_starting(settings, message):
    from web.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        create_app({"DATABASE_URL": "sqlite:///:memory:", "TESTING": True, **settings})


def test_a_password_step_expires_after_five_minutes_without_a_code(client, ledger, clock):
    secret = totp.new_secret()
    make_user(ledger, "tesoriere@example.org", ["treasurer"], totp_secret=secret)
    sign_in(client, "tesoriere@example.org")
    clock.instant += timedelta(minutes=6)
    response = client.get("/login/2fa")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"


def test_totp_guesses_are_limited_per_user_whatever_the_session(app, ledger):
    secret = totp.new_secret()
    make_user(ledger, "tesoriere@example.org", ["treasurer"], totp_secret=secret)
    statuses = []
    for _ in range(3):  # three sessions, as from three machines
        client = app.test_client()
        sign_in(client, "tesoriere@example.org")
        for _ in range(2):
            statuses.append(form_post(client, "/login/2fa", {"code": "000000"}).status_code)
    assert statuses == [422] * 5 + [429]


def test_a_signed_in_session_cannot_guess_codes_at_the_verify_page_either(client, ledger):
    make_user(ledger, "tesoriere@example.org", ["treasurer"])
    sign_in(client, "tesoriere@example.org")

    def enrol(session):  # type: ignore[no-untyped-def]
        user = session.scalars(select(User)).one()
        user.totp_secret_sealed = ledger.require_secret_box().seal(totp.new_secret())
        user.totp_enrolled_at = ledger.clock.now()

    ledger.run(enrol)  # enrolled elsewhere after this session's password step
    statuses = [
        form_post(client, "/account/2fa/verify", {"code": "000000"}).status_code for _ in range(6)
    ]
    assert statuses == [422] * 5 + [429]


def test_only_refused_sign_ins_count_against_an_e_mail_address(db_url, clock, ledger):
    make_user(ledger, "anna@example.org", ["donor"])
    app = create_app(
        {
            "DATABASE_URL": db_url,
            "TESTING": True,
            "CLOCK": clock,
            "RATELIMIT_LOGIN_EMAIL": "2 per hour",
        }
    )
    client = app.test_client()
    for _ in range(3):  # the owner signs in and out: never counted
        assert sign_in(client, "anna@example.org").status_code == 302
        form_post(client, "/logout", {}, page="/account")
    assert sign_in(client, "anna@example.org", "sbagliata!!").status_code == 422
    assert sign_in(client, "anna@example.org", "sbagliata!!").status_code == 422
    assert sign_in(client, "anna@example.org").status_code == 429
    app.extensions["ledger"].engine.dispose()


def test_registrations_are_rate_limited_per_address(db_url, clock, ledger):
    app = create_app(
        {
            "DATABASE_URL": db_url,
            "TESTING": True,
            "CLOCK": clock,
            "RATELIMIT_REGISTER": "2 per hour",
        }
    )
    statuses = [
        register(app.test_client(), email=f"persona{n}@example.org").status_code for n in range(3)
    ]
    assert statuses == [302, 302, 429]
    assert count(ledger, Registration) == 2
    app.extensions["ledger"].engine.dispose()


@pytest.mark.postgres_only
def test_one_totp_code_used_by_two_requests_at_once_admits_only_one(pg_ledger):
    """Two transactions lock the user row in turn: the second sees the step used."""
    import threading

    from ledger.people.service import lock_user, verify_totp

    secret = totp.new_secret()
    user_id = make_user(pg_ledger, "tesoriere@example.org", ["treasurer"], totp_secret=secret)
    code = totp.code_at(secret, pg_ledger.clock.now())
    first = pg_ledger.sessions()
    box = pg_ledger.require_secret_box()
    assert verify_totp(lock_user(first, user_id), code, now=pg_ledger.clock.now(), box=box)
    results: list[bool] = []

    def second() -> None:
        results.append(
            pg_ledger.run(
                lambda s: verify_totp(
                    lock_user(s, user_id), code, now=pg_ledger.clock.now(), box=box
                )
            )
        )

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(timeout=1)
    assert thread.is_alive(), "the second request must wait for the first one's lock"
    first.commit()
    first.close()
    thread.join(timeout=10)
    assert results == [False]


def test_ledger_outbox_dispatch_sends_what_a_request_could_not(app, client, ledger, db_url):
    from click.testing import CliRunner

    from web.cli import cli

    make_user(ledger, "anna@example.org", ["donor"])
    app.config["MAIL_SENDER"] = "smtp"  # no mail server here: the request's send fails
    app.config["SMTP_PORT"] = 1
    form_post(client, "/password/reset", {"email": "anna@example.org"})
    pending = ledger.read(
        lambda s: s.execute(text("SELECT attempts, sent_at, last_error FROM outbox_messages")).one()
    )
    assert pending.attempts == 1 and pending.sent_at is None and "Error" in pending.last_error

    result = CliRunner().invoke(
        cli,
        ["--database", db_url, "outbox", "dispatch"],
        # Not a test app (no TESTING): it needs a webhook secret and a TOTP key to start.
        env={
            "LEDGER_MAIL_SENDER": "log",
            "LEDGER_STRIPE_WEBHOOK_SECRET": "whsec_test_dispatch",
            "LEDGER_TOTP_KEY": DEVELOPMENT_KEY,
        },
    )
    assert result.exit_code == 0, result.output
    assert "1 sent, 0 failed" in result.output
    sent = ledger.read(lambda s: s.execute(text("SELECT sent_at FROM outbox_messages")).one())
    assert sent.sent_at is not None


def test_a_static_file_fetched_with_an_older_cookie_does_not_put_the_old_session_back(
    client, ledger
):
    """A stylesheet or icon requested with the cookie of a moment ago, answered after the
    language switch, used to send that older session back to the browser (a permanent
    session's cookie is renewed by every response), and the next page came in the old
    language. Static files now leave the cookie alone; pages still renew it."""
    make_user(ledger, "anna@example.org", ["donor"])
    sign_in(client, "anna@example.org")
    before_switch = client.get_cookie("ledger_session").value
    page = client.get("/account")
    assert "ledger_session=" in page.headers.get("Set-Cookie", "")  # the lifetime slides
    form_post(client, "/language", {"lang": "en"}, page="/account")
    switched = client.get_cookie("ledger_session").value
    assert switched != before_switch
    # The icon's request left with the cookie from before the switch; its answer
    # arrives now.
    client.set_cookie("ledger_session", before_switch)
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200
    assert "ledger_session=" not in icon.headers.get("Set-Cookie", "")
    client.set_cookie("ledger_session", switched)  # what the browser keeps
    assert '<html lang="en"' in client.get("/account").get_data(as_text=True)
