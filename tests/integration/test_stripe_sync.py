"""The periodic Stripe sync: card gifts and card refunds whose webhook never came,
looked up at Stripe.

The real `stripe` library talks to the local fake Stripe over HTTP; gifts are started
through the domain and the gateway as `web.campaigns.payments.begin_checkout` starts them, and
refunds are sent by the application's outbox (`web.outbox.flush_outbox`).
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ledger.audit.models import AuditEvent
from ledger.audit.service import Origin
from ledger.campaigns import accounts
from ledger.campaigns.donations import Limits, attach_checkout, start_online_donation
from ledger.campaigns.models import Donation, Refund
from ledger.campaigns.refunds import request_refund
from ledger.campaigns.stripe_events import ChargeFacts, apply_event, record_refund_answer
from ledger.campaigns.sync import (
    RefundSyncReport,
    StuckRefund,
    SyncReport,
    act,
    act_on_refund,
    ask_stripe,
    ask_stripe_about_refund,
    sync_pending,
    sync_refunds,
)
from ledger.core.clock import FixedClock
from ledger.core.money import Money
from ledger.core.sealing import new_key
from ledger.core.service import Ledger
from ledger.outbox.models import OutboxMessage
from ledger.outbox.service import MAX_ATTEMPTS
from ledger.payments.stripe_gateway import StripeGateway
from tests.fakes.stripe_server import FakeStripe
from tests.scenarios.test_campaign_books import open_campaign
from web import create_app
from web.cli import cli
from web.outbox import flush_outbox, refund_idempotency_key

API_KEY = "sk_test_community_ledger"
PREFIX = "sync-test-a-"
ORIGIN = Origin(channel="cli", source="test-host")
WAIT = timedelta(minutes=30)
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


@pytest.fixture
def gateway(fake: FakeStripe) -> StripeGateway:
    return StripeGateway(API_KEY, api_base=fake.url, key_prefix=PREFIX)


@pytest.fixture
def app(db_url: str, clock: FixedClock, fake: FakeStripe) -> Iterator[Flask]:
    """The application on the test's database and clock, its outbox pointed at the fake."""
    application = create_app(
        {
            "DATABASE_URL": db_url,
            "TESTING": True,
            "CLOCK": clock,
            "MAIL_SENDER": "memory",
            "STRIPE_SECRET_KEY": API_KEY,
            "STRIPE_API_BASE": fake.url,
            "STRIPE_WEBHOOK_SECRET": "whsec_test_sync",
            "STRIPE_KEY_PREFIX": PREFIX,
        }
    )
    yield application
    application.extensions["ledger"].engine.dispose()


def card_gift(
    ledger: Ledger, gateway: StripeGateway, campaign_id: int, amount: str, key: str
) -> tuple[int, str]:
    """A pending card gift with its Checkout Session: (donation id, session id)."""
    money = Money.parse(amount, "EUR")
    donation_id = ledger.run(
        lambda s: (
            start_online_donation(
                s,
                campaign_id,
                money,
                person_id=None,
                anonymous=False,
                request_key=key,
                limits=Limits(),
                clock=ledger.clock,
            )[0].id
        )
    )
    session = gateway.create_checkout_session(
        donation_id=donation_id,
        amount_minor=money.minor,
        currency="EUR",
        description="Donazione: Un orto in cortile",
        success_url="https://registro.example.org/grazie",
        cancel_url="https://registro.example.org/campagne",
    )
    ledger.run(lambda s: attach_checkout(s, donation_id, session.id, session.url))
    return donation_id, session.id


def sync(ledger: Ledger, gateway: StripeGateway) -> SyncReport:
    return sync_pending(
        ledger.sessions, gateway, clock=ledger.clock, origin=ORIGIN, older_than=WAIT
    )


def status_of(ledger: Ledger, donation_id: int) -> str:
    return ledger.read(lambda s: s.get(Donation, donation_id).status)


def entries(ledger: Ledger) -> int:
    return int(
        ledger.read(lambda s: s.execute(text("SELECT count(*) FROM journal_entries")).scalar_one())
    )


