"""The JSON API under /api/v1: bearer tokens, roles, accounts, entries, reversals, errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from ledger.audit.models import AuditEvent
from ledger.core.clock import FixedClock
from ledger.core.holds import HoldSpec
from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.models import JournalEntry
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.people.service import (
    MAX_TOKEN_DAYS,
    NewPerson,
    create_user,
    issue_token,
    revoke_token,
)
from web import create_app

BANK = "assets:bank:intesa"
DONATIONS = "income:donations"
ESCROW = "liabilities:campaigns:42:escrow"
GRANTS = "expenses:grants"


@pytest.fixture
def app(db_url: str, clock: FixedClock) -> Iterator[Flask]:
    """The shared app, with the `ledger` fixture's clock so dates are exact."""
    application = create_app({"DATABASE_URL": db_url, "TESTING": True, "CLOCK": clock})
    yield application
    application.extensions["ledger"].engine.dispose()


@dataclass(frozen=True)
class Caller:
    user_id: int
    token: str
    token_id: int

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def with_key(self, key: str) -> dict[str, str]:
        return {**self.auth, "Idempotency-Key": key}


ALL_SCOPES = ("read", "money")


def make_caller(
    ledger: Ledger,
    clock: FixedClock,
    email: str,
    name: str,
    roles: list[str],
    scopes: tuple[str, ...] = ALL_SCOPES,
    days: int = MAX_TOKEN_DAYS,
):
    """A user with a token of `scopes` (both unless told: the tests act as every client),
    valid for `days` (the longest unless told: some tests move the clock by months)."""

    def work(session):
        user = create_user(
            session,
            NewPerson(email=email, full_name=name),
            roles=roles,
            password=None,
            now=clock.now(),
            email_verified_at=clock.now(),  # the owner has confirmed the address
        )
        token, row = issue_token(
            session, user, "test client", now=clock.now(), scopes=scopes, days=days
        )
        return Caller(user.id, token, row.id)

    return ledger.run(work)


@pytest.fixture
def treasurer(ledger: Ledger, clock: FixedClock) -> Caller:
    return make_caller(ledger, clock, "tesoriera@example.org", "Giulia Bianchi", ["treasurer"])


@pytest.fixture
def donor(ledger: Ledger, clock: FixedClock) -> Caller:
    return make_caller(ledger, clock, "donatore@example.org", "Marco Rossi", ["donor"])


@pytest.fixture
def books(ledger: Ledger) -> Ledger:
    ledger.create_account(BANK, "asset", name="Conto Intesa")
    ledger.create_account(DONATIONS, "income", name="Donazioni")
    ledger.create_account(ESCROW, "liability", no_overdraft=True)
    ledger.create_account(GRANTS, "expense")
    return ledger


def donation(amount: str = "12.50", **extra: Any) -> dict[str, Any]:
    return {
        "kind": "donation",
        "effective_date": "2026-06-10",
        "narration": "Donazione campagna 42",
        "metadata": {"campaign_id": 42, "channel": "cash"},
        "postings": [
            {"account": BANK, "amount": amount, "currency": "EUR"},
            {"account": DONATIONS, "amount": f"-{amount}", "currency": "EUR"},
        ],
        **extra,
    }


def post(client: FlaskClient, caller: Caller, body: Any, key: str = "k1"):
    return client.post("/api/v1/entries", json=body, headers=caller.with_key(key))


def entry_count(ledger: Ledger) -> int:
    return int(ledger.read(lambda s: s.scalar(select(func.count()).select_from(JournalEntry))))


def audit_events(ledger: Ledger) -> list[dict[str, Any]]:
    def read(session):
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [
            {
                "action": e.action,
                "subject": (e.subject_type, e.subject_id),
                "channel": e.channel,
                "user": e.actor_user_id,
                "details": e.details,
            }
            for e in rows
        ]

    return ledger.read(read)


def fields_of(response) -> dict[str, list[str]]:
    body = response.get_json()
    assert body["error"]["code"] == "invalid_input", body
    return body["error"]["details"]["fields"]


# Every API route but the public document, with a body good enough to reach the view.
PROTECTED = [
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/accounts"),
    ("POST", "/api/v1/accounts"),
    ("GET", f"/api/v1/accounts/{BANK}"),
    ("GET", "/api/v1/entries"),
    ("POST", "/api/v1/entries"),
    ("GET", "/api/v1/entries/1"),
    ("POST", "/api/v1/entries/1/reversal"),
    ("GET", "/api/v1/trial-balance"),
]
TREASURER_ONLY = [route for route in PROTECTED if route[1] != "/api/v1/me"]


