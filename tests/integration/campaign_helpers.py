"""A live campaign made and published by the use cases, and an anonymous cash gift to it,
as a treasurer would record them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from ledger.campaigns import commands as campaign_commands
from ledger.campaigns.commands import Donor, Recipient
from ledger.campaigns.models import Donation
from ledger.commands import Origin
from ledger.core.money import Money
from ledger.core.service import Ledger

TREASURER = Origin(channel="api", user_id=None, source="127.0.0.1")


def live_campaign(
    ledger: Ledger,
    organisation: Recipient,
    *,
    goal: str = "1000.00",
    model: str = "keep_what_you_raise",
    origin: Origin = TREASURER,
) -> int:
    """A campaign of `organisation` (registered on first use), created and published."""

    def work(s: Session) -> int:
        campaign = campaign_commands.create_campaign(
            s,
            title="Un orto in cortile",
            description_md="Semi e attrezzi.",
            goal=Money.parse(goal, "EUR"),
            deadline_at=ledger.clock.now() + timedelta(days=30),
            funding_model=model,
            organisation=organisation,
            origin=origin,
            clock=ledger.clock,
        ).value
        campaign_commands.publish_campaign(s, campaign.id, origin=origin, clock=ledger.clock)
        return int(campaign.id)

    return ledger.run(work)


def cash_gift_in(
    s: Session,
    ledger: Ledger,
    campaign_id: int,
    amount: Money,
    key: str,
    *,
    origin: Origin = TREASURER,
    **kw: Any,
) -> Donation:
    """An anonymous cash gift recorded by the use case in the caller's unit (`kw`: the
    use case's other arguments, `donated_on` None unless given)."""
    kw.setdefault("donated_on", None)
    return campaign_commands.record_offline_gift(
        s,
        campaign_id,
        amount,
        method="cash",
        reference=None,
        anonymous=True,
        donor=Donor(),
        origin=origin,
        clock=ledger.clock,
        key=key,
        **kw,
    ).value
