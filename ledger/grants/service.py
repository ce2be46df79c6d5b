"""Foundations, their officers and matching-grant commitments.

Creating a commitment books the foundation's word (Dr pool, Cr commitment) and,
for a threshold commitment toward one campaign, reserves its top-up at once (a
hold on the pool). Cancelling voids every open reservation and takes back what
no rule reserved (Dr commitment, Cr pool); what was already earned stays owed.
Every service takes the caller's session and never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.campaigns.models import METHODS, Campaign
from ledger.campaigns.service import get_campaign
from ledger.core.clock import Clock, rome_today
from ledger.core.journal import EntrySpec, PostingSpec, post_entry
from ledger.core.money import MAX_MINOR, Money
from ledger.funds.call_models import Call
from ledger.grants import accounts
from ledger.grants.errors import CommitmentStateError, InvalidCommitmentError
from ledger.grants.getters import (
    bonus_rule,
    get_commitment,
    get_foundation,
    pool_available,
    ratio_rule,
    threshold_rule,
    window_of,
)
from ledger.grants.log import log_event
from ledger.grants.matching import check_threshold, ensure_allocation, void_reservations
from ledger.grants.models import Allocation, Commitment, Foundation, FoundationOfficer, Match
from ledger.grants.rules import CLAWBACK_POLICIES, TOPUP_POLICIES, InvalidRuleError


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitmentSpec:
    """What a foundation commits to. Shares and ratios are decimal strings."""

    foundation_id: int
    title: str
    kind: str  # ratio | threshold
    pool_minor: int
    window_start: datetime
    window_end: datetime
    campaign_id: int | None = None
    call_id: int | None = None
    currency: str = "EUR"
    count_net: bool = False
    clawback_policy: str = "claw_back"
    ratio: str | None = None
    methods: tuple[str, ...] = METHODS
    min_gift_minor: int | None = None
    max_gift_minor: int | None = None
    donor_cap_minor: int | None = None
    campaign_cap_minor: int | None = None
    threshold_minor: int | None = None
    threshold_share: str | None = None
    topup_minor: int | None = None
    topup_share: str | None = None
    topup_policy: str | None = None
    topup_cap_minor: int | None = None
    min_donors: int | None = None
    bonus_share: str | None = None
    bonus_cap_minor: int | None = None


# --------------------------------------------------------------------- foundations


def create_foundation(
    session: Session, *, name: str, now: datetime, tax_code: str | None = None
) -> Foundation:
    clean = " ".join((name or "").split())
    if not clean or len(clean) > 200:
        raise InvalidCommitmentError(
            "Il nome della fondazione è obbligatorio (massimo 200 caratteri).", field="name"
        )
    if session.scalar(select(Foundation.id).where(Foundation.name == clean)) is not None:
        raise InvalidCommitmentError("Esiste già una fondazione con questo nome.", field="name")
    foundation = Foundation(name=clean, tax_code=tax_code or None, created_at=now)
    session.add(foundation)
    session.flush()
    return foundation


def add_officer(session: Session, foundation_id: int, user_id: int, *, now: datetime) -> None:
    """Let a user act for a foundation (they need the foundation_officer role too)."""
    get_foundation(session, foundation_id)
    key = {"foundation_id": foundation_id, "user_id": user_id}
    if session.get(FoundationOfficer, key) is None:
        session.add(FoundationOfficer(**key, created_at=now))
        session.flush()


def foundations_of(session: Session, user_id: int) -> list[int]:
    """The foundations a user acts for."""
    return list(
        session.scalars(
            select(FoundationOfficer.foundation_id)
            .where(FoundationOfficer.user_id == user_id)
            .order_by(FoundationOfficer.foundation_id)
        )
    )


# --------------------------------------------------------------------- rules of a row


def _check_spec(session: Session, spec: CommitmentSpec) -> None:
    def bad(message: str, field: str) -> InvalidCommitmentError:
        return InvalidCommitmentError(message, field=field)

    title = " ".join((spec.title or "").split())
    if not title or len(title) > 200:
        raise bad("Il titolo è obbligatorio (massimo 200 caratteri).", "title")
    if spec.kind not in ("ratio", "threshold"):
        raise bad("Tipo di regola sconosciuto: 'ratio' o 'threshold'.", "kind")
    if (spec.campaign_id is None) == (spec.call_id is None):
        raise bad("Indicare una campagna oppure un bando, non entrambi.", "campaign_id")
    if isinstance(spec.pool_minor, bool) or not isinstance(spec.pool_minor, int):
        raise bad("L'importo impegnato è in centesimi interi.", "pool_minor")
    if not 0 < spec.pool_minor <= MAX_MINOR:
        raise bad("L'importo impegnato deve essere positivo.", "pool_minor")
    if spec.clawback_policy not in CLAWBACK_POLICIES:
        raise bad("Politica di recupero sconosciuta: 'keep' o 'claw_back'.", "clawback_policy")
    if spec.call_id is not None and session.get(Call, spec.call_id) is None:
        raise bad(f"Nessun bando con id {spec.call_id}.", "call_id")
    if spec.campaign_id is not None:
        # Locked: a close or a settlement running now is ordered before or after this.
        campaign = get_campaign(session, spec.campaign_id, lock=True)
        if campaign.currency != spec.currency:
            raise bad("La valuta dell'impegno è diversa da quella della campagna.", "currency")
        if campaign.status not in ("draft", "live"):
            raise bad("La campagna è già chiusa: non si può più cofinanziare.", "campaign_id")
    ratio_only = (
        "ratio",
        "min_gift_minor",
        "max_gift_minor",
        "donor_cap_minor",
        "campaign_cap_minor",
    )
    threshold_only = (
        "threshold_minor",
        "threshold_share",
        "topup_minor",
        "topup_share",
        "topup_cap_minor",
        "min_donors",
        "bonus_share",
        "bonus_cap_minor",
    )
    foreign = threshold_only if spec.kind == "ratio" else ratio_only
    for name in foreign:
        if getattr(spec, name) is not None:
            raise bad(f"{name} non si applica a una regola di tipo {spec.kind}.", name)
    if spec.kind == "ratio":
        if spec.ratio is None:
            raise bad(
                "Il rapporto di raddoppio è obbligatorio (es. 2 per 2 EUR ogni 1 EUR).", "ratio"
            )
        if not spec.methods or any(m not in METHODS for m in spec.methods):
            raise bad(f"Metodi ammessi: {', '.join(METHODS)}.", "methods")
    else:
        if (spec.threshold_minor is None) == (spec.threshold_share is None):
            raise bad("La soglia è un importo oppure una percentuale del budget.", "threshold")
        if (spec.topup_minor is None) == (spec.topup_share is None):
            raise bad("L'integrazione è un importo oppure una percentuale del budget.", "topup")
        if spec.topup_policy not in TOPUP_POLICIES:
            raise bad("Politica dell'integrazione: 'fixed' o 'remaining_to_goal'.", "topup_policy")


def _validate_rules(row: Commitment) -> None:
    """Build the row's rules once, so a bad setting is refused before anything is written."""
    try:
        window_of(row)
        if row.kind == "ratio":
            ratio_rule(row)
        else:
            threshold_rule(row, 1_000_000)
            bonus_rule(row)
    except InvalidRuleError as exc:
        raise InvalidCommitmentError(exc.message, **exc.details) from exc


