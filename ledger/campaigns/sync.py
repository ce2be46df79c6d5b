"""The periodic sync of card gifts and card refunds whose webhook never came.

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

A card refund of ours still `pending` some minutes after it was asked for is
reconciled the same way (`sync_refunds`). Stripe answered `pending` and the
webhook was lost, or the outbox gave up after its last attempt: either way the
refund would block any new one and keep a failed campaign from closing. A
refund with a Stripe id is read back (`succeeded` is booked once, `failed`
closes it, `pending` is left). One without is first looked for among the
payment's refunds by the refund id in its metadata, because Stripe may have
made it and only its answer was lost; and only when Stripe has none is its
outbox message queued again, and only if no live message still waits to send
it. Stripe forgets an idempotency key after 24 hours, so a blind second
request could refund the donor twice. Each refund is acted on in its own
transaction under `FOR UPDATE SKIP LOCKED` (the refund's row, then its gift's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ledger.campaigns.donations import fail_donation
from ledger.campaigns.models import Donation, Refund
from ledger.campaigns.refunds import STRIPE_REFUND
from ledger.campaigns.stripe_events import ChargeFacts, record_refund_answer, settle_from_facts
from ledger.commands import Origin, begin, command
from ledger.core.clock import Clock
from ledger.core.errors import LedgerError
from ledger.core.uow import run_in_transaction, run_read_only
from ledger.outbox.models import OutboxMessage
from ledger.outbox.service import MAX_ATTEMPTS, enqueue
from ledger.payments.stripe_gateway import (
    PaymentDetails,
    PaymentNotSettledError,
    RefundState,
    SessionState,
)

T = TypeVar("T")

ACTOR = "stripe-sync"
# The job's two acts (a gift or a refund looked up at Stripe) share one audit action.
SYNC = command("stripe.sync", "donation")
OUTCOMES = ("settled", "flagged", "expired", "failed", "left", "skipped", "error")
REFUND_OUTCOMES = ("booked", "failed", "left", "resent", "skipped", "error")
# What `record_refund_answer` said, as the sync counts it.
_ANSWERED = {
    "booked": "booked",
    "already": "skipped",
    "pending": "left",
    "failed": "failed",
    "duplicate": "failed",
}


class StripeReader(Protocol):
    """The reads the sync needs (`ledger.payments.stripe_gateway.StripeGateway`)."""

    def retrieve_checkout_session(self, session_id: str) -> SessionState: ...

    def payment_details(self, payment_intent_id: str) -> PaymentDetails: ...

    def retrieve_refund(self, refund_id: str) -> RefundState: ...

    def find_refund(self, payment_intent_id: str, refund_id: int) -> RefundState | None: ...


@dataclass
class SyncReport:
    """How many stuck gifts the run examined, and what it did with each."""

    examined: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return "stripe sync: " + _summary(self.examined, self.counts)


@dataclass
class RefundSyncReport:
    """How many stuck card refunds the run examined, and what it did with each."""

    examined: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REFUND_OUTCOMES, 0))
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return "stripe sync: refunds: " + _summary(self.examined, self.counts)


class _Report(Protocol):
    examined: int
    counts: dict[str, int]
    errors: list[str]


def _each(
    stuck: Sequence[T],
    one: Callable[[T], str],
    label: Callable[[T], str],
    report: _Report,
    progress: Callable[[int], None] | None,
) -> None:
    """Handle each stuck item in its own transaction; a Stripe or domain error on one
    is counted and reported, and the others go on."""
    for number, item in enumerate(stuck, start=1):
        report.examined += 1
        try:
            outcome = one(item)
        except LedgerError as exc:
            report.errors.append(f"{label(item)}: {exc.code}: {exc.message}")
            outcome = "error"
        report.counts[outcome] += 1
        if progress is not None:
            progress(number)


def _summary(examined: int, counts: dict[str, int]) -> str:
    parts = [f"{n} {'errors' if name == 'error' else name}" for name, n in counts.items()]
    return f"{examined} examined, " + ", ".join(parts)


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
    begin(session, SYNC, origin, clock=clock).done(
        outcome,
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

    def one(item: tuple[int, str]) -> str:
        donation_id, session_id = item
        verdict = ask_stripe(stripe, session_id)
        return run_in_transaction(
            sessions,
            partial(act, donation_id=donation_id, verdict=verdict, clock=clock, origin=origin),
        )

    _each(stuck, one, lambda item: f"donation {item[0]}", report, progress)
    return report


# -- refunds -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StuckRefund:
    """A card refund pending too long: ours, or one made in the dashboard."""

    refund_id: int
    stripe_refund_id: str | None
    payment_intent_id: str | None


@dataclass(frozen=True, slots=True)
class RefundVerdict:
    """What Stripe says of a refund: record its `state`, ask again, or leave it."""

    action: str  # answer, resend, leave
    state: RefundState | None = None
    detail: str = ""


def stuck_refunds(
    session: Session, *, clock: Clock, older_than: timedelta, limit: int
) -> list[StuckRefund]:
    """Card refunds pending since before now - `older_than`, oldest first."""
    cutoff = clock.now() - older_than
    rows = session.execute(
        select(Refund.id, Refund.stripe_refund_id, Donation.stripe_payment_intent_id)
        .join(Donation, Donation.id == Refund.donation_id)
        .where(
            Refund.status == "pending",
            Donation.method == "card",
            Refund.created_at < cutoff,
        )
        .order_by(Refund.id)
        .limit(limit)
    ).all()
    return [StuckRefund(int(r), s, p) for r, s, p in rows]


def ask_stripe_about_refund(stripe: StripeReader, stuck: StuckRefund) -> RefundVerdict:
    """Stripe's view of a stuck refund (network calls; no transaction open).

    A refund without a Stripe id is looked for among its payment's refunds by
    the refund id in their metadata; `resend` only when Stripe has none.
    """
    if stuck.stripe_refund_id is not None:
        known = stripe.retrieve_refund(stuck.stripe_refund_id)
        return RefundVerdict("answer", known, detail=f"refund {known.status}")
    if stuck.payment_intent_id is None:
        return RefundVerdict("leave", detail="the gift has no Stripe payment")
    found = stripe.find_refund(stuck.payment_intent_id, stuck.refund_id)
    if found is None:
        return RefundVerdict("resend", detail="Stripe has no refund of this request")
    return RefundVerdict("answer", found, detail=f"found at Stripe by its metadata: {found.status}")


def act_on_refund(
    session: Session, refund_id: int, verdict: RefundVerdict, *, clock: Clock, origin: Origin
) -> str:
    """Apply Stripe's verdict to one refund, if it is still pending and nobody holds it."""
    refund = session.scalars(
        select(Refund)
        .where(Refund.id == refund_id, Refund.status == "pending")
        .with_for_update(skip_locked=True)
    ).one_or_none()
    if refund is None:
        return "skipped"  # booked or failed meanwhile, or held by another sync right now
    # The gift's row too, without waiting: a webhook holding it would otherwise
    # wait for this refund's row while this transaction waits for the gift's.
    donation = session.scalars(
        select(Donation.id)
        .where(Donation.id == refund.donation_id)
        .with_for_update(skip_locked=True)
    ).one_or_none()
    if donation is None:
        return "skipped"
    detail = verdict.detail
    if verdict.action == "leave":
        return "left"
    if verdict.action == "answer":
        state = verdict.state
        assert state is not None
        if refund.stripe_refund_id not in (None, state.id):
            return "skipped"  # tied to another Stripe refund since Stripe was asked
        newly_tied = refund.stripe_refund_id is None
        answer = record_refund_answer(
            session,
            refund.id,
            stripe_refund_id=state.id,
            status=state.status,
            clock=clock,
            actor=ACTOR,
        )
        outcome = _ANSWERED.get(answer, "left")
        if outcome == "skipped" or (outcome == "left" and not newly_tied):
            return outcome  # nothing changed
        detail = f"{detail} ({answer})"
    else:
        if refund.stripe_refund_id is not None:
            return "skipped"  # Stripe's answer arrived since Stripe was asked
        if _still_queued(session, refund.id, clock=clock):
            return "left"  # the outbox is still trying: never two messages at once
        enqueue(session, STRIPE_REFUND, {"refund_id": refund.id}, now=clock.now())
        outcome = "resent"
    begin(session, SYNC, origin, clock=clock).done(
        outcome,
        subject_id=refund.id,
        subject_type="refund",
        details={"actor": ACTOR, "outcome": outcome, "detail": detail[:200]},
    )
    return outcome


