"""The grants' reactions to campaign events: match, reserve, release, forfeit, claw back.

Runs inside the transaction of the event (a settlement, a refund, a close), under
the campaign's row lock (taken by the campaign service) and then each
commitment's row lock, so concurrent gifts are matched one after another in
commit order and the pool is read and reserved atomically. Every amount is
booked through the engine with a key derived from the domain rows, so a
retried event never books twice; unique indexes (one match per donation, one
allocation per campaign, one release key per allocation and release number)
back each "exactly once" even if a lock were missed.

Ratio match: each settled gift gets a `grant_matches` row (also when its match
is 0, with the reason) and, when the match is positive, a reservation (a hold
from the pool to `earned`). The reservations are earned and released together
when the campaign succeeds, and voided (forfeited) when it fails.

Threshold top-up: an allocation reserves the top-up (or the completion bonus,
if larger) on the pool; the first settlement that brings settled money to the
threshold inside the window earns and releases it, in its own transaction.

Refunds and lost disputes apply the commitment's clawback policy: "claw_back"
returns the excess to the pool (from reservations first, then from released
money, then as clawback due for money already disbursed); "keep" leaves it and
logs a `clawback_kept` event. Both are visible in the grant log and statement.

Why one module of about 1,300 lines: settlement, decision, refunds and the
foundation's real money share one lock order (campaign, then commitment, then
allocation) and the private booking helpers at its top (holds and entries keyed
from the domain rows); splitting them means moving those helpers to a module of
their own first, with the refund reactions apart from the settlement ones.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from ledger.campaigns.crowd import totals as crowd_totals
from ledger.campaigns.models import Campaign, Donation
from ledger.campaigns.service import get_campaign
from ledger.core.clock import Clock, rome_today
from ledger.core.errors import IdempotencyConflictError
from ledger.core.holds import HoldSpec, create_hold, resolve_hold
from ledger.core.journal import EntrySpec, PostingSpec, get_entry, lookup_keys, post_entry
from ledger.core.money import Money
from ledger.core.uow import set_as_written
from ledger.grants import accounts
from ledger.grants.errors import DisbursementError, GrantStateError
from ledger.grants.getters import (
    bonus_rule,
    covering,
    get_commitment,
    pool_available,
    pools_available,
    ratio_rule,
    threshold_rule,
)
from ledger.grants.log import EVENT_CTE, INSERT_EVENT, event_cte_params, event_row, log_event
from ledger.grants.models import Allocation, Commitment, GrantEvent, Match
from ledger.grants.rules import (
    Gift,
    MatchState,
    completion_bonus,
    match_after_refund,
    match_gift,
    threshold_after_refund,
    threshold_reached,
    topup_amount,
)


def donor_key(donation: Donation) -> str:
    """Who gave, for per-donor caps: the person, or the gift itself when anonymous."""
    return f"person:{donation.person_id}" if donation.person_id else f"gift:{donation.id}"


def gift_of(donation: Donation, *, plus_minor: int = 0) -> Gift:
    assert donation.settled_at is not None
    return Gift(
        amount_minor=max(0, donation.counted_minor) + plus_minor,
        fee_minor=donation.fee_minor or 0,
        donor_key=donor_key(donation),
        method=donation.method,
        settled_at=donation.settled_at,
    )


def crowd(session: Session, campaign_id: int, *, count_net: bool) -> tuple[int, int]:
    """Settled money raised by the crowd (gross or net of fees) and distinct donors.

    The campaign's running totals (`ledger.campaigns.crowd`), kept under its row
    lock by every settlement, refund and dispute: nothing is summed. A gift's
    counted money is its amount less refunds and disputes; net counting also
    takes off the fee, never below zero per gift. Donors are distinct people,
    each anonymous gift without a person counting as one donor.
    """
    totals = crowd_totals(session, campaign_id)
    return totals.raised(count_net=count_net), totals.donors


def _lock(session: Session, row: Commitment) -> Commitment:
    return get_commitment(session, row.id, lock=True)


def _allocation(session: Session, commitment_id: int, campaign_id: int) -> Allocation | None:
    return session.scalars(
        select(Allocation)
        .where(Allocation.commitment_id == commitment_id, Allocation.campaign_id == campaign_id)
        .with_for_update()
    ).one_or_none()


def _hold(
    session: Session,
    row: Commitment,
    amount: int,
    key: str,
    *,
    campaign_id: int,
    clock: Clock,
    actor: str | None,
    donation_id: int | None = None,
) -> str:
    metadata: dict[str, int] = {"commitment_id": row.id, "campaign_id": campaign_id}
    if donation_id is not None:
        metadata["donation_id"] = donation_id
    result = create_hold(
        session,
        HoldSpec(
            idempotency_key=key,
            kind="match_earned",
            debit_account=accounts.earned(row.id),
            credit_account=accounts.pool(row.id),
            amount=Money(amount, row.currency),
            narration=f"Cofinanziamento riservato: impegno {row.id}, campagna {campaign_id}",
            metadata=metadata,
            actor=actor,
        ),
        clock=clock,
    )
    return result.hold.id


def _entry(
    session: Session,
    row: Commitment,
    key: str,
    kind: str,
    legs: list[tuple[str, int]],
    narration: str,
    *,
    clock: Clock,
    actor: str | None,
    metadata: dict[str, int],
) -> int:
    result = post_entry(
        session,
        EntrySpec(
            idempotency_key=key,
            kind=kind,
            postings=[PostingSpec(code, Money(amount, row.currency)) for code, amount in legs],
            effective_on=rome_today(clock),
            narration=narration,
            metadata={"commitment_id": row.id, **metadata},
            actor=actor,
        ),
        clock=clock,
    )
    if not result.created:
        # Internal keys are derived from the grant's counters, so a replay means the
        # counters and the journal disagree: stop before counting the money twice.
        raise GrantStateError(
            f"la scrittura {key} esiste già: lo stato dell'impegno non è coerente", key=key
        )
    return result.entry.sequence


def _existing(session: Session, key: str) -> int | None:
    """The sequence of the entry written under `key`, if any (a retried payment)."""
    found = lookup_keys(session, [key]).get(key)
    if found is None or found.entry_id is None:
        return None
    return get_entry(session, entry_id=found.entry_id).sequence


# --------------------------------------------------------------------- allocations


_LOOK = object()


def ensure_allocation(
    session: Session,
    row: Commitment,
    campaign: Campaign,
    *,
    clock: Clock,
    actor: str | None,
    found: object = _LOOK,
) -> Allocation:
    """The commitment's allocation on the campaign; a threshold one reserves its top-up.

    `found` is the allocation the caller already locked (None: it has none), so
    it is not read again."""
    allocation = (
        _allocation(session, row.id, campaign.id)
        if found is _LOOK
        else found
        if isinstance(found, Allocation)
        else None
    )
    if allocation is None:
        allocation = Allocation(
            commitment_id=row.id,
            campaign_id=campaign.id,
            status="open",
            eligible_minor=0,
            matched_minor=0,
            reserved_minor=0,
            released_minor=0,
            disbursed_minor=0,
            clawback_due_minor=0,
            releases=0,
            created_at=clock.now(),
        )
        session.add(allocation)
        session.flush()
    if row.kind == "threshold" and allocation.status == "open" and allocation.hold_id is None:
        _reserve_topup(session, row, allocation, campaign, clock=clock, actor=actor)
    return allocation


def _reserve_topup(
    session: Session,
    row: Commitment,
    allocation: Allocation,
    campaign: Campaign,
    *,
    clock: Clock,
    actor: str | None,
) -> None:
    rule = threshold_rule(row, campaign.goal_minor)
    most = rule.topup_minor
    bonus = bonus_rule(row)
    if bonus is not None:
        most = max(most, completion_bonus(bonus, campaign.goal_minor, campaign.goal_minor))
    amount = min(most, pool_available(session, row.id))
    if amount <= 0:
        log_event(
            session,
            row,
            "reserved",
            0,
            now=clock.now(),
            campaign_id=campaign.id,
            note="fondo esaurito: nulla da riservare, l'integrazione non potrà essere versata",
            actor=actor,
        )
        # Said once: with nothing reserved the top-up can never be released here.
        allocation.status = "forfeited"
        return
    hold_id = _hold(
        session,
        row,
        amount,
        f"grant:{row.id}:campaign:{campaign.id}:reserve:{allocation.releases + 1}",
        campaign_id=campaign.id,
        clock=clock,
        actor=actor,
    )
    allocation.hold_id = hold_id
    allocation.reserved_minor = amount
    log_event(
        session,
        row,
        "reserved",
        amount,
        now=clock.now(),
        campaign_id=campaign.id,
        hold_id=hold_id,
        actor=actor,
    )


# --------------------------------------------------------------------- settlement


def on_gift_settled(
    session: Session, donation_id: int, campaign_id: int, *, clock: Clock, actor: str | None
) -> None:
    """Match a settled gift under every active commitment covering its campaign.

    The settlement has the campaign (and the donation) in the session already,
    read under the campaign's row lock: they are taken from there, not read
    again. The covering commitments are locked together in id order, then their
    allocations on the campaign in one statement.
    """
    campaign = session.get(Campaign, campaign_id) or get_campaign(session, campaign_id)
    if campaign.outcome == "failed":
        return  # the gift is going back to its donor
    donation = session.get(Donation, donation_id)
    assert donation is not None
    rows = [
        row
        for row in covering(session, campaign, lock=True)
        if row.currency == donation.currency
        and not (row.kind == "threshold" and campaign.outcome is not None)
        # decided: a late settlement can no longer reach a threshold
    ]
    if not rows:
        return
    allocations, matched = _allocations(session, [row.id for row in rows], campaign.id, donation.id)
    ratio = [row.id for row in rows if row.kind == "ratio"]
    pools = pools_available(session, ratio)
    for row in rows:
        allocation = ensure_allocation(
            session, row, campaign, clock=clock, actor=actor, found=allocations.get(row.id)
        )
        if row.kind == "ratio":
            if row.id in matched:
                continue
            _match(
                session,
                row,
                allocation,
                campaign,
                donation,
                clock=clock,
                actor=actor,
                pool_remaining=pools.get(row.id),
            )
        else:
            check_threshold(
                session,
                row,
                allocation,
                campaign,
                clock=clock,
                actor=actor,
                donation_id=donation.id,
            )


# Built once (every matched gift runs it; issue 14).
_ALLOCATIONS_LOCKED = (
    select(
        Allocation,
        select(Match.id)
        .where(
            Match.commitment_id == Allocation.commitment_id,
            Match.donation_id == bindparam("b_donation_id"),
        )
        .exists(),
    )
    .where(
        Allocation.commitment_id.in_(bindparam("b_commitment_ids", expanding=True)),
        Allocation.campaign_id == bindparam("b_campaign_id"),
    )
    .order_by(Allocation.id)
    .with_for_update(of=Allocation)
)


def _allocations(
    session: Session, commitment_ids: list[int], campaign_id: int, donation_id: int
) -> tuple[dict[int, Allocation], set[int]]:
    """The allocations of these commitments on the campaign, locked by one statement,
    and the commitments among them that have matched the gift already (a match
    is only ever made on an allocation, so a commitment without one has none)."""
    found: dict[int, Allocation] = {}
    done: set[int] = set()
    for allocation, has_match in session.execute(
        _ALLOCATIONS_LOCKED,
        {
            "b_donation_id": donation_id,
            "b_commitment_ids": commitment_ids,
            "b_campaign_id": campaign_id,
        },
    ):
        found[allocation.commitment_id] = allocation
        if has_match:
            done.add(allocation.commitment_id)
    return found, done


def _donor_totals(session: Session, commitment_id: int, key: str) -> tuple[int, int]:
    eligible, matched = session.execute(
        select(
            func.coalesce(func.sum(Match.eligible_minor), 0),
            func.coalesce(func.sum(Match.match_minor), 0),
        ).where(
            Match.commitment_id == commitment_id,
            Match.donor_key == key,
            Match.state != "forfeited",  # a failed campaign's match frees the donor's cap
        )
    ).one()
    return int(eligible), int(matched)


def _matched_elsewhere(session: Session, commitment_id: int, campaign_id: int) -> dict[str, int]:
    """Each donor's live match by this commitment on its other campaigns."""
    rows = session.execute(
        select(Match.donor_key, func.sum(Match.match_minor))
        .where(
            Match.commitment_id == commitment_id,
            Match.campaign_id != campaign_id,
            Match.state != "forfeited",
        )
        .group_by(Match.donor_key)
    ).all()
    return {key: int(total) for key, total in rows if total}


