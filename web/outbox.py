"""The outbox after commit: e-mail, and card refunds sent to Stripe.

A view (or a CLI command) that queued messages in its unit of work calls
`flush_outbox()` after the commit; `ledger outbox dispatch` retries what
failed. `ledger.outbox.service.dispatch_pending` claims one message at a time
in a short transaction and asks `send` for its delivery, which runs after that
commit, outside any transaction; a delivery that raises leaves the message
pending with its error, for the next flush.

Kinds: the e-mail kinds of `web.mail`, and `stripe_refund` {refund_id}, queued
by `ledger.campaigns.refunds.request_refund` for a card gift (and again by
`ledger stripe sync` when Stripe never received it). Its delivery first looks
among the payment's refunds for one carrying this refund's id in its metadata
(Stripe forgets an idempotency key after 24 hours, and an earlier attempt may
have made the refund and lost the answer); only if there is none does it ask
Stripe for the refund, with the key `<LEDGER_STRIPE_KEY_PREFIX>refund-{id}` (a
retry replays Stripe's first answer instead of refunding twice) and the
refund's id in its metadata. A refund Stripe already answered is only read
back. Then a unit of work of its own records Stripe's refund id and books the
refund when Stripe says it succeeded (the use cases
`ledger.campaigns.commands.record_stripe_refund` and `refuse_stripe_refund`). A pending refund stays
pending until `charge.refunded` or `refund.updated` confirms it; a failed one
books nothing. A refusal no retry can change (the charge was disputed, or is
already refunded) closes the request as failed, so the treasurer may ask again;
whatever Stripe did refund still reaches the books through its webhook.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from flask import current_app, has_request_context
from sqlalchemy.orm import Session

from ledger.audit.service import Origin
from ledger.campaigns import commands as campaign_commands
from ledger.campaigns.models import Donation, Refund
from ledger.campaigns.refunds import STRIPE_REFUND
from ledger.outbox.models import OutboxMessage
from ledger.outbox.service import dispatch_pending
from ledger.payments.stripe_gateway import PaymentProviderError, RefundState
from web.campaigns.payments import gateway
from web.db import current_ledger
from web.mail import MAIL_KINDS, mail_delivery

# Stripe's answers to a refund that no retry will change.
FINAL_REFUSALS = frozenset(
    {
        "charge_already_refunded",
        "charge_disputed",
        "charge_expired_for_refund",
        "charge_not_refundable",
        "amount_too_large",
    }
)


def refund_idempotency_key(refund_id: int) -> str:
    """The key of the one Stripe refund a refund row may make (the gateway adds its prefix)."""
    return f"refund-{refund_id}"


def flush_outbox() -> tuple[int, int]:
    """Send what the outbox holds (after the caller's commit); never raises.

    Returns (sent, failed); needs an application context (a request, or the CLI).
    """
    ledger = current_ledger()
    try:
        sent, failed = dispatch_pending(ledger.sessions, send, ledger.clock)
    except Exception:
        current_app.logger.exception("outbox dispatch failed; messages stay queued")
        return 0, 0
    if failed:
        current_app.logger.warning(
            "outbox: %d message(s) could not be sent; kept for retry", failed
        )
    return sent, failed


def send(db: Session, message: OutboxMessage) -> Callable[[], None] | None:
    """The delivery of one claimed message, built in the claiming transaction."""
    if message.kind in MAIL_KINDS:
        return mail_delivery(db, message)
    if message.kind == STRIPE_REFUND:
        return _stripe_refund(db, int(message.payload["refund_id"]))
    raise LookupError(f"no sender for outbox messages of kind {message.kind!r}")


def _stripe_refund(db: Session, refund_id: int) -> Callable[[], None] | None:
    refund = db.get(Refund, refund_id)
    if refund is None:
        raise LookupError(f"refund {refund_id} does not exist")
    if refund.status != "pending":
        return None  # a webhook booked it, or it failed: nothing left to ask Stripe
    donation = db.get(Donation, refund.donation_id)
    assert donation is not None
    if not donation.stripe_payment_intent_id:
        raise LookupError(f"donation {donation.id} has no Stripe payment to refund")
    stripe = gateway()  # refuse (and keep the message) when card payments are off
    payment_intent_id = donation.stripe_payment_intent_id
    amount_minor = refund.amount_minor
    known = refund.stripe_refund_id
    origin = _origin()

    def deliver() -> None:
        if known is not None:
            # Stripe answered before (the answer was recorded, the message was not
            # marked sent): read it back rather than ask again.
            state = stripe.retrieve_refund(known)
        elif (found := stripe.find_refund(payment_intent_id, refund_id)) is not None:
            state = found  # an earlier attempt made it and its answer was lost
        else:
            try:
                state = stripe.create_refund(
                    payment_intent_id=payment_intent_id,
                    amount_minor=amount_minor,
                    idempotency_key=refund_idempotency_key(refund_id),
                    refund_id=refund_id,
                )
            except PaymentProviderError as exc:
                if exc.details.get("stripe_code") not in FINAL_REFUSALS:
                    raise  # transient: the message stays pending and is retried
                current_ledger().run(partial(_refused, refund_id=refund_id, exc=exc, origin=origin))
                current_app.logger.warning(
                    "refund %d refused by Stripe (%s): marked failed",
                    refund_id,
                    exc.details.get("stripe_code"),
                )
                return
        current_ledger().run(partial(_answered, refund_id=refund_id, state=state, origin=origin))

    return deliver


def _answered(session: Session, *, refund_id: int, state: RefundState, origin: Origin) -> str:
    return campaign_commands.record_stripe_refund(
        session,
        refund_id,
        stripe_refund_id=state.id,
        status=state.status,
        origin=origin,
        clock=current_ledger().clock,
    ).value


def _refused(
    session: Session, *, refund_id: int, exc: PaymentProviderError, origin: Origin
) -> None:
    campaign_commands.refuse_stripe_refund(
        session,
        refund_id,
        stripe_code=exc.details.get("stripe_code"),
        origin=origin,
        clock=current_ledger().clock,
    )


def _origin() -> Origin:
    """Who the refund is sent for: the request that flushed, or the CLI's host."""
    if has_request_context():
        from web.access import request_origin

        return request_origin()
    return Origin.command_line()
