"""The bottom of the grants package: the rows and rules the other modules read.

A foundation or a commitment by id, the active commitments covering a
campaign, what a commitment's pool can still give, and the rules a commitment
row states. `service` (foundations and commitments) and `matching` (the
reactions to campaign events) both read these; nothing here imports another
module of the package but its models, errors, accounts and pure rules, so the
two never import each other in a circle.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ledger.campaigns.models import Campaign
from ledger.core.balances import available_by_code, balance
from ledger.grants import accounts
from ledger.grants.errors import (
    CommitmentNotFoundError,
    FoundationNotFoundError,
    InvalidCommitmentError,
)
from ledger.grants.models import Commitment, Foundation
from ledger.grants.rules import CompletionBonusRule, RatioRule, ThresholdRule, Window

# --------------------------------------------------------------------- rows


def get_foundation(session: Session, foundation_id: int) -> Foundation:
    """The foundation with this id; FoundationNotFoundError (404) otherwise."""
    foundation = session.get(Foundation, foundation_id)
    if foundation is None:
        raise FoundationNotFoundError(
            f"nessuna fondazione con id {foundation_id}", foundation_id=foundation_id
        )
    return foundation


def get_commitment(session: Session, commitment_id: int, *, lock: bool = False) -> Commitment:
    """The commitment with this id (its row locked with `lock`); CommitmentNotFoundError
    (404) otherwise."""
    query = select(Commitment).where(Commitment.id == commitment_id)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).one_or_none()
    if row is None:
        raise CommitmentNotFoundError(
            f"nessun impegno con id {commitment_id}", commitment_id=commitment_id
        )
    return row


# Built once (the gift path runs them on every matched gift; issue 14): a campaign
# outside a call binds a call id of None, and `call_id = NULL` matches nothing.
_COVERING = (
    select(Commitment)
    .where(
        (Commitment.campaign_id == bindparam("b_campaign_id"))
        | (Commitment.call_id == bindparam("b_call_id")),
        Commitment.status == "active",
    )
    .order_by(Commitment.id)
)
_COVERING_LOCKED = _COVERING.with_for_update()


def covering(session: Session, campaign: Campaign, *, lock: bool = False) -> list[Commitment]:
    """Active commitments toward the campaign or toward its call, in id order; with
    `lock`, their rows are locked together by the same statement, in id order."""
    return list(
        session.scalars(
            _COVERING_LOCKED if lock else _COVERING,
            {"b_campaign_id": campaign.id, "b_call_id": campaign.call_id},
        )
    )


def pool_available(session: Session, commitment_id: int) -> int:
    """What the pool can still give: posted less open reservations."""
    return balance(session, accounts.pool(commitment_id)).available


def pools_available(session: Session, commitment_ids: list[int]) -> dict[int, int]:
    """`pool_available` of several commitments in one statement (the maintained rows),
    by commitment id; read under the commitments' row locks, which guard their pools."""
    codes = {accounts.pool(c): c for c in commitment_ids}
    return {codes[code]: value for code, value in available_by_code(session, codes).items()}


# --------------------------------------------------------------------- rules of a row


def _decimal(name: str, value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError):
        raise InvalidCommitmentError(f"{name}: numero decimale non valido", field=name) from None
    if not number.is_finite():
        raise InvalidCommitmentError(f"{name}: numero decimale non valido", field=name)
    return number


def window_of(row: Commitment) -> Window:
    """The eligibility window a commitment row states."""
    return Window(row.window_start, row.window_end)


def ratio_rule(row: Commitment) -> RatioRule:
    """The ratio rule a commitment row states."""
    ratio = _decimal("ratio", row.ratio)
    assert ratio is not None
    return RatioRule(
        ratio=ratio,
        window_start=row.window_start,
        window_end=row.window_end,
        methods=frozenset((row.methods or "").split(",")),
        min_gift=row.min_gift_minor or 0,
        max_gift=row.max_gift_minor,
        donor_cap=row.donor_cap_minor,
        campaign_cap=row.campaign_cap_minor,
        count_net=row.count_net,
    )


def threshold_rule(row: Commitment, budget_minor: int) -> ThresholdRule:
    """The threshold rule a commitment row states, on a campaign's budget (its goal)."""
    threshold: int | Decimal | None = (
        row.threshold_minor
        if row.threshold_minor is not None
        else _decimal("threshold_share", row.threshold_share)
    )
    topup: int | Decimal | None = (
        row.topup_minor if row.topup_minor is not None else _decimal("topup_share", row.topup_share)
    )
    assert threshold is not None and topup is not None
    return ThresholdRule(
        budget_minor=budget_minor,
        threshold=threshold,
        topup=topup,
        window=window_of(row),
        policy=row.topup_policy,  # type: ignore[arg-type]
        min_donors=row.min_donors,
        cap_minor=row.topup_cap_minor,
    )


def bonus_rule(row: Commitment) -> CompletionBonusRule | None:
    """The completion bonus a threshold commitment row states, if any."""
    share = _decimal("bonus_share", row.bonus_share)
    if share is None:
        return None
    return CompletionBonusRule(share=share, cap_minor=row.bonus_cap_minor)
