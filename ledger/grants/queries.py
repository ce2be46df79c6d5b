"""What pages, the API and statements show of a commitment: read-only figures.

Money states come from the engine's balances (`commitment_states`); the
running totals of the rules from the grant tables. A donor's "match so far"
is what settled gifts were matched (reserved, released or disbursed): it only
ever falls with a refund (or when a failed campaign returns every gift). A
quote (`quote`) is what a gift of a given amount would add now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.campaigns.models import Campaign, Donation
from ledger.campaigns.service import get_campaign
from ledger.core.accounts import get_account
from ledger.core.balances import balance
from ledger.core.clock import ROME
from ledger.core.models import Hold, HoldResolution
from ledger.grants import accounts
from ledger.grants.getters import (
    bonus_rule,
    covering,
    pool_available,
    ratio_rule,
    threshold_rule,
)
from ledger.grants.matching import crowd
from ledger.grants.models import Allocation, Commitment, Foundation, FoundationOfficer, Match
from ledger.grants.rules import (
    Gift,
    MatchState,
    Reason,
    completion_bonus,
    match_gift,
    threshold_reached,
    topup_amount,
)
from ledger.people.models import Person, User


@dataclass(frozen=True, slots=True)
class States:
    """A commitment's money in each state (minor units), from the engine."""

    word: int  # what the foundation committed, less what a cancellation took back
    pledged: int  # in the pool, not reserved
    reserved: int
    earned: int
    released: int
    disbursed: int
    clawback_due: int

    @property
    def total(self) -> int:
        return (
            self.pledged
            + self.reserved
            + self.earned
            + self.released
            + self.disbursed
            + self.clawback_due
        )


def _end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=ROME)


def reserved_as_of(session: Session, commitment_id: int, as_of: date | None) -> int:
    """Open reservations on the pool; as of a Rome day's end when given."""
    if as_of is None:
        return balance(session, accounts.pool(commitment_id)).pending
    pool_id = get_account(session, accounts.pool(commitment_id)).id
    cutoff = _end_of(as_of)
    total = session.scalar(
        select(func.coalesce(func.sum(Hold.amount_minor), 0))
        .outerjoin(HoldResolution, HoldResolution.hold_id == Hold.id)
        .where(
            Hold.credit_account_id == pool_id,
            Hold.created_at < cutoff,
            (HoldResolution.id.is_(None)) | (HoldResolution.resolved_at >= cutoff),
        )
    )
    return int(total or 0)


def commitment_states(session: Session, commitment_id: int, as_of: date | None = None) -> States:
    """Each money state's balance, now or at the end of `as_of` (Europe/Rome)."""

    def posted(code: str) -> int:
        return balance(session, code, as_of).posted

    reserved = reserved_as_of(session, commitment_id, as_of)
    return States(
        word=posted(accounts.commitment(commitment_id)),
        pledged=posted(accounts.pool(commitment_id)) - reserved,
        reserved=reserved,
        earned=posted(accounts.earned(commitment_id)),
        released=posted(accounts.released(commitment_id)),
        disbursed=posted(accounts.disbursed(commitment_id)),
        clawback_due=posted(accounts.clawback_due(commitment_id)),
    )


@dataclass(frozen=True, slots=True)
class CampaignMatch:
    """One commitment's part in one campaign, as donors and officers see it."""

    commitment_id: int
    foundation: str
    title: str
    kind: str
    currency: str
    count_net: bool
    matched_minor: int  # reserved + released + disbursed for this campaign
    reserved_minor: int
    released_minor: int
    disbursed_minor: int
    clawback_due_minor: int
    status: str  # open, released, forfeited, ...
    ratio: str | None
    threshold_minor: int | None
    topup_minor: int | None  # what the top-up would be now (threshold kind)
    raised_minor: int
    donors: int
    pool_available_minor: int


def allocation_of(session: Session, commitment_id: int, campaign_id: int) -> Allocation | None:
    return session.scalars(
        select(Allocation).where(
            Allocation.commitment_id == commitment_id, Allocation.campaign_id == campaign_id
        )
    ).one_or_none()