def counts(report: SyncReport | RefundSyncReport) -> dict[str, int]:
    return {name: n for name, n in report.counts.items() if n}


def test_a_stuck_gift_paid_at_stripe_is_settled_by_the_sync_once(ledger, fake, gateway):
    cid = open_campaign(ledger)
    donation_id, session_id = card_gift(ledger, gateway, cid, "100.00", "k-1")
    paid = fake.pay(session_id, fee_minor=175)
    (created,) = fake.requests_to("POST", "/v1/checkout/sessions")
    assert created.idempotency_key == f"{PREFIX}donation-{donation_id}-checkout"

    young = sync(ledger, gateway)  # created just now: the webhook may still come
    assert (young.examined, fake.requests_to("GET", f"/v1/checkout/sessions/{session_id}")) == (
        0,
        [],
    )

    ledger.clock.instant += WAIT + timedelta(minutes=1)
    report = sync(ledger, gateway)

    assert (report.examined, counts(report), report.errors) == (1, {"settled": 1}, [])
    assert status_of(ledger, donation_id) == "settled"
    assert {
        code: ledger.balance(code).posted
        for code in (accounts.STRIPE, accounts.FEES, accounts.escrow(cid))
    } == {accounts.STRIPE: 9825, accounts.FEES: 175, accounts.escrow(cid): 10000}
    actor = ledger.read(lambda s: s.execute(text("SELECT actor FROM journal_entries")).scalar_one())
    assert actor == "stripe-sync"
    audited = ledger.read(
        lambda s: [
            (a.channel, a.subject_id, a.details["actor"], a.details["outcome"])
            for a in s.scalars(select(AuditEvent).where(AuditEvent.action == "stripe.sync"))
        ]
    )
    assert audited == [("cli", str(donation_id), "stripe-sync", "settled")]

    # A second run finds nothing stuck; the webhook arriving late books nothing more.
    assert sync(ledger, gateway).examined == 0
    details = gateway.payment_details(paid.payment_intent_id)
    facts = ChargeFacts(
        details.payment_intent_id,
        details.charge_id,
        details.amount_minor,
        details.fee_minor,
        details.currency,
        donation_id=details.donation_id,
    )
    late = fake.checkout_completed_event(session_id)
    assert ledger.run(lambda s: apply_event(s, late, facts, clock=ledger.clock)) == "applied"
    assert entries(ledger) == 1
    assert ledger.verify().ok


def test_two_syncs_at_the_same_time_settle_each_gift_once(ledger, fake, gateway):
    cid = open_campaign(ledger)
    gifts = [card_gift(ledger, gateway, cid, "10.00", f"k-{n}") for n in range(6)]
    for _donation_id, session_id in gifts:
        fake.pay(session_id, fee_minor=40)
    ledger.clock.instant += timedelta(hours=1)
    barrier = threading.Barrier(2)
    reports: list[SyncReport] = []

    def run() -> None:
        barrier.wait()
        reports.append(sync(ledger, gateway))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert len(reports) == 2 and all(not r.errors for r in reports)
    assert sum(r.counts["settled"] for r in reports) == 6
    assert entries(ledger) == 6
    assert ledger.balance(accounts.escrow(cid)).posted == 6000
    assert ledger.balance(accounts.FEES).posted == 240
    assert (
        ledger.read(
            lambda s: len(
                s.scalars(select(AuditEvent.id).where(AuditEvent.action == "stripe.sync")).all()
            )
        )
        == 6
    )
    assert ledger.verify().ok


def test_an_expired_session_marks_the_gift_expired(ledger, fake, gateway):
    cid = open_campaign(ledger)
    donation_id, session_id = card_gift(ledger, gateway, cid, "30.00", "k-1")
    fake.fail(session_id)  # never paid: Stripe expires the open session
    ledger.clock.instant += timedelta(days=1)

    report = sync(ledger, gateway)

    assert counts(report) == {"expired": 1}
    assert status_of(ledger, donation_id) == "expired"
    assert entries(ledger) == 0