def _state(
    session: Session,
    row: Commitment,
    allocation: Allocation,
    key: str,
    *,
    pool_remaining: int | None = None,
    new_gift: bool = False,
) -> MatchState:
    """What the match of a gift depends on. `new_gift`: the donor key names this gift
    alone (an anonymous gift without a person) and the gift has no match yet, so the
    donor's totals are zero without asking; `pool_remaining` when already read."""
    eligible, matched = (0, 0) if new_gift else _donor_totals(session, row.id, key)
    if pool_remaining is None:
        pool_remaining = pool_available(session, row.id)
    return MatchState(
        pool_remaining=max(0, pool_remaining),
        campaign_eligible=allocation.eligible_minor,
        campaign_matched=allocation.matched_minor,
        donor_eligible={key: eligible},
        donor_matched={key: matched},
    )


_MATCHES = cast(Table, Match.__table__)
# Every statement below binds its values under a prefix (m_, a_, event_): a
# parameter named as a column of a table an UPDATE in the same statement writes
# would be taken by that UPDATE as a value to set.
_INSERT_MATCH = insert(_MATCHES).values(
    {c.name: bindparam(f"m_{c.name}", type_=c.type) for c in _MATCHES.columns if c.name != "id"}
)
_ALLOCATIONS = cast(Table, Allocation.__table__)
# A match's allocation figures.
_FIGURES = ("eligible_minor", "matched_minor", "reserved_minor")
_UPDATE_FIGURES = (
    update(_ALLOCATIONS)
    .where(_ALLOCATIONS.c.id == bindparam("a_id"))
    .values(
        eligible_minor=bindparam("a_eligible_minor"),
        matched_minor=bindparam("a_matched_minor"),
        reserved_minor=bindparam("a_reserved_minor"),
    )
)
# PostgreSQL: the match, its allocation's figures and (when it reserves money) its
# grant-log event in one statement.
_INSERT_MATCH_AND_FIGURES = _INSERT_MATCH.add_cte(_UPDATE_FIGURES.cte("figures"))
_INSERT_MATCH_FIGURES_AND_EVENT = _INSERT_MATCH_AND_FIGURES.add_cte(EVENT_CTE)


