"""Refunds and disputes of gifts, booked when the money has really gone back.

A refund is requested (`pending`) under the donation's row lock: a second
request while one is pending is refused, and the amount can never exceed what
the gift still counts. A card refund is sent to Stripe after the commit through
the outbox, with the key `refund-{id}` and our refund id in its metadata, and
booked when Stripe confirms it (its answer, the `charge.refunded` webhook or
the periodic sync, whichever comes first; the others find it booked). A cash
or bank refund is booked when the treasurer records that the money was paid
back. Booking a refund voids the gift's receipt and issues one for what
remains.

A dispute withdraws the disputed amount and the dispute fee at once; a won
dispute reinstates the amount (the fee stays an expense, as Stripe keeps it).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.campaigns import accounts, crowd, receipts
from ledger.campaigns.errors import (
    InvalidDonationError,
    NothingToRefundError,
    RefundPendingError,
)
from ledger.campaigns.getters import get_campaign, get_donation, pending_refund
from ledger.campaigns.models import Campaign, Dispute, Donation, Refund
from ledger.core.clock import Clock, rome_today
from ledger.core.journal import EntrySpec, PostingSpec, post_entry
from ledger.core.money import Money
from ledger.events import GiftReduced, GiftReinstated, publish
from ledger.outbox.service import enqueue

# The outbox message that sends a card refund to Stripe: {"refund_id": id}.
STRIPE_REFUND = "stripe_refund"


def request_refund(
    session: Session,
    donation_id: int,
    amount: Money | None,
    *,
    reason: str = "requested",
    clock: Clock,
    user_id: int | None = None,
) -> Refund:
    """Ask for a refund of `amount` (None: all that remains) of a settled gift."""
    donation = get_donation(session, donation_id, lock=True)
    if donation.status != "settled":
        raise NothingToRefundError(
            f"la donazione è {donation.status}: si rimborsa solo denaro ricevuto",
            status=donation.status,
        )
    if pending_refund(session, donation_id) is not None:
        raise RefundPendingError(
            "un rimborso di questa donazione è già in corso: attendi che si concluda",
            donation_id=donation_id,
        )
    remaining = donation.counted_minor
    minor = remaining if amount is None else amount.minor
    if amount is not None and amount.currency != donation.currency:
        raise InvalidDonationError("valuta diversa dalla donazione", field="amount")
    if remaining <= 0:
        raise NothingToRefundError("la donazione è già stata rimborsata per intero")
    if not 0 < minor <= remaining:
        raise InvalidDonationError(
            f"si può rimborsare al massimo {Money(remaining, donation.currency).minor} "
            "unità minime",
            field="amount",
            maximum_minor=remaining,
        )
    refund = Refund(
        donation_id=donation_id,
        amount_minor=minor,
        currency=donation.currency,
        reason=reason,
        status="pending",
        requested_by_user_id=user_id,
        created_at=clock.now(),
    )
    session.add(refund)
    session.flush()
    if donation.method == "card":
        enqueue(session, STRIPE_REFUND, {"refund_id": refund.id}, now=clock.now())
    return refund


def refund_if_campaign_failed(
    session: Session, donation: Donation, *, clock: Clock, campaign: Campaign | None = None
) -> bool:
    """A gift settled after its all-or-nothing campaign failed goes straight back.

    Called under the campaign's row lock by every settlement (which passes the
    `campaign` it locked), so a payment that lands while the campaign is being
    closed is seen by one or the other.
    """
    if campaign is None:
        campaign = get_campaign(session, donation.campaign_id)
    if campaign.outcome != "failed" or donation.counted_minor <= 0:
        return False
    if pending_refund(session, donation.id) is not None:
        return False
    request_refund(session, donation.id, None, reason="campaign_failed", clock=clock)
    if campaign.status == "closed":
        campaign.status = "failed"  # it owes money again until this refund is done
        campaign.closed_at = None
    return True


def confirm_refund(
    session: Session,
    refund_id: int,
    *,
    clock: Clock,
    actor: str,
    stripe_refund_id: str | None = None,
) -> bool:
    """Book a refund whose money has gone back (once); False if it was booked already."""
    # The campaign row first, as settlements and the close take it: the matching
    # grants this refund reaches lock their commitments after it, in the same order.
    campaign_id = session.scalar(
        select(Donation.campaign_id)
        .join(Refund, Refund.donation_id == Donation.id)
        .where(Refund.id == refund_id)
    )
    if campaign_id is not None:
        get_campaign(session, campaign_id, lock=True)
    refund = session.scalars(select(Refund).where(Refund.id == refund_id).with_for_update()).one()
    donation = get_donation(session, refund.donation_id, lock=True)
    if stripe_refund_id and refund.stripe_refund_id is None:
        refund.stripe_refund_id = stripe_refund_id
    if refund.status == "succeeded":
        return False
    if refund.status == "failed":
        raise InvalidDonationError("il rimborso è fallito e non si può confermare")
    if refund.amount_minor > donation.counted_minor:
        raise InvalidDonationError("il rimborso supera quanto resta della donazione")
    source = accounts.METHOD_ACCOUNT[donation.method]
    result = post_entry(
        session,
        EntrySpec(
            idempotency_key=f"refund:{refund.id}",
            kind="refund",
            postings=[
                PostingSpec(
                    accounts.escrow(donation.campaign_id),
                    Money(refund.amount_minor, refund.currency),
                ),
                PostingSpec(source, Money(-refund.amount_minor, refund.currency)),
            ],
            effective_on=rome_today(clock),
            narration=f"Rimborso n. {refund.id} della donazione n. {donation.id}",
            metadata={
                "campaign_id": donation.campaign_id,
                "donation_id": donation.id,
                "refund_id": refund.id,
                "reason": refund.reason,
            },
            actor=actor,
        ),
        clock=clock,
    )
    refund.status = "succeeded"
    refund.confirmed_at = clock.now()
    refund.entry_sequence = result.entry.sequence
    before = crowd.Counted.of(donation)
    donation.refunded_minor += refund.amount_minor
    crowd.changed(session, donation, before)
    receipts.reissue_after_change(session, donation, clock=clock, reason=f"rimborso n. {refund.id}")
    publish(
        session,
        GiftReduced(
            donation.id, donation.campaign_id, refund.amount_minor, f"refund:{refund.id}", actor
        ),
        clock=clock,
    )
    return True


def fail_refund(session: Session, refund_id: int) -> None:
    """The provider refused the refund: nothing is booked and a new one may be asked."""
    refund = session.scalars(select(Refund).where(Refund.id == refund_id).with_for_update()).one()
    if refund.status == "pending":
        refund.status = "failed"


def apply_provider_refunds(
    session: Session,
    donation: Donation,
    refunds: list[tuple[str, int, str, int | None]],
    *,
    clock: Clock,
    actor: str,
) -> int:
    """Bring the books in line with the refunds Stripe reports for a charge.

    `refunds` are (stripe refund id, amount, status, our refund id from the
    refund's metadata or None). A Stripe refund is tied to a row of ours by its
    Stripe id, else by the refund id in its metadata (the one we asked for),
    else, for a refund without that metadata, to our pending request of the
    same amount (the dashboard refunded what the treasurer asked); a refund
    made elsewhere that matches nothing is recorded and booked too. Refunds
    carrying our metadata are tied first, so a dashboard refund of the same
    amount never takes their row. Returns how many were booked now.
    """
    booked = 0
    ordered = sorted(refunds, key=lambda refund: refund[3] is None)  # stable: ours first
    for stripe_id, amount_minor, status, our_id in ordered:
        row = session.scalars(select(Refund).where(Refund.stripe_refund_id == stripe_id)).first()
        if row is None:
            row = _row_for(session, donation, amount_minor, our_id)
            if row is not None:
                row.stripe_refund_id = stripe_id
            else:
                row = Refund(
                    donation_id=donation.id,
                    amount_minor=amount_minor,
                    currency=donation.currency,
                    reason="provider",
                    status="pending" if status != "failed" else "failed",
                    stripe_refund_id=stripe_id,
                    created_at=clock.now(),
                )
                session.add(row)
                session.flush()
        if status == "succeeded" and row.status == "pending":
            booked += confirm_refund(session, row.id, clock=clock, actor=actor)
        elif status in ("failed", "canceled"):
            fail_refund(session, row.id)
    return booked


def _row_for(
    session: Session, donation: Donation, amount_minor: int, our_id: int | None
) -> Refund | None:
    """Our pending request a Stripe refund not yet tied to any row answers, if any."""
    if our_id is not None:
        # Our metadata on a refund of this gift's payment: that request, if it
        # still waits for its Stripe refund; otherwise the money is recorded as
        # a refund of its own rather than given to another request.
        row = session.get(Refund, our_id)
        if (
            row is not None
            and row.donation_id == donation.id
            and row.status == "pending"
            and row.stripe_refund_id is None
            and row.amount_minor == amount_minor
        ):
            return row
        return None
    row = pending_refund(session, donation.id)
    if row is not None and row.amount_minor == amount_minor and row.stripe_refund_id is None:
        return row
    return None


def apply_dispute(
    session: Session,
    donation: Donation,
    *,
    dispute_id: str,
    status: str,
    balance_transactions: list[tuple[int, int]],
    final: bool,
    clock: Clock,
    actor: str,
) -> bool:
    """Bring a dispute's booking in line with what Stripe's balance transactions moved.

    `balance_transactions` are (amount, fee) pairs as Stripe reports them for the
    dispute: the withdrawal (negative amount, the dispute fee) and, when won, the
    reversal (positive amount; a fee returned is a negative fee). Only the
    difference from what is already booked is booked, so a `created` event, a
    `closed` one, or both in any order reach the same books; once a dispute is
    closed (`final`), earlier events change nothing. An inquiry, which moves no
    money, books nothing. Money taken beyond what the gift still counts (a
    partly refunded charge disputed in full) is booked as a loss and the gift is
    flagged: never refused, because Stripe really took it.
    """
    # The campaign's row first, as settlements take it: the dispute changes what the
    # crowd has given (`crowd`), and the matching grants it reaches lock after it.
    get_campaign(session, donation.campaign_id, lock=True)
    dispute = session.scalars(
        select(Dispute).where(Dispute.id == dispute_id).with_for_update()
    ).one_or_none()
    if dispute is None:
        dispute = Dispute(
            id=dispute_id,
            donation_id=donation.id,
            amount_minor=0,
            fee_minor=0,
            escrow_minor=0,
            currency=donation.currency,
            status="open",
            opened_at=clock.now(),
        )
        session.add(dispute)
        session.flush()
    elif dispute.status in ("won", "lost"):
        return False  # closed: its books are final
    target_amount = max(0, -sum(amount for amount, _fee in balance_transactions))
    target_fee = sum(fee for _amount, fee in balance_transactions)
    d_amount = target_amount - dispute.amount_minor
    d_fee = target_fee - dispute.fee_minor
    if d_amount > 0:
        escrow = min(d_amount, max(0, donation.counted_minor))
    else:
        escrow = max(d_amount, -dispute.escrow_minor)
    loss = d_amount - escrow
    currency = donation.currency
    legs = [
        (accounts.escrow(donation.campaign_id), escrow),
        (accounts.FEES, d_fee + loss),
        (accounts.STRIPE, -(d_amount + d_fee)),
    ]
    postings = [PostingSpec(code, Money(minor, currency)) for code, minor in legs if minor]
    if postings:
        post_entry(
            session,
            EntrySpec(
                idempotency_key=f"dispute:{dispute_id}:{target_amount}:{target_fee}",
                kind="dispute",
                postings=postings,
                effective_on=rome_today(clock),
                narration=(
                    f"Contestazione della donazione n. {donation.id}: "
                    + (
                        "importo e commissione trattenuti"
                        if d_amount >= 0
                        else "importo restituito"
                    )
                ),
                metadata={
                    "campaign_id": donation.campaign_id,
                    "donation_id": donation.id,
                    "dispute_status": status[:32],
                },
                actor=actor,
            ),
            clock=clock,
        )
    dispute.amount_minor = target_amount
    dispute.fee_minor = target_fee
    dispute.escrow_minor += escrow
    if escrow:
        before = crowd.Counted.of(donation)
        donation.withdrawn_minor += escrow
        crowd.changed(session, donation, before)
    if final:
        dispute.status = "won" if status == "won" else "lost"
        dispute.closed_at = clock.now()
    if loss > 0:
        donation.flagged_reason = "disputed beyond what the gift still counted"
    if escrow:
        receipts.reissue_after_change(session, donation, clock=clock, reason="contestazione")
        # Named like the dispute's entry (its cumulative target): unique per money movement.
        cause = f"dispute:{dispute_id}:{target_amount}:{target_fee}"
        fact: object = (
            # The cause names the dispute and its cumulative escrow: each step is distinct.
            GiftReduced(donation.id, donation.campaign_id, escrow, cause, actor)
            if escrow > 0
            else GiftReinstated(donation.id, donation.campaign_id, -escrow, cause, actor)
        )
        publish(session, fact, clock=clock)
    return bool(postings)