def test_a_failed_sepa_debit_marks_the_gift_failed_and_a_processing_one_is_left(
    ledger, fake, gateway
):
    cid = open_campaign(ledger)
    failing, failing_session = card_gift(ledger, gateway, cid, "30.00", "k-1")
    waiting, waiting_session = card_gift(ledger, gateway, cid, "30.00", "k-2")
    fake.pay(failing_session, fee_minor=35, method="sepa_debit")
    fake.pay(waiting_session, fee_minor=35, method="sepa_debit")
    fake.fail(failing_session)
    ledger.clock.instant += timedelta(days=1)

    report = sync(ledger, gateway)

    assert counts(report) == {"failed": 1, "left": 1}
    assert (status_of(ledger, failing), status_of(ledger, waiting)) == ("failed", "pending")
    assert entries(ledger) == 0


def test_an_open_session_is_left_for_a_later_run(ledger, fake, gateway):
    cid = open_campaign(ledger)
    donation_id, _session_id = card_gift(ledger, gateway, cid, "30.00", "k-1")
    ledger.clock.instant += timedelta(hours=2)

    assert counts(sync(ledger, gateway)) == {"left": 1}
    assert status_of(ledger, donation_id) == "pending"


def test_a_session_paid_for_another_amount_is_flagged_not_booked_and_not_asked_again(
    ledger, fake, gateway
):
    cid = open_campaign(ledger)
    donation_id, session_id = card_gift(ledger, gateway, cid, "25.00", "k-1")
    fake.sessions[session_id]["amount_total"] = 2600
    fake.pay(session_id, fee_minor=60)
    ledger.clock.instant += timedelta(hours=1)

    assert counts(sync(ledger, gateway)) == {"flagged": 1}
    flagged = ledger.read(lambda s: s.get(Donation, donation_id).flagged_reason)
    assert "amount 2600" in flagged
    assert entries(ledger) == 0
    assert sync(ledger, gateway).examined == 0  # a treasurer's case now, not the sync's


def test_a_stripe_error_on_one_gift_is_reported_and_the_others_are_synced(ledger, fake, gateway):
    cid = open_campaign(ledger)
    first, first_session = card_gift(ledger, gateway, cid, "10.00", "k-1")
    second, second_session = card_gift(ledger, gateway, cid, "20.00", "k-2")
    fake.pay(first_session, fee_minor=40)
    fake.pay(second_session, fee_minor=50)
    ledger.clock.instant += timedelta(hours=1)
    fake.fail_next(3, status=500)  # the first lookup and the library's two retries

    report = sync(ledger, gateway)

    assert counts(report) == {"error": 1, "settled": 1}
    assert report.errors and report.errors[0].startswith(
        f"donation {first}: payment_provider_error"
    )
    assert (status_of(ledger, first), status_of(ledger, second)) == ("pending", "settled")
    assert counts(sync(ledger, gateway)) == {"settled": 1}  # the next run catches up


def test_ledger_stripe_sync_settles_stuck_gifts_and_prints_a_summary(ledger, fake, gateway, db_url):
    cid = open_campaign(ledger)
    donation_id, session_id = card_gift(ledger, gateway, cid, "15.00", "k-1")
    fake.pay(session_id, fee_minor=45)
    env = {
        "LEDGER_STRIPE_SECRET_KEY": API_KEY,
        "LEDGER_STRIPE_API_BASE": fake.url,
        "LEDGER_STRIPE_WEBHOOK_SECRET": "whsec_test_sync",
        "LEDGER_STRIPE_KEY_PREFIX": PREFIX,
        "LEDGER_TOTP_KEY": new_key(),
    }

    # The command runs on the system's clock, months after the fixture clock's gift.
    result = CliRunner().invoke(
        cli, ["--database", db_url, "stripe", "sync", "--older-than", "30"], env=env
    )

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "stripe sync: 1 examined, 1 settled, 0 flagged, 0 expired, 0 failed, 0 left, "
        "0 skipped, 0 errors",
        "stripe sync: refunds: 0 examined, 0 booked, 0 failed, 0 left, 0 resent, "
        "0 skipped, 0 errors",
        "stripe sync: payouts: 0 examined",
    ]
    assert status_of(ledger, donation_id) == "settled"

    other, _session_id = card_gift(ledger, gateway, cid, "15.00", "k-2")
    fake.fail_next(3, status=500)
    failed = CliRunner().invoke(cli, ["--database", db_url, "stripe", "sync"], env=env)
    assert failed.exit_code == 1
    assert f"donation {other}: payment_provider_error" in failed.stderr
    assert status_of(ledger, other) == "pending"