def _match(
    session: Session,
    row: Commitment,
    allocation: Allocation,
    campaign: Campaign,
    donation: Donation,
    *,
    clock: Clock,
    actor: str | None,
    pool_remaining: int | None = None,
) -> None:
    """Match the gift under a ratio commitment; the caller knows it has no match yet."""
    gift = gift_of(donation)
    state = _state(
        session,
        row,
        allocation,
        gift.donor_key,
        pool_remaining=pool_remaining,
        new_gift=donation.person_id is None,
    )
    result = match_gift(ratio_rule(row), state, gift)
    eligible = result.state.campaign_eligible - allocation.eligible_minor
    hold_id: str | None = None
    event: dict[str, Any] | None = None
    if result.match_minor > 0:
        hold_id = _hold(
            session,
            row,
            result.match_minor,
            f"grant:{row.id}:donation:{donation.id}:reserve:1",
            campaign_id=campaign.id,
            clock=clock,
            actor=actor,
            donation_id=donation.id,
        )
        event = event_row(
            row,
            "reserved",
            result.match_minor,
            now=clock.now(),
            campaign_id=campaign.id,
            donation_id=donation.id,
            hold_id=hold_id,
            note=str(result.reason),
            actor=actor,
        )
    match = {
        "m_commitment_id": row.id,
        "m_campaign_id": campaign.id,
        "m_donation_id": donation.id,
        "m_donor_key": gift.donor_key,
        "m_eligible_minor": eligible,
        "m_match_minor": result.match_minor,
        "m_reason": str(result.reason),
        "m_state": "reserved" if result.match_minor else "unmatched",
        "m_hold_id": hold_id,
        "m_holds": 1 if hold_id is not None else 0,
        "m_created_at": clock.now(),
    }
    figures = {
        "a_id": allocation.id,
        "a_eligible_minor": result.state.campaign_eligible,
        "a_matched_minor": result.state.campaign_matched,
        "a_reserved_minor": allocation.reserved_minor + result.match_minor,
    }
    # Written at once by statements built once, not ORM objects flushed later: a
    # second match of the gift fails here on the unique (commitment, donation). On
    # PostgreSQL the allocation's figures and the grant log's event go in the same
    # statement as the match.
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        if event is None:
            connection.execute(_INSERT_MATCH_AND_FIGURES, {**match, **figures})
        else:
            connection.execute(
                _INSERT_MATCH_FIGURES_AND_EVENT, {**match, **figures, **event_cte_params(event)}
            )
    else:
        connection.execute(_UPDATE_FIGURES, figures)
        if event is not None:
            connection.execute(INSERT_EVENT, event)
        connection.execute(_INSERT_MATCH, match)
    # The object agrees with its row and has nothing of these left to flush (and is
    # read again if a savepoint around this is rolled back).
    set_as_written(
        session,
        allocation,
        {name: figures[f"a_{name}"] for name in _FIGURES},
    )
    if campaign.outcome == "succeeded":
        _earn_and_release(session, row, allocation, campaign, clock=clock, actor=actor)


