"""Campaigns and donations in the JSON API: bearer tokens, decimal strings, Idempotency-Key."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from ledger.campaigns.models import Campaign, Donation, Refund
from ledger.core.clock import FixedClock
from ledger.core.service import Ledger
from tests.fakes.stripe_server import FakeStripe
from tests.web.test_api import Caller, make_caller
from tests.web.test_campaign_pages import (
    app_config,
    audit_actions,
    donations,
    fetch,
    open_campaign,
    settle_card,
)
from web import create_app

CAMPAIGNS = "/api/v1/campaigns"


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


@pytest.fixture
def app(db_url: str, clock: FixedClock, fake: FakeStripe) -> Iterator[Flask]:
    application = create_app(app_config(db_url, clock, fake))
    yield application
    application.extensions["ledger"].engine.dispose()


@pytest.fixture
def treasurer(ledger: Ledger, clock: FixedClock) -> Caller:
    return make_caller(ledger, clock, "tesoriera@example.org", "Giulia Bianchi", ["treasurer"])


@pytest.fixture
def donor(ledger: Ledger, clock: FixedClock) -> Caller:
    return make_caller(ledger, clock, "donatore@example.org", "Marco Rossi", ["donor"])


def new_campaign(**extra: object) -> dict[str, object]:
    return {
        "title": "Un orto in cortile",
        "description": "Semi e **attrezzi**.",
        "goal": "5000.00",
        "deadline": "2026-07-31T21:59:59+00:00",
        "funding_model": "keep_what_you_raise",
        **extra,
    }


def checkout(client, caller: Caller, campaign_id: int, key: str, amount: str = "12.50", **extra):  # type: ignore[no-untyped-def]
    return client.post(
        f"{CAMPAIGNS}/{campaign_id}/checkout",
        json={"amount": amount, **extra},
        headers=caller.with_key(key),
    )


def offline(client, caller: Caller, campaign_id: int, key: str, **body):  # type: ignore[no-untyped-def]
    return client.post(
        f"{CAMPAIGNS}/{campaign_id}/donations",
        json={"amount": "40.00", "method": "cash", **body},
        headers=caller.with_key(key),
    )


# --------------------------------------------------------------------------- campaigns
def test_a_treasurer_creates_and_publishes_a_campaign_and_anyone_reads_its_figures(
    client, ledger, treasurer, donor
):
    created = client.post(CAMPAIGNS, json=new_campaign(), headers=treasurer.auth)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert created.headers["Location"] == f"{CAMPAIGNS}/{body['id']}"
    assert body | {"id": 0, "organisation_id": 0} == {
        "id": 0,
        "organisation_id": 0,
        "title": "Un orto in cortile",
        "status": "draft",
        "funding_model": "keep_what_you_raise",
        "currency": "EUR",
        "goal": "5000.00",
        "raised": "0.00",
        "donor_count": 0,
        "deadline": "2026-07-31T21:59:59+00:00",
    }
    path = f"{CAMPAIGNS}/{body['id']}"
    assert client.get(path).status_code == 404  # a draft is not public
    assert client.get(path, headers=treasurer.auth).status_code == 200

    assert client.post(f"{path}/publish", headers=donor.auth).status_code == 403
    published = client.post(f"{path}/publish", headers=treasurer.auth)
    assert published.status_code == 200
    assert published.get_json()["status"] == "live"
    assert client.post(f"{path}/publish", headers=treasurer.auth).status_code == 200

    public = client.get(path)
    assert public.status_code == 200
    assert public.get_json()["goal"] == "5000.00"
    assert audit_actions(ledger).count("campaign.publish") == 1
    assert "campaign.create" in audit_actions(ledger)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"goal": 5000}, "goal"),
        ({"goal": "50.001"}, "goal"),
        ({"goal": "0.00"}, "goal"),
        ({"deadline": "2026-07-31T21:59:59"}, "deadline"),
        ({"funding_model": "a_caso"}, "funding_model"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_a_campaign_with_a_bad_field_is_refused_naming_it(client, treasurer, change, field):
    response = client.post(CAMPAIGNS, json=new_campaign(**change), headers=treasurer.auth)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["details"]["fields"]


def test_a_campaign_with_a_deadline_in_the_past_is_refused(client, treasurer):
    response = client.post(
        CAMPAIGNS, json=new_campaign(deadline="2026-01-01T00:00:00+00:00"), headers=treasurer.auth
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "invalid_campaign"


def test_closing_before_the_deadline_is_a_conflict_and_after_it_closes(
    client, ledger, clock, treasurer
):
    campaign_id = open_campaign(ledger, days=5)
    early = client.post(f"{CAMPAIGNS}/{campaign_id}/close", headers=treasurer.auth)
    assert early.status_code == 409
    assert early.get_json()["error"]["code"] == "campaign_state"
    clock.instant += timedelta(days=6)
    closed = client.post(f"{CAMPAIGNS}/{campaign_id}/close", headers=treasurer.auth)
    assert closed.status_code == 200
    assert closed.get_json() == {
        "campaign_id": campaign_id,
        "status": "closed",
        "refunds_created": 0,
        "refunds_pending": 0,
    }


# --------------------------------------------------------------------------- checkout
def test_the_same_checkout_key_twice_gives_the_same_answer_and_one_session(
    client, ledger, fake, donor
):
    campaign_id = open_campaign(ledger)
    first = checkout(client, donor, campaign_id, "dono-1")
    second = checkout(client, donor, campaign_id, "dono-1")

    assert first.status_code == 201, first.get_json()
    assert second.status_code == 200
    assert second.headers["Idempotent-Replayed"] == "true"
    assert first.get_json() == second.get_json()
    body = first.get_json()
    assert body["checkout_url"].startswith(f"{fake.url}/c/pay/")
    assert (body["status"], body["amount"], body["currency"]) == ("pending", "12.50", "EUR")
    assert fake.sessions_created == 1
    [gift] = donations(ledger)
    assert gift.id == body["donation_id"]
    assert gift.request_key == f"api:{donor.user_id}:dono-1"
    assert gift.person_id is not None


def test_a_checkout_through_the_api_returns_to_the_base_url_whatever_the_host_header(
    db_url, clock, ledger, fake, donor
):
    app = create_app(app_config(db_url, clock, fake, BASE_URL="https://registro.example.org"))
    campaign_id = open_campaign(ledger)
    response = app.test_client().post(
        f"{CAMPAIGNS}/{campaign_id}/checkout",
        json={"amount": "12.50"},
        headers={**donor.with_key("dono-host"), "Host": "evil.example"},
    )
    app.extensions["ledger"].engine.dispose()
    assert response.status_code == 201, response.get_json()
    [gift] = donations(ledger)
    session = fake.sessions[gift.stripe_session_id]
    assert session["success_url"].startswith("https://registro.example.org/campagne/")
    assert session["cancel_url"].startswith("https://registro.example.org/campagne/")


def test_a_checkout_key_reused_with_another_amount_is_a_conflict_that_writes_nothing(
    client, ledger, fake, donor
):
    campaign_id = open_campaign(ledger)
    assert checkout(client, donor, campaign_id, "k").status_code == 201
    response = checkout(client, donor, campaign_id, "k", amount="99.00")
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "idempotency_conflict"
    assert len(donations(ledger)) == 1 and fake.sessions_created == 1


def test_two_callers_with_the_same_key_make_two_gifts(client, ledger, clock, fake, donor):
    other = make_caller(ledger, clock, "altra@example.org", "Altra Persona", ["donor"])
    campaign_id = open_campaign(ledger)
    assert checkout(client, donor, campaign_id, "k").status_code == 201
    assert checkout(client, other, campaign_id, "k").status_code == 201
    assert fake.sessions_created == 2


@pytest.mark.parametrize(
    ("amount", "status", "code"),
    [
        ("0.99", 422, "invalid_donation"),
        ("10000.01", 422, "invalid_donation"),
        ("12.345", 422, "invalid_input"),
        ("-5.00", 422, "invalid_input"),
        (12.5, 422, "invalid_input"),
    ],
)
def test_a_checkout_amount_outside_the_limits_or_malformed_is_refused(
    client, ledger, fake, donor, amount, status, code
):
    campaign_id = open_campaign(ledger)
    response = checkout(client, donor, campaign_id, "k", amount=amount)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert donations(ledger) == [] and fake.sessions_created == 0


def test_a_checkout_needs_a_token_and_an_idempotency_key(client, ledger, donor):
    campaign_id = open_campaign(ledger)
    anonymous = client.post(f"{CAMPAIGNS}/{campaign_id}/checkout", json={"amount": "10.00"})
    assert anonymous.status_code == 401
    keyless = client.post(
        f"{CAMPAIGNS}/{campaign_id}/checkout", json={"amount": "10.00"}, headers=donor.auth
    )
    assert keyless.status_code == 422
    assert keyless.get_json()["error"]["code"] == "idempotency_key_required"


def test_a_checkout_for_a_draft_campaign_is_refused(client, ledger, fake, donor):
    campaign_id = open_campaign(ledger, publish=False)
    response = checkout(client, donor, campaign_id, "k")
    assert response.status_code == 409
    assert fake.sessions_created == 0


def test_without_card_payments_a_checkout_is_503_and_writes_nothing(db_url, clock, ledger):
    application = create_app(app_config(db_url, clock, None))
    caller = make_caller(ledger, clock, "d@example.org", "Dora Donati", ["donor"])
    campaign_id = open_campaign(ledger)
    response = checkout(application.test_client(), caller, campaign_id, "k")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "payments_not_configured"
    assert donations(ledger) == []
    application.extensions["ledger"].engine.dispose()


def test_the_raised_amount_counts_only_settled_gifts(client, ledger, fake, donor):
    campaign_id = open_campaign(ledger)
    donation_id = checkout(client, donor, campaign_id, "k", amount="30.00").get_json()[
        "donation_id"
    ]
    assert client.get(f"{CAMPAIGNS}/{campaign_id}").get_json()["raised"] == "0.00"
    assert settle_card(ledger, fake, donation_id) == "applied"
    figures = client.get(f"{CAMPAIGNS}/{campaign_id}").get_json()
    assert (figures["raised"], figures["donor_count"]) == ("30.00", 1)


# --------------------------------------------------------------------------- offline, refunds
def test_an_offline_gift_is_recorded_once_per_key_and_a_changed_body_is_a_conflict(
    client, ledger, treasurer
):
    campaign_id = open_campaign(ledger)
    donor = {"email": "carla@example.org", "full_name": "Carla Neri"}
    first = offline(client, treasurer, campaign_id, "cassa-1", donor=donor)
    second = offline(client, treasurer, campaign_id, "cassa-1", donor=donor)
    assert first.status_code == 201, first.get_json()
    assert second.status_code == 200 and second.headers["Idempotent-Replayed"] == "true"
    assert first.get_json() == second.get_json()
    body = first.get_json()
    assert (body["amount"], body["method"], body["status"]) == ("40.00", "cash", "settled")
    assert body["receipt"].endswith("/000001")
    conflict = offline(client, treasurer, campaign_id, "cassa-1", amount="41.00")
    assert conflict.status_code == 409
    assert len(donations(ledger)) == 1


def test_an_offline_gift_needs_a_known_donor_or_their_name(client, ledger, treasurer):
    campaign_id = open_campaign(ledger)
    response = offline(client, treasurer, campaign_id, "k", donor={"email": "nuova@example.org"})
    assert response.status_code == 422
    assert "donor.full_name" in response.get_json()["error"]["details"]["fields"]
    bank = offline(client, treasurer, campaign_id, "k2", method="bank_transfer")
    assert bank.status_code == 422
    assert donations(ledger) == []


def test_a_refund_without_an_amount_returns_the_whole_remainder_once_per_key(
    client, ledger, treasurer, donor
):
    campaign_id = open_campaign(ledger)
    gift = offline(client, treasurer, campaign_id, "cassa").get_json()["id"]
    path = f"/api/v1/donations/{gift}/refund"

    assert client.post(path, headers=donor.with_key("r")).status_code == 403
    first = client.post(path, headers=treasurer.with_key("r"))
    again = client.post(path, headers=treasurer.with_key("r"))

    assert first.status_code == 202, first.get_json()
    assert first.get_json() | {"id": 0} == {
        "id": 0,
        "donation_id": gift,
        "amount": "40.00",
        "currency": "EUR",
        "status": "succeeded",
    }
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert len(fetch(ledger, lambda s: list(s.scalars(select(Refund))))) == 1
    conflict = client.post(path, json={"amount": "1.00"}, headers=treasurer.with_key("r"))
    assert conflict.status_code == 409
    nothing = client.post(path, headers=treasurer.with_key("r2"))
    assert nothing.status_code == 409
    assert nothing.get_json()["error"]["code"] == "nothing_to_refund"
    other_gift = offline(client, treasurer, campaign_id, "cassa-2").get_json()["id"]
    elsewhere = client.post(
        f"/api/v1/donations/{other_gift}/refund", headers=treasurer.with_key("r")
    )
    assert elsewhere.status_code == 409
    assert elsewhere.get_json()["error"]["code"] == "idempotency_conflict"


def test_a_card_refund_is_accepted_and_pending_until_stripe_confirms(
    client, ledger, fake, treasurer, donor
):
    fake.refund_status = "pending"
    campaign_id = open_campaign(ledger)
    gift = checkout(client, donor, campaign_id, "k", amount="20.00").get_json()["donation_id"]
    settle_card(ledger, fake, gift)
    response = client.post(
        f"/api/v1/donations/{gift}/refund",
        json={"amount": "5.00"},
        headers=treasurer.with_key("r"),
    )
    assert response.status_code == 202
    assert (response.get_json()["amount"], response.get_json()["status"]) == ("5.00", "pending")
    too_much = client.post(
        f"/api/v1/donations/{gift}/refund",
        json={"amount": "50.00"},
        headers=treasurer.with_key("x"),
    )
    assert too_much.status_code == 409  # the first refund is still on its way


# --------------------------------------------------------------------------- the caller's own
def test_me_donations_lists_only_the_callers_own_gifts(client, ledger, clock, fake, donor):
    other = make_caller(ledger, clock, "altra@example.org", "Altra Persona", ["donor"])
    campaign_id = open_campaign(ledger)
    mine = checkout(client, donor, campaign_id, "a", amount="11.00", anonymous=True).get_json()
    checkout(client, other, campaign_id, "b", amount="22.00")

    listed = client.get("/api/v1/me/donations", headers=donor.auth)
    assert listed.status_code == 200
    [only] = listed.get_json()["donations"]
    assert (only["id"], only["amount"], only["anonymous"], only["status"]) == (
        mine["donation_id"],
        "11.00",
        True,
        "pending",
    )
    assert client.get("/api/v1/me/donations").status_code == 401
    campaign = fetch(ledger, lambda s: s.get(Campaign, campaign_id))
    assert only["campaign"] == campaign.title
    assert fetch(ledger, lambda s: s.scalars(select(Donation)).all())


def test_cash_owed_by_a_failed_campaign_is_recorded_as_handed_back_and_the_campaign_closes(
    client, ledger, clock, treasurer
):
    campaign_id = open_campaign(ledger, days=5, model="all_or_nothing")
    gift = offline(client, treasurer, campaign_id, "cassa").get_json()["id"]
    clock.instant += timedelta(days=6)
    failed = client.post(f"{CAMPAIGNS}/{campaign_id}/close", headers=treasurer.auth).get_json()
    assert (failed["status"], failed["refunds_created"]) == ("failed", 1)

    paid_back = client.post(f"/api/v1/donations/{gift}/refund", headers=treasurer.with_key("r"))
    assert paid_back.status_code == 202, paid_back.get_json()
    assert paid_back.get_json()["status"] == "succeeded"
    refunds = fetch(ledger, lambda s: list(s.execute(select(Refund.reason, Refund.status))))
    assert [tuple(r) for r in refunds] == [("campaign_failed", "succeeded")]
    closed = client.post(f"{CAMPAIGNS}/{campaign_id}/close", headers=treasurer.auth).get_json()
    assert closed["status"] == "closed"
