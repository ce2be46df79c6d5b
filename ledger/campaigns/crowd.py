"""The running crowd total of a campaign: settled money and donors, kept on its row.

A matching grant's threshold counts the campaign's settled money (gross, or net
of fees) and its distinct donors. Summing every gift of the campaign on every
gift grows with the campaign; instead the campaign row carries the totals
(`crowd_gross_minor`, `crowd_net_minor`, `crowd_donors`, migration 0020) and
every use case that changes what a gift counts (a settlement, a refund, a
dispute's withdrawal or reinstatement) calls `changed` here, under the
campaign's row lock, with what the gift counted before.

A gift counts its amount less refunds and disputes when that is positive and it
is settled; net, also less its fee, never below zero. Donors are distinct
people among counting gifts, each gift without a person one donor.

The update is relative and returns the new totals (one statement), which are
remembered for the rest of the unit of work (`totals`), so the threshold check
that follows reads nothing. A rollback (a savepoint's too) forgets them.
"""

from __future__ import annotations

from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, event, exists, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from ledger.campaigns.models import Campaign, Donation
from ledger.core.errors import BalanceOutOfRangeError
from ledger.core.money import MAX_MINOR
from ledger.core.uow import set_as_written

_KEY = "ledger.campaigns.crowd"


class Counted(NamedTuple):
    """What one gift adds to its campaign's crowd."""

    gross_minor: int
    net_minor: int
    live: bool  # counts toward the donors

    @classmethod
    def of(cls, donation: Donation) -> Counted:
        counted = donation.counted_minor
        if counted <= 0:
            return NOTHING
        return cls(counted, max(0, counted - (donation.fee_minor or 0)), True)


NOTHING = Counted(0, 0, False)


class Totals(NamedTuple):
    gross_minor: int
    net_minor: int
    donors: int

    def raised(self, *, count_net: bool) -> int:
        return self.net_minor if count_net else self.gross_minor


def _other_live_gift(session: Session, donation: Donation) -> bool:
    """Whether the gift's person has another counting gift on the campaign."""
    session.flush()
    return bool(
        session.scalar(
            select(
                exists().where(
                    Donation.campaign_id == donation.campaign_id,
                    Donation.person_id == donation.person_id,
                    Donation.id != donation.id,
                    Donation.status == "settled",
                    Donation.amount_minor - Donation.refunded_minor - Donation.withdrawn_minor > 0,
                )
            )
        )
    )


_CAMPAIGNS = cast(Table, Campaign.__table__)


def _add(gross_grows: bool, net_grows: bool) -> Any:
    """The totals' UPDATE, refused (no row) when a growing total would pass MAX_MINOR."""
    c = _CAMPAIGNS.c
    room = []
    if gross_grows:
        room.append(c.crowd_gross_minor <= bindparam("gross_room"))
    if net_grows:
        room.append(c.crowd_net_minor <= bindparam("net_room"))
    return (
        update(_CAMPAIGNS)
        .where(c.id == bindparam("campaign_id"), *room)
        .values(
            crowd_gross_minor=c.crowd_gross_minor + bindparam("gross"),
            crowd_net_minor=c.crowd_net_minor + bindparam("net"),
            crowd_donors=c.crowd_donors + bindparam("donors"),
        )
        .returning(c.crowd_gross_minor, c.crowd_net_minor, c.crowd_donors)
    )


# Built once per kind (plain Core on the session's connection): building and routing
# the statement through the ORM on every gift cost more than the server took.
_ADD = {(g, n): _add(g, n) for g in (False, True) for n in (False, True)}


def changed(session: Session, donation: Donation, before: Counted) -> Totals | None:
    """Bring the campaign's totals in line with what `donation` counts now, given what it
    counted `before`; the new totals (None when nothing changed). The caller holds the
    campaign's row lock."""
    after = Counted.of(donation)
    gross = after.gross_minor - before.gross_minor
    net = after.net_minor - before.net_minor
    donors = 0
    if after.live != before.live:
        if donation.person_id is None or not _other_live_gift(session, donation):
            donors = 1 if after.live else -1
    if not (gross or net or donors):
        return None
    # A total past what a BIGINT holds is refused here, before the database raises
    # (PostgreSQL) or turns it into a float (SQLite): the gift's own entry, written
    # only at COMMIT (`core.intents`), has not refused it yet.
    row = (
        session.connection()
        .execute(
            _ADD[gross > 0, net > 0],
            {
                "campaign_id": donation.campaign_id,
                "gross": gross,
                "net": net,
                "donors": donors,
                "gross_room": MAX_MINOR - gross,
                "net_room": MAX_MINOR - net,
            },
        )
        .one_or_none()
    )
    if row is None:
        raise BalanceOutOfRangeError(
            f"campaign {donation.campaign_id}: its raised total would exceed {MAX_MINOR} "
            "minor units, more than the ledger can store; nothing was written",
            campaign_id=donation.campaign_id,
            maximum=MAX_MINOR,
        )
    totals = Totals(int(row[0]), int(row[1]), int(row[2]))
    session.info.setdefault(_KEY, {})[donation.campaign_id] = totals
    campaign = session.identity_map.get(identity_key(Campaign, donation.campaign_id))
    if isinstance(campaign, Campaign):  # the loaded row says the same, without being dirty
        set_as_written(
            session,
            campaign,
            {
                "crowd_gross_minor": totals.gross_minor,
                "crowd_net_minor": totals.net_minor,
                "crowd_donors": totals.donors,
            },
        )
    return totals


def totals(session: Session, campaign_id: int) -> Totals:
    """The campaign's crowd totals: as written in this unit of work, else read."""
    known: dict[int, Totals] | None = session.info.get(_KEY)
    if known is not None and campaign_id in known:
        return known[campaign_id]
    row = session.execute(
        select(Campaign.crowd_gross_minor, Campaign.crowd_net_minor, Campaign.crowd_donors).where(
            Campaign.id == campaign_id
        )
    ).one()
    return Totals(int(row[0]), int(row[1]), int(row[2]))


def recount(session: Session, campaign_id: int) -> Totals:
    """The totals summed from the campaign's gifts (what the running totals must equal)."""
    total = Totals(0, 0, 0)
    people: set[int] = set()
    strangers = 0
    for donation in session.scalars(
        select(Donation).where(Donation.campaign_id == campaign_id, Donation.status == "settled")
    ):
        counted = Counted.of(donation)
        if not counted.live:
            continue
        total = Totals(
            total.gross_minor + counted.gross_minor, total.net_minor + counted.net_minor, 0
        )
        if donation.person_id is None:
            strangers += 1
        else:
            people.add(donation.person_id)
    return total._replace(donors=len(people) + strangers)


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, _previous: Any) -> None:
    session.info.pop(_KEY, None)


@event.listens_for(Session, "after_commit")
def _forget_after_commit(session: Session) -> None:
    session.info.pop(_KEY, None)