def check_threshold(
    session: Session,
    row: Commitment,
    allocation: Allocation,
    campaign: Campaign,
    *,
    clock: Clock,
    actor: str | None,
    donation_id: int | None = None,
) -> bool:
    """Release the top-up if the threshold is reached now; True when this call released it."""
    if allocation.status != "open" or allocation.hold_id is None:
        return False
    raised, donors = crowd(session, campaign.id, count_net=row.count_net)
    rule = threshold_rule(row, campaign.goal_minor)
    now = clock.now()
    if not threshold_reached(rule, raised, donors, now):
        return False
    amount = topup_amount(rule, raised)
    why = "soglia raggiunta"
    bonus = bonus_rule(row)
    if bonus is not None and raised >= campaign.goal_minor:
        amount = completion_bonus(bonus, raised, campaign.goal_minor)
        why = "obiettivo raggiunto dalla sola comunità: premio di completamento"
    amount = min(amount, allocation.reserved_minor)
    number = allocation.releases + 1
    hold_id = allocation.hold_id
    base = f"grant:{row.id}:campaign:{campaign.id}"
    meta = {"campaign_id": campaign.id, **({"donation_id": donation_id} if donation_id else {})}
    if amount <= 0:
        resolve_hold(
            session,
            hold_id,
            outcome="voided",
            idempotency_key=f"{base}:void:{number}",
            clock=clock,
            actor=actor,
        )
        allocation.status = "released"
        allocation.hold_id = None
        allocation.reserved_minor = 0
        allocation.releases = number
        allocation.released_at = now
        log_event(
            session,
            row,
            "released",
            0,
            now=now,
            campaign_id=campaign.id,
            donation_id=donation_id,
            hold_id=hold_id,
            note=f"{why}: nulla da aggiungere (obiettivo già superato)",
            actor=actor,
        )
        return True
    earned = resolve_hold(
        session,
        hold_id,
        outcome="posted",
        amount=Money(amount, row.currency),
        idempotency_key=f"{base}:earn:{number}",
        clock=clock,
        actor=actor,
    )
    assert earned.hold.entry_id is not None
    sequence = _entry(
        session,
        row,
        f"{base}:release:{number}",
        "match_release",
        [(accounts.released(row.id), amount), (accounts.earned(row.id), -amount)],
        f"Integrazione svincolata: impegno {row.id}, campagna {campaign.id} ({why})",
        clock=clock,
        actor=actor,
        metadata=meta,
    )
    allocation.status = "released"
    allocation.hold_id = None
    allocation.reserved_minor = 0
    allocation.released_minor += amount
    allocation.matched_minor += amount
    allocation.releases = number
    allocation.released_at = now
    log_event(
        session,
        row,
        "earned",
        amount,
        now=now,
        campaign_id=campaign.id,
        donation_id=donation_id,
        hold_id=hold_id,
        note=why,
        actor=actor,
    )
    log_event(
        session,
        row,
        "released",
        amount,
        now=now,
        campaign_id=campaign.id,
        donation_id=donation_id,
        entry_sequence=sequence,
        note=why,
        actor=actor,
    )
    return True


# --------------------------------------------------------------------- decision


