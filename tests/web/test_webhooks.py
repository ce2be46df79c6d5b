"""Stripe's webhook endpoint, end to end: the real `stripe` library, the local fake Stripe
over HTTP, deliveries signed as Stripe signs them, and the books asserted account by account.

Gifts are started the way the donation form starts them (`web.campaigns.payments.begin_checkout`),
paid at the fake, and the events the fake builds from its own state are posted as raw bytes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from ledger.audit.models import AuditEvent
from ledger.campaigns import accounts
from ledger.campaigns.models import Donation, Receipt, StripeEvent
from ledger.campaigns.service import (
    NewCampaign,
    create_campaign,
    create_organisation,
    publish_campaign,
)
from ledger.campaigns.stripe_events import ChargeFacts, apply_event
from ledger.core.clock import FixedClock
from ledger.core.money import Money
from ledger.core.sealing import new_key
from ledger.core.service import Ledger
from ledger.payments.stripe_gateway import StripeGateway
from tests.fakes.stripe_server import FakeStripe, delivery, encode_event, sign, sign_with
from web import create_app
from web.campaigns.payments import begin_checkout
from web.config import ConfigError

API_KEY = "sk_test_community_ledger"
# This instance's Stripe key prefix: every idempotency key sent starts with it.
PREFIX = "web-test-a-"
SECRET = "whsec_test_current"
OLD_SECRET = "whsec_test_previous"
URL = "/webhooks/stripe"


# ------------------------------------------------------------------ fixtures and helpers
@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


def configure_stripe(app: Flask, fake: FakeStripe, secrets: str = SECRET) -> Flask:
    app.config.update(
        STRIPE_SECRET_KEY=API_KEY,
        STRIPE_API_BASE=fake.url,
        STRIPE_WEBHOOK_SECRET=secrets,
        STRIPE_KEY_PREFIX=PREFIX,
    )
    return app


@pytest.fixture
def stripe_app(app: Flask, fake: FakeStripe) -> Flask:
    """The web fixtures' app, with card payments pointed at the fake Stripe."""
    return configure_stripe(app, fake)


def open_campaign(ledger: Ledger, *, goal: str = "1000.00") -> int:
    """A live keep-what-you-raise campaign of an ODV, through the domain services."""

    def work(session):  # type: ignore[no-untyped-def]
        org = create_organisation(
            session,
            name="Associazione Quartiere Vivo ODV",
            tax_code="97123450153",
            qualification="ODV",
            now=ledger.clock.now(),
        )
        campaign = create_campaign(
            session,
            NewCampaign(
                organisation_id=org.id,
                title="Un orto in cortile",
                description_md="Semi, attrezzi e un corso per i bambini del quartiere.",
                goal_minor=Money.parse(goal, "EUR").minor,
                currency="EUR",
                deadline_at=ledger.clock.now() + timedelta(days=30),
                funding_model="keep_what_you_raise",
            ),
            clock=ledger.clock,
        )
        publish_campaign(session, campaign.id, clock=ledger.clock)
        return campaign.id

    return ledger.run(work)


def checkout(app: Flask, campaign_id: int, amount: str, key: str) -> tuple[int, str]:
    """Start a card gift as the donation form does: (donation id, Checkout Session id)."""
    with app.test_request_context():
        started = begin_checkout(
            campaign_id,
            Money.parse(amount, "EUR"),
            person_id=None,
            anonymous=False,
            request_key=key,
            success_url="https://registro.example.org/donazioni/DONATION_ID/grazie",
            cancel_url="https://registro.example.org/campagne",
        )
    ledger: Ledger = app.extensions["ledger"]
    session_id = ledger.read(lambda s: s.get(Donation, started.donation_id).stripe_session_id)
    return started.donation_id, session_id


def post(client: FlaskClient, event: dict[str, Any], secret: str = SECRET, **kwargs: Any):  # type: ignore[no-untyped-def]
    body, headers = delivery(event, secret, **kwargs)
    return client.post(URL, data=body, headers=headers)


def balances(ledger: Ledger, campaign_id: int) -> dict[str, int]:
    codes = [accounts.STRIPE, accounts.FEES, accounts.escrow(campaign_id)]
    return {code: ledger.balance(code).posted for code in codes}


