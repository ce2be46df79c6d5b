"""Tables of foundations, their officers, matching-grant commitments (migration 0006).

A commitment's money lives in the engine (see `accounts.py`); these tables hold
its rule settings, the running totals its rules read under the commitment's row
lock, one row per matched donation, and an append-only log of every money-state
transition (`grant_events`), including the ones no money moves for (a clawback
kept under policy "keep"), so nothing happens silently.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ledger.core.models import Base, UtcDateTime

KINDS = ("ratio", "threshold")
COMMITMENT_STATES = ("active", "cancelled")
ALLOCATION_STATES = ("open", "released", "forfeited", "settled")
MATCH_STATES = ("unmatched", "reserved", "earned", "released", "forfeited")
EVENT_KINDS = (
    "pledged",
    "reserved",
    "earned",
    "released",
    "disbursed",
    "forfeited",
    "clawback",
    "clawback_due",
    "clawback_kept",
    "clawback_repaid",
    "cancelled",
)


class Foundation(Base):
    """A foundation (or a public body) that co-finances campaigns."""

    __tablename__ = "foundations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    tax_code: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class FoundationOfficer(Base):
    """A user who acts for a foundation: they see that foundation only."""

    __tablename__ = "foundation_officers"

    foundation_id: Mapped[int] = mapped_column(ForeignKey("foundations.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Commitment(Base):
    """A matching-grant commitment toward one campaign or every campaign of a call.

    Rates and shares are stored as decimal strings ("2", "0.30", "0.4"), money in
    minor units; None means "no limit" for caps and "not used" for options.
    """

    __tablename__ = "commitments"
    __table_args__ = (
        CheckConstraint("pool_minor > 0", name="pool_positive"),
        CheckConstraint("(campaign_id IS NULL) <> (call_id IS NULL)", name="one_scope"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    foundation_id: Mapped[int] = mapped_column(ForeignKey("foundations.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(12))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    # References calls.id in the database (migration 0006); the calls model belongs
    # to the funds room, so the ORM keeps no link to it.
    call_id: Mapped[int | None] = mapped_column(Integer, index=True)
    currency: Mapped[str] = mapped_column(String(3))
    pool_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12))
    count_net: Mapped[bool] = mapped_column(Boolean)
    clawback_policy: Mapped[str] = mapped_column(String(12))
    window_start: Mapped[datetime] = mapped_column(UtcDateTime())
    window_end: Mapped[datetime] = mapped_column(UtcDateTime())
    # Ratio match.
    ratio: Mapped[str | None] = mapped_column(String(20))
    methods: Mapped[str | None] = mapped_column(String(64))
    min_gift_minor: Mapped[int | None] = mapped_column(BigInteger)
    max_gift_minor: Mapped[int | None] = mapped_column(BigInteger)
    donor_cap_minor: Mapped[int | None] = mapped_column(BigInteger)
    campaign_cap_minor: Mapped[int | None] = mapped_column(BigInteger)
    # Threshold top-up (and its completion bonus).
    threshold_minor: Mapped[int | None] = mapped_column(BigInteger)
    threshold_share: Mapped[str | None] = mapped_column(String(20))
    topup_minor: Mapped[int | None] = mapped_column(BigInteger)
    topup_share: Mapped[str | None] = mapped_column(String(20))
    topup_policy: Mapped[str | None] = mapped_column(String(20))
    topup_cap_minor: Mapped[int | None] = mapped_column(BigInteger)
    min_donors: Mapped[int | None] = mapped_column(Integer)
    bonus_share: Mapped[str | None] = mapped_column(String(20))
    bonus_cap_minor: Mapped[int | None] = mapped_column(BigInteger)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The API's Idempotency-Key (namespaced per user) and a hash of its request.
    request_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    cancelled_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The API's key of the cancelling request: the same key again is a replay.
    cancel_request_key: Mapped[str | None] = mapped_column(String(255))


class Allocation(Base):
    """One commitment on one campaign: the running totals its rule reads under lock.

    For a threshold commitment `hold_id` is the reservation of the top-up on
    the pool and `releases` counts releases (one, unless a clawback reopened it).
    """

    __tablename__ = "grant_allocations"
    __table_args__ = (UniqueConstraint("commitment_id", "campaign_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    commitment_id: Mapped[int] = mapped_column(ForeignKey("commitments.id"), index=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    status: Mapped[str] = mapped_column(String(12))
    eligible_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    matched_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    hold_id: Mapped[str | None] = mapped_column(String(36))
    reserved_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    released_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    disbursed_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    clawback_due_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    releases: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Match(Base):
    """A ratio commitment's match of one donation (at most one row per pair)."""

    __tablename__ = "grant_matches"
    __table_args__ = (UniqueConstraint("commitment_id", "donation_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    commitment_id: Mapped[int] = mapped_column(ForeignKey("commitments.id"), index=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    donation_id: Mapped[int] = mapped_column(ForeignKey("donations.id"), index=True)
    donor_key: Mapped[str] = mapped_column(String(40))
    eligible_minor: Mapped[int] = mapped_column(BigInteger)
    match_minor: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(24))
    state: Mapped[str] = mapped_column(String(12))
    hold_id: Mapped[str | None] = mapped_column(String(36))
    holds: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class GrantEvent(Base):
    """One money-state transition of a commitment (append-only, trigger-guarded)."""

    __tablename__ = "grant_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    commitment_id: Mapped[int] = mapped_column(ForeignKey("commitments.id"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    donation_id: Mapped[int | None] = mapped_column(ForeignKey("donations.id"))
    kind: Mapped[str] = mapped_column(String(16))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    entry_sequence: Mapped[int | None] = mapped_column(BigInteger)
    hold_id: Mapped[str | None] = mapped_column(String(36))
    note: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