def call(client: FlaskClient, method: str, path: str, headers: dict[str, str]):
    body = {"code": "assets:cash", "type": "asset"} if path.endswith("accounts") else donation()
    return client.open(
        path,
        method=method,
        json=body if method == "POST" else None,
        headers={**headers, "Idempotency-Key": "k1"},
    )


# --------------------------------------------------------------------------- authentication
@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_without_a_token_every_protected_route_answers_401_with_a_bearer_challenge_and_no_data(
    client, books, method, path
):
    response = call(client, method, path, {})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "unauthorized"
    assert entry_count(books) == 0


@pytest.mark.parametrize(
    "header", ["Bearer clt_not-a-real-token", "Bearer garbage", "Basic dXNlcjpwYXNz", "Bearer "]
)
def test_an_unknown_or_malformed_token_is_refused_with_401(client, treasurer, header):
    response = client.get("/api/v1/accounts", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_a_revoked_token_is_refused_with_401(client, ledger, clock, treasurer):
    assert client.get("/api/v1/accounts", headers=treasurer.auth).status_code == 200
    ledger.run(lambda s: revoke_token(s, treasurer.token_id, now=clock.now()))
    response = client.get("/api/v1/accounts", headers=treasurer.auth)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(("method", "path"), TREASURER_ONLY)
def test_a_donor_token_gets_403_on_every_treasurer_route_and_changes_nothing(
    client, books, donor, method, path
):
    response = call(client, method, path, donor.auth)
    assert response.status_code == 403
    assert set(response.get_json()) == {"error"}
    assert response.get_json()["error"]["code"] == "forbidden"
    assert entry_count(books) == 0
    assert audit_events(books) == []


def test_a_signed_in_session_cookie_is_not_accepted_by_the_api(client, ledger, clock, treasurer):
    # The API never reads the cookie: a page session alone must not reach its data.
    with client.session_transaction() as session:
        session["_user_id"] = f"{treasurer.user_id}:whatever"
        session["_fresh"] = True
    response = client.get("/api/v1/me")
    assert response.status_code == 401


def test_me_shows_the_callers_own_data_and_nobody_elses(client, treasurer, donor):
    response = client.get("/api/v1/me", headers=donor.auth)
    assert response.status_code == 200
    assert response.get_json() == {
        "user_id": donor.user_id,
        "email": "donatore@example.org",
        "full_name": "Marco Rossi",
        "roles": ["donor"],
        "token_id": donor.token_id,
        "scopes": ["money", "read"],
    }
    assert "tesoriera" not in response.get_data(as_text=True)
    mine = client.get("/api/v1/me", headers=treasurer.auth).get_json()
    assert (mine["user_id"], mine["roles"]) == (treasurer.user_id, ["treasurer"])


def test_api_posts_need_no_csrf_token_although_csrf_is_on_for_pages(app, client, books, treasurer):
    assert app.config["WTF_CSRF_ENABLED"] is True
    assert post(client, treasurer, donation()).status_code == 201


def test_an_unknown_api_path_or_method_is_a_json_envelope_never_a_page(client, treasurer):
    missing = client.get("/api/v1/nothing-here", headers=treasurer.auth)
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"
    wrong = client.delete("/api/v1/accounts", headers=treasurer.auth)
    assert wrong.status_code == 405
    assert wrong.get_json()["error"]["code"] == "method_not_allowed"
    assert set(wrong.get_json()["error"]["details"]["allowed"]) >= {"GET", "POST"}


# --------------------------------------------------------------------------- accounts
def test_a_treasurer_opens_an_account_and_it_is_audited(client, ledger, treasurer):
    response = client.post(
        "/api/v1/accounts",
        json={"code": ESCROW, "type": "liability", "name": "Campagna 42", "no_overdraft": True},
        headers=treasurer.auth,
    )
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"] == f"/api/v1/accounts/{ESCROW}"
    assert {k: body[k] for k in ("code", "type", "currency", "name", "no_overdraft")} == {
        "code": ESCROW,
        "type": "liability",
        "currency": "EUR",
        "name": "Campagna 42",
        "no_overdraft": True,
    }
    assert body["created_at"] == "2026-06-15T12:00:00+00:00"
    [event] = audit_events(ledger)
    assert event == {
        "action": "account.create",
        "subject": ("account", str(body["id"])),
        "channel": "api",
        "user": treasurer.user_id,
        "details": {
            "code": ESCROW,
            "type": "liability",
            "currency": "EUR",
            "no_overdraft": True,
        },
    }


def test_opening_an_existing_account_is_a_409_and_audits_nothing_more(client, ledger, treasurer):
    first = {"code": BANK, "type": "asset"}
    assert client.post("/api/v1/accounts", json=first, headers=treasurer.auth).status_code == 201
    again = client.post(
        "/api/v1/accounts", json={**first, "type": "expense"}, headers=treasurer.auth
    )
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "account_exists"
    assert [e["action"] for e in audit_events(ledger)] == ["account.create"]


def test_an_account_with_bad_fields_is_refused_field_by_field(client, ledger, treasurer):
    response = client.post(
        "/api/v1/accounts",
        json={
            "code": "Assets Bank",
            "type": "savings",
            "currency": "EURO",
            "no_overdraft": "yes",
            "colour": "red",
        },
        headers=treasurer.auth,
    )
    assert response.status_code == 422
    fields = fields_of(response)
    assert set(fields) == {"code", "type", "currency", "no_overdraft", "colour"}
    assert "lower-case segments" in fields["code"][0]
    assert "unknown currency" in fields["currency"][0]
    assert ledger.accounts() == []


def test_accounts_are_listed_by_code(client, books, treasurer):
    response = client.get("/api/v1/accounts", headers=treasurer.auth)
    assert response.status_code == 200
    codes = [a["code"] for a in response.get_json()["accounts"]]
    assert codes == sorted([BANK, DONATIONS, ESCROW, GRANTS])


def test_an_account_shows_posted_pending_and_available_balances_exactly(client, books, treasurer):
    assert post(client, treasurer, donation("1234.56")).status_code == 201
    books.hold(HoldSpec("h1", "grant_payment", GRANTS, BANK, Money.parse("200.07", "EUR")))
    response = client.get(f"/api/v1/accounts/{BANK}", headers=treasurer.auth)
    assert response.status_code == 200
    body = response.get_json()
    assert body["code"] == BANK
    assert body["name"] == "Conto Intesa"
    assert body["balance"] == {"posted": "1234.56", "pending": "200.07", "available": "1034.49"}
    donations = client.get(f"/api/v1/accounts/{DONATIONS}", headers=treasurer.auth).get_json()
    assert donations["balance"] == {"posted": "1234.56", "pending": "0.00", "available": "1234.56"}


def test_an_unknown_account_is_a_404_envelope(client, books, treasurer):
    response = client.get("/api/v1/accounts/assets:nowhere", headers=treasurer.auth)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "account_not_found"


# --------------------------------------------------------------------------- posting entries
def test_a_treasurer_posts_an_entry_with_exact_amounts_and_the_balances_follow(
    client, books, treasurer
):
    response = post(client, treasurer, donation("12.50"))
    assert response.status_code == 201
    assert response.headers["Location"] == "/api/v1/entries/1"
    assert "Idempotent-Replayed" not in response.headers
    entry = response.get_json()
    assert entry["sequence"] == 1
    assert entry["kind"] == "donation"
    assert entry["effective_date"] == "2026-06-10"
    assert entry["recorded_at"] == "2026-06-15T12:00:00+00:00"
    assert entry["actor"] == f"user:{treasurer.user_id}"
    assert entry["idempotency_key"] == f"api:{treasurer.user_id}:k1"
    assert entry["narration"] == "Donazione campagna 42"
    assert entry["metadata"] == {"campaign_id": 42, "channel": "cash"}
    assert entry["reverses_sequence"] is None
    assert entry["reversed_by_sequence"] is None
    assert entry["postings"] == [
        {"leg": 0, "account": BANK, "amount": "12.50", "currency": "EUR"},
        {"leg": 1, "account": DONATIONS, "amount": "-12.50", "currency": "EUR"},
    ]
    assert books.balance(BANK).posted == 1250
    assert books.balance(DONATIONS).posted == 1250
    assert client.get("/api/v1/entries/1", headers=treasurer.auth).get_json() == entry


def test_an_entry_without_a_date_is_dated_today_in_rome(client, books, clock, treasurer):
    body = donation()
    del body["effective_date"]
    response = post(client, treasurer, body)
    assert response.status_code == 201
    assert response.get_json()["effective_date"] == "2026-06-15"


def test_the_same_key_and_body_replays_the_original_without_writing_anything(
    client, books, treasurer
):
    first = post(client, treasurer, donation(), key="retry-me")
    again = post(client, treasurer, donation(), key="retry-me")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert entry_count(books) == 1
    assert books.balance(BANK).posted == 1250
    assert [e["action"] for e in audit_events(books)] == ["entry.post"]


def test_the_same_key_with_a_different_body_is_a_409_and_writes_nothing(client, books, treasurer):
    assert post(client, treasurer, donation("12.50"), key="k").status_code == 201
    conflict = post(client, treasurer, donation("99.00"), key="k")
    assert conflict.status_code == 409
    assert conflict.get_json()["error"]["code"] == "idempotency_conflict"
    assert entry_count(books) == 1
    assert books.balance(BANK).posted == 1250
    assert len(audit_events(books)) == 1


def test_two_callers_using_the_same_key_do_not_meet(client, ledger, books, clock, treasurer):
    other = make_caller(ledger, clock, "cassiere@example.org", "Luca Verdi", ["treasurer"])
    assert post(client, treasurer, donation("10.00"), key="same").status_code == 201
    second = post(client, other, donation("20.00"), key="same")
    assert second.status_code == 201
    assert second.get_json()["actor"] == f"user:{other.user_id}"
    assert entry_count(books) == 2
    assert books.balance(BANK).posted == 3000


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "idempotency_key_required"),
        ({"Idempotency-Key": "   "}, "idempotency_key_required"),
        ({"Idempotency-Key": "x" * 201}, "invalid_input"),
        ({"Idempotency-Key": "tab\there"}, "invalid_input"),
    ],
)
def test_a_money_moving_post_without_a_usable_idempotency_key_is_a_422_and_writes_nothing(
    client, books, treasurer, headers, code
):
    for path in ("/api/v1/entries", "/api/v1/entries/1/reversal"):
        response = client.post(path, json=donation(), headers={**treasurer.auth, **headers})
        assert response.status_code == 422
        error = response.get_json()["error"]
        assert error["code"] == code
        if code == "invalid_input":
            assert set(error["details"]["fields"]) == {"Idempotency-Key"}
    assert entry_count(books) == 0