def test_a_gift_settled_by_its_webhook_while_the_sync_asked_stripe_is_left_alone(
    ledger, fake, gateway
):
    cid = open_campaign(ledger)
    donation_id, session_id = card_gift(ledger, gateway, cid, "10.00", "k-1")
    paid = fake.pay(session_id, fee_minor=40)
    verdict = ask_stripe(gateway, session_id)  # the sync's lookup, before its transaction
    details = gateway.payment_details(paid.payment_intent_id)
    facts = ChargeFacts(
        details.payment_intent_id,
        details.charge_id,
        details.amount_minor,
        details.fee_minor,
        details.currency,
        donation_id=details.donation_id,
    )
    event = fake.checkout_completed_event(session_id)
    ledger.run(lambda s: apply_event(s, event, facts, clock=ledger.clock))  # the webhook wins

    outcome = ledger.run(lambda s: act(s, donation_id, verdict, clock=ledger.clock, origin=ORIGIN))

    assert outcome == "skipped"
    assert entries(ledger) == 1
    assert (
        ledger.read(
            lambda s: s.scalars(
                select(AuditEvent.id).where(AuditEvent.action == "stripe.sync")
            ).all()
        )
        == []
    )


@pytest.mark.postgres_only
def test_a_gift_whose_row_another_transaction_holds_is_skipped_without_waiting(
    pg_ledger, fake, gateway
):
    ledger = pg_ledger
    cid = open_campaign(ledger)
    donation_id, session_id = card_gift(ledger, gateway, cid, "10.00", "k-1")
    fake.pay(session_id, fee_minor=40)
    verdict = ask_stripe(gateway, session_id)
    holder = ledger.sessions()
    holder.begin()
    holder.execute(select(Donation).where(Donation.id == donation_id).with_for_update())
    try:
        outcome = ledger.run(
            lambda s: act(s, donation_id, verdict, clock=ledger.clock, origin=ORIGIN)
        )
    finally:
        holder.rollback()
        holder.close()

    assert outcome == "skipped"
    assert status_of(ledger, donation_id) == "pending" and entries(ledger) == 0


# ------------------------------------------------------------------------ refunds
def facts_of(gateway: StripeGateway, payment_intent_id: str) -> ChargeFacts:
    details = gateway.payment_details(payment_intent_id)
    return ChargeFacts(
        details.payment_intent_id,
        details.charge_id,
        details.amount_minor,
        details.fee_minor,
        details.currency,
        donation_id=details.donation_id,
    )


def settled_card_gift(
    ledger: Ledger, fake: FakeStripe, gateway: StripeGateway, campaign_id: int, key: str
) -> tuple[int, str]:
    """A 100.00 card gift (fee 1.75) settled by its webhook: (donation id, PaymentIntent id)."""
    donation_id, session_id = card_gift(ledger, gateway, campaign_id, "100.00", key)
    paid = fake.pay(session_id, fee_minor=175)
    event = fake.checkout_completed_event(session_id)
    facts = facts_of(gateway, paid.payment_intent_id)
    assert ledger.run(lambda s: apply_event(s, event, facts, clock=ledger.clock)) == "applied"
    return donation_id, paid.payment_intent_id


