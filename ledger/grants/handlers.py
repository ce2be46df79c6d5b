"""The grants' subscriptions to campaign events (wired by `ledger.wiring.wire`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ledger import events
from ledger.core.clock import Clock
from ledger.grants import matching


def _settled(session: Session, event: events.GiftSettled, clock: Clock) -> None:
    matching.on_gift_settled(
        session, event.donation_id, event.campaign_id, clock=clock, actor=event.actor
    )


def _reduced(session: Session, event: events.GiftReduced, clock: Clock) -> None:
    matching.on_gift_reduced(
        session,
        event.donation_id,
        event.campaign_id,
        event.amount_minor,
        event.cause,
        clock=clock,
        actor=event.actor,
    )


def _reinstated(session: Session, event: events.GiftReinstated, clock: Clock) -> None:
    matching.on_gift_reinstated(
        session, event.donation_id, event.campaign_id, clock=clock, actor=event.actor
    )


def _decided(session: Session, event: events.CampaignDecided, clock: Clock) -> None:
    matching.on_campaign_decided(
        session, event.campaign_id, event.outcome, clock=clock, actor=event.actor
    )


def subscribe_all() -> None:
    events.subscribe(events.GiftSettled, _settled)
    events.subscribe(events.GiftReduced, _reduced)
    events.subscribe(events.GiftReinstated, _reinstated)
    events.subscribe(events.CampaignDecided, _decided)