def _still_queued(session: Session, refund_id: int, *, clock: Clock) -> bool:
    """Whether an outbox message for this refund may still be sent (or is being sent)."""
    now = clock.now()
    unsent = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.kind == STRIPE_REFUND, OutboxMessage.sent_at.is_(None)
        )
    ).all()
    return any(
        message.payload.get("refund_id") == refund_id
        and (
            message.attempts < MAX_ATTEMPTS
            or (message.claimed_until is not None and message.claimed_until > now)
        )
        for message in unsent
    )


def sync_refunds(
    sessions: sessionmaker[Session],
    stripe: StripeReader,
    *,
    clock: Clock,
    origin: Origin,
    older_than: timedelta,
    limit: int = 500,
    progress: Callable[[int], None] | None = None,
) -> RefundSyncReport:
    """Look up every stuck card refund at Stripe and book, fail, resend or leave it.

    A Stripe error on one refund is counted and reported; the others go on.
    """
    report = RefundSyncReport()
    stuck = run_read_only(
        sessions,
        lambda s: stuck_refunds(s, clock=clock, older_than=older_than, limit=limit),
    )

    def one(item: StuckRefund) -> str:
        verdict = ask_stripe_about_refund(stripe, item)
        return run_in_transaction(
            sessions,
            partial(
                act_on_refund, refund_id=item.refund_id, verdict=verdict, clock=clock, origin=origin
            ),
        )

    _each(stuck, one, lambda item: f"refund {item.refund_id}", report, progress)
    return report
