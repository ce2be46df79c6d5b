"""The periodic Stripe sync: card gifts whose webhook never came, looked up at Stripe.

The real `stripe` library talks to the local fake Stripe over HTTP; gifts are started
through the domain and the gateway as `web.payments.begin_checkout` starts them.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from ledger.audit.models import AuditEvent
from ledger.audit.service import Origin
from ledger.campaigns import accounts
from ledger.campaigns.donations import Limits, attach_checkout, start_online_donation
from ledger.campaigns.models import Donation
from ledger.campaigns.stripe_events import ChargeFacts, apply_event
from ledger.campaigns.sync import SyncReport, act, ask_stripe, sync_pending
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.payments.stripe_gateway import StripeGateway
from tests.fakes.stripe_server import FakeStripe
from tests.scenarios.test_campaign_books import open_campaign
from web.cli import cli

API_KEY = "sk_test_community_ledger"
ORIGIN = Origin(channel="cli", source="test-host")
WAIT = timedelta(minutes=30)


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


@pytest.fixture
def gateway(fake: FakeStripe) -> StripeGateway:
    return StripeGateway(API_KEY, api_base=fake.url)


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


def counts(report: SyncReport) -> dict[str, int]:
    return {name: n for name, n in report.counts.items() if n}


def test_a_stuck_gift_paid_at_stripe_is_settled_by_the_sync_once(ledger, fake, gateway):
    cid = open_campaign(ledger)
    donation_id, session_id = card_gift(ledger, gateway, cid, "100.00", "k-1")
    paid = fake.pay(session_id, fee_minor=175)

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
    }

    # The command runs on the system's clock, months after the fixture clock's gift.
    result = CliRunner().invoke(
        cli, ["--database", db_url, "stripe", "sync", "--older-than", "30"], env=env
    )

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "stripe sync: 1 examined, 1 settled, 0 flagged, 0 expired, 0 failed, 0 left, "
        "0 skipped, 0 errors"
    )
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
