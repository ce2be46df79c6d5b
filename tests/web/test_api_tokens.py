"""API tokens: scopes (`read`, `money`), expiry, last use, and who may get a money token.

A token names what it may do: `read` for every GET, `money` for every request
that moves money or changes state. A money token is given by the account page
only after a fresh TOTP code (the operator's CLI may issue any scope). An
expired or revoked token answers 401, a token without the route's scope 403
`insufficient_scope`, and nothing is written.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
from flask.testing import FlaskClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ledger.audit.models import AuditEvent
from ledger.campaigns.models import Refund
from ledger.commands import Origin
from ledger.core.clock import FixedClock
from ledger.core.service import Ledger
from ledger.people import commands as people_commands
from ledger.people.models import ApiToken
from tests.web.conftest import csrf_token, form_post, make_user, sign_in, totp_code
from tests.web.test_api import BANK, DONATIONS, Caller, donation, entry_count, make_caller
from tests.web.test_campaign_pages import open_campaign

TREASURER = "tesoriera@example.org"


def operator_token(ledger: Ledger, clock: FixedClock, email: str, **options: object) -> str:
    """A token as `ledger tokens create EMAIL` issues it (no second factor asked)."""
    return ledger.run(
        lambda s: (
            people_commands.issue_token(
                s, email, "script", origin=Origin.command_line(), clock=clock, **options
            ).value.token
        )
    )


def bearer(token: str, key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def with_books(ledger: Ledger) -> None:
    ledger.create_account(BANK, "asset", name="Conto Intesa")
    ledger.create_account(DONATIONS, "income", name="Donazioni")


def refund_count(ledger: Ledger) -> int:
    return int(ledger.read(lambda s: s.scalar(select(func.count()).select_from(Refund))))


# --------------------------------------------------------------------------- the attacks
def test_a_treasurer_token_issued_without_a_totp_confirmation_can_no_longer_refund_or_post(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
):
    full: Caller = make_caller(ledger, clock, TREASURER, "Giulia Bianchi", ["treasurer"])
    with_books(ledger)
    campaign_id = open_campaign(ledger)
    gift = client.post(
        f"/api/v1/campaigns/{campaign_id}/donations",
        json={"amount": "40.00", "method": "cash"},
        headers=full.with_key("cassa"),
    )
    assert gift.status_code == 201, gift.get_json()
    token = operator_token(ledger, clock, TREASURER)

    refund = client.post(
        f"/api/v1/donations/{gift.get_json()['id']}/refund", headers=bearer(token, "r1")
    )
    posted = client.post("/api/v1/entries", json=donation(), headers=bearer(token, "e1"))

    for response in (refund, posted):
        assert response.status_code == 403, response.get_json()
        assert response.get_json()["error"]["code"] == "insufficient_scope"
    assert refund_count(ledger) == 0
    assert entry_count(ledger) == 1  # the gift's own entry, nothing more
    assert client.get("/api/v1/accounts", headers=bearer(token)).status_code == 200


def test_an_expired_token_is_refused_with_401(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
):
    make_caller(ledger, clock, TREASURER, "Giulia Bianchi", ["treasurer"])
    token = operator_token(ledger, clock, TREASURER)
    assert client.get("/api/v1/accounts", headers=bearer(token)).status_code == 200

    clock.instant += timedelta(days=90)
    response = client.get("/api/v1/accounts", headers=bearer(token))

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "error=invalid_token" in response.headers["WWW-Authenticate"].replace('"', "")


def test_a_read_token_cannot_post_an_entry(client: FlaskClient, ledger: Ledger, clock: FixedClock):
    make_caller(ledger, clock, TREASURER, "Giulia Bianchi", ["treasurer"])
    with_books(ledger)
    token = operator_token(ledger, clock, TREASURER, scopes=("read",))

    response = client.post("/api/v1/entries", json=donation(), headers=bearer(token, "e1"))

    assert response.status_code == 403
    assert response.get_json()["error"] == {
        "code": "insufficient_scope",
        "message": "this request needs a token with the scope 'money'",
        "details": {"required": "money", "granted": ["read"]},
    }
    challenge = response.headers["WWW-Authenticate"].replace('"', "")
    assert "error=insufficient_scope" in challenge and "scope=money" in challenge
    assert entry_count(ledger) == 0


# --------------------------------------------------------------------------- the account page
def token_rows(ledger: Ledger) -> list[ApiToken]:
    def read(session: Session) -> list[ApiToken]:
        rows = list(session.scalars(select(ApiToken).order_by(ApiToken.id)))
        session.expunge_all()
        return rows

    return ledger.read(read)


def issued_token(response) -> str:  # type: ignore[no-untyped-def]
    match = re.search(r'id="issued-token">([^<]+)<', response.get_data(as_text=True))
    assert match, "the page shows no new token"
    return match.group(1)


def ask_for_token(client: FlaskClient, **fields: str):  # type: ignore[no-untyped-def]
    data = {"name": "contabilità", "scopes": "money read", "days": "30", **fields}
    return form_post(client, "/account/tokens", data)


def test_a_money_token_from_the_account_page_needs_a_totp_code_given_then(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
):
    secret = pyotp.random_base32()
    make_user(ledger, TREASURER, ["treasurer"], totp_secret=secret)
    with_books(ledger)
    assert sign_in(client, TREASURER, code=totp_code(ledger, secret)).status_code == 302

    without = ask_for_token(client)
    wrong = ask_for_token(client, code=totp_code(ledger, pyotp.random_base32()))
    used_at_sign_in = ask_for_token(client, code=totp_code(ledger, secret))
    for refused in (without, wrong, used_at_sign_in):
        assert refused.status_code == 422
        assert 'id="code-error"' in refused.get_data(as_text=True)
    assert token_rows(ledger) == []

    answer = ask_for_token(client, code=totp_code(ledger, secret, 1))
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    token = issued_token(answer)
    (row,) = token_rows(ledger)
    assert (row.scope_set, row.expires_at) == ({"money", "read"}, clock.now() + timedelta(days=30))
    posted = client.post("/api/v1/entries", json=donation(), headers=bearer(token, "e1"))
    assert posted.status_code == 201, posted.get_json()
    assert audit_actions(ledger)[-2:] == ["token.create", "entry.post"]
    assert audit_details(ledger, "token.create")["two_factor"] is True


def test_a_user_without_totp_gets_a_read_token_but_no_money_token(
    client: FlaskClient, ledger: Ledger
):
    make_user(ledger, "donatore@example.org", ["donor"])
    sign_in(client, "donatore@example.org")

    refused = ask_for_token(client, code="123456")
    assert refused.status_code == 422
    assert "autenticazione a due fattori" in refused.get_data(as_text=True)
    assert token_rows(ledger) == []

    token = issued_token(ask_for_token(client, scopes="read"))
    assert client.get("/api/v1/me", headers=bearer(token)).get_json()["scopes"] == ["read"]
    checkout = client.post(
        "/api/v1/campaigns/1/checkout", json={"amount": "10.00"}, headers=bearer(token, "c")
    )
    assert checkout.status_code == 403
    assert checkout.get_json()["error"]["code"] == "insufficient_scope"


def test_the_token_page_lists_only_ones_own_tokens_with_their_last_use(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
):
    make_user(ledger, "anna@example.org", ["donor"])
    other = make_caller(ledger, clock, "bruno@example.org", "Bruno Neri", ["donor"])
    sign_in(client, "anna@example.org")
    token = issued_token(ask_for_token(client, name="foglio di calcolo", scopes="read"))

    used = client.get(
        "/api/v1/me", headers=bearer(token), environ_base={"REMOTE_ADDR": "192.0.2.7"}
    )
    assert used.status_code == 200
    page = client.get("/account/tokens").get_data(as_text=True)
    assert "foglio di calcolo" in page and token[:12] in page and "192.0.2.7" in page
    assert token not in page  # shown once, when it was issued
    assert other.token[:12] not in page and "test client" not in page

    listed = client.get("/api/v1/me/tokens", headers=bearer(token)).get_json()["tokens"]
    assert [(t["name"], t["scopes"], t["status"], t["last_used_from"]) for t in listed] == [
        ("foglio di calcolo", ["read"], "live", "192.0.2.7")
    ]
    assert "token_hash" not in listed[0] and token not in str(listed)


def test_a_tokens_last_use_is_written_at_most_once_a_minute(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
):
    caller = make_caller(ledger, clock, TREASURER, "Giulia Bianchi", ["treasurer"])
    first_use = clock.now()

    def use(address: str) -> None:
        response = client.get(
            "/api/v1/me", headers=caller.auth, environ_base={"REMOTE_ADDR": address}
        )
        assert response.status_code == 200

    use("192.0.2.1")
    clock.instant += timedelta(seconds=59)
    use("192.0.2.2")
    (row,) = token_rows(ledger)
    assert (row.last_used_at, row.last_used_from) == (first_use, "192.0.2.1")

    clock.instant += timedelta(seconds=1)
    use("192.0.2.3")
    (row,) = token_rows(ledger)
    assert (row.last_used_at, row.last_used_from) == (clock.now(), "192.0.2.3")


def test_a_last_use_that_cannot_be_written_does_not_fail_the_request(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
):
    caller = make_caller(ledger, clock, TREASURER, "Giulia Bianchi", ["treasurer"])
    refuse_last_use_writes(ledger)

    response = client.get("/api/v1/me", headers=caller.auth)
    refused = client.post("/api/v1/me/tokens/999/revoke", headers=caller.auth)

    assert response.status_code == 200
    assert refused.status_code == 404  # the request's own unit of work still runs
    (row,) = token_rows(ledger)
    assert row.last_used_at is None


def refuse_last_use_writes(ledger: Ledger) -> None:
    """A real trigger that makes the database refuse to write a token's last use."""

    def install(session: Session) -> None:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                text(
                    "CREATE FUNCTION refuse_last_use() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'last use refused'; END $$"
                )
            )
            session.execute(
                text(
                    "CREATE TRIGGER refuse_last_use BEFORE UPDATE OF last_used_at ON api_tokens "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_last_use()"
                )
            )
        else:
            session.execute(
                text(
                    "CREATE TRIGGER refuse_last_use BEFORE UPDATE OF last_used_at ON api_tokens "
                    "BEGIN SELECT RAISE(ABORT, 'last use refused'); END"
                )
            )

    ledger.run(install)


