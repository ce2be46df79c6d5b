"""Bounds at the edge: amounts and ids a client can send but the ledger cannot hold.

An amount is at most `ledger.core.money.MAX_MINOR` minor units (a BIGINT) and an
id at most 2**63 - 1; past that, and for a number too long for Python to read
(more than 4,300 digits), the answer is a 422 for an amount and a 404 for an id
in a path, never a 500. A gift received offline is at most
`LEDGER_OFFLINE_DONATION_MAX_MINOR`, and no gift can take a stored balance past
what the database holds (the engine refuses the entry).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.routing import IntegerConverter

from ledger.campaigns.models import Donation
from ledger.core.clock import FixedClock
from ledger.core.models import JournalEntry
from ledger.core.money import MAX_MINOR, format_minor
from ledger.core.service import Ledger
from tests.web.conftest import csrf_token, make_user, sign_in, totp_code
from tests.web.test_api import Caller, make_caller
from tests.web.test_campaign_pages import open_campaign
from web import create_app

HUGE = "9" * 5_000
BEYOND_64_BITS = 2**63


@pytest.fixture
def treasurer(ledger: Ledger, clock: FixedClock) -> Caller:
    return make_caller(ledger, clock, "tesoriera@example.org", "Giulia Bianchi", ["treasurer"])


def entries(ledger: Ledger) -> int:
    return int(ledger.read(lambda s: s.scalar(select(func.count()).select_from(JournalEntry))))


def gifts(ledger: Ledger) -> int:
    return int(ledger.read(lambda s: s.scalar(select(func.count()).select_from(Donation))))


def offline_gift(client: FlaskClient, caller: Caller, campaign_id: int, amount: str, key: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/v1/campaigns/{campaign_id}/donations",
        json={"amount": amount, "method": "cash"},
        headers=caller.with_key(key),
    )


# ------------------------------------------------------------------ amounts
def test_a_five_thousand_digit_amount_is_a_422_on_the_public_quote_and_in_a_body(
    client, ledger, treasurer
):
    campaign_id = open_campaign(ledger)

    quote = client.get(f"/api/v1/campaigns/{campaign_id}/matching?amount={HUGE}")
    gift = offline_gift(client, treasurer, campaign_id, HUGE, "huge-1")
    cents = offline_gift(client, treasurer, campaign_id, "1." + HUGE, "huge-2")

    for response in (quote, gift, cents):
        assert response.status_code == 422, response.get_data(as_text=True)[:200]
        assert response.get_json()["error"]["code"] == "invalid_input"
    assert gifts(ledger) == 0


def test_a_gift_received_offline_above_the_maximum_is_refused_and_writes_nothing(
    app, client, ledger, treasurer
):
    campaign_id = open_campaign(ledger)

    too_much = offline_gift(client, treasurer, campaign_id, "1000000000.00", "big-1")

    assert too_much.status_code == 422, too_much.get_json()
    maximum = int(app.config["OFFLINE_DONATION_MAX_MINOR"])
    assert maximum == 100_000_000  # 1,000,000.00 EUR unless the operator says otherwise
    just_above = offline_gift(
        client, treasurer, campaign_id, format_minor(maximum + 1, "EUR"), "big-2"
    )

    for response in (too_much, just_above):
        error = response.get_json()["error"]
        assert (response.status_code, error["code"]) == (422, "invalid_donation")
        assert error["details"]["maximum"] == maximum
    assert (gifts(ledger), entries(ledger)) == (0, 0)
    at_most = offline_gift(client, treasurer, campaign_id, format_minor(maximum, "EUR"), "big-3")
    assert at_most.status_code == 201


def test_a_gift_received_offline_above_the_maximum_is_refused_on_the_treasurers_page(
    client, ledger
):
    campaign_id = open_campaign(ledger)
    secret = pyotp.random_base32()
    make_user(ledger, "tesoriere@example.org", ["treasurer"], totp_secret=secret)
    sign_in(client, "tesoriere@example.org", code=totp_code(ledger, secret))
    url = "/tesoreria/donazioni/nuova"
    html = client.get(url).get_data(as_text=True)
    key = re.search(r'name="form_key"[^>]*value="([^"]*)"', html)
    assert key is not None
    response = client.post(
        url,
        data={
            "csrf_token": csrf_token(html),
            "form_key": key.group(1),
            "campaign": str(campaign_id),
            "amount": "2.000.000,00",
            "method": "cash",
        },
    )
    assert response.status_code == 422
    assert "1.000.000,00 EUR" in response.get_data(as_text=True)
    assert gifts(ledger) == 0


@pytest.fixture
def unbounded_app(db_url: str, clock: FixedClock) -> Iterator[Flask]:
    """An operator who set the offline maximum to all a BIGINT holds."""
    application = create_app(
        {
            "DATABASE_URL": db_url,
            "TESTING": True,
            "CLOCK": clock,
            "MAIL_SENDER": "memory",
            "OFFLINE_DONATION_MAX_MINOR": MAX_MINOR,
        }
    )
    yield application
    application.extensions["ledger"].engine.dispose()


def test_huge_cash_gifts_cannot_overflow_a_stored_balance(unbounded_app, ledger, treasurer):
    client = unbounded_app.test_client()
    campaign_id = open_campaign(ledger)
    most = format_minor(MAX_MINOR, "EUR")
    assert offline_gift(client, treasurer, campaign_id, most, "max-1").status_code == 201
    before = (gifts(ledger), entries(ledger))

    again = offline_gift(client, treasurer, campaign_id, "0.01", "max-2")

    error = again.get_json()["error"]
    assert (again.status_code, error["code"]) == (422, "balance_out_of_range")
    assert (gifts(ledger), entries(ledger)) == before
    assert ledger.verify().ok


# ------------------------------------------------------------------ ids in paths
def test_an_id_beyond_64_bits_in_any_path_is_a_404(app, ledger, treasurer):
    """Every route with a whole-number id, every method it takes, signed in as a user
    with every role and as nobody: 404, as for an id that does not exist."""
    everyone = make_caller(
        ledger,
        ledger.clock,  # type: ignore[arg-type]
        "tutto@example.org",
        "Tutti I Ruoli",
        ["admin", "treasurer", "foundation_officer", "reviewer", "proponent", "donor"],
    )
    checked = 0
    for rule in app.url_map.iter_rules():
        ints = [n for n, c in rule._converters.items() if isinstance(c, IntegerConverter)]
        if not ints:
            continue
        values = {name: 1 for name in rule.arguments}
        values.update(dict.fromkeys(ints, BEYOND_64_BITS))
        path = rule.build(values, append_unknown=False)[1]  # type: ignore[union-attr]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for headers in ({}, everyone.with_key(f"k-{checked}")):
                response = app.test_client().open(path, method=method, headers=headers)
                assert response.status_code == 404, (method, path, response.status_code)
                checked += 1
    assert checked > 100


# ------------------------------------------------------------------ ids in bodies
def test_an_id_beyond_64_bits_in_a_json_body_is_a_422_naming_it(client, ledger, clock):
    admin = make_caller(ledger, clock, "admin@example.org", "Ada Admin", ["admin"])
    body = {
        "fund_id": BEYOND_64_BITS,
        "title": "Bando",
        "budget": "100.00",
        "max_award": "10.00",
        "opens_at": "2026-07-01T00:00:00+02:00",
        "closes_at": "2026-07-31T23:59:00+02:00",
        "award_kind": "grant",
        "criteria": [{"name": "Impatto", "weight": 1}],
        "reviewer_user_ids": [1, -BEYOND_64_BITS - 1],
    }

    response = client.post("/api/v1/calls", json=body, headers=admin.auth)

    error = response.get_json()["error"]
    assert (response.status_code, error["code"]) == (422, "invalid_input")
    assert sorted(error["details"]["fields"]) == ["fund_id", "reviewer_user_ids.1"]


def test_a_json_body_nested_deeper_than_the_parser_goes_is_a_400(client, ledger, clock):
    admin = make_caller(ledger, clock, "admin@example.org", "Ada Admin", ["admin"])
    response = client.post(
        "/api/v1/calls",
        data="[" * 100_000 + "]" * 100_000,
        headers={**admin.auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_json"
