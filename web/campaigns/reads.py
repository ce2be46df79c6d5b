"""What the campaign pages and the API read: cards, a campaign's page, a donation's detail.

Each function here takes the request's session and what it knows of the
caller (their principal, today's date), so the views stay one call to read
and one to render. Nothing here writes. A draft campaign is visible to
treasurers only (a preview): anyone else gets the 404 of a campaign that does
not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy.orm import Session

from ledger.campaigns import queries
from ledger.campaigns.errors import CampaignNotFoundError
from ledger.campaigns.getters import get_campaign, get_donation
from ledger.campaigns.models import Campaign, Receipt, Refund
from ledger.campaigns.service import CampaignFigures, figures
from ledger.core.clock import ROME
from ledger.core.money import format_minor
from ledger.people.models import User
from ledger.people.service import verified_person_id
from web.access import Principal
from web.grants import DonorGrants, donor_grants

TREASURER = "treasurer"
PUBLIC_DONORS_SHOWN = 100


def days_left(deadline_at: datetime, today: date) -> int:
    """Whole days from `today` to the deadline's day, both in Europe/Rome (0: last day)."""
    return (deadline_at.astimezone(ROME).date() - today).days


def end_of_day_rome(day: date) -> datetime:
    """23:59:59 of `day` in Rome, as an aware UTC instant (a deadline typed as a date)."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=ROME).astimezone(UTC)


def person_id_of(db: Session, principal: Principal | None) -> int | None:
    """The person of the signed-in user, who gives by card as that person."""
    if principal is None:
        return None
    user = db.get(User, principal.user_id)
    return user.person_id if user is not None else None


def own_person_id(db: Session, principal: Principal | None) -> int | None:
    """The person whose gifts and receipts the signed-in user may see: theirs once their
    address is verified, else none (what the registry links to an address is not
    shown to whoever merely typed it)."""
    if principal is None:
        return None
    return verified_person_id(db, principal.user_id)


def visible_campaign(db: Session, campaign_id: int, principal: Principal | None) -> Campaign:
    """A campaign the visitor may see: drafts only to treasurers (a preview)."""
    campaign = get_campaign(db, campaign_id)
    if campaign.status == "draft" and not (principal and TREASURER in principal.roles):
        raise CampaignNotFoundError(
            f"nessuna campagna con id {campaign_id}", campaign_id=campaign_id
        )
    return campaign


@dataclass(frozen=True, slots=True)
class CampaignCard:
    campaign: Campaign
    organisation: str
    figures: CampaignFigures
    days_left: int

    @property
    def shown_percent(self) -> int:
        """Raised over goal, whole percent, floor; above 100 when the goal is passed."""
        goal = self.figures.goal_minor
        return self.figures.raised_minor * 100 // goal if goal else 0

    @property
    def progress_value(self) -> int:
        return min(self.figures.raised_minor, self.figures.goal_minor)

    @property
    def accepting(self) -> bool:
        return self.campaign.status == "live" and self.days_left >= 0


def cards(db: Session, found: list[Campaign], today: date) -> list[CampaignCard]:
    """A card (figures, organisation, days left) for each campaign."""
    names = queries.organisation_names(db, {c.organisation_id for c in found})
    return [
        CampaignCard(
            campaign=campaign,
            organisation=names.get(campaign.organisation_id, ""),
            figures=figures(db, campaign.id),
            days_left=days_left(campaign.deadline_at, today),
        )
        for campaign in found
    ]


@dataclass(frozen=True, slots=True)
class CampaignPage:
    card: CampaignCard
    gifts: list[queries.PublicGift]
    person_id: int | None
    grants: DonorGrants | None = None


def campaign_page(
    db: Session,
    campaign_id: int,
    principal: Principal | None,
    today: date,
    quote_minor: int | None = None,
) -> CampaignPage:
    """A campaign's public page: its card, its donors, the caller's person and the
    matching grants (the match so far and what a gift of `quote_minor` would add)."""
    campaign = visible_campaign(db, campaign_id, principal)
    return CampaignPage(
        card=cards(db, [campaign], today)[0],
        gifts=queries.public_gifts(db, campaign_id, limit=PUBLIC_DONORS_SHOWN),
        person_id=person_id_of(db, principal),
        grants=donor_grants(
            db, campaign, person_id=own_person_id(db, principal), amount_minor=quote_minor
        ),
    )


def export_fields(row: queries.DonationRow) -> dict[str, Any]:
    """One donation as the donor's exports (and the API) give it: amounts as decimal strings."""
    gift = row.donation
    return {
        "id": gift.id,
        "campaign_id": gift.campaign_id,
        "campaign": row.campaign_title,
        "created_at": gift.created_at.isoformat(),
        "donated_on": gift.donated_on.isoformat() if gift.donated_on else None,
        "amount": format_minor(gift.amount_minor, gift.currency),
        "refunded": format_minor(gift.refunded_minor, gift.currency),
        "currency": gift.currency,
        "method": gift.method,
        "status": gift.status,
        "anonymous": gift.anonymous,
        "receipt": row.receipt_number,
        "receipt_void": row.receipt_void if row.receipt_number else None,
    }


def own_donations(db: Session, principal: Principal) -> list[queries.DonationRow]:
    """The caller's own gifts (also those anonymous to the public), newest first; none
    until the caller's address is verified."""
    person_id = own_person_id(db, principal)
    return [] if person_id is None else queries.donations_of_person(db, person_id)


@dataclass(frozen=True, slots=True)
class DonationDetail:
    row: queries.DonationRow
    refunds: list[Refund]
    receipts: list[Receipt]


def donation_detail(db: Session, donation_id: int) -> DonationDetail:
    """One donation with its donor, refunds and receipts (404 when there is none)."""
    row = queries.donation_row(db, donation_id)
    if row is None:
        get_donation(db, donation_id)  # raises the 404
        raise AssertionError("unreachable")
    return DonationDetail(
        row, queries.refunds_of(db, donation_id), queries.receipts_of(db, donation_id)
    )


def receipt_filename(receipt: Receipt) -> str:
    """The file name a receipt's PDF is downloaded as."""
    return f"ricevuta-{receipt.year}-{receipt.number:06d}.pdf"