def test_a_key_of_200_printable_characters_is_accepted(client, books, treasurer):
    assert post(client, treasurer, donation(), key="k " + "x" * 198).status_code == 201


@pytest.mark.parametrize("amount", [12.5, 12, 12.50, True, None, "12,50", " 12.50", "1e3", ""])
def test_an_amount_that_is_not_a_decimal_string_is_refused_not_rounded(
    client, books, treasurer, amount
):
    body = donation()
    body["postings"][0]["amount"] = amount
    response = post(client, treasurer, body)
    assert response.status_code == 422
    fields = fields_of(response)
    assert list(fields) == ["postings.0.amount"]
    assert entry_count(books) == 0


def test_a_float_amount_is_told_to_send_a_decimal_string(client, books, treasurer):
    body = donation()
    body["postings"][1]["amount"] = -12.5
    fields = fields_of(post(client, treasurer, body))
    assert fields == {
        "postings.1.amount": ['amounts are decimal strings such as "12.50", never JSON numbers']
    }


def test_more_decimals_than_the_currency_has_is_refused_not_rounded(client, books, treasurer):
    body = donation("12.345")
    fields = fields_of(post(client, treasurer, body))
    assert set(fields) == {"postings.0.amount", "postings.1.amount"}
    assert "more decimals than EUR allows (2)" in fields["postings.0.amount"][0]
    assert entry_count(books) == 0


