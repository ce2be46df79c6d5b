"""Receipt numbering: per recipient organisation and year, gapless, once per gift.

A settled gift gets the next number of its organisation's year (the counter row
is locked, so two settlements never share a number). A refund voids the
receipt, which stays on file; if money remains after a partial refund, a new
receipt states the remainder. The year is the gift's date in Europe/Rome.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.campaigns.models import Campaign, Donation, Receipt, ReceiptCounter
from ledger.core.clock import Clock, rome_today


def _next_number(session: Session, organisation_id: int, year: int) -> int:
    counter = session.scalars(
        select(ReceiptCounter)
        .where(ReceiptCounter.organisation_id == organisation_id, ReceiptCounter.year == year)
        .with_for_update()
    ).one_or_none()
    if counter is None:
        counter = ReceiptCounter(organisation_id=organisation_id, year=year, last_number=0)
        session.add(counter)
    counter.last_number += 1
    session.flush()
    return counter.last_number


def issue(session: Session, donation: Donation, *, clock: Clock) -> Receipt | None:
    """Give a settled gift its receipt for what it still counts (None if nothing remains)."""
    if donation.counted_minor <= 0:
        return None
    campaign = session.get(Campaign, donation.campaign_id)
    assert campaign is not None
    on = donation.donated_on or rome_today(clock)
    receipt = Receipt(
        donation_id=donation.id,
        amount_minor=donation.counted_minor,
        currency=donation.currency,
        organisation_id=campaign.organisation_id,
        year=on.year,
        number=_next_number(session, campaign.organisation_id, on.year),
        issued_on=rome_today(clock),
    )
    session.add(receipt)
    session.flush()
    return receipt


def void(session: Session, donation: Donation, *, on: date, reason: str) -> Receipt | None:
    """Void the gift's valid receipt (a refund or a lost dispute); None if it has none."""
    receipt = valid_receipt(session, donation.id)
    if receipt is not None:
        receipt.voided_on = on
        receipt.void_reason = reason[:200]
        session.flush()
    return receipt


def reissue_after_change(
    session: Session, donation: Donation, *, clock: Clock, reason: str
) -> None:
    """After money went back: void the receipt and, if something remains, issue a new one."""
    void(session, donation, on=rome_today(clock), reason=reason)
    issue(session, donation, clock=clock)


def valid_receipt(session: Session, donation_id: int) -> Receipt | None:
    """The gift's receipt that is not voided (at most one, by a partial unique index)."""
    return session.scalars(
        select(Receipt).where(Receipt.donation_id == donation_id, Receipt.voided_on.is_(None))
    ).one_or_none()