def count(ledger: Ledger, sql: str) -> int:
    return int(ledger.read(lambda s: s.execute(text(sql)).scalar_one()))


def entries(ledger: Ledger) -> int:
    return count(ledger, "SELECT count(*) FROM journal_entries")


def stripe_events(ledger: Ledger) -> list[tuple[str, str]]:
    return ledger.read(
        lambda s: [
            (e.type, e.outcome) for e in s.scalars(select(StripeEvent).order_by(StripeEvent.id))
        ]
    )


def donation_row(ledger: Ledger, donation_id: int) -> dict[str, Any]:
    """The donation's columns, read in their own transaction."""

    def read(session):  # type: ignore[no-untyped-def]
        row = session.get(Donation, donation_id)
        return {c.key: getattr(row, c.key) for c in Donation.__table__.columns}

    return ledger.read(read)


def status_of(ledger: Ledger, donation_id: int) -> str:
    return ledger.read(lambda s: s.get(Donation, donation_id).status)


def paid_gift(app: Flask, fake: FakeStripe, ledger: Ledger, amount: str = "100.00", fee: int = 175):  # type: ignore[no-untyped-def]
    """A campaign and a card gift paid at Stripe, its webhook not yet delivered."""
    cid = open_campaign(ledger)
    donation_id, session_id = checkout(app, cid, amount, "k-1")
    paid = fake.pay(session_id, fee_minor=fee)
    return cid, donation_id, session_id, paid


# ------------------------------------------------------------------ a valid delivery
def test_a_valid_delivery_settles_the_gift_and_books_gross_fee_and_net(stripe_app, fake, ledger):
    client = stripe_app.test_client()
    cid, donation_id, session_id, paid = paid_gift(stripe_app, fake, ledger, "100.00", 175)
    assert balances(ledger, cid) == {accounts.STRIPE: 0, accounts.FEES: 0, accounts.escrow(cid): 0}

    event = fake.checkout_completed_event(session_id)
    response = post(client, event)

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"outcome": "applied"}
    assert balances(ledger, cid) == {
        accounts.STRIPE: 9825,  # net, from the balance transaction
        accounts.FEES: 175,  # Stripe's fee
        accounts.escrow(cid): 10000,  # the gross owed to the campaign
    }
    donation = donation_row(ledger, donation_id)
    assert (donation["status"], donation["fee_minor"]) == ("settled", 175)
    assert (donation["stripe_payment_intent_id"], donation["stripe_charge_id"]) == (
        paid.payment_intent_id,
        paid.charge_id,
    )
    assert ledger.read(
        lambda s: s.scalars(
            select(Receipt.amount_minor).where(Receipt.donation_id == donation_id)
        ).all()
    ) == [10000]
    assert stripe_events(ledger) == [("checkout.session.completed", "applied")]
    audited = ledger.read(
        lambda s: [
            (a.action, a.subject_id, a.details)
            for a in s.scalars(select(AuditEvent).where(AuditEvent.action == "stripe.event"))
        ]
    )
    assert audited == [
        ("stripe.event", event["id"], {"type": "checkout.session.completed", "outcome": "applied"})
    ]
    assert ledger.verify().ok