def test_an_unbalanced_entry_is_a_422_and_writes_nothing(client, books, treasurer):
    body = donation()
    body["postings"][1]["amount"] = "-12.49"
    response = post(client, treasurer, body)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "unbalanced_entry"
    assert error["details"] == {"off_by": {"EUR": "1"}}
    assert entry_count(books) == 0
    assert audit_events(books) == []


def test_a_posting_to_an_unknown_account_is_a_404_and_writes_nothing(client, books, treasurer):
    body = donation()
    body["postings"][1]["account"] = "income:nowhere"
    response = post(client, treasurer, body)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "account_not_found"
    assert entry_count(books) == 0


def test_a_posting_in_another_currency_than_its_account_is_refused(client, books, treasurer):
    body = donation()
    for posting in body["postings"]:
        posting["currency"] = "CHF"
    response = post(client, treasurer, body)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "currency_mismatch"


def test_invalid_entry_fields_are_each_reported_under_their_dotted_path(client, books, treasurer):
    body = {
        "kind": "Donation!",
        "effective_date": "20260610",
        "narration": "x" * 501,
        "metadata": {"ratio": 0.5, "ok": "yes"},
        "postings": [{"account": BANK, "amount": "0.00", "currency": "XYZ"}],
        "colour": "red",
    }
    fields = fields_of(post(client, treasurer, body))
    assert set(fields) == {
        "kind",
        "effective_date",
        "narration",
        "metadata.ratio",
        "postings.0.currency",
        "colour",
    }
    assert "YYYY-MM-DD" in fields["effective_date"][0]
    assert entry_count(books) == 0


