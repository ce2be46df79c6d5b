"""Applying verified Stripe events to donations, exactly once and in any order.

The event id is recorded in the same transaction as the event's effect: a
redelivery finds it and changes nothing, and a concurrent one fails on its
unique key and finds it on retry.
Each handler moves a donation forward only (pending -> settled; refunds and
disputes accumulate), and every booking carries a deterministic key, so events
arriving out of order reach the same final state: a refund or a dispute that
arrives before the payment's own event settles the gift first, from the
charge's facts that the caller fetched from Stripe. An event whose amount or
currency differs from the donation books nothing and flags the donation.

The caller verifies the signature and fetches what Stripe knows before
opening the transaction, so no network call happens while rows are locked:
`ChargeFacts` (gross, fee, net from the balance transaction) for the
PaymentIntent that `needs_charge_facts` names, and the payment's refunds for
the one that `needs_refund_list` names (current API versions no longer embed a
charge's refunds in `charge.refunded`; events are nudges, Stripe's API is the
truth). The same functions settle a gift found stuck by the periodic sync
(`ledger.campaigns.sync`) and record Stripe's answer to a refund we asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ledger.campaigns.donations import fail_donation, settle
from ledger.campaigns.models import Donation, Refund, StripeEvent
from ledger.campaigns.refunds import (
    apply_dispute,
    apply_provider_refunds,
    confirm_refund,
    fail_refund,
)
from ledger.core.clock import Clock

ACTOR = "stripe-webhook"
SESSION_SETTLED = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
# Events whose object is a refund (`charge.refund.updated` is the older name).
REFUND_EVENTS = ("refund.created", "refund.updated", "refund.failed", "charge.refund.updated")
HANDLED = (
    *SESSION_SETTLED,
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "charge.refunded",
    *REFUND_EVENTS,
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
)

# (Stripe refund id, amount in minor units, Stripe status, our refund id from its
# metadata: None for a refund we did not ask for)
ProviderRefund = tuple[str, int, str, int | None]


@dataclass(frozen=True, slots=True)
class ChargeFacts:
    """What Stripe says was paid: from the PaymentIntent's charge and balance transaction."""

    payment_intent_id: str
    charge_id: str
    amount_minor: int
    fee_minor: int
    currency: str
    # From the PaymentIntent's metadata: finds the gift when a refund or a
    # dispute arrives before the payment's own event.
    donation_id: int | None = None


def needs_charge_facts(event: Mapping[str, Any]) -> str | None:
    """The PaymentIntent whose facts the caller must fetch for this event, if any."""
    kind = event.get("type")
    obj = event.get("data", {}).get("object", {})
    if kind in SESSION_SETTLED and obj.get("payment_status") == "paid":
        return _str(obj.get("payment_intent"))
    if kind in (
        "charge.refunded",
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
        *REFUND_EVENTS,
    ):
        return _str(obj.get("payment_intent"))
    return None


def needs_refund_list(event: Mapping[str, Any]) -> str | None:
    """The PaymentIntent whose refunds the caller must list for this event, if any."""
    if event.get("type") in ("charge.refunded", *REFUND_EVENTS):
        obj = event.get("data", {}).get("object", {})
        return _str(obj.get("payment_intent"))
    return None


