"""The rows of campaigns, donations and refunds, found by id: the bottom of the package.

Every other module of `ledger.campaigns` may import these and this module
imports none of them, so the services (campaigns, donations, refunds) can call
one another in one direction only: `service` and `donations` use `refunds`,
and `refunds` needs nothing above these getters.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.campaigns.errors import CampaignNotFoundError, DonationNotFoundError
from ledger.campaigns.models import Campaign, Donation, Refund


def get_campaign(session: Session, campaign_id: int, *, lock: bool = False) -> Campaign:
    """The campaign, optionally with its row locked (every state change locks it)."""
    query = select(Campaign).where(Campaign.id == campaign_id)
    if lock:
        query = query.with_for_update()
    campaign = session.scalars(query).one_or_none()
    if campaign is None:
        raise CampaignNotFoundError(
            f"nessuna campagna con id {campaign_id}", campaign_id=campaign_id
        )
    return campaign


def get_donation(session: Session, donation_id: int, *, lock: bool = False) -> Donation:
    """The donation, optionally with its row locked (settlements and refunds lock it)."""
    query = select(Donation).where(Donation.id == donation_id)
    if lock:
        query = query.with_for_update()
    donation = session.scalars(query).one_or_none()
    if donation is None:
        raise DonationNotFoundError(
            f"nessuna donazione con id {donation_id}", donation_id=donation_id
        )
    return donation


def pending_refund(session: Session, donation_id: int) -> Refund | None:
    """The refund of ours on its way for this gift (one at a time)."""
    return session.scalars(
        select(Refund).where(
            Refund.donation_id == donation_id,
            Refund.status == "pending",
            Refund.reason != "provider",
        )
    ).first()
