"""The periodic sync of card gifts whose webhook never came.

Stripe delivers events at least once but not always in time (an endpoint that
was down, a secret being rotated). A card gift still `pending` some minutes
after its Checkout Session was made is looked up at Stripe: a paid session
settles the gift through the same function as the webhook (gross, fee and net
from the balance transaction; a gift whose amount or currency differ is flagged,
not booked), an expired session marks it `expired`, a payment that failed marks
it `failed`, and anything else (an open session, a SEPA debit still processing)
is left for a later run.

Stripe is asked first, outside any transaction. Each gift is then acted on in
its own transaction, which takes the gift's row with `FOR UPDATE SKIP LOCKED`
on PostgreSQL and only while it is still pending: two syncs at the same time
(or a sync and a webhook) never act on one gift twice; the second finds it
locked or already moved and leaves it. SQLite serialises writers, with the same
result. Every act is written with its audit event (actor `stripe-sync`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ledger.audit.service import Origin, record
from ledger.campaigns.donations import fail_donation
from ledger.campaigns.models import Donation
from ledger.campaigns.stripe_events import ChargeFacts, settle_from_facts
from ledger.core.clock import Clock
from ledger.core.errors import LedgerError
from ledger.core.uow import run_in_transaction, run_read_only
from ledger.payments.stripe_gateway import (
    PaymentDetails,
    PaymentNotSettledError,
    SessionState,
)

ACTOR = "stripe-sync"
OUTCOMES = ("settled", "flagged", "expired", "failed", "left", "skipped", "error")


class StripeReader(Protocol):
    """The two reads the sync needs (`ledger.payments.stripe_gateway.StripeGateway`)."""

    def retrieve_checkout_session(self, session_id: str) -> SessionState: ...

    def payment_details(self, payment_intent_id: str) -> PaymentDetails: ...


@dataclass
class SyncReport:
    """How many stuck gifts the run examined, and what it did with each."""

    examined: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [
            f"{self.counts[name]} {'errors' if name == 'error' else name}" for name in OUTCOMES
        ]
        return f"stripe sync: {self.examined} examined, " + ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What Stripe says should happen to a gift."""

    action: str  # settle, expire, fail, leave
    facts: ChargeFacts | None = None
    detail: str = ""


def stuck_donations(
    session: Session, *, clock: Clock, older_than: timedelta, limit: int
) -> list[tuple[int, str]]:
    """(id, Checkout Session id) of card gifts pending since before now - `older_than`.

    A gift flagged for a treasurer is not among them: Stripe's facts disagreed
    with it once and would again.
    """
    cutoff = clock.now() - older_than
    rows = session.execute(
        select(Donation.id, Donation.stripe_session_id)
        .where(
            Donation.status == "pending",
            Donation.method == "card",
            Donation.stripe_session_id.is_not(None),
            Donation.flagged_reason.is_(None),
            Donation.created_at < cutoff,
        )
        .order_by(Donation.id)
        .limit(limit)
    ).all()
    return [(int(donation_id), str(session_id)) for donation_id, session_id in rows]


def ask_stripe(stripe: StripeReader, session_id: str) -> Verdict:
    """Stripe's view of a gift's Checkout Session (network calls; no transaction open)."""
    state = stripe.retrieve_checkout_session(session_id)
    if state.status == "expired":
        return Verdict("expire", detail="session expired")
    if state.status != "complete" or state.payment_intent_id is None:
        return Verdict("leave", detail=f"session {state.status}")
    try:
        details = stripe.payment_details(state.payment_intent_id)
    except PaymentNotSettledError as exc:
        status = str(exc.details.get("status"))
        if status in ("failed", "requires_payment_method", "canceled"):
            return Verdict("fail", detail=f"payment {status}")
        return Verdict("leave", detail=f"payment {status}")
    facts = ChargeFacts(
        payment_intent_id=details.payment_intent_id,
        charge_id=details.charge_id,
        amount_minor=details.amount_minor,
        fee_minor=details.fee_minor,
        currency=details.currency,
        donation_id=details.donation_id,
    )
    return Verdict("settle", facts=facts)


def act(
    session: Session, donation_id: int, verdict: Verdict, *, clock: Clock, origin: Origin
) -> str:
    """Apply Stripe's verdict to one gift, if it is still pending and nobody holds it."""
    donation = session.scalars(
        select(Donation)
        .where(Donation.id == donation_id, Donation.status == "pending")
        .with_for_update(skip_locked=True)
    ).one_or_none()
    if donation is None:
        return "skipped"  # moved by a webhook, or held by another sync right now
    if verdict.action == "leave":
        return "left"
    outcome: str
    detail = verdict.detail
    if verdict.action == "settle":
        problem = settle_from_facts(session, donation, verdict.facts, clock=clock, actor=ACTOR)
        if problem is None:
            outcome = "settled"
        else:
            donation.flagged_reason = problem[:255]
            outcome, detail = "flagged", problem
    elif verdict.action == "expire":
        fail_donation(session, donation, status="expired")
        outcome = "expired"
    else:
        fail_donation(session, donation)
        outcome = "failed"
    record(
        session,
        origin,
        "stripe.sync",
        now=clock.now(),
        subject_type="donation",
        subject_id=donation.id,
        details={"actor": ACTOR, "outcome": outcome, "detail": detail[:200]},
    )
    return outcome


def sync_pending(
    sessions: sessionmaker[Session],
    stripe: StripeReader,
    *,
    clock: Clock,
    origin: Origin,
    older_than: timedelta,
    limit: int = 500,
    progress: Callable[[int], None] | None = None,
) -> SyncReport:
    """Look up every stuck card gift at Stripe and settle, expire, fail or leave it.

    A Stripe error on one gift is counted and reported; the others go on.
    """
    report = SyncReport()
    stuck = run_read_only(
        sessions,
        lambda s: stuck_donations(s, clock=clock, older_than=older_than, limit=limit),
    )
    for number, (donation_id, session_id) in enumerate(stuck, start=1):
        report.examined += 1
        try:
            verdict = ask_stripe(stripe, session_id)
            outcome = run_in_transaction(
                sessions,
                partial(act, donation_id=donation_id, verdict=verdict, clock=clock, origin=origin),
            )
        except LedgerError as exc:
            report.errors.append(f"donation {donation_id}: {exc.code}: {exc.message}")
            outcome = "error"
        report.counts[outcome] += 1
        if progress is not None:
            progress(number)
    return report