def _earn_and_release(
    session: Session,
    row: Commitment,
    allocation: Allocation,
    campaign: Campaign,
    *,
    clock: Clock,
    actor: str | None,
) -> None:
    """Post every reserved ratio match of the campaign and release them in one entry."""
    reserved = session.scalars(
        select(Match)
        .where(
            Match.commitment_id == row.id,
            Match.campaign_id == campaign.id,
            Match.state == "reserved",
        )
        .order_by(Match.id)
    ).all()
    total = 0
    now = clock.now()
    for match in reserved:
        assert match.hold_id is not None
        resolve_hold(
            session,
            match.hold_id,
            outcome="posted",
            idempotency_key=f"grant:{row.id}:donation:{match.donation_id}:earn:{match.holds}",
            clock=clock,
            actor=actor,
        )
        match.state = "released"
        total += match.match_minor
        log_event(
            session,
            row,
            "earned",
            match.match_minor,
            now=now,
            campaign_id=campaign.id,
            donation_id=match.donation_id,
            hold_id=match.hold_id,
            actor=actor,
        )
    if total == 0:
        return
    allocation.releases += 1
    sequence = _entry(
        session,
        row,
        f"grant:{row.id}:campaign:{campaign.id}:release:{allocation.releases}",
        "match_release",
        [(accounts.released(row.id), total), (accounts.earned(row.id), -total)],
        f"Raddoppio svincolato: impegno {row.id}, campagna {campaign.id} riuscita",
        clock=clock,
        actor=actor,
        metadata={"campaign_id": campaign.id},
    )
    allocation.reserved_minor -= total
    allocation.released_minor += total
    allocation.status = "released"
    allocation.released_at = now
    log_event(
        session,
        row,
        "released",
        total,
        now=now,
        campaign_id=campaign.id,
        entry_sequence=sequence,
        actor=actor,
    )


def void_reservations(
    session: Session,
    row: Commitment,
    allocation: Allocation,
    *,
    clock: Clock,
    kind: str,
    actor: str | None,
    note: str = "",
    matches: bool = True,
) -> int:
    """End the allocation's open reservations (forfeit or cancel); returns the sum. With
    `matches` False only the top-up reservation ends: gifts' matches stay reserved."""
    now = clock.now()
    total = 0
    if allocation.hold_id is not None:
        resolve_hold(
            session,
            allocation.hold_id,
            outcome="voided",
            idempotency_key=f"grant:{row.id}:campaign:{allocation.campaign_id}:void:"
            f"{allocation.releases + 1}",
            clock=clock,
            actor=actor,
        )
        log_event(
            session,
            row,
            kind,
            allocation.reserved_minor,
            now=now,
            campaign_id=allocation.campaign_id,
            hold_id=allocation.hold_id,
            note=note,
            actor=actor,
        )
        total += allocation.reserved_minor
        allocation.hold_id = None
        allocation.reserved_minor = 0
        if allocation.status == "open":
            allocation.status = "forfeited"
    reserved = session.scalars(
        select(Match)
        .where(
            Match.commitment_id == row.id,
            Match.campaign_id == allocation.campaign_id,
            Match.state == "reserved",
        )
        .order_by(Match.id)
    ).all()
    for match in reserved if matches else ():
        assert match.hold_id is not None
        resolve_hold(
            session,
            match.hold_id,
            outcome="voided",
            idempotency_key=f"grant:{row.id}:donation:{match.donation_id}:void:{match.holds}",
            clock=clock,
            actor=actor,
        )
        match.state = "forfeited"
        total += match.match_minor
        allocation.reserved_minor -= match.match_minor
        log_event(
            session,
            row,
            kind,
            match.match_minor,
            now=now,
            campaign_id=allocation.campaign_id,
            donation_id=match.donation_id,
            hold_id=match.hold_id,
            note=note,
            actor=actor,
        )
    return total


def on_campaign_decided(
    session: Session, campaign_id: int, outcome: str, *, clock: Clock, actor: str | None
) -> None:
    """Success earns and releases the reserved matches and ends unmet threshold
    reservations; failure forfeits everything not yet disbursed back to the pool."""
    campaign = get_campaign(session, campaign_id)
    rows = session.scalars(
        select(Commitment)
        .join(Allocation, Allocation.commitment_id == Commitment.id)
        .where(Allocation.campaign_id == campaign_id)
        .order_by(Commitment.id)
    ).all()
    for candidate in rows:
        row = _lock(session, candidate)
        allocation = _allocation(session, row.id, campaign_id)
        assert allocation is not None
        if outcome == "succeeded":
            # A cancelled commitment still honours the matches it had reserved.
            if row.kind == "ratio":
                _earn_and_release(session, row, allocation, campaign, clock=clock, actor=actor)
            elif row.kind == "threshold" and allocation.status == "open":
                void_reservations(
                    session,
                    row,
                    allocation,
                    clock=clock,
                    kind="forfeited",
                    actor=actor,
                    note="soglia non raggiunta entro la chiusura",
                )
        else:
            voided = void_reservations(
                session,
                row,
                allocation,
                clock=clock,
                kind="forfeited",
                actor=actor,
                note="campagna non riuscita",
            )
            _return_if_cancelled(
                session,
                row,
                voided,
                f"grant:{row.id}:campaign:{campaign_id}:campaign_failed:voided",
                clock=clock,
                actor=actor,
            )
            taken = allocation.released_minor + allocation.disbursed_minor
            if taken > 0:
                _take_back(
                    session,
                    row,
                    allocation,
                    taken,
                    clock=clock,
                    actor=actor,
                    kind="forfeited",
                    cause="campaign_failed",
                )
            allocation.status = "forfeited"
            allocation.matched_minor = 0
            for match in session.scalars(
                select(Match).where(
                    Match.commitment_id == row.id,
                    Match.campaign_id == campaign_id,
                    Match.state == "released",
                )
            ):
                match.state = "forfeited"


# --------------------------------------------------------------------- refunds