def ask_refund(ledger: Ledger, donation_id: int, amount: str) -> int:
    money = Money.parse(amount, "EUR")
    return ledger.run(lambda s: request_refund(s, donation_id, money, clock=ledger.clock).id)


def flush(app: Flask) -> tuple[int, int]:
    with app.app_context():
        return flush_outbox()


def sync_refunds_now(ledger: Ledger, gateway: StripeGateway) -> RefundSyncReport:
    return sync_refunds(
        ledger.sessions, gateway, clock=ledger.clock, origin=ORIGIN, older_than=WAIT
    )


def refund_row(ledger: Ledger, refund_id: int) -> tuple[str, str | None]:
    def read(session: Session) -> tuple[str, str | None]:
        refund = session.get(Refund, refund_id)
        assert refund is not None
        return refund.status, refund.stripe_refund_id

    return ledger.read(read)


def refund_messages(ledger: Ledger, refund_id: int) -> list[tuple[int, bool]]:
    """(attempts, sent) of every outbox message that sends this refund, oldest first."""
    return ledger.read(
        lambda s: [
            (m.attempts, m.sent_at is not None)
            for m in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
            if m.kind == "stripe_refund" and m.payload.get("refund_id") == refund_id
        ]
    )


def outbox_gives_up(ledger: Ledger, refund_id: int) -> None:
    """The outbox has tried its last attempt (as MAX_ATTEMPTS failed dispatches leave it;
    set directly, because ten dispatches against a failing Stripe take the library's
    retry back-off each time)."""

    def work(session: Session) -> None:
        for message in session.scalars(select(OutboxMessage)):
            if message.payload.get("refund_id") == refund_id and message.sent_at is None:
                message.attempts = MAX_ATTEMPTS
                message.last_error = "PaymentProviderError: Stripe create_refund failed"

    ledger.run(work)


def sync_audit(ledger: Ledger) -> list[tuple[str | None, str, str]]:
    return ledger.read(
        lambda s: [
            (a.subject_id, a.details["outcome"], a.details["detail"])
            for a in s.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "stripe.sync", AuditEvent.subject_type == "refund")
                .order_by(AuditEvent.id)
            )
        ]
    )


def test_a_refund_whose_webhook_never_came_is_booked_once_by_the_sync(ledger, slow_fake, app):
    fake = slow_fake
    app.config["STRIPE_API_BASE"] = fake.url
    gateway = StripeGateway(API_KEY, api_base=fake.url, key_prefix=PREFIX)
    cid = open_campaign(ledger)
    donation_id, payment_intent_id = settled_card_gift(ledger, fake, gateway, cid, "k-1")
    refund_id = ask_refund(ledger, donation_id, "30.00")
    assert flush(app) == (1, 0)  # Stripe answers `pending`
    status, stripe_id = refund_row(ledger, refund_id)
    assert status == "pending" and stripe_id is not None
    fake.refund_succeeds(stripe_id)  # ... and its `refund.updated` event is lost

    young = sync_refunds_now(ledger, gateway)  # asked just now: the webhook may still come
    assert young.examined == 0 and fake.requests_to("GET", f"{REFUNDS}/{stripe_id}") == []

    ledger.clock.instant += WAIT + timedelta(minutes=1)
    report = sync_refunds_now(ledger, gateway)

    assert (report.examined, counts(report), report.errors) == (1, {"booked": 1}, [])
    assert refund_row(ledger, refund_id) == ("succeeded", stripe_id)
    assert {
        code: ledger.balance(code).posted
        for code in (accounts.STRIPE, accounts.FEES, accounts.escrow(cid))
    } == {accounts.STRIPE: 9825 - 3000, accounts.FEES: 175, accounts.escrow(cid): 7000}
    assert entries(ledger) == 2  # the gift and its refund
    assert sync_audit(ledger) == [(str(refund_id), "booked", "refund succeeded (booked)")]

    # A second run finds nothing stuck; the late webhook books nothing more.
    assert sync_refunds_now(ledger, gateway).examined == 0
    late = fake.refund_updated_event(stripe_id)
    listed = [
        (r.id, r.amount_minor, r.status or "", r.refund_id)
        for r in gateway.list_refunds(payment_intent_id)
    ]
    facts = facts_of(gateway, payment_intent_id)
    outcome = ledger.run(lambda s: apply_event(s, late, facts, refunds=listed, clock=ledger.clock))
    assert outcome == "applied"
    assert entries(ledger) == 2 and fake.refunds_created == 1
    assert ledger.verify().ok


