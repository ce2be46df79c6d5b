"""Stripe payouts: `payout.paid` (signed as Stripe signs) and `ledger stripe sync` check the
payout's balance transactions against the books and book it once as money in transit;
`payout.failed` after `paid` reverses it.

The real `stripe` library reads the local fake Stripe (payouts, balance transactions listed
with `has_more`/`starting_after` pagination). Runs on SQLite and PostgreSQL; the race of the
webhook and the sync is PostgreSQL-only.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import text

from ledger.audit.service import Origin
from ledger.campaigns import accounts
from ledger.core.clock import FixedClock
from ledger.core.intents import FLUSHES, pending
from ledger.core.journal import get_entry
from ledger.core.sealing import new_key
from ledger.core.service import Ledger
from ledger.payments.stripe_gateway import StripeGateway
from ledger.reconcile import commands as reconcile_commands
from ledger.reconcile.models import StripePayout
from ledger.reconcile.payouts import TRANSIT
from ledger.reconcile.sync import sync_payouts
from tests.fakes.stripe_server import FakeStripe
from tests.web.test_webhooks import (
    API_KEY,
    PREFIX,
    SECRET,
    checkout,
    configure_stripe,
    count,
    open_campaign,
    post,
    stripe_events,
)
from web import create_app
from web.cli import cli

ORIGIN = Origin(channel="cli", source="test-host")


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


@pytest.fixture
def stripe_app(app: Flask, fake: FakeStripe) -> Flask:
    return configure_stripe(app, fake)


@pytest.fixture
def pg_stripe_app(pg_url: str, clock: FixedClock, fake: FakeStripe) -> Iterator[Flask]:
    application = create_app(
        {"DATABASE_URL": pg_url, "TESTING": True, "CLOCK": clock, "MAIL_SENDER": "memory"}
    )
    yield configure_stripe(application, fake)
    application.extensions["ledger"].engine.dispose()


def payout_entries(ledger: Ledger) -> int:
    return count(ledger, "SELECT count(*) FROM journal_entries WHERE kind = 'stripe_payout'")


def gift(app: Flask, stripe: FakeStripe, cid: int, amount: str, fee: int, key: str) -> str:
    """A card gift paid and settled through its webhook; its charge id."""
    _donation_id, session_id = checkout(app, cid, amount, key)
    paid = stripe.pay(session_id, fee_minor=fee)
    assert post(app.test_client(), stripe.checkout_completed_event(session_id)).status_code == 200
    return paid.charge_id


def gateway(stripe: FakeStripe) -> StripeGateway:
    return StripeGateway(API_KEY, api_base=stripe.url, key_prefix=PREFIX)


def row(ledger: Ledger, payout_id: str) -> dict[str, Any]:
    def read(session):  # type: ignore[no-untyped-def]
        found = session.get(StripePayout, payout_id)
        return {c.key: getattr(found, c.key) for c in StripePayout.__table__.columns}

    return ledger.read(read)


def test_a_payout_of_gifts_and_a_refund_is_booked_once_as_money_in_transit(
    stripe_app, fake, ledger
):
    client = stripe_app.test_client()
    cid = open_campaign(ledger)
    first = gift(stripe_app, fake, cid, "100.00", 175, "k-1")
    second = gift(stripe_app, fake, cid, "50.00", 100, "k-2")
    refund = gateway(fake).create_refund(
        payment_intent_id=fake.charges[first]["payment_intent"],
        amount_minor=2000,
        idempotency_key="dashboard-refund",
    )
    assert post(client, fake.charge_refunded_event(first)).get_json() == {"outcome": "applied"}
    assert ledger.balance(accounts.STRIPE).posted == 9825 + 4900 - 2000

    payout_id = fake.payout(
        [fake.transaction_of(s) for s in (first, second, refund.id)],
        trace_id="TRACE-0001",
    )
    assert fake.payouts[payout_id]["amount"] == 12725
    event = fake.payout_event(payout_id)
    before = count(ledger, "SELECT count(*) FROM journal_entries")

    assert post(client, event).get_json() == {"outcome": "applied"}
    assert post(client, event).get_json() == {"outcome": "duplicate"}
    report = sync_payouts(ledger.sessions, gateway(fake), clock=ledger.clock, origin=ORIGIN)

    assert (report.examined, report.errors) == (0, [])  # the webhook recorded it
    assert count(ledger, "SELECT count(*) FROM journal_entries") == before + 1
    assert payout_entries(ledger) == 1
    assert ledger.balance(TRANSIT).posted == 12725
    assert ledger.balance(accounts.STRIPE).posted == 0
    stored = row(ledger, payout_id)
    assert (stored["amount_minor"], stored["currency"], stored["status"]) == (12725, "EUR", "paid")
    assert (stored["statement_descriptor"], stored["trace_id"]) == ("STRIPE", "TRACE-0001")
    assert stored["arrival_date"] is not None and stored["transactions"] == 3
    assert json.loads(stored["differences"]) == []
    assert ("payout.paid", "applied") in stripe_events(ledger)
    assert ledger.verify().ok


def test_balance_transactions_are_read_across_pages(stripe_app, fake, ledger):
    cid = open_campaign(ledger)
    charges = [gift(stripe_app, fake, cid, "10.00", 30, f"k-{n}") for n in range(3)]
    payout_id = fake.payout([fake.transaction_of(c) for c in charges])
    real = StripeGateway(API_KEY, api_base=fake.url)
    # The stripe client pages with limit=100; a page of two proves `starting_after` works.
    listed = real._client.v1.balance_transactions.list({"payout": payout_id, "limit": 2})
    assert listed.has_more is True
    assert len(list(listed.auto_paging_iter())) == 4  # three charges and the payout's own
    assert {t.source for t in real.payout_transactions(payout_id)} == {*charges, payout_id}


def test_an_unknown_transaction_a_differing_fee_and_a_missing_gift_are_reported_yet_booked(
    stripe_app, fake, ledger, db_url
):
    cid = open_campaign(ledger)
    left_out = gift(stripe_app, fake, cid, "30.00", 60, "k-0")
    ledger.clock.instant += timedelta(hours=1)
    charge = gift(stripe_app, fake, cid, "100.00", 175, "k-1")
    txn = fake.balance_transactions[fake.transaction_of(charge)]
    txn.update(fee=200, net=9800)  # Stripe's fee is not what the ledger booked
    unknown = fake.balance_transaction(amount_minor=-500, type="adjustment")
    payout_id = fake.payout([txn["id"], unknown])
    assert fake.payouts[payout_id]["amount"] == 9300

    env = {
        "LEDGER_STRIPE_SECRET_KEY": API_KEY,
        "LEDGER_STRIPE_API_BASE": fake.url,
        "LEDGER_STRIPE_WEBHOOK_SECRET": SECRET,
        "LEDGER_STRIPE_KEY_PREFIX": PREFIX,
        "LEDGER_TOTP_KEY": new_key(),
    }
    result = CliRunner().invoke(cli, ["--database", db_url, "stripe", "sync"], env=env)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "stripe sync: payouts: 1 examined (1 booked)" in lines
    printed = [line for line in lines if line.startswith(f"difference: payout {payout_id}: ")]
    kinds = sorted(line.split(": ")[2] for line in printed)
    assert kinds == ["fee", "missing", "net", "unknown"]
    assert any("Stripe's fee is 200" in line and "booked 175" in line for line in printed)
    assert any(left_out in line for line in printed if ": missing: " in line)

    stored = json.loads(row(ledger, payout_id)["differences"])
    assert sorted(d["kind"] for d in stored) == kinds
    assert {d["balance_transaction"] for d in stored if d["kind"] == "unknown"} == {unknown}
    assert payout_entries(ledger) == 1
    assert ledger.balance(TRANSIT).posted == 9300

    again = CliRunner().invoke(cli, ["--database", db_url, "stripe", "sync"], env=env)
    assert "stripe sync: payouts: 0 examined" in again.stdout.splitlines()
    assert payout_entries(ledger) == 1
    assert ledger.verify().ok


def test_a_payout_that_fails_after_it_was_paid_is_reversed(stripe_app, fake, ledger):
    client = stripe_app.test_client()
    cid = open_campaign(ledger)
    charge = gift(stripe_app, fake, cid, "100.00", 175, "k-1")
    payout_id = fake.payout([fake.transaction_of(charge)])
    assert post(client, fake.payout_event(payout_id)).get_json() == {"outcome": "applied"}
    assert ledger.balance(TRANSIT).posted == 9825

    fake.fail_payout(payout_id)
    failed = fake.payout_event(payout_id)
    assert failed["type"] == "payout.failed"
    assert post(client, failed).get_json() == {"outcome": "applied"}
    assert post(client, failed).get_json() == {"outcome": "duplicate"}

    assert ledger.balance(TRANSIT).posted == 0
    assert ledger.balance(accounts.STRIPE).posted == 9825
    stored = row(ledger, payout_id)
    assert stored["status"] == "failed" and stored["reversal_sequence"] is not None
    assert count(ledger, "SELECT count(*) FROM journal_entries WHERE kind = 'reversal'") == 1
    report = sync_payouts(ledger.sessions, gateway(fake), clock=ledger.clock, origin=ORIGIN)
    assert report.examined == 0
    assert ledger.verify().ok


def test_a_paid_event_for_a_payout_that_has_since_failed_books_nothing(stripe_app, fake, ledger):
    cid = open_campaign(ledger)
    charge = gift(stripe_app, fake, cid, "100.00", 175, "k-1")
    payout_id = fake.payout([fake.transaction_of(charge)])
    paid = fake.payout_event(payout_id)
    fake.fail_payout(payout_id)  # Stripe is the truth: the event is a nudge

    assert post(stripe_app.test_client(), paid).get_json() == {"outcome": "applied"}
    assert payout_entries(ledger) == 0
    assert row(ledger, payout_id)["status"] == "failed"
    assert ledger.balance(accounts.STRIPE).posted == 9825


@pytest.mark.postgres_only
def test_the_webhook_and_the_sync_racing_book_one_entry(pg_stripe_app, fake, pg_ledger):
    ledger = pg_ledger
    cid = open_campaign(ledger)
    charge = gift(pg_stripe_app, fake, cid, "100.00", 175, "k-1")
    payout_id = fake.payout([fake.transaction_of(charge)])
    reader = gateway(fake)
    payout = reader.retrieve_payout(payout_id)
    transactions = reader.payout_transactions(payout_id)

    first = ledger.sessions()
    first.begin()
    recorded = reconcile_commands.sync_payout(
        first, payout, transactions, origin=ORIGIN, clock=ledger.clock
    ).value
    assert recorded.outcome == "booked"  # not committed yet

    answers: list[tuple[int, Any]] = []

    def deliver() -> None:
        response = post(pg_stripe_app.test_client(), fake.payout_event(payout_id))
        answers.append((response.status_code, response.get_json()))

    thread = threading.Thread(target=deliver)
    thread.start()
    thread.join(1.0)
    assert thread.is_alive(), "the webhook must wait on the payout row's key"
    first.commit()
    first.close()
    thread.join(30)

    assert answers == [(200, {"outcome": "ignored"})]
    assert payout_entries(ledger) == 1
    assert ledger.balance(TRANSIT).posted == 9825
    assert (
        int(
            ledger.read(
                lambda s: s.execute(text("SELECT count(*) FROM stripe_payouts")).scalar_one()
            )
        )
        == 1
    )
    assert ledger.verify().ok


def test_a_payouts_entry_waits_for_its_units_commit_and_its_row_names_it(stripe_app, fake, ledger):
    """Recording a paid payout writes its row at once and its entry (Stripe balance ->
    money in transit) when the unit commits; the row names the entry by id, and a
    later failure reverses that entry."""
    cid = open_campaign(ledger)
    charge = gift(stripe_app, fake, cid, "100.00", 175, "k-1")
    payout_id = fake.payout([fake.transaction_of(charge)])
    reader = gateway(fake)
    payout = reader.retrieve_payout(payout_id)
    transactions = reader.payout_transactions(payout_id)

    def unit(s):  # type: ignore[no-untyped-def]
        recorded = reconcile_commands.sync_payout(
            s, payout, transactions, origin=ORIGIN, clock=ledger.clock
        ).value
        return recorded.outcome, [i.prepared.kind for i in pending(s)], s.info.get(FLUSHES, 0)

    assert ledger.run(unit) == ("booked", ["stripe_payout"], 0)
    stored = row(ledger, payout_id)
    entry = ledger.read(lambda s: get_entry(s, entry_id=stored["entry_id"]))
    assert (entry.kind, entry.metadata["stripe_payout"]) == ("stripe_payout", payout_id)

    fake.fail_payout(payout_id)
    assert post(stripe_app.test_client(), fake.payout_event(payout_id)).get_json() == {
        "outcome": "applied"
    }
    reversal = ledger.entry(row(ledger, payout_id)["reversal_sequence"])
    assert reversal.reverses_entry_id == entry.id
    assert ledger.balance(TRANSIT).posted == 0
    assert ledger.verify().ok
