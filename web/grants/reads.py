"""What the grants pages read: who sees which foundation, dashboards, a commitment's
figures, the treasurer's lines and the match a donor is shown on a campaign page.

An officer sees only the foundations they act for (`foundation_officers`);
another foundation's commitment is a 404 for them, as if it did not exist.
Admins see every foundation. Figures come from `ledger.grants.queries` (money
states from the engine's balances).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound

from ledger.campaigns.models import Campaign
from ledger.grants.errors import CommitmentNotFoundError
from ledger.grants.getters import get_commitment, get_foundation
from ledger.grants.models import Allocation, Commitment, Foundation, GrantEvent
from ledger.grants.queries import (
    CampaignMatch,
    Quote,
    States,
    campaign_matches,
    commitment_states,
    quote,
)
from ledger.grants.service import foundations_of, list_commitments
from ledger.statements.grants import rule_words
from web import views
from web.access import Principal

OFFICER = "foundation_officer"
ADMIN = "admin"
TREASURER = "treasurer"
CHART_WIDTH = 300  # the SVG bar chart's viewBox width


# ------------------------------------------------------------------ who sees what
def visible_foundations(db: Session, principal: Principal) -> list[int] | None:
    """The foundations the user may see: None means every one (admins)."""
    if ADMIN in principal.roles:
        return None
    return foundations_of(db, principal.user_id)


def foundation_for(db: Session, principal: Principal, foundation_id: int) -> Foundation:
    """The foundation, if the user may see it; a 404 otherwise (as if it did not exist)."""
    visible = visible_foundations(db, principal)
    if visible is not None and foundation_id not in visible:
        raise NotFound()
    return get_foundation(db, foundation_id)


def commitment_for(db: Session, principal: Principal, commitment_id: int) -> Commitment:
    """The commitment, if the user may see its foundation; CommitmentNotFoundError (a
    404) otherwise."""
    row = get_commitment(db, commitment_id)
    visible = visible_foundations(db, principal)
    if visible is not None and row.foundation_id not in visible:
        raise CommitmentNotFoundError(
            f"nessun impegno con id {commitment_id}", commitment_id=commitment_id
        )
    return row


# ------------------------------------------------------------------ what the pages show
@dataclass(frozen=True, slots=True)
class Chart:
    """Bar geometry in a viewBox CHART_WIDTH wide: the longest figure fills it."""

    budget: int
    raised: int
    match: int
    threshold: int | None


@dataclass(frozen=True, slots=True)
class CampaignProgress:
    campaign_id: int
    title: str
    status: str
    currency: str
    budget_minor: int
    figures: CampaignMatch

    @property
    def chart(self) -> Chart:
        f = self.figures
        scale = max(self.budget_minor, f.raised_minor, f.matched_minor, f.threshold_minor or 0, 1)

        def width(minor: int) -> int:
            return max(0, minor) * CHART_WIDTH // scale

        return Chart(
            budget=width(self.budget_minor),
            raised=width(f.raised_minor),
            match=width(f.matched_minor),
            threshold=width(f.threshold_minor) if f.threshold_minor is not None else None,
        )

    @property
    def percent(self) -> int:
        return self.figures.raised_minor * 100 // self.budget_minor if self.budget_minor else 0


@dataclass(frozen=True, slots=True)
class CommitmentView:
    row: Commitment
    foundation: str
    states: States
    campaigns: list[CampaignProgress]
    rules: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class FoundationView:
    foundation: Foundation
    commitments: list[CommitmentView]


def _campaign_ids(db: Session, row: Commitment) -> list[int]:
    ids = set(db.scalars(select(Allocation.campaign_id).where(Allocation.commitment_id == row.id)))
    if row.campaign_id is not None:
        ids.add(row.campaign_id)
    return sorted(ids)


def commitment_view(db: Session, row: Commitment) -> CommitmentView:
    """A commitment's figures: money states, each campaign's progress, rules in words."""
    campaigns = []
    budget = None
    for campaign_id in _campaign_ids(db, row):
        campaign = db.get(Campaign, campaign_id)
        if campaign is None:
            continue
        mine = [m for m in campaign_matches(db, campaign_id) if m.commitment_id == row.id]
        if not mine:
            continue
        campaigns.append(
            CampaignProgress(
                campaign.id,
                campaign.title,
                campaign.status,
                campaign.currency,
                campaign.goal_minor,
                mine[0],
            )
        )
        if campaign.id == row.campaign_id:
            budget = campaign.goal_minor
    foundation = db.get(Foundation, row.foundation_id)
    return CommitmentView(
        row=row,
        foundation=foundation.name if foundation else "",
        states=commitment_states(db, row.id),
        campaigns=campaigns,
        rules=rule_words(row, budget),
    )


def commitment_log(db: Session, row: Commitment) -> list[GrantEvent]:
    """The commitment's latest 200 grant log events, newest first."""
    return list(
        db.scalars(
            select(GrantEvent)
            .where(GrantEvent.commitment_id == row.id)
            .order_by(GrantEvent.id.desc())
            .limit(200)
        )
    )