def _figure(session: Session, row: Commitment, campaign: Campaign) -> CampaignMatch:
    allocation = allocation_of(session, row.id, campaign.id)
    raised, donors = crowd(session, campaign.id, count_net=row.count_net)
    threshold = topup = None
    if row.kind == "threshold":
        rule = threshold_rule(row, campaign.goal_minor)
        threshold = rule.threshold_minor
        topup = topup_amount(rule, raised)
    foundation = session.get(Foundation, row.foundation_id)
    reserved = released = disbursed = due = 0
    status = "open"
    if allocation is not None:
        reserved = allocation.reserved_minor if row.kind == "ratio" else 0
        released = allocation.released_minor
        disbursed = allocation.disbursed_minor
        due = allocation.clawback_due_minor
        status = allocation.status
    return CampaignMatch(
        commitment_id=row.id,
        foundation=foundation.name if foundation else "",
        title=row.title,
        kind=row.kind,
        currency=row.currency,
        count_net=row.count_net,
        matched_minor=reserved + released + disbursed,
        reserved_minor=allocation.reserved_minor if allocation else 0,
        released_minor=released,
        disbursed_minor=disbursed,
        clawback_due_minor=due,
        status=status if row.status == "active" else "cancelled",
        ratio=row.ratio,
        threshold_minor=threshold,
        topup_minor=topup,
        raised_minor=raised,
        donors=donors,
        pool_available_minor=max(0, pool_available(session, row.id)),
    )


@dataclass(frozen=True, slots=True)
class AllocationFigures:
    """A commitment's figures on one campaign it covers."""

    campaign_id: int
    status: str
    matched_minor: int
    reserved_minor: int
    released_minor: int
    disbursed_minor: int
    clawback_due_minor: int
    raised_minor: int
    donors: int
    goal_minor: int


def allocations_of(session: Session, commitment_id: int) -> list[AllocationFigures]:
    """Per campaign the commitment reached: its states and the crowd's progress."""
    row = session.get(Commitment, commitment_id)
    assert row is not None
    found = []
    for allocation in session.scalars(
        select(Allocation)
        .where(Allocation.commitment_id == commitment_id)
        .order_by(Allocation.campaign_id)
    ):
        campaign = get_campaign(session, allocation.campaign_id)
        figure = _figure(session, row, campaign)
        found.append(
            AllocationFigures(
                campaign_id=campaign.id,
                status=figure.status,
                matched_minor=figure.matched_minor,
                reserved_minor=figure.reserved_minor,
                released_minor=figure.released_minor,
                disbursed_minor=figure.disbursed_minor,
                clawback_due_minor=figure.clawback_due_minor,
                raised_minor=figure.raised_minor,
                donors=figure.donors,
                goal_minor=campaign.goal_minor,
            )
        )
    return found


def campaign_matches(session: Session, campaign_id: int) -> list[CampaignMatch]:
    """Every commitment that covers (or covered) the campaign, with its figures."""
    campaign = get_campaign(session, campaign_id)
    rows = {row.id: row for row in covering(session, campaign)}
    for row in session.scalars(
        select(Commitment)
        .join(Allocation, Allocation.commitment_id == Commitment.id)
        .where(Allocation.campaign_id == campaign_id)
    ):
        rows.setdefault(row.id, row)
    return [_figure(session, rows[key], campaign) for key in sorted(rows)]


@dataclass(frozen=True, slots=True)
class Quote:
    """What a gift of `amount_minor` would add now under each commitment."""

    amount_minor: int
    currency: str
    match_minor: int  # ratio matches, summed
    topup_minor: int  # a threshold top-up this gift would release
    total_minor: int  # the gift + everything it would bring
    reasons: tuple[tuple[int, str, int], ...]  # (commitment id, reason, amount)


