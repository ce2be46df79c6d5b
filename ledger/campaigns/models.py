"""Tables of campaigns, donations, refunds, disputes and receipts (migration 0003).

Amounts are integer minor units with their currency. A donation refers to
the donor's person (or nothing); the donor of an offline gift as the treasurer
typed them, and the donor printed on a receipt, are kept with the gift and the
receipt (migration 0011), so a receipt never changes with a person's record.
Names never enter the journal.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ledger.core.models import Base, UtcDateTime

FUNDING_MODELS = ("keep_what_you_raise", "all_or_nothing")
CAMPAIGN_STATES = ("draft", "live", "succeeded", "failed", "closed")
METHODS = ("card", "bank_transfer", "cash")
DONATION_STATES = ("pending", "settled", "failed", "expired")
REFUND_STATES = ("pending", "succeeded", "failed")
REFUND_REASONS = ("requested", "campaign_failed", "provider")
QUALIFICATIONS = ("ODV", "APS", "ETS", "impresa_sociale", "ente_filantropico")


class Organisation(Base):
    """A recipient of gifts: a Third Sector entity (ETS) registered in the RUNTS."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    tax_code: Mapped[str] = mapped_column(String(16))
    qualification: Mapped[str] = mapped_column(String(32))
    runts_number: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    title: Mapped[str] = mapped_column(String(200))
    description_md: Mapped[str] = mapped_column(Text)
    goal_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    deadline_at: Mapped[datetime] = mapped_column(UtcDateTime())
    funding_model: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # succeeded or failed, kept after the campaign is closed.
    outcome: Mapped[str | None] = mapped_column(String(12))
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The call for ideas the campaign was born from, if any (migration 0006); a
    # matching commitment toward a call covers all of its campaigns.
    call_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # The crowd's settled money and donors, kept by `ledger.campaigns.crowd` under the
    # campaign's row lock (migration 0020): what the threshold check counts.
    crowd_gross_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    crowd_net_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    crowd_donors: Mapped[int] = mapped_column(Integer, default=0)


class Donation(Base):
    __tablename__ = "donations"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(
            "refunded_minor >= 0 AND withdrawn_minor >= 0 "
            "AND refunded_minor + withdrawn_minor <= amount_minor",
            name="returned_within_amount",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), index=True)
    # Hidden from the public (pages, exports); the treasurer still sees who gave.
    anonymous: Mapped[bool] = mapped_column(Boolean)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(12), index=True)
    fee_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # Taken back by a dispute and not (yet) reinstated.
    withdrawn_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    stripe_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_charge_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    checkout_url: Mapped[str | None] = mapped_column(Text)
    # Offline gifts: the transfer reference the donor was given, and the key of
    # the treasurer's request (a retried request records the gift once).
    reference: Mapped[str | None] = mapped_column(String(140))
    # A gift by bank transfer the donor started: its ISO 11649 creditor reference
    # (`ledger.payments.references`, `RF..D<id>`), which settles it when a bank
    # line carries it (migration 0013).
    transfer_reference: Mapped[str | None] = mapped_column(String(35), unique=True)
    request_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    # The donor of an offline gift as the treasurer typed them (migration 0011):
    # what its receipt prints, whoever registered the address.
    donor_name: Mapped[str | None] = mapped_column(String(200))
    donor_codice_fiscale: Mapped[str | None] = mapped_column(String(16))
    flagged_reason: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    donated_on: Mapped[date | None] = mapped_column(Date)

    @property
    def counted_minor(self) -> int:
        """What the gift adds to the campaign now: settled, less refunds and disputes."""
        if self.status != "settled":
            return 0
        return self.amount_minor - self.refunded_minor - self.withdrawn_minor


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    donation_id: Mapped[int] = mapped_column(ForeignKey("donations.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12))
    stripe_refund_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    requested_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    entry_sequence: Mapped[int | None] = mapped_column(BigInteger)


class Dispute(Base):
    __tablename__ = "disputes"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # Stripe's dp_...
    donation_id: Mapped[int] = mapped_column(ForeignKey("donations.id"), index=True)
    # What Stripe's balance transactions of the dispute took, net, as booked so far:
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    fee_minor: Mapped[int] = mapped_column(BigInteger)
    # and how much of that amount came out of the campaign (the rest is a loss).
    escrow_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(12))  # open, won, lost
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Receipt(Base):
    """A numbered receipt for a settled gift; voided (never deleted) by a refund."""

    __tablename__ = "receipts"
    __table_args__ = (UniqueConstraint("organisation_id", "year", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # A partial refund voids the receipt and a new one states what remains.
    donation_id: Mapped[int] = mapped_column(ForeignKey("donations.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    year: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    issued_on: Mapped[date] = mapped_column(Date)
    voided_on: Mapped[date | None] = mapped_column(Date)
    void_reason: Mapped[str | None] = mapped_column(String(200))
    # The donor as printed, fixed at issue (migration 0011); None: not identified.
    donor_name: Mapped[str | None] = mapped_column(String(200))
    donor_codice_fiscale: Mapped[str | None] = mapped_column(String(16))


class ReceiptCounter(Base):
    """The last receipt number of an organisation in a year (gapless, locked per use)."""

    __tablename__ = "receipt_counters"

    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer)


class StripeEvent(Base):
    """Every Stripe event applied (or refused), recorded in the transaction of its effect,
    so a redelivery finds its id here and changes nothing."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    outcome: Mapped[str] = mapped_column(String(16))  # applied, ignored, flagged
    donation_id: Mapped[int | None] = mapped_column(ForeignKey("donations.id"))
    detail: Mapped[str | None] = mapped_column(String(255))