def dashboard_of(db: Session, principal: Principal) -> list[FoundationView]:
    """The foundations the user may see, by name, each with its commitments' figures."""
    visible = visible_foundations(db, principal)
    query = select(Foundation).order_by(Foundation.name)
    if visible is not None:
        query = query.where(Foundation.id.in_(visible))
    return [
        FoundationView(f, [commitment_view(db, row) for row in list_commitments(db, f.id)])
        for f in db.scalars(query)
    ]


# ------------------------------------------------------------------ what donors see
DEFAULT_QUOTE_MINOR = 1000  # "your 10 EUR becomes ..."


@dataclass(frozen=True, slots=True)
class DonorGrants:
    """The matching grants on a campaign page: each commitment's match so far (settled
    gifts only, it falls only with a refund) and what a gift would bring now."""

    matches: list[CampaignMatch]
    quote: Quote | None
    amount_minor: int


def donor_grants(
    db: Session, campaign: Campaign, *, person_id: int | None, amount_minor: int | None
) -> DonorGrants:
    """What the campaign page shows of matching: each commitment's match so far and,
    while the campaign is live and a commitment is open, what `amount_minor` (10 EUR
    when not given) would add now."""
    matches = [
        m
        for m in campaign_matches(db, campaign.id)
        if m.status != "cancelled" or m.matched_minor or m.clawback_due_minor
    ]
    amount = amount_minor or DEFAULT_QUOTE_MINOR
    offered = any(m.status == "open" for m in matches)
    now = views.clock().now()
    found = (
        quote(db, campaign.id, amount, person_id=person_id, now=now)
        if offered and campaign.status == "live"
        else None
    )
    return DonorGrants(matches, found, amount)


# ------------------------------------------------------------------ what the treasurer sees
@dataclass(frozen=True, slots=True)
class TreasuryLine:
    commitment_id: int
    foundation: str
    title: str
    campaign_id: int
    campaign_title: str
    currency: str
    released_minor: int
    disbursed_minor: int
    clawback_due_minor: int


def treasury_lines(db: Session) -> list[TreasuryLine]:
    """Every commitment on every campaign: released, paid in, due back."""
    lines = []
    for allocation, row, campaign, foundation in db.execute(
        select(Allocation, Commitment, Campaign, Foundation)
        .join(Commitment, Commitment.id == Allocation.commitment_id)
        .join(Campaign, Campaign.id == Allocation.campaign_id)
        .join(Foundation, Foundation.id == Commitment.foundation_id)
        .order_by(Commitment.id, Campaign.id)
    ):
        lines.append(
            TreasuryLine(
                row.id,
                foundation.name,
                row.title,
                campaign.id,
                campaign.title,
                row.currency,
                allocation.released_minor,
                allocation.disbursed_minor,
                allocation.clawback_due_minor,
            )
        )
    return lines


def treasury_line(db: Session, commitment_id: int, campaign_id: int) -> TreasuryLine:
    """One commitment's line on one campaign; a 404 if it matched no such campaign."""
    for line in treasury_lines(db):
        if line.commitment_id == commitment_id and line.campaign_id == campaign_id:
            return line
    raise NotFound()
