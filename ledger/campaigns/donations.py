"""Donations: online through Stripe Checkout, offline in cash or by bank transfer.

An online gift is written `pending` before any call to Stripe; the Checkout
Session is then created with a key derived from the donation id, so a retry
asks Stripe for the same session. Only a settlement books money: the entry
(gross to the campaign's escrow, the fee to expenses, the net to Stripe's
clearing account) and the receipt are written in the settlement's transaction.
A settlement whose amount or currency differs from the donation is not booked:
the donation is flagged for a treasurer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ledger.campaigns import accounts, crowd, receipts
from ledger.campaigns.errors import (
    CampaignNotFoundError,
    CampaignStateError,
    InvalidDonationError,
)
from ledger.campaigns.getters import get_campaign, get_donation
from ledger.campaigns.models import METHODS, Campaign, Donation
from ledger.campaigns.refunds import refund_if_campaign_failed
from ledger.core.clock import Clock, rome_today
from ledger.core.errors import IdempotencyConflictError
from ledger.core.intents import defer_entry
from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.money import Money, format_it
from ledger.events import GiftSettled, publish
from ledger.payments.references import GIFT, creditor_reference


@dataclass(frozen=True, slots=True)
class Limits:
    """The smallest and largest online gift accepted, in minor units."""

    minimum_minor: int = 100
    maximum_minor: int = 1_000_000


# The largest gift received offline (cash or bank transfer), in minor units, unless
# the caller says otherwise: 1,000,000.00 EUR. A sanity ceiling against a typing
# error or an abuse, far below what a balance can hold (the engine refuses an
# entry that would take a balance past MAX_MINOR anyway).
OFFLINE_MAXIMUM_MINOR = 100_000_000


def _replay(
    session: Session, request_key: str, campaign_id: int, amount: Money, method: str
) -> Donation | None:
    """The donation an earlier request with this key made; a different request under
    the same key is a conflict, with nothing written (I4)."""
    existing = session.scalars(select(Donation).where(Donation.request_key == request_key)).first()
    if existing is None:
        return None
    if (existing.campaign_id, existing.amount_minor, existing.currency, existing.method) != (
        campaign_id,
        amount.minor,
        amount.currency,
        method,
    ):
        raise IdempotencyConflictError(
            "questa chiave è già stata usata per un'altra donazione", key=request_key
        )
    return existing


def _check_amount(amount: Money, currency: str, limits: Limits | None) -> None:
    if amount.currency != currency:
        raise InvalidDonationError(
            f"la campagna raccoglie in {currency}, non in {amount.currency}", field="amount"
        )
    if amount.minor <= 0:
        raise InvalidDonationError("L'importo deve essere maggiore di zero.", field="amount")
    if limits is not None and not limits.minimum_minor <= amount.minor <= limits.maximum_minor:
        low = format_it(limits.minimum_minor, currency)
        high = format_it(limits.maximum_minor, currency)
        raise InvalidDonationError(
            f"L'importo deve essere tra {low} e {high}.",
            field="amount",
            minimum=limits.minimum_minor,
            maximum=limits.maximum_minor,
        )


def start_online_donation(
    session: Session,
    campaign_id: int,
    amount: Money,
    *,
    person_id: int | None,
    anonymous: bool,
    request_key: str,
    limits: Limits,
    clock: Clock,
    method: str = "card",
    donor_name: str | None = None,
    donor_codice_fiscale: str | None = None,
) -> tuple[Donation, bool]:
    """A pending gift the donor starts (or the one this request key already made):
    (donation, created).

    `method` is `card` (paid through Stripe Checkout) or `bank_transfer` (the donor
    pays by transfer with the gift's ISO 11649 reference, `transfer_reference`,
    and the gift is settled when the money is seen on the bank). `donor_name` and
    `donor_codice_fiscale` are the donor as they gave themselves, for the receipt.
    """
    if method not in ("card", "bank_transfer"):
        raise InvalidDonationError("Metodo non valido: carta o bonifico.", field="method")
    existing = _replay(session, request_key, campaign_id, amount, method)
    if existing is not None:
        return existing, False
    campaign = get_campaign(session, campaign_id)
    if campaign.status != "live" or campaign.deadline_at <= clock.now():
        raise CampaignStateError("la campagna non accetta donazioni", status=campaign.status)
    _check_amount(amount, campaign.currency, limits)
    donation = Donation(
        campaign_id=campaign_id,
        person_id=person_id,
        anonymous=anonymous,
        amount_minor=amount.minor,
        currency=amount.currency,
        method=method,
        status="pending",
        fee_minor=0,
        refunded_minor=0,
        withdrawn_minor=0,
        request_key=request_key,
        donor_name=donor_name,
        donor_codice_fiscale=donor_codice_fiscale if donor_name else None,
        created_at=clock.now(),
    )
    session.add(donation)
    session.flush()
    if method == "bank_transfer":
        donation.transfer_reference = creditor_reference(GIFT, donation.id)
        donation.reference = donation.transfer_reference
    return donation, True


def attach_checkout(session: Session, donation_id: int, session_id: str, url: str) -> Donation:
    """Remember the Checkout Session made for a pending donation."""
    donation = get_donation(session, donation_id, lock=True)
    if donation.stripe_session_id not in (None, session_id):
        raise InvalidDonationError("la donazione ha già un'altra sessione di pagamento")
    donation.stripe_session_id = session_id
    donation.checkout_url = url
    return donation


# Built once (every cash gift runs it; issue 14): the campaign locked, and the gift
# made under the request key, if any, in the same statement.
_CAMPAIGN_AND_KEY_LOCKED = (
    select(
        Campaign,
        select(Donation.id)
        .where(Donation.request_key == bindparam("b_request_key"))
        .scalar_subquery(),
    )
    .where(Campaign.id == bindparam("b_campaign_id"))
    .with_for_update(of=Campaign)
)


def record_offline_donation(
    session: Session,
    campaign_id: int,
    amount: Money,
    *,
    method: str,
    person_id: int | None,
    anonymous: bool,
    reference: str | None,
    request_key: str,
    donated_on: date | None,
    actor: str,
    clock: Clock,
    maximum_minor: int = OFFLINE_MAXIMUM_MINOR,
    donor_name: str | None = None,
    donor_codice_fiscale: str | None = None,
) -> tuple[Donation, bool]:
    """Cash received at a community point or a bank transfer: settled at once.

    The amount is at most `maximum_minor` (InvalidDonationError naming the
    minimum and maximum otherwise). `donor_name` and `donor_codice_fiscale` are
    the donor as the treasurer typed them: the receipt prints them, whatever the
    person `person_id` says.
    """
    # One statement locks the campaign and looks for a gift made under this key.
    found = session.execute(
        _CAMPAIGN_AND_KEY_LOCKED, {"b_campaign_id": campaign_id, "b_request_key": request_key}
    ).one_or_none()
    if found is None or found[1] is not None:
        existing = _replay(session, request_key, campaign_id, amount, method)
        if existing is not None:
            return existing, False
    if method not in METHODS or method == "card":
        raise InvalidDonationError(
            "Metodo non valido: contanti (cash) o bonifico (bank_transfer).", field="method"
        )
    if found is None:
        raise CampaignNotFoundError(
            f"nessuna campagna con id {campaign_id}", campaign_id=campaign_id
        )
    campaign: Campaign = found[0]
    if campaign.status != "live":
        raise CampaignStateError("la campagna non accetta donazioni", status=campaign.status)
    _check_amount(amount, campaign.currency, Limits(1, maximum_minor))
    clean_reference = " ".join((reference or "").split()) or None
    if method == "bank_transfer" and not clean_reference:
        raise InvalidDonationError(
            "Per un bonifico indica il riferimento dato al donatore.", field="reference"
        )
    effective_on = donated_on if donated_on is not None else rome_today(clock)
    # Written once, already settled: nothing in the row changes after its entry.
    donation = Donation(
        campaign_id=campaign_id,
        person_id=person_id,
        anonymous=anonymous,
        amount_minor=amount.minor,
        currency=amount.currency,
        method=method,
        status="settled",
        fee_minor=0,
        refunded_minor=0,
        withdrawn_minor=0,
        reference=clean_reference,
        request_key=request_key,
        donor_name=donor_name,
        donor_codice_fiscale=donor_codice_fiscale if donor_name else None,
        created_at=clock.now(),
        settled_at=clock.now(),
        donated_on=effective_on,
    )
    session.add(donation)
    session.flush()
    _book(session, donation, campaign, fee_minor=0, clock=clock, actor=actor)
    return donation, True


def settle(
    session: Session,
    donation: Donation,
    *,
    gross_minor: int,
    fee_minor: int,
    clock: Clock,
    actor: str,
    on: date | None = None,
) -> bool:
    """Book a pending gift as received (once) and issue its receipt; False if it was already."""
    if donation.status == "settled":
        return False
    if donation.status != "pending":
        raise InvalidDonationError(f"la donazione è {donation.status}", status=donation.status)
    if gross_minor != donation.amount_minor:
        raise InvalidDonationError("importo diverso dalla donazione")
    # The campaign's row lock orders this settlement with a concurrent close.
    campaign = get_campaign(session, donation.campaign_id, lock=True)
    donation.status = "settled"
    donation.fee_minor = fee_minor
    donation.settled_at = clock.now()
    donation.donated_on = on if on is not None else rome_today(clock)
    _book(session, donation, campaign, fee_minor=fee_minor, clock=clock, actor=actor)
    return True


def _book(
    session: Session,
    donation: Donation,
    campaign: Campaign,
    *,
    fee_minor: int,
    clock: Clock,
    actor: str,
) -> None:
    """The settled gift's entry, receipt and reactions, under the campaign's row lock
    (`campaign`, locked by the caller); the donation row already says it is settled.

    The entry is deferred (`defer_entry`): a refusal only the write can find (a
    month closed by another unit meanwhile, a total past MAX_MINOR) is raised by
    the COMMIT and rolls the whole gift back, its donation, receipt and audit."""
    assert donation.donated_on is not None
    gross_minor = donation.amount_minor
    currency = donation.currency
    account = accounts.METHOD_ACCOUNT[donation.method]
    net = gross_minor - fee_minor
    postings = [PostingSpec(account, Money(net, currency))]
    if fee_minor:
        postings.append(PostingSpec(accounts.FEES, Money(fee_minor, currency)))
    postings.append(
        PostingSpec(accounts.escrow(donation.campaign_id), Money(-gross_minor, currency))
    )
    method_it = {"card": "carta", "bank_transfer": "bonifico", "cash": "contanti"}[donation.method]
    # Decided now (key, period), written with the journal head just before COMMIT
    # (`core.intents`): the head and the shared cash/bank/Stripe rows are not held
    # while the reactions and the caller's audit run; the receipt is numbered just
    # before them (`receipts.issue_last`), so the organisation's counter is not held
    # either. Nothing below reads the journal or these balance rows; an engine lock
    # taken below (a matching grant's hold, a refund's entry) writes the entry (and
    # the receipt) first.
    defer_entry(
        session,
        EntrySpec(
            idempotency_key=f"donation:{donation.id}:settle",
            kind="donation",
            postings=postings,
            effective_on=donation.donated_on,
            narration=(
                f"Donazione n. {donation.id} alla campagna {donation.campaign_id} ({method_it})"
            ),
            metadata={
                "campaign_id": donation.campaign_id,
                "donation_id": donation.id,
                "method": donation.method,
                "gross_minor": gross_minor,
                "fee_minor": fee_minor,
            },
            actor=actor,
        ),
        clock=clock,
    )
    crowd.changed(session, donation, crowd.NOTHING)
    receipts.issue_last(session, donation, clock=clock, campaign=campaign)
    refund_if_campaign_failed(session, donation, clock=clock, campaign=campaign)
    # Matching grants react in this transaction: the gift and its match commit together.
    publish(session, GiftSettled(donation.id, donation.campaign_id, actor), clock=clock)


def fail_donation(session: Session, donation: Donation, *, status: str = "failed") -> bool:
    """A pending gift that will not be paid (failed or expired); settled ones stay."""
    if donation.status != "pending":
        return False
    donation.status = status
    return True


def donations_of_person(session: Session, person_id: int) -> list[Donation]:
    """A donor's own gifts, newest first."""
    return list(
        session.scalars(
            select(Donation).where(Donation.person_id == person_id).order_by(Donation.id.desc())
        )
    )