def test_an_entry_with_one_posting_is_refused_on_the_postings_field(client, books, treasurer):
    body = donation()
    del body["postings"][1]
    assert fields_of(post(client, treasurer, body)) == {
        "postings": ["an entry has 2 to 100 postings"]
    }


def test_a_zero_posting_is_refused_on_its_field(client, books, treasurer):
    body = donation()
    body["postings"].append({"account": GRANTS, "amount": "0", "currency": "EUR"})
    assert fields_of(post(client, treasurer, body)) == {
        "postings.2.amount": ["a posting moves a non-zero amount"]
    }


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "malformed_json"),
        ("", "application/json", 400, "malformed_json"),
        ('{"kind": "donation"}', "text/plain", 415, "unsupported_media_type"),
        ("kind=donation", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b"\xff\xfe", "application/json", 400, "malformed_json"),
        ("[1, 2]", "application/json", 422, "invalid_input"),
        ("null", "application/json", 400, "malformed_json"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_4xx_envelope(
    client, books, treasurer, data, content_type, status, code
):
    response = client.post(
        "/api/v1/entries",
        data=data,
        headers={**treasurer.with_key("k"), "Content-Type": content_type},
    )
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert entry_count(books) == 0


def test_personal_data_in_a_narration_is_refused(client, books, treasurer):
    response = post(client, treasurer, donation(narration="Da mario.rossi@example.org"))
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "personal_data_in_journal"
    assert entry_count(books) == 0


def test_overdrawing_a_no_overdraft_account_is_a_409(client, books, treasurer):
    body = donation("5.00")
    body["postings"] = [
        {"account": ESCROW, "amount": "5.00", "currency": "EUR"},
        {"account": BANK, "amount": "-5.00", "currency": "EUR"},
    ]
    response = post(client, treasurer, body)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "insufficient_funds"
    assert entry_count(books) == 0


def test_an_unknown_entry_is_a_404(client, books, treasurer):
    response = client.get("/api/v1/entries/7", headers=treasurer.auth)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "entry_not_found"


# --------------------------------------------------------------------------- reversals
def test_a_reversal_posts_the_opposite_once_and_a_second_reversal_is_a_409(
    client, books, treasurer
):
    assert post(client, treasurer, donation("12.50")).status_code == 201
    reversal = client.post("/api/v1/entries/1/reversal", headers=treasurer.with_key("r1"))
    assert reversal.status_code == 201
    assert reversal.headers["Location"] == "/api/v1/entries/2"
    entry = reversal.get_json()
    assert entry["kind"] == "reversal"
    assert entry["reverses_sequence"] == 1
    assert entry["effective_date"] == "2026-06-15"
    assert entry["narration"] == "Storno della registrazione n. 1"
    assert entry["postings"] == [
        {"leg": 0, "account": BANK, "amount": "-12.50", "currency": "EUR"},
        {"leg": 1, "account": DONATIONS, "amount": "12.50", "currency": "EUR"},
    ]
    assert books.balance(BANK).posted == 0
    original = client.get("/api/v1/entries/1", headers=treasurer.auth).get_json()
    assert original["reversed_by_sequence"] == 2

    replay = client.post("/api/v1/entries/1/reversal", headers=treasurer.with_key("r1"))
    assert replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == entry

    twice = client.post("/api/v1/entries/1/reversal", headers=treasurer.with_key("r2"))
    assert twice.status_code == 409
    assert twice.get_json()["error"]["code"] == "already_reversed"
    assert entry_count(books) == 2
    assert [e["action"] for e in audit_events(books)] == ["entry.post", "entry.reverse"]


def test_a_reversal_takes_an_optional_narration_and_date(client, books, treasurer):
    assert post(client, treasurer, donation()).status_code == 201
    response = client.post(
        "/api/v1/entries/1/reversal",
        json={"narration": "Storno: importo errato", "effective_date": "2026-06-12"},
        headers=treasurer.with_key("r1"),
    )
    assert response.status_code == 201
    entry = response.get_json()
    assert (entry["narration"], entry["effective_date"]) == ("Storno: importo errato", "2026-06-12")
    conflict = client.post(
        "/api/v1/entries/1/reversal",
        json={"narration": "Altro testo"},
        headers=treasurer.with_key("r1"),
    )
    assert conflict.status_code == 409
    assert conflict.get_json()["error"]["code"] == "idempotency_conflict"


def test_reversing_an_unknown_entry_is_a_404(client, books, treasurer):
    response = client.post("/api/v1/entries/9/reversal", headers=treasurer.with_key("r"))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "entry_not_found"


def test_a_reversal_with_a_bad_body_is_refused_field_by_field(client, books, treasurer):
    assert post(client, treasurer, donation()).status_code == 201
    response = client.post(
        "/api/v1/entries/1/reversal",
        json={"effective_date": "2026-13-01", "amount": "1.00"},
        headers=treasurer.with_key("r"),
    )
    assert set(fields_of(response)) == {"effective_date", "amount"}
    assert entry_count(books) == 1


# --------------------------------------------------------------------------- listing
def test_entries_are_listed_newest_first_in_pages_that_follow_the_cursor(client, books, treasurer):
    for n in range(1, 6):
        assert post(client, treasurer, donation(f"{n}.00"), key=f"k{n}").status_code == 201
    seen: list[int] = []
    url = "/api/v1/entries?limit=2"
    pages = 0
    while True:
        page = client.get(url, headers=treasurer.auth).get_json()
        pages += 1
        seen += [e["sequence"] for e in page["entries"]]
        if page["next_before"] is None:
            break
        url = f"/api/v1/entries?limit=2&before={page['next_before']}"
    assert seen == [5, 4, 3, 2, 1]
    assert pages == 3
    first = client.get("/api/v1/entries?limit=1", headers=treasurer.auth).get_json()
    assert first["entries"][0]["postings"][0]["amount"] == "5.00"


def test_the_entry_list_can_be_filtered_by_account(client, books, treasurer):
    assert post(client, treasurer, donation("1.00"), key="a").status_code == 201
    grant = {
        "kind": "grant_payment",
        "postings": [
            {"account": GRANTS, "amount": "0.50", "currency": "EUR"},
            {"account": BANK, "amount": "-0.50", "currency": "EUR"},
        ],
    }
    assert post(client, treasurer, grant, key="b").status_code == 201
    page = client.get(f"/api/v1/entries?account={GRANTS}", headers=treasurer.auth).get_json()
    assert [e["sequence"] for e in page["entries"]] == [2]
    page = client.get(f"/api/v1/entries?account={BANK}", headers=treasurer.auth).get_json()
    assert [e["sequence"] for e in page["entries"]] == [2, 1]
    missing = client.get("/api/v1/entries?account=assets:none", headers=treasurer.auth)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=201", "limit"),
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("limit=1.5", "limit"),
        ("before=-1", "before"),
        ("acount=assets", "acount"),
        ("limit=1&limit=2", "limit"),
    ],
)
def test_bad_paging_parameters_are_refused_by_name(client, books, treasurer, query, field):
    response = client.get(f"/api/v1/entries?{query}", headers=treasurer.auth)
    assert response.status_code == 422
    assert list(fields_of(response)) == [field]