def quote(
    session: Session,
    campaign_id: int,
    amount_minor: int,
    *,
    method: str = "card",
    person_id: int | None = None,
    now: datetime,
) -> Quote:
    """What the gift would bring if it settled now (fee assumed 0: gross counting).

    Pure reading: nothing is reserved, so another gift settling first can take
    the last euros of a pool; what a gift was actually matched is shown once
    it settled, and never falls afterwards without a refund.
    """
    campaign = get_campaign(session, campaign_id)
    match_total = topup_total = 0
    reasons: list[tuple[int, str, int]] = []
    if campaign.status != "live":
        return Quote(amount_minor, campaign.currency, 0, 0, amount_minor, ())
    key = f"person:{person_id}" if person_id else "gift:new"
    for row in covering(session, campaign):
        if row.currency != campaign.currency:
            continue
        allocation = allocation_of(session, row.id, campaign.id)
        if row.kind == "ratio":
            matched = 0
            if person_id is not None:
                matched = int(
                    session.scalar(
                        select(func.coalesce(func.sum(Match.match_minor), 0)).where(
                            Match.commitment_id == row.id, Match.donor_key == key
                        )
                    )
                    or 0
                )
            state = MatchState(
                pool_remaining=max(0, pool_available(session, row.id)),
                campaign_eligible=allocation.eligible_minor if allocation else 0,
                campaign_matched=allocation.matched_minor if allocation else 0,
                donor_matched={key: matched},
            )
            gift = Gift(amount_minor, 0, key, method, now)
            result = match_gift(ratio_rule(row), state, gift)
            match_total += result.match_minor
            reasons.append((row.id, str(result.reason), result.match_minor))
        else:
            if allocation is not None and allocation.status != "open":
                continue
            raised, donors = crowd(session, campaign.id, count_net=row.count_net)
            new_donor = person_id is None or not session.scalar(
                select(func.count(Donation.id)).where(
                    Donation.campaign_id == campaign.id,
                    Donation.person_id == person_id,
                    Donation.status == "settled",
                )
            )
            rule = threshold_rule(row, campaign.goal_minor)
            after, donors_after = raised + amount_minor, donors + (1 if new_donor else 0)
            if not threshold_reached(rule, raised, donors, now) and threshold_reached(
                rule, after, donors_after, now
            ):
                reserved = (
                    allocation.reserved_minor
                    if allocation
                    else min(rule.topup_minor, max(0, pool_available(session, row.id)))
                )
                amount = min(topup_amount(rule, after), reserved)
                bonus = bonus_rule(row)
                if bonus is not None and after >= campaign.goal_minor:
                    amount = min(completion_bonus(bonus, after, campaign.goal_minor), reserved)
                topup_total += amount
                reasons.append((row.id, "threshold", amount))
            else:
                reasons.append((row.id, str(Reason.NOTHING_TO_MATCH), 0))
    return Quote(
        amount_minor,
        campaign.currency,
        match_total,
        topup_total,
        amount_minor + match_total + topup_total,
        tuple(reasons),
    )


@dataclass(frozen=True, slots=True)
class FoundationRow:
    """A foundation with the users who act for it (id and e-mail), for the admin's list."""

    id: int
    name: str
    tax_code: str | None
    officers: tuple[tuple[int, str], ...]


def foundations_with_officers(session: Session) -> list[FoundationRow]:
    """Every foundation, by name, with its officers by e-mail."""
    officers: dict[int, list[tuple[int, str]]] = {}
    for foundation_id, user_id, email in session.execute(
        select(FoundationOfficer.foundation_id, User.id, Person.email)
        .join(User, User.id == FoundationOfficer.user_id)
        .join(Person, Person.id == User.person_id)
        .order_by(Person.email)
    ):
        officers.setdefault(int(foundation_id), []).append((int(user_id), str(email)))
    return [
        FoundationRow(f.id, f.name, f.tax_code, tuple(officers.get(f.id, ())))
        for f in session.scalars(select(Foundation).order_by(Foundation.name))
    ]