# --------------------------------------------------------------------- commitments


def list_commitments(session: Session, foundation_id: int | None = None) -> list[Commitment]:
    query = select(Commitment).order_by(Commitment.id)
    if foundation_id is not None:
        query = query.where(Commitment.foundation_id == foundation_id)
    return list(session.scalars(query))


def create_commitment(
    session: Session,
    spec: CommitmentSpec,
    *,
    clock: Clock,
    created_by: int | None = None,
    actor: str | None = None,
) -> Commitment:
    """Record a commitment and book the foundation's word; a bad setting writes nothing."""
    get_foundation(session, spec.foundation_id)
    _check_spec(session, spec)
    now = clock.now()
    row = Commitment(
        foundation_id=spec.foundation_id,
        title=" ".join(spec.title.split()),
        kind=spec.kind,
        campaign_id=spec.campaign_id,
        call_id=spec.call_id,
        currency=spec.currency,
        pool_minor=spec.pool_minor,
        status="active",
        count_net=spec.count_net,
        clawback_policy=spec.clawback_policy,
        window_start=spec.window_start,
        window_end=spec.window_end,
        ratio=spec.ratio if spec.kind == "ratio" else None,
        methods=",".join(spec.methods) if spec.kind == "ratio" else None,
        min_gift_minor=spec.min_gift_minor,
        max_gift_minor=spec.max_gift_minor,
        donor_cap_minor=spec.donor_cap_minor,
        campaign_cap_minor=spec.campaign_cap_minor,
        threshold_minor=spec.threshold_minor,
        threshold_share=spec.threshold_share,
        topup_minor=spec.topup_minor,
        topup_share=spec.topup_share,
        topup_policy=spec.topup_policy if spec.kind == "threshold" else None,
        topup_cap_minor=spec.topup_cap_minor,
        min_donors=spec.min_donors,
        bonus_share=spec.bonus_share,
        bonus_cap_minor=spec.bonus_cap_minor,
        created_by=created_by,
        created_at=now,
    )
    _validate_rules(row)
    session.add(row)
    session.flush()
    accounts.open_commitment_accounts(session, row.id, row.currency, clock)
    result = post_entry(
        session,
        EntrySpec(
            idempotency_key=f"grant:{row.id}:pledge",
            kind="grant_pledge",
            postings=[
                PostingSpec(accounts.pool(row.id), Money(row.pool_minor, row.currency)),
                PostingSpec(accounts.commitment(row.id), Money(-row.pool_minor, row.currency)),
            ],
            effective_on=rome_today(clock),
            narration=f"Impegno di cofinanziamento n. {row.id}: promessa della fondazione",
            metadata={"commitment_id": row.id, "foundation_id": row.foundation_id},
            actor=actor,
        ),
        clock=clock,
    )
    log_event(
        session,
        row,
        "pledged",
        row.pool_minor,
        now=now,
        entry_sequence=result.entry.sequence,
        actor=actor,
    )
    if row.kind == "threshold":
        if row.campaign_id is not None:
            campaigns = [get_campaign(session, row.campaign_id, lock=True)]
        else:
            campaigns = list(
                session.scalars(
                    select(Campaign)
                    .where(Campaign.call_id == row.call_id, Campaign.status == "live")
                    .order_by(Campaign.id)
                    .with_for_update()
                )
            )
        for campaign in campaigns:
            allocation = ensure_allocation(session, row, campaign, clock=clock, actor=actor)
            # A campaign already past the threshold releases at once (inside the window).
            check_threshold(session, row, allocation, campaign, clock=clock, actor=actor)
    return row


