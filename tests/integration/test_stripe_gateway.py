"""The Stripe gateway against the local fake Stripe, over real HTTP with the real library.

No database: these live in integration/ because they run an HTTP server.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from ledger.core.errors import InvalidAmountError
from ledger.payments.stripe_gateway import (
    InvalidWebhookError,
    PaymentNotSettledError,
    PaymentProviderError,
    StripeGateway,
    verify_webhook,
)
from tests.fakes.stripe_server import FakeStripe, delivery, encode_event, sign, sign_with

API_KEY = "sk_test_community_ledger"
SECRET = "whsec_test_current"
OLD_SECRET = "whsec_test_previous"
CHECKOUT = "/v1/checkout/sessions"


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


@pytest.fixture
def gateway(fake: FakeStripe) -> StripeGateway:
    return StripeGateway(API_KEY, api_base=fake.url, webhook_secrets=[SECRET])


def checkout(gateway: StripeGateway, donation_id: int = 7, amount_minor: int = 2500) -> str:
    session = gateway.create_checkout_session(
        donation_id=donation_id,
        amount_minor=amount_minor,
        currency="EUR",
        description="Donazione: Orti solidali",
        success_url="https://ledger.example/donations/7/thanks",
        cancel_url="https://ledger.example/campaigns/orti",
    )
    return session.id


def signed_event(fake: FakeStripe) -> tuple[bytes, dict[str, str]]:
    session_id = f"cs_test_{'x' * 20}"
    return delivery(fake.event("checkout.session.completed", {"id": session_id}), SECRET)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- Checkout ------------------------------------------------------------------
def test_checkout_for_a_repeated_donation_id_creates_one_session(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    first = checkout(gateway, donation_id=7)
    second = checkout(gateway, donation_id=7)

    assert first == second
    assert fake.sessions_created == 1
    sent = fake.requests_to("POST", CHECKOUT)
    assert [r.idempotency_key for r in sent] == ["donation-7-checkout"] * 2
    assert [r.replayed for r in sent] == [False, True]


def test_checkout_sends_integer_minor_units_and_the_donation_id_to_stripe(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    session_id = checkout(gateway, donation_id=42, amount_minor=1050)

    (sent,) = fake.requests_to("POST", CHECKOUT)
    assert sent.params["mode"] == "payment"
    assert sent.params["line_items"] == [
        {
            "price_data": {
                "currency": "eur",
                "unit_amount": "1050",
                "product_data": {"name": "Donazione: Orti solidali"},
            },
            "quantity": "1",
        }
    ]
    assert sent.params["client_reference_id"] == "42"
    assert sent.params["metadata"] == {"donation_id": "42"}
    assert sent.params["payment_intent_data"] == {"metadata": {"donation_id": "42"}}
    state = gateway.retrieve_checkout_session(session_id)
    assert (state.status, state.payment_status, state.payment_intent_id) == ("open", "unpaid", None)
    assert (state.amount_total, state.currency, state.donation_id) == (1050, "EUR", 42)


def test_the_same_donation_with_another_amount_is_refused_as_an_idempotency_error(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    checkout(gateway, donation_id=7, amount_minor=2500)

    with pytest.raises(PaymentProviderError) as raised:
        checkout(gateway, donation_id=7, amount_minor=2600)

    assert raised.value.details["stripe_error_type"] == "idempotency_error"
    assert raised.value.http_status == 502
    assert fake.sessions_created == 1


def test_a_float_amount_is_refused_before_anything_is_sent_to_stripe(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    with pytest.raises(InvalidAmountError):
        checkout(gateway, amount_minor=25.0)  # type: ignore[arg-type]

    assert fake.requests == []


def test_a_transient_server_error_is_retried_with_the_same_key_and_makes_one_session(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    fake.fail_next(1, status=500)

    session_id = checkout(gateway)

    sent = fake.requests_to("POST", CHECKOUT)
    assert [r.status for r in sent] == [500, 200]
    assert {r.idempotency_key for r in sent} == {"donation-7-checkout"}
    assert fake.sessions_created == 1
    assert session_id in fake.sessions


# -- payment details -------------------------------------------------------------
def test_payment_details_read_fee_and_net_from_the_balance_transaction(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    session_id = checkout(gateway, amount_minor=2500)
    paid = fake.pay(session_id, fee_minor=73)

    state = gateway.retrieve_checkout_session(session_id)
    details = gateway.payment_details(paid.payment_intent_id)

    assert (state.status, state.payment_status) == ("complete", "paid")
    assert state.payment_intent_id == paid.payment_intent_id
    assert details.charge_id == paid.charge_id
    assert details.balance_transaction_id == paid.balance_transaction_id
    assert (details.amount_minor, details.fee_minor, details.net_minor) == (2500, 73, 2427)
    assert details.currency == "EUR"
    (sent,) = fake.requests_to("GET", f"/v1/payment_intents/{paid.payment_intent_id}")
    assert sent.params == {"expand": ["latest_charge.balance_transaction"]}


def test_a_sepa_payment_has_no_details_until_it_settles(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    session_id = checkout(gateway, amount_minor=5000)
    paid = fake.pay(session_id, fee_minor=35, method="sepa_debit")

    with pytest.raises(PaymentNotSettledError):
        gateway.payment_details(paid.payment_intent_id)
    assert gateway.retrieve_checkout_session(session_id).payment_status == "unpaid"

    fake.settle(session_id)

    assert gateway.payment_details(paid.payment_intent_id).net_minor == 4965
    assert gateway.retrieve_checkout_session(session_id).payment_status == "paid"


# -- refunds ---------------------------------------------------------------------------
def test_a_refund_sent_twice_with_its_idempotency_key_is_made_once(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    paid = fake.pay(checkout(gateway, amount_minor=2500), fee_minor=60)

    first = gateway.create_refund(
        payment_intent_id=paid.payment_intent_id, amount_minor=1000, idempotency_key="refund-3"
    )
    second = gateway.create_refund(
        payment_intent_id=paid.payment_intent_id, amount_minor=1000, idempotency_key="refund-3"
    )

    assert first == second
    assert (first.status, first.amount_minor, first.currency) == ("succeeded", 1000, "EUR")
    assert fake.refunds_created == 1
    assert fake.charges[paid.charge_id]["amount_refunded"] == 1000
    assert gateway.retrieve_refund(first.id) == first


def test_a_refund_over_the_charge_is_a_payment_provider_error(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    paid = fake.pay(checkout(gateway, amount_minor=2500), fee_minor=60)

    with pytest.raises(PaymentProviderError) as raised:
        gateway.create_refund(
            payment_intent_id=paid.payment_intent_id, amount_minor=2501, idempotency_key="r-9"
        )

    assert raised.value.code == "payment_provider_error"
    assert raised.value.details["stripe_code"] == "amount_too_large"
    assert raised.value.details["http_status"] == 400
    assert fake.refunds_created == 0


def test_a_pending_refund_reads_back_as_succeeded_once_stripe_completes_it(
    gateway: StripeGateway, fake: FakeStripe
) -> None:
    fake.refund_status = "pending"
    paid = fake.pay(checkout(gateway), fee_minor=60)
    refund = gateway.create_refund(
        payment_intent_id=paid.payment_intent_id, amount_minor=2500, idempotency_key="refund-4"
    )
    assert refund.status == "pending"

    fake.refund_succeeds(refund.id)

    assert gateway.retrieve_refund(refund.id).status == "succeeded"


def test_the_refunds_of_a_payment_are_listed_oldest_first_whatever_their_status(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    paid = fake.pay(checkout(gateway, amount_minor=2500), fee_minor=60)
    other = fake.pay(checkout(gateway, donation_id=8, amount_minor=900), fee_minor=30)
    first = gateway.create_refund(
        payment_intent_id=paid.payment_intent_id, amount_minor=500, idempotency_key="refund-1"
    )
    fake.refund_status = "pending"
    second = gateway.create_refund(
        payment_intent_id=paid.payment_intent_id, amount_minor=700, idempotency_key="refund-2"
    )
    gateway.create_refund(
        payment_intent_id=other.payment_intent_id, amount_minor=100, idempotency_key="refund-3"
    )
    fake.refund_fails(second.id)

    listed = gateway.list_refunds(paid.payment_intent_id)

    assert [(r.id, r.amount_minor, r.status) for r in listed] == [
        (first.id, 500, "succeeded"),
        (second.id, 700, "failed"),
    ]
    assert {r.payment_intent_id for r in listed} == {paid.payment_intent_id}
    (sent,) = fake.requests_to("GET", "/v1/refunds")
    assert sent.params == {"payment_intent": paid.payment_intent_id, "limit": "100"}


def test_the_fakes_refund_list_pages_with_limit_and_starting_after(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    import stripe as stripe_library

    paid = fake.pay(checkout(gateway, amount_minor=2500), fee_minor=60)
    made = [
        gateway.create_refund(
            payment_intent_id=paid.payment_intent_id, amount_minor=100, idempotency_key=f"r-{n}"
        ).id
        for n in range(5)
    ]
    client = stripe_library.StripeClient(API_KEY, base_addresses={"api": fake.url})

    page = client.v1.refunds.list({"payment_intent": paid.payment_intent_id, "limit": 2})
    every = [r.id for r in page.auto_paging_iter()]

    assert (len(page.data), page.has_more) == (2, True)
    assert every == made[::-1]  # newest first, as Stripe lists


def test_every_key_a_prefixed_gateway_sends_starts_with_its_prefix(fake: FakeStripe) -> None:
    demo = StripeGateway(API_KEY, api_base=fake.url, key_prefix="demo-")
    staging = StripeGateway(API_KEY, api_base=fake.url, key_prefix="staging-")

    # The same local ids in two databases sharing the account, within Stripe's 24 hours.
    demo_paid = fake.pay(checkout(demo, donation_id=7, amount_minor=2500), fee_minor=60)
    staging_paid = fake.pay(checkout(staging, donation_id=7, amount_minor=900), fee_minor=30)
    demo.create_refund(
        payment_intent_id=demo_paid.payment_intent_id,
        amount_minor=1000,
        idempotency_key="refund-3",
        refund_id=3,
    )
    staging.create_refund(
        payment_intent_id=staging_paid.payment_intent_id,
        amount_minor=400,
        idempotency_key="refund-3",
        refund_id=3,
    )

    assert (fake.sessions_created, fake.refunds_created) == (2, 2)
    assert [r.idempotency_key for r in fake.requests if r.method == "POST"] == [
        "demo-donation-7-checkout",
        "staging-donation-7-checkout",
        "demo-refund-3",
        "staging-refund-3",
    ]
    assert not any(r.replayed for r in fake.requests)


def test_a_key_prefix_stripe_would_not_accept_is_refused() -> None:
    for prefix in ("prod 1", "ä-", "x" * 65, "a/b"):
        with pytest.raises(ValueError, match="key prefix"):
            StripeGateway(API_KEY, key_prefix=prefix)
    long_key = "r" * 250
    with pytest.raises(ValueError, match="255"):
        StripeGateway(API_KEY, key_prefix="staging-").idempotency_key(long_key)
    assert StripeGateway(API_KEY, key_prefix="prod.2026:a_b-").key_prefix == "prod.2026:a_b-"


def test_a_refund_carries_the_ledgers_refund_id_and_is_found_by_it(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    paid = fake.pay(checkout(gateway, amount_minor=2500), fee_minor=60)
    dashboard = gateway.create_refund(
        payment_intent_id=paid.payment_intent_id, amount_minor=300, idempotency_key="d-1"
    )
    ours = gateway.create_refund(
        payment_intent_id=paid.payment_intent_id,
        amount_minor=300,
        idempotency_key="refund-12",
        refund_id=12,
    )

    assert (dashboard.refund_id, ours.refund_id) == (None, 12)
    assert fake.refunds[ours.id]["metadata"] == {"refund_id": "12"}
    assert gateway.retrieve_refund(ours.id).refund_id == 12
    assert gateway.find_refund(paid.payment_intent_id, 12) == ours
    assert gateway.find_refund(paid.payment_intent_id, 13) is None


def test_payment_details_carry_the_donation_id_of_the_payment_intents_metadata(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    paid = fake.pay(checkout(gateway, donation_id=42), fee_minor=60)

    assert gateway.payment_details(paid.payment_intent_id).donation_id == 42


# -- failures of the provider ------------------------------------------------------------
def test_an_unreachable_api_is_a_payment_provider_error_not_a_raw_exception() -> None:
    gateway = StripeGateway(API_KEY, api_base=f"http://127.0.0.1:{closed_port()}")

    with pytest.raises(PaymentProviderError) as raised:
        checkout(gateway)

    assert raised.value.details["error_class"] == "APIConnectionError"


def test_a_refused_api_key_is_reported_without_the_key(fake: FakeStripe) -> None:
    gateway = StripeGateway("sk_live_do_not_leak_me", api_base=fake.url)

    with pytest.raises(PaymentProviderError) as raised:
        checkout(gateway)

    assert raised.value.details["http_status"] == 401
    assert "do_not_leak" not in str(raised.value) + json.dumps(raised.value.details)


# -- webhooks ----------------------------------------------------------------------------------
def test_a_validly_signed_event_is_accepted_and_returned_as_sent(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    paid = fake.pay(checkout(gateway), fee_minor=60)
    event = fake.checkout_completed_event(paid.session_id)
    body, headers = delivery(event, SECRET)

    assert gateway.verify_event(body, headers["Stripe-Signature"]) == event


def test_an_event_with_one_byte_changed_is_rejected(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    body, headers = signed_event(fake)
    tampered = body.replace(b"cs_test_x", b"cs_test_y", 1)
    assert len(tampered) == len(body) and tampered != body

    with pytest.raises(InvalidWebhookError) as raised:
        gateway.verify_event(tampered, headers["Stripe-Signature"])

    assert raised.value.details["reason"] == "bad_signature"
    assert raised.value.http_status == 400


@pytest.mark.parametrize("header", [None, ""], ids=["absent", "empty"])
def test_an_event_without_a_signature_header_is_rejected(
    fake: FakeStripe, gateway: StripeGateway, header: str | None
) -> None:
    body, _ = signed_event(fake)

    with pytest.raises(InvalidWebhookError) as raised:
        gateway.verify_event(body, header)

    assert raised.value.code == "invalid_webhook_signature"
    assert raised.value.details["reason"] == "missing_header"


def test_an_event_signed_with_another_secret_is_rejected(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    body = encode_event(fake.event("charge.refunded", {"id": "ch_1"}))

    with pytest.raises(InvalidWebhookError) as raised:
        gateway.verify_event(body, sign(body, "whsec_someone_else"))

    assert raised.value.details["reason"] == "bad_signature"


def test_an_event_signed_more_than_300_seconds_ago_is_rejected(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    body = encode_event(fake.event("charge.refunded", {"id": "ch_1"}))
    stale = sign(body, SECRET, timestamp=int(time.time()) - 301)

    with pytest.raises(InvalidWebhookError) as raised:
        gateway.verify_event(body, stale)

    assert raised.value.details["reason"] == "timestamp_outside_tolerance"


def test_an_event_signed_within_the_tolerance_is_accepted(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    body = encode_event(fake.event("charge.refunded", {"id": "ch_1"}))

    event = gateway.verify_event(body, sign(body, SECRET, timestamp=int(time.time()) - 240))

    assert event["type"] == "charge.refunded"


def test_a_body_re_serialised_before_verification_is_rejected(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    body, headers = signed_event(fake)
    reserialised = json.dumps(json.loads(body)).encode()
    assert reserialised != body and json.loads(reserialised) == json.loads(body)

    with pytest.raises(InvalidWebhookError) as raised:
        gateway.verify_event(reserialised, headers["Stripe-Signature"])

    assert raised.value.details["reason"] == "bad_signature"


def test_a_body_that_is_not_utf8_is_rejected_as_undecodable(gateway: StripeGateway) -> None:
    body = b"\xff\xfe{}"

    with pytest.raises(InvalidWebhookError) as raised:
        gateway.verify_event(body, "t=1,v1=00")

    assert raised.value.details["reason"] == "undecodable_payload"


def test_a_signed_body_that_is_not_an_event_is_rejected_as_undecodable(
    gateway: StripeGateway,
) -> None:
    body = b"not json"

    with pytest.raises(InvalidWebhookError) as raised:
        gateway.verify_event(body, sign(body, SECRET))

    assert raised.value.details["reason"] == "undecodable_payload"


def test_during_rotation_an_event_signed_with_either_secret_is_accepted(
    fake: FakeStripe,
) -> None:
    gateway = StripeGateway(API_KEY, api_base=fake.url, webhook_secrets=[OLD_SECRET, SECRET])
    body = encode_event(fake.event("charge.refunded", {"id": "ch_1"}))

    assert gateway.verify_event(body, sign(body, SECRET))["type"] == "charge.refunded"
    assert gateway.verify_event(body, sign(body, OLD_SECRET))["type"] == "charge.refunded"


def test_a_header_whose_second_signature_matches_is_accepted(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    body = encode_event(fake.event("charge.refunded", {"id": "ch_1"}))

    header = sign_with(body, ["whsec_retired", SECRET])

    assert header.count("v1=") == 2
    assert gateway.verify_event(body, header)["type"] == "charge.refunded"


def test_an_event_of_the_other_mode_is_rejected(fake: FakeStripe) -> None:
    event = fake.event("charge.refunded", {"id": "ch_1"})
    event["livemode"] = True
    body = encode_event(event)
    test_mode = StripeGateway(API_KEY, api_base=fake.url, webhook_secrets=[SECRET])
    live_mode = StripeGateway("sk_live_community_ledger", webhook_secrets=[SECRET])

    with pytest.raises(InvalidWebhookError) as raised:
        test_mode.verify_event(body, sign(body, SECRET))

    assert raised.value.details["reason"] == "livemode_mismatch"
    assert live_mode.verify_event(body, sign(body, SECRET))["livemode"] is True


def test_a_webhook_verifies_with_the_endpoint_secrets_alone(fake: FakeStripe) -> None:
    body = encode_event(fake.event("charge.refunded", {"id": "ch_1"}))

    assert verify_webhook(body, sign(body, SECRET), [OLD_SECRET, SECRET])["type"] == (
        "charge.refunded"
    )
    with pytest.raises(InvalidWebhookError) as raised:
        verify_webhook(body, sign(body, SECRET), [])
    assert raised.value.details["reason"] == "no_webhook_secret"


# -- the fake's events carry Stripe's field names ------------------------------------------------
def test_dispute_events_carry_the_amount_and_the_dispute_fee_balance_transaction(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    paid = fake.pay(checkout(gateway, amount_minor=2500), fee_minor=60)

    opened = fake.dispute_created_event(paid.charge_id, 2500, 1500)
    won = fake.dispute_closed_event(paid.charge_id, status="won")

    dispute = opened["data"]["object"]
    assert opened["type"] == "charge.dispute.created"
    assert (dispute["charge"], dispute["amount"], dispute["currency"]) == (
        paid.charge_id,
        2500,
        "eur",
    )
    (withdrawal,) = dispute["balance_transactions"]
    assert (withdrawal["amount"], withdrawal["fee"], withdrawal["net"]) == (-2500, 1500, -4000)
    assert won["type"] == "charge.dispute.closed"
    assert won["data"]["object"]["status"] == "won"
    assert [t["net"] for t in won["data"]["object"]["balance_transactions"]] == [-4000, 2500]
    assert gateway.verify_event(*_body_and_signature(won))["id"] == won["id"]


def test_sepa_events_follow_the_payment_from_unpaid_to_paid(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    session_id = checkout(gateway)
    fake.pay(session_id, fee_minor=35, method="sepa_debit")

    completed = fake.checkout_completed_event(session_id)
    succeeded = fake.async_succeeded_event(session_id)

    assert completed["data"]["object"]["payment_status"] == "unpaid"
    assert succeeded["type"] == "checkout.session.async_payment_succeeded"
    assert succeeded["data"]["object"]["payment_status"] == "paid"
    assert completed["id"] != succeeded["id"]


def _body_and_signature(event: dict[str, object]) -> tuple[bytes, str]:
    body, headers = delivery(event, SECRET)
    return body, headers["Stripe-Signature"]