# --------------------------------------------------------------------------- trial balance
def test_the_trial_balance_has_exact_columns_totals_and_the_journal_head(client, books, treasurer):
    assert post(client, treasurer, donation("1234.56"), key="a").status_code == 201
    usd = {"code": "assets:bank:usd", "type": "asset", "currency": "USD"}
    assert client.post("/api/v1/accounts", json=usd, headers=treasurer.auth).status_code == 201
    response = client.get("/api/v1/trial-balance", headers=treasurer.auth)
    assert response.status_code == 200
    book = response.get_json()
    lines = {line["account"]: (line["debit"], line["credit"]) for line in book["lines"]}
    assert lines == {
        BANK: ("1234.56", "0.00"),
        "assets:bank:usd": ("0.00", "0.00"),
        GRANTS: ("0.00", "0.00"),
        DONATIONS: ("0.00", "1234.56"),
        ESCROW: ("0.00", "0.00"),
    }
    assert book["totals"] == [
        {"currency": "EUR", "debit": "1234.56", "credit": "1234.56", "balanced": True},
        {"currency": "USD", "debit": "0.00", "credit": "0.00", "balanced": True},
    ]
    entry = client.get("/api/v1/entries/1", headers=treasurer.auth).get_json()
    assert book["head"] == {
        "last_sequence": 1,
        "last_hash": entry["hash"],
        "last_recorded_at": "2026-06-15T12:00:00+00:00",
    }
    assert book["as_of"] is None