def test_a_refund_that_failed_at_stripe_is_closed_by_the_sync_and_one_still_pending_is_left(
    ledger, slow_fake, app
):
    fake = slow_fake
    app.config["STRIPE_API_BASE"] = fake.url
    gateway = StripeGateway(API_KEY, api_base=fake.url, key_prefix=PREFIX)
    cid = open_campaign(ledger)
    failing_gift, _ = settled_card_gift(ledger, fake, gateway, cid, "k-1")
    waiting_gift, _ = settled_card_gift(ledger, fake, gateway, cid, "k-2")
    failing = ask_refund(ledger, failing_gift, "10.00")
    waiting = ask_refund(ledger, waiting_gift, "10.00")
    assert flush(app) == (2, 0)
    fake.refund_fails(refund_row(ledger, failing)[1])
    ledger.clock.instant += timedelta(hours=2)

    report = sync_refunds_now(ledger, gateway)

    assert counts(report) == {"failed": 1, "left": 1}
    assert (refund_row(ledger, failing)[0], refund_row(ledger, waiting)[0]) == (
        "failed",
        "pending",
    )
    assert entries(ledger) == 2  # the two gifts only
    assert ask_refund(ledger, failing_gift, "10.00") != failing  # a new one may be asked
    assert [outcome for _id, outcome, _detail in sync_audit(ledger)] == ["failed"]


def test_a_refund_stripe_never_received_is_sent_again_once(ledger, fake, gateway, app):
    cid = open_campaign(ledger)
    donation_id, payment_intent_id = settled_card_gift(ledger, fake, gateway, cid, "k-1")
    refund_id = ask_refund(ledger, donation_id, "25.00")
    fake.fail_next(3, status=500)  # Stripe is down: the lookup and the library's two retries
    assert flush(app) == (0, 1)
    ledger.clock.instant += timedelta(hours=2)

    # While the outbox still tries, the sync leaves the refund to it.
    assert counts(sync_refunds_now(ledger, gateway)) == {"left": 1}
    assert refund_messages(ledger, refund_id) == [(1, False)]

    outbox_gives_up(ledger, refund_id)
    ledger.clock.instant += timedelta(days=2)  # the first request's key is long forgotten
    fake.forget_idempotency_keys()
    report = sync_refunds_now(ledger, gateway)

    assert (counts(report), report.errors) == ({"resent": 1}, [])
    assert refund_messages(ledger, refund_id) == [(MAX_ATTEMPTS, False), (0, False)]
    assert fake.refunds_created == 0  # the sync itself never asks Stripe for a refund
    # A second run before the outbox sent it queues nothing more.
    assert counts(sync_refunds_now(ledger, gateway)) == {"left": 1}
    assert len(refund_messages(ledger, refund_id)) == 2

    assert flush(app) == (1, 0)

    (sent,) = fake.requests_to("POST", REFUNDS)
    assert sent.idempotency_key == f"{PREFIX}refund-{refund_id}"
    assert sent.params == {
        "payment_intent": payment_intent_id,
        "amount": "2500",
        "metadata": {"refund_id": str(refund_id)},
    }
    assert fake.refunds_created == 1
    assert refund_row(ledger, refund_id)[0] == "succeeded"
    assert ledger.balance(accounts.escrow(cid)).posted == 7500
    assert sync_refunds_now(ledger, gateway).examined == 0
    assert flush(app) == (0, 0)
    assert [outcome for _id, outcome, _detail in sync_audit(ledger)] == ["resent"]
    assert ledger.verify().ok


