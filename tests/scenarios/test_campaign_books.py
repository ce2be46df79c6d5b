"""A campaign's books, step by step, with every account asserted after each step.

Gifts by card (with Stripe's fee), cash and bank transfer; a partial refund; a
dispute lost and one won; events redelivered and out of order; the close.
Every step runs through the domain services in one transaction, as a request
or a webhook would, and `verify` must hold at the end.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from ledger.campaigns import accounts
from ledger.campaigns.donations import (
    Limits,
    attach_checkout,
    record_offline_donation,
    start_online_donation,
)
from ledger.campaigns.models import Campaign, Donation, Receipt, Refund
from ledger.campaigns.refunds import confirm_refund, request_refund
from ledger.campaigns.service import (
    NewCampaign,
    close_campaign,
    create_campaign,
    create_organisation,
    figures,
    publish_campaign,
)
from ledger.campaigns.stripe_events import ChargeFacts, apply_event
from ledger.core.money import Money


def eur(text: str) -> Money:
    return Money.parse(text, "EUR")


def balances(ledger, campaign_id: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    codes = [
        accounts.STRIPE,
        accounts.BANK,
        accounts.CASH,
        accounts.FEES,
        accounts.escrow(campaign_id),
    ]
    return {code: ledger.balance(code).posted for code in codes}


def open_campaign(ledger, *, goal: str = "1000.00", model: str = "keep_what_you_raise") -> int:  # type: ignore[no-untyped-def]
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
                goal_minor=eur(goal).minor,
                currency="EUR",
                deadline_at=ledger.clock.now() + timedelta(days=30),
                funding_model=model,
            ),
            clock=ledger.clock,
        )
        publish_campaign(session, campaign.id, clock=ledger.clock)
        return campaign.id

    return ledger.run(work)


class Stripe:
    """Events and facts as Stripe would send them for one card gift."""

    def __init__(self, donation_id: int, amount: int, fee: int) -> None:
        self.donation_id, self.amount, self.fee = donation_id, amount, fee
        self.session_id = f"cs_test_{donation_id}"
        self.intent = f"pi_test_{donation_id}"
        self.charge = f"ch_test_{donation_id}"
        self.counter = 0

    def facts(self) -> ChargeFacts:
        return ChargeFacts(
            self.intent, self.charge, self.amount, self.fee, "EUR", donation_id=self.donation_id
        )

    def _event(self, kind: str, obj: dict) -> dict:
        self.counter += 1
        return {
            "id": f"evt_{self.donation_id}_{self.counter}",
            "type": kind,
            "data": {"object": obj},
        }

    def completed(self, amount: int | None = None, currency: str = "eur") -> dict:
        return self._event(
            "checkout.session.completed",
            {
                "object": "checkout.session",
                "id": self.session_id,
                "payment_status": "paid",
                "payment_intent": self.intent,
                "amount_total": self.amount if amount is None else amount,
                "currency": currency,
                "metadata": {"donation_id": str(self.donation_id)},
            },
        )

    def refunded(self, refunds: list[tuple[str, int]]) -> dict:
        return self._event(
            "charge.refunded",
            {
                "object": "charge",
                "id": self.charge,
                "payment_intent": self.intent,
                "amount": self.amount,
                "amount_refunded": sum(a for _, a in refunds),
                "currency": "eur",
                "refunds": {
                    "data": [{"id": i, "amount": a, "status": "succeeded"} for i, a in refunds]
                },
            },
        )

    def dispute(
        self,
        kind: str,
        dispute_id: str,
        amount: int,
        fee: int,
        status: str,
        transactions: list[tuple[int, int]] | None = None,
    ) -> dict:
        if transactions is None:
            transactions = [(-amount, fee)]
            if status == "won":
                transactions.append((amount, 0))  # Stripe's reversal; the fee is kept
        return self._event(
            kind,
            {
                "object": "dispute",
                "id": dispute_id,
                "charge": self.charge,
                "payment_intent": self.intent,
                "amount": amount,
                "currency": "eur",
                "status": status,
                "balance_transactions": [{"amount": a, "fee": f} for a, f in transactions],
            },
        )


def card_gift(ledger, campaign_id: int, amount: str, fee: str, key: str) -> Stripe:  # type: ignore[no-untyped-def]
    def work(session):  # type: ignore[no-untyped-def]
        donation, _ = start_online_donation(
            session,
            campaign_id,
            eur(amount),
            person_id=None,
            anonymous=False,
            request_key=key,
            limits=Limits(),
            clock=ledger.clock,
        )
        attach_checkout(session, donation.id, f"cs_test_{donation.id}", "https://checkout.test/x")
        return donation.id

    donation_id = ledger.run(work)
    return Stripe(donation_id, eur(amount).minor, eur(fee).minor)


def deliver(ledger, event: dict, facts: ChargeFacts | None = None) -> str:  # type: ignore[no-untyped-def]
    return ledger.run(lambda s: apply_event(s, event, facts, clock=ledger.clock))


def test_a_campaigns_books_after_each_step(ledger):
    cid = open_campaign(ledger)
    escrow = accounts.escrow(cid)
    assert balances(ledger, cid) == {
        accounts.STRIPE: 0,
        accounts.BANK: 0,
        accounts.CASH: 0,
        accounts.FEES: 0,
        escrow: 0,
    }

    # 1. A card gift of 100.00 with a 1.75 fee: gross to escrow, fee to expenses, net to Stripe.
    first = card_gift(ledger, cid, "100.00", "1.75", "k1")
    assert figures_of(ledger, cid) == (0, 0)  # pending money does not count
    assert deliver(ledger, first.completed(), first.facts()) == "applied"
    assert balances(ledger, cid) == {
        accounts.STRIPE: 9825,
        accounts.BANK: 0,
        accounts.CASH: 0,
        accounts.FEES: 175,
        escrow: 10000,
    }
    assert figures_of(ledger, cid) == (10000, 1)

    # The same event again, and a second delivery of it: nothing changes.
    assert deliver(ledger, first.completed(), first.facts()) == "applied"  # new evt id, same facts
    event = first.completed()
    assert deliver(ledger, event, first.facts()) == "applied"
    assert deliver(ledger, event, first.facts()) == "duplicate"
    assert balances(ledger, cid)[escrow] == 10000

    # 2. Cash at the community point and a bank transfer.
    def offline(method: str, amount: str, key: str, reference: str | None):  # type: ignore[no-untyped-def]
        return ledger.run(
            lambda s: (
                record_offline_donation(
                    s,
                    cid,
                    eur(amount),
                    method=method,
                    person_id=None,
                    anonymous=True,
                    reference=reference,
                    request_key=key,
                    donated_on=date(2026, 6, 14),
                    actor="user:1",
                    clock=ledger.clock,
                )[0].id
            )
        )

    offline("cash", "20.00", "cash-1", None)
    offline("bank_transfer", "250.00", "bank-1", "CAMP-1-0001")
    offline("bank_transfer", "250.00", "bank-1", "CAMP-1-0001")  # a retried request: once
    assert balances(ledger, cid) == {
        accounts.STRIPE: 9825,
        accounts.BANK: 25000,
        accounts.CASH: 2000,
        accounts.FEES: 175,
        escrow: 37000,
    }
    assert figures_of(ledger, cid) == (37000, 3)

    # 3. A partial refund of 30.00 of the card gift: requested, then confirmed by Stripe.
    refund_id = ledger.run(
        lambda s: request_refund(s, first.donation_id, eur("30.00"), clock=ledger.clock).id
    )
    assert balances(ledger, cid)[escrow] == 37000  # nothing booked before Stripe confirms
    assert deliver(ledger, first.refunded([("re_1", 3000)])) == "applied"
    assert (
        ledger.run(
            lambda s: confirm_refund(
                s, refund_id, clock=ledger.clock, actor="x", stripe_refund_id="re_1"
            )
        )
        is False
    )  # Stripe's answer after the webhook: already booked
    assert balances(ledger, cid) == {
        accounts.STRIPE: 6825,
        accounts.BANK: 25000,
        accounts.CASH: 2000,
        accounts.FEES: 175,
        escrow: 34000,
    }
    receipts = ledger.read(
        lambda s: [
            (r.amount_minor, r.voided_on is None)
            for r in s.scalars(
                select(Receipt).where(Receipt.donation_id == first.donation_id).order_by(Receipt.id)
            )
        ]
    )
    assert receipts == [(10000, False), (7000, True)]  # voided, reissued for what remains

    # 4. A second card gift, disputed and lost: amount and dispute fee withdrawn.
    second = card_gift(ledger, cid, "50.00", "0.98", "k2")
    deliver(ledger, second.completed(), second.facts())
    deliver(
        ledger,
        second.dispute("charge.dispute.created", "dp_1", 5000, 1500, "needs_response"),
        second.facts(),
    )
    deliver(ledger, second.dispute("charge.dispute.closed", "dp_1", 5000, 1500, "lost"))
    assert balances(ledger, cid) == {
        accounts.STRIPE: 6825 + 4902 - 6500,
        accounts.BANK: 25000,
        accounts.CASH: 2000,
        accounts.FEES: 175 + 98 + 1500,
        escrow: 34000,
    }

    # 5. A third card gift, disputed and won: the amount comes back, the fee stays spent.
    third = card_gift(ledger, cid, "40.00", "0.85", "k3")
    deliver(ledger, third.completed(), third.facts())
    deliver(
        ledger,
        third.dispute("charge.dispute.created", "dp_2", 4000, 1500, "needs_response"),
        third.facts(),
    )
    assert balances(ledger, cid)[escrow] == 34000
    deliver(ledger, third.dispute("charge.dispute.closed", "dp_2", 4000, 1500, "won"))
    assert balances(ledger, cid) == {
        accounts.STRIPE: 5227 + 3915 - 5500 + 4000,
        accounts.BANK: 25000,
        accounts.CASH: 2000,
        accounts.FEES: 1773 + 85 + 1500,
        escrow: 38000,
    }
    assert figures_of(ledger, cid) == (38000, 4)

    # 6. After the deadline the campaign closes (keep what you raise: succeeded, then closed).
    ledger.clock.instant += timedelta(days=31)
    result = ledger.run(lambda s: close_campaign(s, cid, clock=ledger.clock))
    assert result.status == "closed"
    assert balances(ledger, cid)[escrow] == 38000
    report = ledger.verify()
    assert report.ok, report


def figures_of(ledger, cid: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    f = ledger.read(lambda s: figures(s, cid))
    return f.raised_minor, f.donor_count


def test_an_event_whose_amount_differs_books_nothing_and_flags_the_donation(ledger):
    cid = open_campaign(ledger)
    gift = card_gift(ledger, cid, "25.00", "0.60", "k")
    assert deliver(ledger, gift.completed(amount=2600), gift.facts()) == "flagged"
    assert deliver(ledger, gift.completed(currency="usd"), gift.facts()) == "flagged"
    assert ledger.balance(accounts.escrow(cid)).posted == 0
    flagged = ledger.read(lambda s: s.get(Donation, gift.donation_id).flagged_reason)
    assert "currency" in flagged


def test_a_refund_that_arrives_before_the_payment_settles_the_gift_first(ledger):
    cid = open_campaign(ledger)
    gift = card_gift(ledger, cid, "60.00", "1.10", "k")
    assert deliver(ledger, gift.refunded([("re_9", 6000)]), gift.facts()) == "applied"
    assert deliver(ledger, gift.completed(), gift.facts()) == "applied"
    assert balances(ledger, cid) == {
        accounts.STRIPE: 5890 - 6000,
        accounts.BANK: 0,
        accounts.CASH: 0,
        accounts.FEES: 110,
        accounts.escrow(cid): 0,
    }
    assert ledger.verify().ok


def test_a_second_refund_while_one_is_pending_is_refused(ledger):
    cid = open_campaign(ledger)
    gift = card_gift(ledger, cid, "60.00", "1.10", "k")
    deliver(ledger, gift.completed(), gift.facts())
    ledger.run(lambda s: request_refund(s, gift.donation_id, eur("10.00"), clock=ledger.clock))
    from ledger.campaigns.errors import RefundPendingError

    with pytest.raises(RefundPendingError):
        ledger.run(lambda s: request_refund(s, gift.donation_id, None, clock=ledger.clock))


def test_an_all_or_nothing_campaign_that_fails_refunds_every_gift_once(ledger):
    cid = open_campaign(ledger, goal="1000.00", model="all_or_nothing")
    gifts = [card_gift(ledger, cid, "100.00", "1.75", f"k{n}") for n in range(3)]
    for gift in gifts:
        deliver(ledger, gift.completed(), gift.facts())
    ledger.clock.instant += timedelta(days=31)
    first = ledger.run(lambda s: close_campaign(s, cid, clock=ledger.clock))
    second = ledger.run(lambda s: close_campaign(s, cid, clock=ledger.clock))
    assert (first.status, first.refunds_created, first.refunds_pending) == ("failed", 3, 3)
    assert (second.status, second.refunds_created, second.refunds_pending) == ("failed", 0, 3)
    refunds = ledger.read(lambda s: s.execute(select(Refund.id, Refund.donation_id)).all())
    assert sorted(r.donation_id for r in refunds) == sorted(g.donation_id for g in gifts)
    for refund_id, _donation_id in refunds:
        ledger.run(
            lambda s, r=refund_id: confirm_refund(s, r, clock=ledger.clock, actor="stripe-webhook")
        )
    assert ledger.run(lambda s: close_campaign(s, cid, clock=ledger.clock)).status == "closed"
    assert ledger.balance(accounts.escrow(cid)).posted == 0
    assert ledger.balance(accounts.FEES).posted == 525  # fees are not returned


@pytest.mark.postgres_only
def test_two_closing_jobs_at_the_same_time_refund_each_gift_once(pg_ledger):
    import threading

    ledger = pg_ledger
    cid = open_campaign(ledger, goal="1000.00", model="all_or_nothing")
    for n in range(5):
        gift = card_gift(ledger, cid, "10.00", "0.40", f"k{n}")
        deliver(ledger, gift.completed(), gift.facts())
    ledger.clock.instant += timedelta(days=31)
    results: list = []
    barrier = threading.Barrier(2)

    def job() -> None:
        barrier.wait()
        results.append(ledger.run(lambda s: close_campaign(s, cid, clock=ledger.clock)))

    threads = [threading.Thread(target=job) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.refunds_created for r in results) == [0, 5]
    assert len(ledger.read(lambda s: s.execute(select(Refund.id)).all())) == 5


def test_a_request_key_reused_for_a_different_gift_is_a_conflict_with_nothing_written(ledger):
    from ledger.core.errors import IdempotencyConflictError

    cid = open_campaign(ledger)
    card_gift(ledger, cid, "10.00", "0.40", "same-key")
    with pytest.raises(IdempotencyConflictError):
        card_gift(ledger, cid, "11.00", "0.40", "same-key")
    assert len(ledger.read(lambda s: s.execute(select(Donation.id)).all())) == 1


def test_a_dispute_closed_before_its_created_event_reaches_the_same_books(ledger):
    cid = open_campaign(ledger)
    in_order, reversed_order = (card_gift(ledger, cid, "40.00", "0.85", k) for k in ("a", "b"))
    for gift in (in_order, reversed_order):
        deliver(ledger, gift.completed(), gift.facts())
    deliver(
        ledger, in_order.dispute("charge.dispute.created", "dp_a", 4000, 1500, "needs_response")
    )
    deliver(ledger, in_order.dispute("charge.dispute.closed", "dp_a", 4000, 1500, "won"))
    deliver(ledger, reversed_order.dispute("charge.dispute.closed", "dp_b", 4000, 1500, "won"))
    deliver(
        ledger,
        reversed_order.dispute("charge.dispute.created", "dp_b", 4000, 1500, "needs_response"),
    )
    # Both gifts count in full again; each dispute cost its 15.00 fee, once.
    assert figures_of(ledger, cid) == (8000, 2)
    assert ledger.balance(accounts.FEES).posted == 85 + 85 + 1500 + 1500
    assert ledger.balance(accounts.STRIPE).posted == 2 * (4000 - 85) - 2 * 1500
    assert ledger.verify().ok


def test_an_inquiry_moves_no_money_and_a_fee_returned_on_a_win_is_booked_back(ledger):
    cid = open_campaign(ledger)
    gift = card_gift(ledger, cid, "40.00", "0.85", "k")
    deliver(ledger, gift.completed(), gift.facts())
    deliver(
        ledger,
        gift.dispute("charge.dispute.created", "dp_i", 4000, 0, "warning_needs_response", []),
    )
    assert figures_of(ledger, cid) == (4000, 1)
    deliver(ledger, gift.dispute("charge.dispute.closed", "dp_i", 4000, 0, "warning_closed", []))
    assert ledger.balance(accounts.FEES).posted == 85

    other = card_gift(ledger, cid, "20.00", "0.55", "k2")
    deliver(ledger, other.completed(), other.facts())
    deliver(ledger, other.dispute("charge.dispute.created", "dp_f", 2000, 1500, "needs_response"))
    deliver(
        ledger,
        other.dispute(
            "charge.dispute.closed", "dp_f", 2000, 1500, "won", [(-2000, 1500), (2000, -1500)]
        ),
    )
    assert ledger.balance(accounts.FEES).posted == 85 + 55  # the dispute fee came back
    assert figures_of(ledger, cid) == (6000, 2)


def test_a_dispute_beyond_what_the_gift_still_counts_is_booked_as_a_loss_and_flagged(ledger):
    cid = open_campaign(ledger)
    gift = card_gift(ledger, cid, "50.00", "0.98", "k")
    deliver(ledger, gift.completed(), gift.facts())
    deliver(ledger, gift.refunded([("re_1", 3000)]), gift.facts())
    outcome = deliver(ledger, gift.dispute("charge.dispute.created", "dp_x", 5000, 1500, "lost"))
    assert outcome == "applied"
    assert ledger.balance(accounts.escrow(cid)).posted == 0
    assert ledger.balance(accounts.FEES).posted == 98 + 1500 + 3000  # fee and the loss
    assert ledger.read(lambda s: s.get(Donation, gift.donation_id).flagged_reason)
    assert ledger.verify().ok


def test_a_payment_that_lands_after_an_all_or_nothing_campaign_failed_goes_back(ledger):
    cid = open_campaign(ledger, goal="1000.00", model="all_or_nothing")
    late = card_gift(ledger, cid, "30.00", "0.70", "late")
    ledger.clock.instant += timedelta(days=31)
    assert ledger.run(lambda s: close_campaign(s, cid, clock=ledger.clock)).status == "closed"
    deliver(ledger, late.completed(), late.facts())
    [(status, reason)] = ledger.read(
        lambda s: s.execute(select(Refund.status, Refund.reason)).all()
    )
    assert (status, reason) == ("pending", "campaign_failed")
    assert ledger.read(lambda s: s.get(Campaign, cid).status) == "failed"  # owes money again


def test_a_failure_refund_that_stripe_refused_is_asked_again_and_the_campaign_waits(ledger):
    from ledger.campaigns.refunds import fail_refund

    cid = open_campaign(ledger, goal="1000.00", model="all_or_nothing")
    gift = card_gift(ledger, cid, "30.00", "0.70", "k")
    deliver(ledger, gift.completed(), gift.facts())
    ledger.clock.instant += timedelta(days=31)
    ledger.run(lambda s: close_campaign(s, cid, clock=ledger.clock))
    [refund_id] = ledger.read(lambda s: list(s.scalars(select(Refund.id))))
    ledger.run(lambda s: fail_refund(s, refund_id))
    again = ledger.run(lambda s: close_campaign(s, cid, clock=ledger.clock))
    assert (again.status, again.refunds_created) == ("failed", 1)


def test_closing_leaves_a_gift_whose_refund_is_already_pending_for_the_next_run(ledger):
    cid = open_campaign(ledger, goal="1000.00", model="all_or_nothing")
    gift = card_gift(ledger, cid, "30.00", "0.70", "k")
    deliver(ledger, gift.completed(), gift.facts())
    ledger.run(lambda s: request_refund(s, gift.donation_id, eur("10.00"), clock=ledger.clock))
    ledger.clock.instant += timedelta(days=31)
    result = ledger.run(lambda s: close_campaign(s, cid, clock=ledger.clock))
    assert (result.status, result.refunds_created, result.refunds_pending) == ("failed", 0, 1)


def test_a_dashboard_refund_while_one_of_ours_is_pending_is_booked_and_ours_still_waits(ledger):
    cid = open_campaign(ledger)
    gift = card_gift(ledger, cid, "60.00", "1.10", "k")
    deliver(ledger, gift.completed(), gift.facts())
    ours = ledger.run(
        lambda s: request_refund(s, gift.donation_id, eur("10.00"), clock=ledger.clock).id
    )
    assert deliver(ledger, gift.refunded([("re_dashboard", 500)]), gift.facts()) == "applied"
    assert ledger.balance(accounts.escrow(cid)).posted == 5500
    rows = ledger.read(
        lambda s: sorted(
            tuple(r) for r in s.execute(select(Refund.id, Refund.reason, Refund.status))
        )
    )
    assert rows == [(ours, "requested", "pending"), (ours + 1, "provider", "succeeded")]