def _shrink_reservation(
    session: Session, row: Commitment, match: Match, by: int, *, clock: Clock, actor: str | None
) -> int:
    """Reduce a match's reservation by up to `by` (void, then hold what remains)."""
    if match.state != "reserved" or match.hold_id is None or by <= 0:
        return 0
    taken = min(by, match.match_minor)
    resolve_hold(
        session,
        match.hold_id,
        outcome="voided",
        idempotency_key=f"grant:{row.id}:donation:{match.donation_id}:void:{match.holds}",
        clock=clock,
        actor=actor,
    )
    match.match_minor -= taken
    if match.match_minor > 0:
        match.holds += 1
        match.hold_id = _hold(
            session,
            row,
            match.match_minor,
            f"grant:{row.id}:donation:{match.donation_id}:reserve:{match.holds}",
            campaign_id=match.campaign_id,
            clock=clock,
            actor=actor,
            donation_id=match.donation_id,
        )
    else:
        match.state = "forfeited"
        match.hold_id = None
    return taken


def _take_back(
    session: Session,
    row: Commitment,
    allocation: Allocation,
    amount: int,
    *,
    clock: Clock,
    actor: str | None,
    kind: str,
    cause: str,
    donation_id: int | None = None,
) -> None:
    """Return `amount` of the allocation's match to the pool: reserved money first
    (the refunded gift's own reservation, then the newest), then released money,
    then money already disbursed becomes clawback due."""
    now = clock.now()
    left = amount
    from_reserved = 0
    if row.kind == "ratio":
        query = (
            select(Match)
            .where(
                Match.commitment_id == row.id,
                Match.campaign_id == allocation.campaign_id,
                Match.state == "reserved",
            )
            .order_by((Match.donation_id == (donation_id or 0)).desc(), Match.id.desc())
        )
        for match in session.scalars(query).all():
            if left <= 0:
                break
            got = _shrink_reservation(session, row, match, left, clock=clock, actor=actor)
            left -= got
            from_reserved += got
        allocation.reserved_minor -= from_reserved
        if from_reserved:
            log_event(
                session,
                row,
                kind,
                from_reserved,
                now=now,
                campaign_id=allocation.campaign_id,
                donation_id=donation_id,
                note=f"{cause}: riserva ridotta",
                actor=actor,
            )
    base = f"grant:{row.id}:campaign:{allocation.campaign_id}:{cause}"
    from_released = min(left, allocation.released_minor)
    if from_released > 0:
        sequence = _entry(
            session,
            row,
            f"{base}:released",
            "match_clawback" if kind == "clawback" else "match_forfeit",
            [(accounts.pool(row.id), from_released), (accounts.released(row.id), -from_released)],
            f"Cofinanziamento tornato all'impegno {row.id} dalla campagna {allocation.campaign_id}",
            clock=clock,
            actor=actor,
            metadata={"campaign_id": allocation.campaign_id},
        )
        allocation.released_minor -= from_released
        left -= from_released
        log_event(
            session,
            row,
            kind,
            from_released,
            now=now,
            campaign_id=allocation.campaign_id,
            donation_id=donation_id,
            entry_sequence=sequence,
            note=cause,
            actor=actor,
        )
    due = min(left, allocation.disbursed_minor)
    if due > 0:
        accounts.ensure_campaign_match(session, allocation.campaign_id, clock)
        sequence = _entry(
            session,
            row,
            f"{base}:due",
            "match_clawback_due",
            [
                (accounts.clawback_due(row.id), due),
                (accounts.disbursed(row.id), -due),
                (accounts.campaign_match(allocation.campaign_id), due),
                (accounts.owed_to_foundation(row.id), -due),
            ],
            f"Cofinanziamento già erogato da restituire: impegno {row.id}, campagna "
            f"{allocation.campaign_id}",
            clock=clock,
            actor=actor,
            metadata={"campaign_id": allocation.campaign_id},
        )
        allocation.disbursed_minor -= due
        allocation.clawback_due_minor += due
        left -= due
        log_event(
            session,
            row,
            "clawback_due",
            due,
            now=now,
            campaign_id=allocation.campaign_id,
            donation_id=donation_id,
            entry_sequence=sequence,
            note=cause,
            actor=actor,
        )
    if row.kind == "ratio" and from_released + due > 0:
        _reduce_matches(session, row, allocation.campaign_id, from_released + due, donation_id)
    allocation.matched_minor = max(0, allocation.matched_minor - (amount - left))
    _return_if_cancelled(
        session, row, from_reserved + from_released, f"{base}:returned", clock=clock, actor=actor
    )


def _reduce_matches(
    session: Session, row: Commitment, campaign_id: int, amount: int, donation_id: int | None
) -> None:
    """Lower released match rows by `amount` (the refunded gift's first, then the newest),
    so per-donor caps and the rows agree with the money taken back."""
    query = (
        select(Match)
        .where(
            Match.commitment_id == row.id,
            Match.campaign_id == campaign_id,
            Match.state == "released",
            Match.match_minor > 0,
        )
        .order_by((Match.donation_id == (donation_id or 0)).desc(), Match.id.desc())
    )
    for match in session.scalars(query).all():
        if amount <= 0:
            break
        taken = min(amount, match.match_minor)
        match.match_minor -= taken
        amount -= taken