def test_a_refund_stripe_made_whose_answer_was_lost_is_found_by_its_metadata_not_sent_again(
    ledger, fake, gateway, app
):
    cid = open_campaign(ledger)
    donation_id, payment_intent_id = settled_card_gift(ledger, fake, gateway, cid, "k-1")
    refund_id = ask_refund(ledger, donation_id, "40.00")
    # The outbox's request reached Stripe, which made the refund; the process died
    # before writing Stripe's answer, and the outbox later gave up on the message.
    made = gateway.create_refund(
        payment_intent_id=payment_intent_id,
        amount_minor=4000,
        idempotency_key=refund_idempotency_key(refund_id),
        refund_id=refund_id,
    )
    assert made.refund_id == refund_id
    outbox_gives_up(ledger, refund_id)
    ledger.clock.instant += timedelta(days=2)
    fake.forget_idempotency_keys()  # a second request would now make a second refund

    report = sync_refunds_now(ledger, gateway)

    assert (counts(report), report.errors) == ({"booked": 1}, [])
    assert fake.refunds_created == 1
    assert refund_row(ledger, refund_id) == ("succeeded", made.id)
    assert ledger.balance(accounts.escrow(cid)).posted == 6000
    assert refund_messages(ledger, refund_id) == [(MAX_ATTEMPTS, False)]  # nothing re-queued
    assert sync_audit(ledger) == [
        (str(refund_id), "booked", "found at Stripe by its metadata: succeeded (booked)")
    ]
    assert flush(app) == (0, 0)
    assert fake.refunds_created == 1
    assert ledger.verify().ok


def test_two_syncs_at_the_same_time_book_each_refund_once(ledger, fake, gateway):
    cid = open_campaign(ledger)
    refunds: list[int] = []
    for n in range(6):
        donation_id, payment_intent_id = settled_card_gift(ledger, fake, gateway, cid, f"k-{n}")
        refund_id = ask_refund(ledger, donation_id, "10.00")
        made = gateway.create_refund(
            payment_intent_id=payment_intent_id,
            amount_minor=1000,
            idempotency_key=refund_idempotency_key(refund_id),
            refund_id=refund_id,
        )
        if n % 2:  # Stripe answered `pending` (it succeeded since; the webhook was lost)
            ledger.run(
                lambda s, r=refund_id, m=made.id: record_refund_answer(
                    s, r, stripe_refund_id=m, status="pending", clock=ledger.clock, actor="t"
                )
            )
        # otherwise the answer itself was lost: found by its metadata
        refunds.append(refund_id)
    ledger.clock.instant += timedelta(hours=1)
    barrier = threading.Barrier(2)
    reports: list[RefundSyncReport] = []

    def run() -> None:
        barrier.wait()
        reports.append(sync_refunds_now(ledger, gateway))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert len(reports) == 2 and all(not r.errors for r in reports)
    assert sum(r.counts["booked"] for r in reports) == 6
    assert all(refund_row(ledger, r)[0] == "succeeded" for r in refunds)
    assert entries(ledger) == 12  # six gifts, six refunds
    assert ledger.balance(accounts.escrow(cid)).posted == 6 * (10000 - 1000)
    assert len(sync_audit(ledger)) == 6
    assert fake.refunds_created == 6
    assert ledger.verify().ok


def test_a_refund_tied_to_another_stripe_refund_since_stripe_was_asked_is_left_alone(
    ledger, fake, gateway
):
    cid = open_campaign(ledger)
    donation_id, payment_intent_id = settled_card_gift(ledger, fake, gateway, cid, "k-1")
    refund_id = ask_refund(ledger, donation_id, "10.00")
    verdict = ask_stripe_about_refund(gateway, StuckRefund(refund_id, None, payment_intent_id))
    assert verdict.action == "resend"
    # Meanwhile the outbox sent it and recorded Stripe's answer.
    made = gateway.create_refund(
        payment_intent_id=payment_intent_id,
        amount_minor=1000,
        idempotency_key=refund_idempotency_key(refund_id),
        refund_id=refund_id,
    )
    ledger.run(
        lambda s: record_refund_answer(
            s, refund_id, stripe_refund_id=made.id, status="pending", clock=ledger.clock, actor="t"
        )
    )

    outcome = ledger.run(
        lambda s: act_on_refund(s, refund_id, verdict, clock=ledger.clock, origin=ORIGIN)
    )

    assert outcome == "skipped"
    assert refund_messages(ledger, refund_id) == [(0, False)]  # nothing queued twice
    assert sync_audit(ledger) == []