def cancel_commitment(
    session: Session,
    commitment_id: int,
    *,
    clock: Clock,
    cancelled_by: int | None = None,
    actor: str | None = None,
) -> Commitment:
    """Stop a commitment: open reservations end, the unreserved pool goes back."""
    row = get_commitment(session, commitment_id, lock=True)
    if row.status == "cancelled":
        raise CommitmentStateError("L'impegno è già stato annullato.")
    now = clock.now()
    for allocation in session.scalars(
        select(Allocation).where(Allocation.commitment_id == row.id).order_by(Allocation.id)
    ):
        # Matches of gifts already made stay reserved (their donors were shown them);
        # only top-ups whose condition is not met yet end.
        void_reservations(
            session, row, allocation, clock=clock, kind="cancelled", actor=actor, matches=False
        )
    available = pool_available(session, row.id)
    if available > 0:
        result = post_entry(
            session,
            EntrySpec(
                idempotency_key=f"grant:{row.id}:cancel",
                kind="grant_cancel",
                postings=[
                    PostingSpec(accounts.commitment(row.id), Money(available, row.currency)),
                    PostingSpec(accounts.pool(row.id), Money(-available, row.currency)),
                ],
                effective_on=rome_today(clock),
                narration=(
                    f"Impegno n. {row.id} annullato: la parte non riservata torna alla fondazione"
                ),
                metadata={"commitment_id": row.id},
                actor=actor,
            ),
            clock=clock,
        )
        log_event(
            session,
            row,
            "cancelled",
            available,
            now=now,
            entry_sequence=result.entry.sequence,
            actor=actor,
        )
    row.status = "cancelled"
    row.cancelled_at = now
    row.cancelled_by = cancelled_by
    return row


def matches_of(session: Session, commitment_id: int) -> list[Match]:
    return list(
        session.scalars(
            select(Match).where(Match.commitment_id == commitment_id).order_by(Match.id)
        )
    )