# ------------------------------------------------------------------ refused deliveries
def _one_byte_changed(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body.replace(b'"amount_total": 10000', b'"amount_total": 10001'), headers


def _no_header(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, {k: v for k, v in headers.items() if k != "Stripe-Signature"}


def _wrong_secret(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, {**headers, "Stripe-Signature": sign(body, "whsec_someone_else")}


def _too_old(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, {**headers, "Stripe-Signature": sign(body, SECRET, int(time.time()) - 301)}


def _no_v1_entry(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, {**headers, "Stripe-Signature": f"t={int(time.time())}"}


def _re_serialised(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    # What a handler that parsed the JSON and dumped it again would verify.
    return json.dumps(json.loads(body)).encode(), headers


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_one_byte_changed, "bad_signature"),
        (_no_header, "missing_header"),
        (_wrong_secret, "bad_signature"),
        (_too_old, "timestamp_outside_tolerance"),
        (_no_v1_entry, "bad_signature"),
        (_re_serialised, "bad_signature"),
    ],
    ids=["one-byte-changed", "no-header", "wrong-secret", "301-s-old", "no-v1", "re-serialised"],
)
def test_a_delivery_that_fails_verification_is_refused_and_changes_nothing(
    stripe_app, fake, ledger, tamper, reason
):
    client = stripe_app.test_client()
    _cid, donation_id, session_id, _ = paid_gift(stripe_app, fake, ledger)
    body, headers = tamper(*delivery(fake.checkout_completed_event(session_id), SECRET))
    before = (entries(ledger), count(ledger, "SELECT count(*) FROM audit_events"))

    response = client.post(URL, data=body, headers=headers)

    assert response.status_code == 400
    error = response.get_json()["error"]
    assert (error["code"], error["details"]["reason"]) == ("invalid_webhook_signature", reason)
    assert SECRET not in response.get_data(as_text=True)
    assert (entries(ledger), count(ledger, "SELECT count(*) FROM audit_events")) == before
    assert stripe_events(ledger) == []
    assert status_of(ledger, donation_id) == "pending"
    assert (
        fake.requests_to(
            "GET", f"/v1/payment_intents/{fake.sessions[session_id]['payment_intent']}"
        )
        == []
    )


def test_the_untouched_delivery_of_the_refusal_cases_is_accepted(stripe_app, fake, ledger):
    """The control of the test above: the same gift and event, untampered, settle."""
    client = stripe_app.test_client()
    _cid, donation_id, session_id, _ = paid_gift(stripe_app, fake, ledger)
    body, headers = delivery(fake.checkout_completed_event(session_id), SECRET)
    assert client.post(URL, data=body, headers=headers).status_code == 200
    assert status_of(ledger, donation_id) == "settled"


def test_during_a_rotation_a_header_whose_second_signature_matches_is_accepted(
    stripe_app, fake, ledger
):
    client = stripe_app.test_client()
    _cid, donation_id, session_id, _ = paid_gift(stripe_app, fake, ledger)
    body = encode_event(fake.checkout_completed_event(session_id))
    header = sign_with(body, ["whsec_not_ours", SECRET])

    response = client.post(URL, data=body, headers={"Stripe-Signature": header})

    assert response.status_code == 200, response.get_data(as_text=True)
    assert status_of(ledger, donation_id) == "settled"


def test_during_a_rotation_both_configured_secrets_verify(stripe_app, fake, ledger):
    configure_stripe(stripe_app, fake, secrets=f"{SECRET}, {OLD_SECRET}")
    client = stripe_app.test_client()
    _cid, donation_id, session_id, _ = paid_gift(stripe_app, fake, ledger)

    response = post(client, fake.checkout_completed_event(session_id), secret=OLD_SECRET)

    assert response.status_code == 200, response.get_data(as_text=True)
    assert status_of(ledger, donation_id) == "settled"


def test_a_live_mode_event_is_refused_by_an_endpoint_with_a_test_key(stripe_app, fake, ledger):
    client = stripe_app.test_client()
    _cid, donation_id, session_id, _ = paid_gift(stripe_app, fake, ledger)
    event = fake.checkout_completed_event(session_id)
    event["livemode"] = True

    response = post(client, event)

    assert response.status_code == 400
    assert response.get_json()["error"]["details"]["reason"] == "livemode_mismatch"
    assert stripe_events(ledger) == [] and status_of(ledger, donation_id) == "pending"


def test_a_delivery_without_a_signature_is_a_400_even_when_card_payments_are_off(app):
    """No key, no secret (a test app): a stranger's post is refused, never a 5xx."""
    response = app.test_client().post(URL, data=b"{}", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"]["details"]["reason"] == "missing_header"


# ------------------------------------------------------------------ redelivery and races
def test_the_same_event_delivered_twice_has_one_effect(stripe_app, fake, ledger):
    client = stripe_app.test_client()
    cid, _donation_id, session_id, paid = paid_gift(stripe_app, fake, ledger)
    event = fake.checkout_completed_event(session_id)

    first, second = post(client, event), post(client, event)

    assert [first.get_json(), second.get_json()] == [
        {"outcome": "applied"},
        {"outcome": "duplicate"},
    ]
    assert entries(ledger) == 1
    assert balances(ledger, cid)[accounts.escrow(cid)] == 10000
    assert stripe_events(ledger) == [("checkout.session.completed", "applied")]
    # The redelivery was answered from the books, without asking Stripe again.
    assert len(fake.requests_to("GET", f"/v1/payment_intents/{paid.payment_intent_id}")) == 1


def test_the_same_event_delivered_twice_at_once_has_one_effect_and_both_get_200(
    stripe_app, fake, ledger
):
    cid, _donation_id, session_id, _ = paid_gift(stripe_app, fake, ledger)
    body, headers = delivery(fake.checkout_completed_event(session_id), SECRET)
    barrier = threading.Barrier(2)
    answers: list[tuple[int, Any]] = []

    def deliver() -> None:
        client = stripe_app.test_client()
        barrier.wait()
        response = client.post(URL, data=body, headers=headers)
        answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(answers, key=str) == sorted(
        [(200, {"outcome": "applied"}), (200, {"outcome": "duplicate"})], key=str
    )
    assert entries(ledger) == 1
    assert balances(ledger, cid) == {
        accounts.STRIPE: 9825,
        accounts.FEES: 175,
        accounts.escrow(cid): 10000,
    }
    assert len(stripe_events(ledger)) == 1
    assert ledger.verify().ok


@pytest.fixture
def pg_stripe_app(pg_url: str, clock: FixedClock, fake: FakeStripe) -> Iterator[Flask]:
    application = create_app(
        {"DATABASE_URL": pg_url, "TESTING": True, "CLOCK": clock, "MAIL_SENDER": "memory"}
    )
    yield configure_stripe(application, fake)
    application.extensions["ledger"].engine.dispose()


@pytest.mark.postgres_only
def test_a_delivery_that_waited_for_anothers_lock_loses_the_unique_race_and_answers_duplicate(
    pg_stripe_app, fake, pg_ledger
):
    """The race the unit of work must absorb: both deliveries passed the duplicate check,
    the second waits on the donation's row lock, then fails on the event's unique id
    when the first commits; its retry answers "duplicate" with a 200."""
    ledger = pg_ledger
    cid, _donation_id, session_id, paid = paid_gift(pg_stripe_app, fake, ledger)
    event = fake.checkout_completed_event(session_id)
    details = StripeGateway(API_KEY, api_base=fake.url).payment_details(paid.payment_intent_id)
    facts = ChargeFacts(
        details.payment_intent_id,
        details.charge_id,
        details.amount_minor,
        details.fee_minor,
        details.currency,
        donation_id=details.donation_id,
    )
    first = ledger.sessions()
    first.begin()
    assert apply_event(first, event, facts, clock=ledger.clock) == "applied"  # not committed

    answers: list[tuple[int, Any]] = []

    def second() -> None:
        response = post(pg_stripe_app.test_client(), event)
        answers.append((response.status_code, response.get_json()))

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(1.0)
    assert thread.is_alive(), "the second delivery must wait for the first one's row lock"
    first.commit()
    first.close()
    thread.join(30)

    assert answers == [(200, {"outcome": "duplicate"})]
    assert entries(ledger) == 1
    assert balances(ledger, cid)[accounts.escrow(cid)] == 10000
    assert stripe_events(ledger) == [("checkout.session.completed", "applied")]


# ------------------------------------------------------------------ order, mismatch, disputes
def test_a_refund_that_arrives_before_the_payment_reaches_the_same_books_as_in_order(
    stripe_app, fake, ledger
):
    client = stripe_app.test_client()
    gateway = StripeGateway(API_KEY, api_base=fake.url)

    def story(key: str, out_of_order: bool) -> tuple[int, int]:
        cid = open_campaign(ledger)
        donation_id, session_id = checkout(stripe_app, cid, "60.00", key)
        paid = fake.pay(session_id, fee_minor=110)
        completed = fake.checkout_completed_event(session_id)
        # A refund made in Stripe's dashboard, then Stripe's event about it.
        gateway.create_refund(
            payment_intent_id=paid.payment_intent_id, amount_minor=2000, idempotency_key=key
        )
        refunded = fake.charge_refunded_event(paid.charge_id)
        for event in [refunded, completed] if out_of_order else [completed, refunded]:
            response = post(client, event)
            assert response.get_json() == {"outcome": "applied"}, response.get_data(as_text=True)
        return cid, donation_id

    in_order, in_order_gift = story("in-order", out_of_order=False)
    shuffled, shuffled_gift = story("out-of-order", out_of_order=True)

    expected = {accounts.STRIPE: 5890 - 2000, accounts.FEES: 110, "escrow": 4000}
    for cid in (in_order, shuffled):
        got = balances(ledger, cid)
        got["escrow"] = got.pop(accounts.escrow(cid))
        # Shared accounts hold both stories: compare each campaign's escrow, then the totals.
        assert got["escrow"] == expected["escrow"]
    assert ledger.balance(accounts.STRIPE).posted == 2 * expected[accounts.STRIPE]
    assert ledger.balance(accounts.FEES).posted == 2 * expected[accounts.FEES]

    def gift(donation_id: int) -> tuple[str, int, int, list[tuple[int, bool]]]:
        def read(s):  # type: ignore[no-untyped-def]
            d = s.get(Donation, donation_id)
            receipts = s.scalars(
                select(Receipt).where(Receipt.donation_id == donation_id).order_by(Receipt.id)
            ).all()
            return (
                d.status,
                d.refunded_minor,
                d.fee_minor,
                [(r.amount_minor, r.voided_on is None) for r in receipts],
            )

        return ledger.read(read)

    assert (
        gift(in_order_gift)
        == gift(shuffled_gift)
        == ("settled", 2000, 110, [(6000, False), (4000, True)])
    )
    assert ledger.verify().ok


def test_an_event_whose_amount_differs_from_the_gift_is_flagged_and_books_nothing(
    stripe_app, fake, ledger
):
    client = stripe_app.test_client()
    cid = open_campaign(ledger)
    donation_id, session_id = checkout(stripe_app, cid, "25.00", "k-1")
    # Stripe's session says 26.00 (a tampered or mistaken checkout).
    fake.sessions[session_id]["amount_total"] = 2600
    fake.pay(session_id, fee_minor=60)

    response = post(client, fake.checkout_completed_event(session_id))

    assert response.status_code == 200
    assert response.get_json() == {"outcome": "flagged"}
    assert entries(ledger) == 0
    assert balances(ledger, cid)[accounts.escrow(cid)] == 0
    donation = donation_row(ledger, donation_id)
    assert donation["status"] == "pending"
    assert "amount 2600" in donation["flagged_reason"]
    assert stripe_events(ledger) == [("checkout.session.completed", "flagged")]


@pytest.mark.parametrize("won", [False, True], ids=["lost", "won"])
def test_a_dispute_withdraws_amount_and_fee_and_its_close_books_exactly(
    stripe_app, fake, ledger, won
):
    client = stripe_app.test_client()
    cid, _donation_id, session_id, paid = paid_gift(stripe_app, fake, ledger, "50.00", 98)
    post(client, fake.checkout_completed_event(session_id))
    assert balances(ledger, cid) == {
        accounts.STRIPE: 4902,
        accounts.FEES: 98,
        accounts.escrow(cid): 5000,
    }

    created = post(client, fake.dispute_created_event(paid.charge_id, 5000, 1500))
    assert created.get_json() == {"outcome": "applied"}
    assert balances(ledger, cid) == {
        accounts.STRIPE: 4902 - 5000 - 1500,
        accounts.FEES: 98 + 1500,
        accounts.escrow(cid): 0,
    }

    closed = post(
        client, fake.dispute_closed_event(paid.charge_id, status="won" if won else "lost")
    )
    assert closed.get_json() == {"outcome": "applied"}
    if won:  # the amount comes back; Stripe keeps the dispute fee
        assert balances(ledger, cid) == {
            accounts.STRIPE: 4902 - 1500,
            accounts.FEES: 98 + 1500,
            accounts.escrow(cid): 5000,
        }
    else:
        assert balances(ledger, cid) == {
            accounts.STRIPE: 4902 - 6500,
            accounts.FEES: 98 + 1500,
            accounts.escrow(cid): 0,
        }
    assert entries(ledger) == (3 if won else 2)
    assert ledger.verify().ok


def test_a_sepa_gift_is_booked_only_when_its_debit_succeeds(stripe_app, fake, ledger):
    client = stripe_app.test_client()
    cid = open_campaign(ledger)
    donation_id, session_id = checkout(stripe_app, cid, "30.00", "k-1")
    fake.pay(session_id, fee_minor=35, method="sepa_debit")

    assert post(client, fake.checkout_completed_event(session_id)).get_json() == {
        "outcome": "applied"
    }
    assert status_of(ledger, donation_id) == "pending" and entries(ledger) == 0

    assert post(client, fake.async_succeeded_event(session_id)).get_json() == {"outcome": "applied"}
    assert status_of(ledger, donation_id) == "settled"
    assert balances(ledger, cid) == {
        accounts.STRIPE: 2965,
        accounts.FEES: 35,
        accounts.escrow(cid): 3000,
    }


def test_an_expired_checkout_marks_the_gift_expired(stripe_app, fake, ledger):
    client = stripe_app.test_client()
    cid = open_campaign(ledger)
    donation_id, session_id = checkout(stripe_app, cid, "30.00", "k-1")

    assert post(client, fake.session_expired_event(session_id)).get_json() == {"outcome": "applied"}
    assert status_of(ledger, donation_id) == "expired" and entries(ledger) == 0


def test_an_event_about_no_gift_of_ours_is_recorded_as_ignored(stripe_app, fake, ledger):
    client = stripe_app.test_client()
    event = fake.event("customer.created", {"id": "cus_123", "object": "customer"})
    assert post(client, event).get_json() == {"outcome": "ignored"}
    assert stripe_events(ledger) == [("customer.created", "ignored")]


# ------------------------------------------------------------------ Stripe down
def test_a_stripe_outage_while_fetching_the_facts_answers_502_and_writes_nothing(
    stripe_app, fake, ledger
):
    client = stripe_app.test_client()
    cid, donation_id, session_id, _ = paid_gift(stripe_app, fake, ledger)
    body, headers = delivery(fake.checkout_completed_event(session_id), SECRET)
    audits = count(ledger, "SELECT count(*) FROM audit_events")
    fake.fail_next(3, status=500)  # the first try and the library's two retries

    response = client.post(URL, data=body, headers=headers)

    assert response.status_code == 502
    assert response.get_json()["error"]["code"] == "payment_provider_error"
    assert entries(ledger) == 0 and stripe_events(ledger) == []
    assert count(ledger, "SELECT count(*) FROM audit_events") == audits
    assert status_of(ledger, donation_id) == "pending"

    # Stripe delivers again once it is back: the gift settles, once.
    assert client.post(URL, data=body, headers=headers).get_json() == {"outcome": "applied"}
    assert balances(ledger, cid)[accounts.escrow(cid)] == 10000


# ------------------------------------------------------------------ checkout and start-up
def test_a_double_submit_of_the_same_checkout_makes_one_donation_and_one_session(
    stripe_app, fake, ledger
):
    cid = open_campaign(ledger)
    first = checkout(stripe_app, cid, "40.00", "form-submit-1")
    second = checkout(stripe_app, cid, "40.00", "form-submit-1")

    assert first == second
    assert fake.sessions_created == 1
    assert ledger.read(lambda s: s.scalar(select(func.count(Donation.id)))) == 1
    assert [r.idempotency_key for r in fake.requests_to("POST", "/v1/checkout/sessions")] == [
        f"{PREFIX}donation-{first[0]}-checkout"
    ]


def test_two_databases_sharing_a_stripe_account_do_not_replay_each_others_checkout(
    stripe_app, fake, ledger, tmp_path
):
    """A staging database whose gift has the same id as one of the demo's, within
    Stripe's 24 hours: each gets its own Checkout Session for its own amount."""
    cid = open_campaign(ledger)
    demo_gift, demo_session = checkout(stripe_app, cid, "40.00", "form-submit-1")
    staging_url = f"sqlite:///{tmp_path / 'staging.sqlite3'}"
    from ledger.core.migrate import upgrade

    upgrade(staging_url)
    staging_app = configure_stripe(
        create_app({"DATABASE_URL": staging_url, "TESTING": True, "CLOCK": ledger.clock}), fake
    )
    staging_app.config["STRIPE_KEY_PREFIX"] = "web-test-b-"
    staging: Ledger = staging_app.extensions["ledger"]
    try:
        staging_gift, staging_session = checkout(
            staging_app, open_campaign(staging), "75.00", "form-submit-1"
        )
    finally:
        staging.engine.dispose()

    assert staging_gift == demo_gift and staging_session != demo_session
    assert fake.sessions_created == 2
    assert fake.sessions[staging_session]["amount_total"] == 7500
    assert [r.idempotency_key for r in fake.requests_to("POST", "/v1/checkout/sessions")] == [
        f"web-test-a-donation-{demo_gift}-checkout",
        f"web-test-b-donation-{staging_gift}-checkout",
    ]


def test_the_app_refuses_a_live_stripe_key_without_a_key_prefix_or_base_url_and_a_bad_prefix(
    monkeypatch, tmp_path
):
    monkeypatch.delenv("LEDGER_STRIPE_KEY_PREFIX", raising=False)
    settings = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'live.sqlite3'}",
        "TESTING": True,
        "STRIPE_SECRET_KEY": "sk_live_community_ledger",
        "STRIPE_WEBHOOK_SECRET": SECRET,
    }
    with pytest.raises(ConfigError, match="LEDGER_STRIPE_KEY_PREFIX is not set"):
        create_app(settings)
    with pytest.raises(ConfigError, match="LEDGER_STRIPE_KEY_PREFIX: the key prefix"):
        create_app({**settings, "STRIPE_KEY_PREFIX": "prod 2026/"})

    with pytest.raises(ConfigError, match="LEDGER_BASE_URL is not set"):
        create_app({**settings, "STRIPE_KEY_PREFIX": "prod-2026a-"})

    started = create_app(
        {**settings, "STRIPE_KEY_PREFIX": "prod-2026a-", "BASE_URL": "https://r.example.org"}
    )
    with started.test_request_context():
        from web.campaigns.payments import gateway

        assert gateway().key_prefix == "prod-2026a-"
    started.extensions["ledger"].engine.dispose()


def test_outside_tests_a_test_stripe_key_without_a_key_prefix_starts_with_a_warning(
    monkeypatch, tmp_path, caplog
):
    monkeypatch.delenv("LEDGER_TESTING", raising=False)
    monkeypatch.setenv("LEDGER_TOTP_KEY", new_key())  # outside tests, needed to start
    monkeypatch.delenv("LEDGER_STRIPE_KEY_PREFIX", raising=False)
    settings = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'warn.sqlite3'}",
        "SECRET_KEY": "x" * 32,
        "STRIPE_SECRET_KEY": API_KEY,
        "STRIPE_WEBHOOK_SECRET": SECRET,
    }
    with caplog.at_level(logging.WARNING):
        started = create_app(settings)
        prefixed = create_app({**settings, "STRIPE_KEY_PREFIX": "staging-"})
    warnings = [
        r.getMessage() for r in caplog.records if "LEDGER_STRIPE_KEY_PREFIX" in r.getMessage()
    ]
    assert len(warnings) == 1 and "replay" in warnings[0]
    for application in (started, prefixed):
        application.extensions["ledger"].engine.dispose()


def test_the_app_refuses_to_start_outside_tests_without_a_webhook_secret(monkeypatch, tmp_path):
    monkeypatch.delenv("LEDGER_TESTING", raising=False)
    monkeypatch.setenv("LEDGER_TOTP_KEY", new_key())  # outside tests, needed to start
    monkeypatch.delenv("LEDGER_STRIPE_WEBHOOK_SECRET", raising=False)
    url = f"sqlite:///{tmp_path / 'start.sqlite3'}"
    with pytest.raises(ConfigError, match="LEDGER_STRIPE_WEBHOOK_SECRET"):
        create_app({"DATABASE_URL": url, "SECRET_KEY": "x" * 32})

    monkeypatch.setenv("LEDGER_STRIPE_WEBHOOK_SECRET", "whsec_local_development")
    started = create_app({"DATABASE_URL": url, "SECRET_KEY": "x" * 32})
    assert "webhooks.stripe" in started.view_functions
    started.extensions["ledger"].engine.dispose()