# --------------------------------------------------------------------------- revoking
def test_a_user_revokes_their_own_token_on_the_page_and_it_stops_at_once(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
):
    make_user(ledger, "anna@example.org", ["donor"])
    other = make_caller(ledger, clock, "bruno@example.org", "Bruno Neri", ["donor"])
    sign_in(client, "anna@example.org")
    token = issued_token(ask_for_token(client, scopes="read"))
    mine = token_rows(ledger)[-1].id
    page = client.get("/account/tokens").get_data(as_text=True)

    revoked = client.post(f"/account/tokens/{mine}/revoke", data={"csrf_token": csrf_token(page)})
    not_mine = client.post(
        f"/account/tokens/{other.token_id}/revoke", data={"csrf_token": csrf_token(page)}
    )

    assert revoked.status_code == 303
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    assert not_mine.status_code == 404
    assert client.get("/api/v1/me", headers=other.auth).status_code == 200
    assert audit_actions(ledger).count("token.revoke") == 1


def test_a_money_token_revokes_its_owners_tokens_through_the_api_and_no_one_elses(
    client: FlaskClient, ledger: Ledger, clock: FixedClock
):
    caller = make_caller(ledger, clock, TREASURER, "Giulia Bianchi", ["treasurer"])
    other = make_caller(ledger, clock, "bruno@example.org", "Bruno Neri", ["donor"])
    reader = operator_token(ledger, clock, TREASURER)
    reader_id = token_rows(ledger)[-1].id

    by_reader = client.post(f"/api/v1/me/tokens/{reader_id}/revoke", headers=bearer(reader))
    elsewhere = client.post(f"/api/v1/me/tokens/{other.token_id}/revoke", headers=caller.auth)
    done = client.post(f"/api/v1/me/tokens/{reader_id}/revoke", headers=caller.auth)

    assert by_reader.get_json()["error"]["code"] == "insufficient_scope"
    assert elsewhere.status_code == 404
    assert elsewhere.get_json()["error"]["code"] == "token_not_found"
    assert done.status_code == 200 and done.get_json()["status"] == "revoked"
    assert client.get("/api/v1/me", headers=bearer(reader)).status_code == 401
    assert client.get("/api/v1/me", headers=other.auth).status_code == 200


def audit_actions(ledger: Ledger) -> list[str]:
    return list(
        ledger.read(lambda s: s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all())
    )


def audit_details(ledger: Ledger, action: str) -> dict[str, object]:
    return dict(
        ledger.read(
            lambda s: s.scalars(
                select(AuditEvent.details)
                .where(AuditEvent.action == action)
                .order_by(AuditEvent.id.desc())
            ).first()
        )
    )