def test_the_trial_balance_as_of_a_day_leaves_out_later_entries(client, books, treasurer):
    assert post(client, treasurer, donation("10.00"), key="a").status_code == 201
    later = donation("5.00", effective_date="2026-06-14")
    assert post(client, treasurer, later, key="b").status_code == 201
    response = client.get("/api/v1/trial-balance?as_of=2026-06-12", headers=treasurer.auth)
    book = response.get_json()
    assert book["as_of"] == "2026-06-12"
    bank = next(line for line in book["lines"] if line["account"] == BANK)
    assert (bank["debit"], bank["credit"]) == ("10.00", "0.00")


@pytest.mark.parametrize("as_of", ["20260612", "2026-02-30", "yesterday", "2026-W24-1"])
def test_a_trial_balance_date_that_is_not_yyyy_mm_dd_is_refused(client, books, treasurer, as_of):
    response = client.get(f"/api/v1/trial-balance?as_of={as_of}", headers=treasurer.auth)
    assert response.status_code == 422
    assert list(fields_of(response)) == ["as_of"]


# --------------------------------------------------------------------------- audit
def test_each_change_is_audited_once_with_the_caller_and_no_personal_data(
    client, ledger, treasurer
):
    for code, kind in ((BANK, "asset"), (DONATIONS, "income")):
        response = client.post(
            "/api/v1/accounts", json={"code": code, "type": kind}, headers=treasurer.auth
        )
        assert response.status_code == 201
    assert post(client, treasurer, donation()).status_code == 201
    assert (
        client.post("/api/v1/entries/1/reversal", headers=treasurer.with_key("r")).status_code
        == 201
    )
    # Refused requests leave no event.
    assert post(client, treasurer, donation("1.001"), key="bad").status_code == 422

    events = audit_events(ledger)
    assert [(e["action"], e["subject"]) for e in events] == [
        ("account.create", ("account", events[0]["subject"][1])),
        ("account.create", ("account", events[1]["subject"][1])),
        ("entry.post", ("entry", "1")),
        ("entry.reverse", ("entry", "2")),
    ]
    assert {(e["channel"], e["user"]) for e in events} == {("api", treasurer.user_id)}
    assert events[2]["details"]["kind"] == "donation"
    assert events[3]["details"]["reverses_sequence"] == 1
    text = repr(events)
    for personal in ("Giulia", "tesoriera@", "Donazione campagna"):
        assert personal not in text


def test_an_audit_event_is_written_with_its_entry_or_not_at_all(client, books, treasurer):
    # An overdraft refusal rolls back the entry, so the audit event must go with it.
    body = {
        "kind": "transfer",
        "postings": [
            {"account": ESCROW, "amount": "1.00", "currency": "EUR"},
            {"account": BANK, "amount": "-1.00", "currency": "EUR"},
        ],
    }
    assert post(client, treasurer, body).status_code == 409
    assert audit_events(books) == []
    assert entry_count(books) == 0


def test_entries_posted_by_the_engine_are_readable_through_the_api(client, books, treasurer):
    books.post(
        EntrySpec(
            "engine-1",
            "donation",
            [
                PostingSpec(BANK, Money.parse("7.00", "EUR")),
                PostingSpec(DONATIONS, Money.parse("-7.00", "EUR")),
            ],
            effective_on=date(2026, 6, 1),
        )
    )
    entry = client.get("/api/v1/entries/1", headers=treasurer.auth).get_json()
    assert (entry["idempotency_key"], entry["actor"]) == ("engine-1", None)
    assert entry["effective_date"] == "2026-06-01"