def _str(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _donation_for(
    session: Session, obj: Mapping[str, Any], facts: ChargeFacts | None
) -> Donation | None:
    metadata = obj.get("metadata") or {}
    raw = metadata.get("donation_id") or obj.get("client_reference_id")
    conditions = []
    if isinstance(raw, str) and raw.isdigit():
        conditions.append(Donation.id == int(raw))
    if facts is not None and facts.donation_id is not None:
        conditions.append(Donation.id == facts.donation_id)
    for column, key in (
        (Donation.stripe_session_id, "id" if obj.get("object") == "checkout.session" else None),
        (Donation.stripe_payment_intent_id, "payment_intent"),
        (
            Donation.stripe_charge_id,
            "charge" if obj.get("object") in ("dispute", "refund") else None,
        ),
        (Donation.stripe_charge_id, "id" if obj.get("object") == "charge" else None),
    ):
        value = _str(obj.get(key)) if key else None
        if value:
            conditions.append(column == value)
    if not conditions:
        return None
    return session.scalars(
        select(Donation).where(or_(*conditions)).order_by(Donation.id).with_for_update()
    ).first()


def _mismatch(donation: Donation, amount: Any, currency: Any) -> str | None:
    if not isinstance(amount, int) or amount != donation.amount_minor:
        return f"amount {amount} differs from the donation's {donation.amount_minor}"
    if not isinstance(currency, str) or currency.upper() != donation.currency:
        return f"currency {currency} differs from the donation's {donation.currency}"
    return None


def settle_from_facts(
    session: Session,
    donation: Donation,
    facts: ChargeFacts | None,
    *,
    clock: Clock,
    actor: str = ACTOR,
) -> str | None:
    """Settle a pending donation from Stripe's facts; the mismatch if they disagree.

    Books nothing when the amount or currency differ (the caller flags the
    donation); raises LookupError when the gift is pending and no facts were
    fetched. A settled gift stays as it is.
    """
    if donation.status == "settled":
        return None
    if facts is None:
        raise LookupError("the charge's facts are needed to settle this donation")
    problem = _mismatch(donation, facts.amount_minor, facts.currency)
    if problem:
        return problem
    donation.stripe_payment_intent_id = donation.stripe_payment_intent_id or facts.payment_intent_id
    donation.stripe_charge_id = donation.stripe_charge_id or facts.charge_id
    settle(
        session,
        donation,
        gross_minor=facts.amount_minor,
        fee_minor=facts.fee_minor,
        clock=clock,
        actor=actor,
    )
    return None


def apply_event(
    session: Session,
    event: Mapping[str, Any],
    facts: ChargeFacts | None,
    *,
    refunds: Sequence[ProviderRefund] | None = None,
    clock: Clock,
) -> str:
    """Apply one verified event; returns its outcome (applied, ignored, flagged, duplicate).

    `facts` are those of the PaymentIntent `needs_charge_facts` names, and
    `refunds` the list of that payment's refunds when `needs_refund_list` names
    one (the caller fetched both from Stripe). Without `refunds`, a refund
    event falls back to what its object carries: the refund itself, or a
    charge's embedded `refunds` of API versions before 2022-11-15; a charge
    that carries neither raises LookupError rather than book nothing.
    """
    event_id = str(event.get("id") or "")
    kind = str(event.get("type") or "")
    if not event_id:
        raise ValueError("an event without an id")
    if session.get(StripeEvent, event_id) is not None:
        return "duplicate"
    # The row is added last (the log is append-only: it is written once, complete).
    # Two deliveries at once both get here; they queue on the donation's row lock,
    # the second finds the gift already moved (every booking has its own key) and
    # then fails on this event's unique id, and its retry answers "duplicate".
    record = StripeEvent(id=event_id, type=kind[:64], received_at=clock.now(), outcome="applied")

    obj: Mapping[str, Any] = event.get("data", {}).get("object", {}) or {}
    donation = _donation_for(session, obj, facts) if kind in HANDLED else None
    if donation is None:
        record.outcome = "ignored"
        record.detail = "not a donation event" if kind not in HANDLED else "unknown donation"
        session.add(record)
        session.flush()
        return record.outcome
    record.donation_id = donation.id

    problem: str | None = None
    if kind in SESSION_SETTLED:
        problem = _mismatch(donation, obj.get("amount_total"), obj.get("currency"))
        if problem is None:
            donation.stripe_session_id = donation.stripe_session_id or _str(obj.get("id"))
            intent = _str(obj.get("payment_intent"))
            donation.stripe_payment_intent_id = donation.stripe_payment_intent_id or intent
            if obj.get("payment_status") == "paid":
                problem = settle_from_facts(session, donation, facts, clock=clock)
    elif kind == "checkout.session.async_payment_failed":
        fail_donation(session, donation)
    elif kind == "checkout.session.expired":
        fail_donation(session, donation, status="expired")
    elif kind == "charge.refunded" or kind in REFUND_EVENTS:
        problem = settle_from_facts(session, donation, facts, clock=clock)
        if problem is None:
            apply_provider_refunds(
                session,
                donation,
                list(refunds) if refunds is not None else _carried_refunds(obj),
                clock=clock,
                actor=ACTOR,
            )
    elif kind in ("charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed"):
        problem = settle_from_facts(session, donation, facts, clock=clock)
        if problem is None:
            apply_dispute(
                session,
                donation,
                dispute_id=str(obj["id"]),
                status=str(obj.get("status") or ""),
                balance_transactions=[
                    (int(t.get("amount", 0)), int(t.get("fee", 0)))
                    for t in obj.get("balance_transactions") or []
                ],
                final=kind == "charge.dispute.closed",
                clock=clock,
                actor=ACTOR,
            )
    if problem is not None:
        donation.flagged_reason = problem[:255]
        record.outcome = "flagged"
        record.detail = problem[:255]
    session.add(record)
    session.flush()
    return record.outcome


def _carried_refunds(obj: Mapping[str, Any]) -> list[ProviderRefund]:
    """The refunds an event's object itself reports (when the caller listed none)."""
    if obj.get("object") == "refund":
        return [_carried(obj)]
    embedded = obj.get("refunds")
    if not isinstance(embedded, Mapping):
        raise LookupError("the payment's refunds are needed: list them from Stripe")
    return [_carried(r) for r in embedded.get("data") or []]


def _carried(refund: Mapping[str, Any]) -> ProviderRefund:
    raw = (refund.get("metadata") or {}).get("refund_id")
    our_id = int(raw) if isinstance(raw, str) and raw.isascii() and raw.isdigit() else None
    return (str(refund["id"]), int(refund["amount"]), str(refund.get("status")), our_id)


def record_refund_answer(
    session: Session,
    refund_id: int,
    *,
    stripe_refund_id: str,
    status: str | None,
    clock: Clock,
    actor: str,
) -> str:
    """Record Stripe's answer to a refund we asked for; returns what happened.

    `booked` (Stripe says succeeded: the refund is booked now), `already` (a
    webhook booked it first), `pending` (Stripe has not finished: the
    `charge.refunded` or `refund.updated` event will book it), `failed`
    (nothing is booked and a new refund may be asked), or `duplicate` (a
    webhook already recorded that Stripe refund as another row, which booked
    the money: this request books nothing more and is closed as failed).
    """
    refund = session.scalars(select(Refund).where(Refund.id == refund_id).with_for_update()).one()
    other = session.scalars(
        select(Refund).where(Refund.stripe_refund_id == stripe_refund_id, Refund.id != refund_id)
    ).first()
    if other is not None:
        fail_refund(session, refund_id)
        return "duplicate"
    if refund.stripe_refund_id is None:
        refund.stripe_refund_id = stripe_refund_id
    if status == "succeeded":
        booked = confirm_refund(
            session, refund_id, clock=clock, actor=actor, stripe_refund_id=stripe_refund_id
        )
        return "booked" if booked else "already"
    if status in ("failed", "canceled"):
        fail_refund(session, refund_id)
        return "failed"
    return {"pending": "pending", "succeeded": "already"}.get(refund.status, refund.status)