def _return_if_cancelled(
    session: Session, row: Commitment, amount: int, key: str, *, clock: Clock, actor: str | None
) -> None:
    """Money that comes back to a cancelled commitment's pool goes back to the foundation:
    nobody can use it any more, so it must not linger as "pledged"."""
    if row.status != "cancelled" or amount <= 0:
        return
    sequence = _entry(
        session,
        row,
        key,
        "grant_cancel",
        [(accounts.commitment(row.id), amount), (accounts.pool(row.id), -amount)],
        f"Impegno n. {row.id} annullato: quanto torna al fondo torna alla fondazione",
        clock=clock,
        actor=actor,
        metadata={},
    )
    log_event(
        session, row, "cancelled", amount, now=clock.now(), entry_sequence=sequence, actor=actor
    )


def on_gift_reduced(
    session: Session,
    donation_id: int,
    campaign_id: int,
    amount_minor: int,
    cause: str,
    *,
    clock: Clock,
    actor: str | None,
) -> None:
    """Apply each commitment's clawback policy after money of a gift went back."""
    campaign = get_campaign(session, campaign_id)
    donation = session.get(Donation, donation_id)
    assert donation is not None
    rows = session.scalars(
        select(Commitment)
        .join(Allocation, Allocation.commitment_id == Commitment.id)
        .where(Allocation.campaign_id == campaign_id)
        .order_by(Commitment.id)
    ).all()
    key = cause.replace(":", "-")
    for candidate in rows:
        row = _lock(session, candidate)
        allocation = _allocation(session, row.id, campaign_id)
        assert allocation is not None
        if allocation.status == "forfeited":
            continue  # nothing of it is left to take back
        if row.kind == "ratio":
            _ratio_refund(
                session,
                row,
                allocation,
                campaign,
                donation,
                amount_minor,
                key,
                clock=clock,
                actor=actor,
            )
        else:
            _threshold_refund(
                session, row, allocation, campaign, donation, key, clock=clock, actor=actor
            )


def _kept_so_far(session: Session, commitment_id: int, campaign_id: int) -> int:
    """What policy "keep" has already left with the campaign (logged once, not again)."""
    total = session.scalar(
        select(func.coalesce(func.sum(GrantEvent.amount_minor), 0)).where(
            GrantEvent.commitment_id == commitment_id,
            GrantEvent.campaign_id == campaign_id,
            GrantEvent.kind == "clawback_kept",
        )
    )
    return int(total or 0)


def _apply_policy(
    session: Session,
    row: Commitment,
    allocation: Allocation,
    donation_id: int,
    excess: int,
    cause: str,
    kept_note: str,
    *,
    clock: Clock,
    actor: str | None,
) -> bool:
    """After a refund, `excess` of the match is no longer justified: "claw_back" takes
    it back (True); "keep" leaves it and logs what this refund adds to the money kept."""
    if excess <= 0:
        return False
    if row.clawback_policy == "keep":
        increase = excess - _kept_so_far(session, row.id, allocation.campaign_id)
        if increase > 0:
            log_event(
                session,
                row,
                "clawback_kept",
                increase,
                now=clock.now(),
                campaign_id=allocation.campaign_id,
                donation_id=donation_id,
                note=f"{cause}: {kept_note} (politica 'keep')",
                actor=actor,
            )
        return False
    _take_back(
        session,
        row,
        allocation,
        excess,
        clock=clock,
        actor=actor,
        kind="clawback",
        cause=cause,
        donation_id=donation_id,
    )
    return True


def _ratio_refund(
    session: Session,
    row: Commitment,
    allocation: Allocation,
    campaign: Campaign,
    donation: Donation,
    amount_minor: int,
    key: str,
    *,
    clock: Clock,
    actor: str | None,
) -> None:
    matches = session.scalars(
        select(Match)
        .where(Match.commitment_id == row.id, Match.campaign_id == campaign.id)
        .order_by(Match.id)
    ).all()
    index = next((i for i, m in enumerate(matches) if m.donation_id == donation.id), None)
    if index is None:
        return  # settled before the commitment covered it: never matched
    gifts_by_id = {
        d.id: d
        for d in session.scalars(
            select(Donation).where(Donation.id.in_([m.donation_id for m in matches]))
        )
    }
    gifts = [
        gift_of(gifts_by_id[m.donation_id], plus_minor=amount_minor if i == index else 0)
        for i, m in enumerate(matches)
    ]
    state = MatchState(
        pool_remaining=max(0, pool_available(session, row.id)),
        campaign_eligible=allocation.eligible_minor,
        campaign_matched=allocation.matched_minor,
    )
    outcome = match_after_refund(
        ratio_rule(row),
        state,
        gifts,
        index,
        amount_minor,
        row.clawback_policy,  # type: ignore[arg-type]
        _matched_elsewhere(session, row.id, campaign.id),
    )
    allocation.eligible_minor = outcome.state.campaign_eligible
    _apply_policy(
        session,
        row,
        allocation,
        donation.id,
        outcome.excess_minor,
        key,
        "cofinanziamento mantenuto",
        clock=clock,
        actor=actor,
    )


def _threshold_refund(
    session: Session,
    row: Commitment,
    allocation: Allocation,
    campaign: Campaign,
    donation: Donation,
    key: str,
    *,
    clock: Clock,
    actor: str | None,
) -> None:
    if allocation.status != "released":
        return
    given = allocation.released_minor + allocation.disbursed_minor
    raised, donors = crowd(session, campaign.id, count_net=row.count_net)
    outcome = threshold_after_refund(
        threshold_rule(row, campaign.goal_minor),
        given,
        raised,
        donors,
        row.clawback_policy,  # type: ignore[arg-type]
    )
    if outcome.still_met or given == 0:
        return
    clawed = _apply_policy(
        session,
        row,
        allocation,
        donation.id,
        given,
        key,
        "soglia non più raggiunta, integrazione mantenuta",
        clock=clock,
        actor=actor,
    )
    if not clawed:
        return
    # Reopened: a later crossing releases again (a new reservation, a new release number).
    allocation.status = "open"
    if campaign.outcome is None and row.status == "active":
        _reserve_topup(session, row, allocation, campaign, clock=clock, actor=actor)