@pytest.mark.postgres_only
@pytest.mark.parametrize("held", ["refund", "donation"])
def test_a_refund_whose_row_or_gift_another_transaction_holds_is_skipped_without_waiting(
    pg_ledger, fake, gateway, held
):
    """A webhook holding the gift would wait for the refund's row: the sync steps aside
    rather than wait for the gift, so the two can never deadlock."""
    ledger = pg_ledger
    cid = open_campaign(ledger)
    donation_id, payment_intent_id = settled_card_gift(ledger, fake, gateway, cid, "k-1")
    refund_id = ask_refund(ledger, donation_id, "10.00")
    gateway.create_refund(
        payment_intent_id=payment_intent_id,
        amount_minor=1000,
        idempotency_key=refund_idempotency_key(refund_id),
        refund_id=refund_id,
    )
    verdict = ask_stripe_about_refund(gateway, StuckRefund(refund_id, None, payment_intent_id))
    assert verdict.action == "answer"
    holder = ledger.sessions()
    holder.begin()
    if held == "refund":
        holder.execute(select(Refund).where(Refund.id == refund_id).with_for_update())
    else:
        holder.execute(select(Donation).where(Donation.id == donation_id).with_for_update())
    try:
        outcome = ledger.run(
            lambda s: act_on_refund(s, refund_id, verdict, clock=ledger.clock, origin=ORIGIN)
        )
    finally:
        holder.rollback()
        holder.close()

    assert outcome == "skipped"
    assert refund_row(ledger, refund_id) == ("pending", None) and entries(ledger) == 1


def test_ledger_stripe_sync_reconciles_stuck_refunds_and_prints_their_summary(
    ledger, fake, gateway, db_url
):
    cid = open_campaign(ledger)
    donation_id, payment_intent_id = settled_card_gift(ledger, fake, gateway, cid, "k-1")
    refund_id = ask_refund(ledger, donation_id, "20.00")
    gateway.create_refund(
        payment_intent_id=payment_intent_id,
        amount_minor=2000,
        idempotency_key=refund_idempotency_key(refund_id),
        refund_id=refund_id,
    )
    env = {
        "LEDGER_STRIPE_SECRET_KEY": API_KEY,
        "LEDGER_STRIPE_API_BASE": fake.url,
        "LEDGER_STRIPE_WEBHOOK_SECRET": "whsec_test_sync",
        "LEDGER_STRIPE_KEY_PREFIX": PREFIX,
        "LEDGER_TOTP_KEY": new_key(),
    }

    # The command runs on the system's clock, months after the fixture clock's refund.
    result = CliRunner().invoke(cli, ["--database", db_url, "stripe", "sync"], env=env)

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-2:] == [
        "stripe sync: refunds: 1 examined, 1 booked, 0 failed, 0 left, 0 resent, "
        "0 skipped, 0 errors",
        "stripe sync: payouts: 0 examined",
    ]
    assert refund_row(ledger, refund_id)[0] == "succeeded"

    other_gift, _ = settled_card_gift(ledger, fake, gateway, cid, "k-2")
    other = ask_refund(ledger, other_gift, "5.00")
    fake.fail_next(3, status=500)
    failed = CliRunner().invoke(cli, ["--database", db_url, "stripe", "sync"], env=env)
    assert failed.exit_code == 1
    assert f"refund {other}: payment_provider_error" in failed.stderr
    assert refund_row(ledger, other) == ("pending", None)
