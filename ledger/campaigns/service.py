"""Campaigns: creation, publication, the close that decides them, and their figures.

States: draft -> live -> succeeded | failed -> closed. A campaign is decided
when it is closed after its deadline: keep-what-you-raise campaigns succeed;
all-or-nothing campaigns succeed only when settled money reached the goal, and
otherwise fail and refund every gift exactly once (one refund row per donation
with reason `campaign_failed`, guarded by a unique index, under the campaign's
row lock). A failed campaign becomes closed once every refund has gone out.
Every service takes the caller's session and never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.campaigns import accounts
from ledger.campaigns.errors import (
    CampaignStateError,
    InvalidCampaignError,
    OrganisationNotFoundError,
)

# Re-exported (the alias tells mypy so): grants read campaigns through this module.
from ledger.campaigns.getters import get_campaign as get_campaign  # noqa: PLC0414
from ledger.campaigns.getters import pending_refund
from ledger.campaigns.models import (
    FUNDING_MODELS,
    QUALIFICATIONS,
    Campaign,
    Donation,
    Organisation,
    Refund,
)
from ledger.campaigns.refunds import request_refund
from ledger.core.clock import Clock
from ledger.core.money import exponent
from ledger.events import CampaignDecided, publish
from ledger.people.service import normalise_codice_fiscale


@dataclass(frozen=True, slots=True)
class NewCampaign:
    organisation_id: int
    title: str
    description_md: str
    goal_minor: int
    currency: str
    deadline_at: datetime
    funding_model: str
    # The call for ideas the campaign raises money for, if any (matching grants
    # toward the call cover it).
    call_id: int | None = None


@dataclass(frozen=True, slots=True)
class CampaignFigures:
    """What a campaign page shows: settled money only."""

    campaign_id: int
    status: str
    goal_minor: int
    raised_minor: int
    currency: str
    donor_count: int
    deadline_at: datetime


def create_organisation(
    session: Session,
    *,
    name: str,
    tax_code: str,
    qualification: str,
    now: datetime,
    runts_number: str | None = None,
    address: str | None = None,
) -> Organisation:
    """Register a recipient organisation (its codice fiscale is validated)."""
    clean_name = " ".join((name or "").split())
    if not clean_name or len(clean_name) > 200:
        raise InvalidCampaignError("Il nome dell'ente è obbligatorio (massimo 200 caratteri).")
    if qualification not in QUALIFICATIONS:
        raise InvalidCampaignError(
            f"Qualifica sconosciuta: {qualification}. Possibili: {', '.join(QUALIFICATIONS)}.",
            field="qualification",
        )
    code = normalise_codice_fiscale(tax_code)
    if code is None:
        raise InvalidCampaignError("Il codice fiscale dell'ente è obbligatorio.", field="tax_code")
    row = Organisation(
        name=clean_name,
        tax_code=code,
        qualification=qualification,
        runts_number=(runts_number or "").strip() or None,
        address=(address or "").strip() or None,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def create_campaign(session: Session, spec: NewCampaign, *, clock: Clock) -> Campaign:
    """A draft campaign with its escrow account."""
    now = clock.now()
    title = " ".join((spec.title or "").split())
    if not title or len(title) > 200:
        raise InvalidCampaignError(
            "Il titolo è obbligatorio (massimo 200 caratteri).", field="title"
        )
    if len(spec.description_md or "") > 20_000:
        raise InvalidCampaignError("La descrizione supera 20.000 caratteri.", field="description")
    exponent(spec.currency)
    if not isinstance(spec.goal_minor, int) or spec.goal_minor <= 0:
        raise InvalidCampaignError("L'obiettivo deve essere maggiore di zero.", field="goal")
    if spec.funding_model not in FUNDING_MODELS:
        raise InvalidCampaignError(
            f"Modello sconosciuto: {spec.funding_model}.", field="funding_model"
        )
    if spec.deadline_at.tzinfo is None or spec.deadline_at <= now:
        raise InvalidCampaignError("La scadenza deve essere nel futuro.", field="deadline")
    if session.get(Organisation, spec.organisation_id) is None:
        raise OrganisationNotFoundError(
            f"nessun ente con id {spec.organisation_id}", organisation_id=spec.organisation_id
        )
    campaign = Campaign(
        organisation_id=spec.organisation_id,
        title=title,
        description_md=spec.description_md or "",
        goal_minor=spec.goal_minor,
        currency=spec.currency,
        deadline_at=spec.deadline_at,
        funding_model=spec.funding_model,
        status="draft",
        created_at=now,
        call_id=spec.call_id,
    )
    session.add(campaign)
    session.flush()
    accounts.ensure_accounts(
        session,
        clock,
        [
            *accounts.SHARED,
            (accounts.escrow(campaign.id), "liability", f"Campagna {campaign.id}: fondi raccolti"),
        ],
    )
    return campaign


def publish_campaign(session: Session, campaign_id: int, *, clock: Clock) -> Campaign:
    """draft -> live (publishing twice is a no-op)."""
    campaign = get_campaign(session, campaign_id, lock=True)
    if campaign.status == "live":
        return campaign
    if campaign.status != "draft":
        raise CampaignStateError(
            f"la campagna è {campaign.status}: solo una bozza si pubblica", status=campaign.status
        )
    if campaign.deadline_at <= clock.now():
        raise CampaignStateError("la scadenza è già passata", status=campaign.status)
    campaign.status = "live"
    campaign.published_at = clock.now()
    return campaign


def figures(session: Session, campaign_id: int) -> CampaignFigures:
    """Goal, settled money raised (less refunds and disputes) and distinct donors."""
    campaign = get_campaign(session, campaign_id)
    counted = Donation.amount_minor - Donation.refunded_minor - Donation.withdrawn_minor
    raised, donors, anonymous_gifts = session.execute(
        select(
            func.coalesce(func.sum(counted), 0),
            func.count(func.distinct(Donation.person_id)),
            func.count(Donation.id).filter(Donation.person_id.is_(None)),
        ).where(
            Donation.campaign_id == campaign_id,
            Donation.status == "settled",
            counted > 0,
        )
    ).one()
    return CampaignFigures(
        campaign_id=campaign.id,
        status=campaign.status,
        goal_minor=campaign.goal_minor,
        raised_minor=int(raised),
        currency=campaign.currency,
        # Gifts without a known person count one donor each.
        donor_count=int(donors) + int(anonymous_gifts),
        deadline_at=campaign.deadline_at,
    )


@dataclass(frozen=True, slots=True)
class CloseResult:
    status: str
    refunds_created: int
    refunds_pending: int


def close_campaign(
    session: Session, campaign_id: int, *, clock: Clock, actor: str | None = None
) -> CloseResult:
    """Decide a live campaign after its deadline, then close it when nothing is owed.

    Safe to run twice, also at the same time: the campaign row is locked, the
    decision is taken once, and each failure refund exists at most once (one
    that Stripe refused may be asked again). A failed campaign closes only when
    no gift counts any more; a gift with a refund already on its way is left for
    the next run.
    """
    campaign = get_campaign(session, campaign_id, lock=True)
    now = clock.now()
    created = 0
    if campaign.status == "draft":
        raise CampaignStateError("una bozza non si chiude: non è mai stata pubblicata")
    if campaign.status == "live":
        if now < campaign.deadline_at:
            raise CampaignStateError(
                "la campagna è ancora aperta: si chiude dopo la scadenza",
                deadline=campaign.deadline_at.isoformat(),
            )
        raised = figures(session, campaign_id).raised_minor
        failed = campaign.funding_model == "all_or_nothing" and raised < campaign.goal_minor
        campaign.status = "failed" if failed else "succeeded"
        campaign.outcome = campaign.status
        campaign.decided_at = now
        publish(session, CampaignDecided(campaign.id, campaign.outcome, actor), clock=clock)
    owed = 0
    if campaign.outcome == "failed":
        gifts = session.scalars(
            select(Donation)
            .where(Donation.campaign_id == campaign_id, Donation.status == "settled")
            .order_by(Donation.id)
            .with_for_update()
        ).all()
        for gift in gifts:
            if gift.counted_minor <= 0:
                continue
            owed += 1
            if pending_refund(session, gift.id) is not None:
                continue  # on its way; what remains after it is refunded next run
            request_refund(session, gift.id, None, reason="campaign_failed", clock=clock)
            created += 1
    pending = int(
        session.scalar(
            select(func.count(Refund.id))
            .join(Donation, Donation.id == Refund.donation_id)
            .where(Donation.campaign_id == campaign_id, Refund.status == "pending")
        )
        or 0
    )
    if campaign.status in ("succeeded", "failed") and pending == 0 and owed == 0:
        campaign.status = "closed"
        campaign.closed_at = now
    return CloseResult(status=campaign.status, refunds_created=created, refunds_pending=pending)