def on_gift_reinstated(
    session: Session, donation_id: int, campaign_id: int, *, clock: Clock, actor: str | None
) -> None:
    """A won dispute adds money back: a threshold may be reached again."""
    campaign = get_campaign(session, campaign_id)
    for candidate in covering(session, campaign):
        row = _lock(session, candidate)
        if row.kind != "threshold":
            continue
        allocation = ensure_allocation(session, row, campaign, clock=clock, actor=actor)
        check_threshold(
            session, row, allocation, campaign, clock=clock, actor=actor, donation_id=donation_id
        )


# --------------------------------------------------------------------- real money


def _replay_check(session: Session, sequence: int, amount_minor: int) -> None:
    """A retried payment must be the same payment: same amount under the same reference."""
    booked = max(p.amount.minor for p in get_entry(session, sequence=sequence).postings)
    if booked != amount_minor:
        raise IdempotencyConflictError(
            "questo riferimento è già stato usato per un altro importo", sequence=sequence
        )


def _payment(
    session: Session,
    commitment_id: int,
    campaign_id: int,
    amount_minor: int,
    what: str,
    key: str,
) -> tuple[Commitment, Allocation, str, int | None]:
    """Lock the commitment and find a payment's allocation and entry key. A payment
    already booked under `key` (a retry) is returned as the last item, and must be the
    same amount; nothing is checked against today's figures for it."""
    row = get_commitment(session, commitment_id, lock=True)
    entry_key = f"grant:{row.id}:campaign:{campaign_id}:{what}:{key}"
    allocation = _allocation(session, commitment_id, campaign_id)
    if allocation is None:
        raise DisbursementError("Questo impegno non ha cofinanziato la campagna.")
    earlier = _existing(session, entry_key)
    if earlier is not None:
        _replay_check(session, earlier, amount_minor)
        return row, allocation, entry_key, earlier
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise DisbursementError("L'importo deve essere positivo.", field="amount")
    return row, allocation, entry_key, None


def record_disbursement(
    session: Session,
    commitment_id: int,
    campaign_id: int,
    amount_minor: int,
    *,
    key: str,
    clock: Clock,
    actor: str | None,
) -> int:
    """The foundation's payment of released money reached the bank: book it (once per key)."""
    row, allocation, entry_key, earlier = _payment(
        session, commitment_id, campaign_id, amount_minor, "disbursement", key
    )
    if earlier is not None:
        return earlier
    if amount_minor > allocation.released_minor:
        raise DisbursementError(
            "L'importo supera il cofinanziamento svincolato e non ancora erogato.",
            released_minor=allocation.released_minor,
        )
    accounts.ensure_campaign_match(session, campaign_id, clock)
    sequence = _entry(
        session,
        row,
        entry_key,
        "match_disbursement",
        [
            (accounts.disbursed(row.id), amount_minor),
            (accounts.released(row.id), -amount_minor),
            (accounts.BANK, amount_minor),
            (accounts.campaign_match(campaign_id), -amount_minor),
        ],
        f"Cofinanziamento erogato dalla fondazione: impegno {row.id}, campagna {campaign_id}",
        clock=clock,
        actor=actor,
        metadata={"campaign_id": campaign_id},
    )
    allocation.released_minor -= amount_minor
    allocation.disbursed_minor += amount_minor
    log_event(
        session,
        row,
        "disbursed",
        amount_minor,
        now=clock.now(),
        campaign_id=campaign_id,
        entry_sequence=sequence,
        actor=actor,
    )
    return sequence


def repay_clawback(
    session: Session,
    commitment_id: int,
    campaign_id: int,
    amount_minor: int,
    *,
    key: str,
    clock: Clock,
    actor: str | None,
) -> int:
    """Money due back to the foundation left the bank: book it, the pool regains it."""
    row, allocation, entry_key, earlier = _payment(
        session, commitment_id, campaign_id, amount_minor, "clawback-repaid", key
    )
    if earlier is not None:
        return earlier
    if amount_minor > allocation.clawback_due_minor:
        raise DisbursementError(
            "Nessuna restituzione dovuta per questo importo.",
            clawback_due_minor=allocation.clawback_due_minor,
        )
    sequence = _entry(
        session,
        row,
        entry_key,
        "match_clawback_repaid",
        [
            (accounts.pool(row.id), amount_minor),
            (accounts.clawback_due(row.id), -amount_minor),
            (accounts.owed_to_foundation(row.id), amount_minor),
            (accounts.BANK, -amount_minor),
        ],
        f"Restituzione alla fondazione: impegno {row.id}, campagna {campaign_id}",
        clock=clock,
        actor=actor,
        metadata={"campaign_id": campaign_id},
    )
    allocation.clawback_due_minor -= amount_minor
    _return_if_cancelled(
        session, row, amount_minor, f"{entry_key}:returned", clock=clock, actor=actor
    )
    log_event(
        session,
        row,
        "clawback_repaid",
        amount_minor,
        now=clock.now(),
        campaign_id=campaign_id,
        entry_sequence=sequence,
        actor=actor,
    )
    return sequence
