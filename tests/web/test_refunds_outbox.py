"""Card refunds: requested in the books, sent to Stripe by the outbox after the commit,
booked once, whichever of Stripe's answer and its webhook comes first.

The real `stripe` library talks to the local fake Stripe over HTTP; the outbox is
flushed as a request does after its commit (`web.outbox.flush_outbox`) or by the
operator's `ledger outbox dispatch`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from ledger.audit.models import AuditEvent
from ledger.campaigns import accounts
from ledger.campaigns.errors import RefundPendingError
from ledger.campaigns.models import Refund
from ledger.campaigns.refunds import request_refund
from ledger.core.money import Money
from ledger.core.sealing import new_key
from ledger.core.service import Ledger
from ledger.outbox.models import OutboxMessage
from ledger.payments.stripe_gateway import StripeGateway
from tests.fakes.stripe_server import FakeStripe
from tests.web.conftest import make_user
from tests.web.test_webhooks import (
    API_KEY,
    PREFIX,
    SECRET,
    balances,
    checkout,
    configure_stripe,
    entries,
    open_campaign,
    post,
)
from web.cli import cli
from web.mail import flush_outbox as flush_from_mail
from web.outbox import flush_outbox, refund_idempotency_key

REFUNDS = "/v1/refunds"


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


@pytest.fixture
def slow_fake() -> Iterator[FakeStripe]:
    """A Stripe whose refunds stay pending until the test says they succeeded or failed."""
    with FakeStripe(refund_status="pending") as server:
        yield server


def settled_gift(app: Flask, fake: FakeStripe, ledger: Ledger) -> tuple[int, int, str, str]:
    """A campaign and a 100.00 card gift (fee 1.75) settled by its webhook."""
    configure_stripe(app, fake)
    cid = open_campaign(ledger)
    donation_id, session_id = checkout(app, cid, "100.00", "k-1")
    paid = fake.pay(session_id, fee_minor=175)
    assert post(app.test_client(), fake.checkout_completed_event(session_id)).status_code == 200
    return cid, donation_id, paid.payment_intent_id, paid.charge_id


def ask_refund(
    ledger: Ledger, donation_id: int, amount: str | None, user_id: int | None = None
) -> int:
    money = Money.parse(amount, "EUR") if amount is not None else None
    return ledger.run(
        lambda s: request_refund(s, donation_id, money, clock=ledger.clock, user_id=user_id).id
    )


def flush(app: Flask) -> tuple[int, int]:
    with app.app_context():
        return flush_outbox()


def refund_row(ledger: Ledger, refund_id: int) -> tuple[str, str | None]:
    def read(session):  # type: ignore[no-untyped-def]
        refund = session.get(Refund, refund_id)
        return refund.status, refund.stripe_refund_id

    return ledger.read(read)


def outbox_row(ledger: Ledger) -> Any:
    return ledger.read(
        lambda s: s.execute(
            select(
                OutboxMessage.kind,
                OutboxMessage.payload,
                OutboxMessage.attempts,
                OutboxMessage.sent_at,
                OutboxMessage.last_error,
            )
        ).one()
    )


def test_a_treasurers_refund_goes_to_stripe_through_the_outbox_and_is_booked_once(
    app, fake, ledger
):
    cid, donation_id, intent, charge = settled_gift(app, fake, ledger)
    treasurer = make_user(ledger, "tesoriere@example.org", ["treasurer"])
    refund_id = ask_refund(ledger, donation_id, "30.00", user_id=treasurer)
    queued = outbox_row(ledger)
    assert (queued.kind, queued.payload, queued.sent_at) == (
        "stripe_refund",
        {"refund_id": refund_id},
        None,
    )
    assert balances(ledger, cid)[accounts.escrow(cid)] == 10000  # nothing booked yet

    assert flush(app) == (1, 0)

    (sent,) = fake.requests_to("POST", REFUNDS)
    assert sent.idempotency_key == f"{PREFIX}refund-{refund_id}"
    assert sent.params == {
        "payment_intent": intent,
        "amount": "3000",
        "metadata": {"refund_id": str(refund_id)},
    }
    status, stripe_id = refund_row(ledger, refund_id)
    assert status == "succeeded" and stripe_id in fake.refunds
    assert balances(ledger, cid) == {
        accounts.STRIPE: 9825 - 3000,
        accounts.FEES: 175,  # Stripe keeps its fee
        accounts.escrow(cid): 7000,
    }
    booked = entries(ledger)
    assert ledger.read(
        lambda s: [
            (a.subject_id, a.details["outcome"])
            for a in s.scalars(select(AuditEvent).where(AuditEvent.action == "stripe.refund"))
        ]
    ) == [(str(refund_id), "booked")]

    # Stripe's webhooks about the same refund arrive afterwards: nothing more is booked.
    client = app.test_client()
    assert post(client, fake.charge_refunded_event(charge)).get_json() == {"outcome": "applied"}
    assert post(client, fake.refund_updated_event(stripe_id)).get_json() == {"outcome": "applied"}
    assert entries(ledger) == booked
    assert balances(ledger, cid)[accounts.escrow(cid)] == 7000
    # And flushing again sends nothing.
    assert flush(app) == (0, 0)
    assert len(fake.requests_to("POST", REFUNDS)) == 1
    assert ledger.verify().ok


def test_a_pending_refund_is_booked_when_the_webhook_confirms_it(app, slow_fake, ledger):
    fake = slow_fake
    cid, donation_id, _intent, charge = settled_gift(app, fake, ledger)
    refund_id = ask_refund(ledger, donation_id, None)

    assert flush(app) == (1, 0)
    status, stripe_id = refund_row(ledger, refund_id)
    assert status == "pending" and stripe_id is not None
    assert balances(ledger, cid)[accounts.escrow(cid)] == 10000  # Stripe has not finished

    client = app.test_client()
    assert post(client, fake.charge_refunded_event(charge)).get_json() == {"outcome": "applied"}
    assert refund_row(ledger, refund_id)[0] == "pending"  # the refund itself is still pending

    fake.refund_succeeds(stripe_id)
    assert post(client, fake.refund_updated_event(stripe_id)).get_json() == {"outcome": "applied"}
    assert refund_row(ledger, refund_id) == ("succeeded", stripe_id)
    assert balances(ledger, cid) == {
        accounts.STRIPE: 9825 - 10000,
        accounts.FEES: 175,
        accounts.escrow(cid): 0,
    }
    booked = entries(ledger)
    assert post(client, fake.refund_updated_event(stripe_id)).get_json() == {"outcome": "applied"}
    assert entries(ledger) == booked


def test_a_refund_that_fails_at_stripe_books_nothing_and_another_may_be_asked(
    app, slow_fake, ledger
):
    fake = slow_fake
    cid, donation_id, _intent, _charge = settled_gift(app, fake, ledger)
    refund_id = ask_refund(ledger, donation_id, "10.00")
    flush(app)
    stripe_id = refund_row(ledger, refund_id)[1]
    assert stripe_id is not None

    fake.refund_fails(stripe_id)
    response = post(app.test_client(), fake.refund_updated_event(stripe_id))

    assert response.get_json() == {"outcome": "applied"}
    assert refund_row(ledger, refund_id) == ("failed", stripe_id)
    assert balances(ledger, cid)[accounts.escrow(cid)] == 10000
    assert ask_refund(ledger, donation_id, "10.00") != refund_id


def test_a_second_refund_while_one_is_pending_is_a_409_conflict(app, fake, ledger):
    _cid, donation_id, _intent, _charge = settled_gift(app, fake, ledger)
    ask_refund(ledger, donation_id, "10.00")

    with pytest.raises(RefundPendingError) as refused:
        ask_refund(ledger, donation_id, "5.00")

    with app.test_request_context("/api/v1/refunds", method="POST"):
        response = app.handle_user_exception(refused.value)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "refund_pending"
    assert ledger.read(lambda s: len(s.scalars(select(Refund.id)).all())) == 1


def test_when_stripe_is_down_the_refund_stays_queued_and_ledger_outbox_dispatch_sends_it(
    app, fake, ledger, db_url
):
    cid, donation_id, _intent, _charge = settled_gift(app, fake, ledger)
    refund_id = ask_refund(ledger, donation_id, "25.00")
    fake.fail_next(3, status=500)  # the first try and the library's two retries

    assert flush(app) == (0, 1)

    pending = outbox_row(ledger)
    assert (pending.attempts, pending.sent_at) == (1, None)
    assert "PaymentProviderError" in pending.last_error
    assert refund_row(ledger, refund_id) == ("pending", None)
    assert fake.refunds_created == 0
    assert balances(ledger, cid)[accounts.escrow(cid)] == 10000

    result = CliRunner().invoke(
        cli,
        ["--database", db_url, "outbox", "dispatch"],
        env={
            "LEDGER_STRIPE_SECRET_KEY": API_KEY,
            "LEDGER_STRIPE_API_BASE": fake.url,
            "LEDGER_STRIPE_WEBHOOK_SECRET": SECRET,
            "LEDGER_STRIPE_KEY_PREFIX": PREFIX,
            "LEDGER_MAIL_SENDER": "log",
            "LEDGER_TOTP_KEY": new_key(),  # not a test app: it needs a TOTP key too
        },
    )

    assert result.exit_code == 0, result.output
    assert "1 sent, 0 failed" in result.output
    assert fake.refunds_created == 1
    assert refund_row(ledger, refund_id)[0] == "succeeded"
    assert balances(ledger, cid)[accounts.escrow(cid)] == 7500
    assert outbox_row(ledger).sent_at is not None


def test_a_refund_stripe_refuses_for_good_is_marked_failed_and_books_nothing(app, fake, ledger):
    cid, donation_id, _intent, charge = settled_gift(app, fake, ledger)
    fake.dispute_created_event(charge, 10000, 1500)  # disputed at Stripe, not yet delivered
    refund_id = ask_refund(ledger, donation_id, "10.00")

    assert flush(app) == (1, 0)

    assert refund_row(ledger, refund_id) == ("failed", None)
    assert fake.refunds_created == 0
    assert balances(ledger, cid)[accounts.escrow(cid)] == 10000
    assert ledger.read(
        lambda s: [
            a.details
            for a in s.scalars(select(AuditEvent).where(AuditEvent.action == "stripe.refund"))
        ]
    ) == [{"status": "refused", "stripe_code": "charge_disputed"}]
    assert outbox_row(ledger).sent_at is not None  # nothing left to retry


def test_a_refund_stripe_already_made_is_read_back_not_asked_for_again(app, slow_fake, ledger):
    """The dashboard refunded the same amount while our request waited in the outbox:
    the webhook tied that Stripe refund to our request, and the outbox only reads it."""
    fake = slow_fake
    cid, donation_id, intent, charge = settled_gift(app, fake, ledger)
    refund_id = ask_refund(ledger, donation_id, "40.00")
    dashboard = StripeGateway(API_KEY, api_base=fake.url).create_refund(
        payment_intent_id=intent, amount_minor=4000, idempotency_key="dashboard-1"
    )
    post(app.test_client(), fake.charge_refunded_event(charge))
    assert refund_row(ledger, refund_id) == ("pending", dashboard.id)
    fake.refund_succeeds(dashboard.id)

    assert flush(app) == (1, 0)

    assert fake.refunds_created == 1  # ours was never sent
    assert [r.idempotency_key for r in fake.requests_to("POST", REFUNDS)] == ["dashboard-1"]
    assert refund_row(ledger, refund_id) == ("succeeded", dashboard.id)
    assert balances(ledger, cid)[accounts.escrow(cid)] == 6000


def test_flush_outbox_is_still_importable_from_web_mail_and_sends_refunds(app, fake, ledger):
    _cid, donation_id, _intent, _charge = settled_gift(app, fake, ledger)
    refund_id = ask_refund(ledger, donation_id, "1.00")
    with app.app_context():
        assert flush_from_mail() == (1, 0)
    assert refund_row(ledger, refund_id)[0] == "succeeded"


def test_a_retry_after_stripe_forgot_its_key_finds_the_refund_by_its_metadata_not_twice(
    app, fake, ledger
):
    """The first attempt reached Stripe and its answer was lost; the retry comes a day
    later, when the same key would make a second refund."""
    cid, donation_id, intent, _charge = settled_gift(app, fake, ledger)
    refund_id = ask_refund(ledger, donation_id, "35.00")
    made = StripeGateway(API_KEY, api_base=fake.url, key_prefix=PREFIX).create_refund(
        payment_intent_id=intent,
        amount_minor=3500,
        idempotency_key=refund_idempotency_key(refund_id),
        refund_id=refund_id,
    )
    fake.forget_idempotency_keys()

    assert flush(app) == (1, 0)

    assert fake.refunds_created == 1
    assert len(fake.requests_to("POST", REFUNDS)) == 1  # the lost attempt's only
    assert refund_row(ledger, refund_id) == ("succeeded", made.id)
    assert balances(ledger, cid)[accounts.escrow(cid)] == 6500


def test_a_webhook_ties_our_refund_by_its_metadata_not_a_dashboard_refund_of_the_same_amount(
    app, fake, ledger
):
    """The dashboard refunded 40.00 first, then our request for 40.00 reached Stripe and
    its answer was lost: `charge.refunded` lists both, the dashboard's first."""
    cid, donation_id, intent, charge = settled_gift(app, fake, ledger)
    refund_id = ask_refund(ledger, donation_id, "40.00")
    gateway = StripeGateway(API_KEY, api_base=fake.url, key_prefix=PREFIX)
    dashboard = gateway.create_refund(
        payment_intent_id=intent, amount_minor=4000, idempotency_key="dashboard-1"
    )
    ours = gateway.create_refund(
        payment_intent_id=intent,
        amount_minor=4000,
        idempotency_key=refund_idempotency_key(refund_id),
        refund_id=refund_id,
    )

    response = post(app.test_client(), fake.charge_refunded_event(charge))

    assert response.get_json() == {"outcome": "applied"}
    rows = ledger.read(
        lambda s: [
            (r.id == refund_id, r.reason, r.status, r.stripe_refund_id)
            for r in s.scalars(select(Refund).order_by(Refund.id))
        ]
    )
    assert rows == [
        (True, "requested", "succeeded", ours.id),
        (False, "provider", "succeeded", dashboard.id),
    ]
    assert balances(ledger, cid)[accounts.escrow(cid)] == 2000
    assert flush(app) == (1, 0)  # our message finds the refund booked: nothing to send
    assert fake.refunds_created == 2
