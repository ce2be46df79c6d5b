"""Read-only views of campaigns and donations for pages, exports and the API.

Nothing here writes. The public views never carry the name of a donor who
asked to stay anonymous: `public_gifts` returns no name for such a gift, so a
page cannot show one by mistake. The donor's own views and the treasurer's do
carry names: the donor as given for the gift, else its person's. A receipt
prints the donor fixed when it was issued.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import cast

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ledger.campaigns.models import Campaign, Donation, Organisation, Receipt, Refund
from ledger.campaigns.receipt_data import PaymentMethod, ReceiptData, format_receipt_number
from ledger.campaigns.receipts import write_pending
from ledger.people.models import Person


@dataclass(frozen=True, slots=True)
class PublicGift:
    """A settled gift as the public sees it: `donor_name` is None when anonymous."""

    donor_name: str | None
    amount_minor: int
    currency: str
    donated_on: date | None


@dataclass(frozen=True, slots=True)
class DonationRow:
    """A donation with what its reader may know: the campaign, the donor and the receipt."""

    donation: Donation
    campaign_title: str
    donor_name: str | None
    donor_email: str | None
    receipt_id: int | None
    receipt_number: str | None
    receipt_void: bool


def live_campaigns(session: Session, *, now: datetime) -> list[Campaign]:
    """Published campaigns still open to gifts, the one closing soonest first."""
    return list(
        session.scalars(
            select(Campaign)
            .where(Campaign.status == "live", Campaign.deadline_at > now)
            .order_by(Campaign.deadline_at, Campaign.id)
        )
    )


def due_for_closing(session: Session, *, now: datetime) -> list[int]:
    """Campaigns to close: live or succeeded past their deadline, and failed ones (which
    close once their refunds are done), by id (`ledger campaigns close-due`, the worker)."""
    return list(
        session.scalars(
            select(Campaign.id)
            .where(
                (Campaign.status == "failed")
                | ((Campaign.status.in_(["live", "succeeded"])) & (Campaign.deadline_at <= now))
            )
            .order_by(Campaign.id)
        )
    )


def all_campaigns(session: Session) -> list[Campaign]:
    """Every campaign, newest first (the treasurer's list)."""
    return list(session.scalars(select(Campaign).order_by(Campaign.id.desc())))


def organisation_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(
        select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids))
    )
    return {row.id: row.name for row in rows}


def public_gifts(session: Session, campaign_id: int, *, limit: int = 100) -> list[PublicGift]:
    """Settled gifts that still count, newest first; anonymous ones without a name."""
    rows = session.execute(
        select(Donation, Person.full_name)
        .outerjoin(Person, Person.id == Donation.person_id)
        .where(Donation.campaign_id == campaign_id, Donation.status == "settled")
        .order_by(Donation.settled_at.desc(), Donation.id.desc())
        .limit(limit)
    )
    gifts = []
    for donation, full_name in rows:
        if donation.counted_minor <= 0:
            continue
        gifts.append(
            PublicGift(
                donor_name=None if donation.anonymous else (donation.donor_name or full_name),
                amount_minor=donation.counted_minor,
                currency=donation.currency,
                donated_on=donation.donated_on,
            )
        )
    return gifts


def _rows(session: Session, query: Select[Donation]) -> list[DonationRow]:
    donations = list(session.scalars(query))
    if not donations:
        return []
    ids = [d.id for d in donations]
    titles = {
        row.id: row.title
        for row in session.execute(
            select(Campaign.id, Campaign.title).where(
                Campaign.id.in_({d.campaign_id for d in donations})
            )
        )
    }
    person_ids = {d.person_id for d in donations if d.person_id is not None}
    people = {
        row.id: (row.full_name, row.email)
        for row in session.execute(
            select(Person.id, Person.full_name, Person.email).where(Person.id.in_(person_ids))
        )
    }
    # The receipt shown for a gift: its valid one, else the last one voided (a gift
    # settled in this unit has its receipt written first: the API answers with it).
    write_pending(session)
    receipts: dict[int, Receipt] = {}
    for receipt in session.scalars(
        select(Receipt).where(Receipt.donation_id.in_(ids)).order_by(Receipt.id)
    ):
        current = receipts.get(receipt.donation_id)
        if current is None or current.voided_on is not None or receipt.voided_on is None:
            receipts[receipt.donation_id] = receipt
    rows = []
    for donation in donations:
        name, email = people.get(donation.person_id or 0, (None, None))
        name = donation.donor_name or name
        shown = receipts.get(donation.id)
        rows.append(
            DonationRow(
                donation=donation,
                campaign_title=titles.get(donation.campaign_id, ""),
                donor_name=name,
                donor_email=email,
                receipt_id=shown.id if shown else None,
                receipt_number=format_receipt_number(shown.year, shown.number) if shown else None,
                receipt_void=bool(shown and shown.voided_on is not None),
            )
        )
    return rows


def donations_of_person(session: Session, person_id: int) -> list[DonationRow]:
    """A donor's own gifts (every state), newest first."""
    return _rows(
        session,
        select(Donation).where(Donation.person_id == person_id).order_by(Donation.id.desc()),
    )


def donations_for_treasurer(
    session: Session,
    *,
    campaign_id: int | None = None,
    status: str | None = None,
    method: str | None = None,
    flagged: bool = False,
    limit: int = 200,
) -> list[DonationRow]:
    """Donations matching the filters, newest first, at most `limit`."""
    query = select(Donation).order_by(Donation.id.desc()).limit(limit)
    if campaign_id is not None:
        query = query.where(Donation.campaign_id == campaign_id)
    if status:
        query = query.where(Donation.status == status)
    if method:
        query = query.where(Donation.method == method)
    if flagged:
        query = query.where(Donation.flagged_reason.is_not(None))
    return _rows(session, query)


def donation_row(session: Session, donation_id: int) -> DonationRow | None:
    found = _rows(session, select(Donation).where(Donation.id == donation_id))
    return found[0] if found else None


def refunds_of(session: Session, donation_id: int) -> list[Refund]:
    return list(
        session.scalars(select(Refund).where(Refund.donation_id == donation_id).order_by(Refund.id))
    )


def receipts_of(session: Session, donation_id: int) -> list[Receipt]:
    write_pending(session, donation_id)
    return list(
        session.scalars(
            select(Receipt).where(Receipt.donation_id == donation_id).order_by(Receipt.id)
        )
    )


def printable_receipt(session: Session, donation_id: int) -> Receipt | None:
    """The receipt a donor downloads: the valid one, else the last voided one (ANNULLATA)."""
    found = receipts_of(session, donation_id)
    valid = [r for r in found if r.voided_on is None]
    if valid:
        return valid[-1]
    return found[-1] if found else None


def receipt_data(session: Session, receipt: Receipt) -> ReceiptData:
    """What the receipt prints: the recipient, the donor fixed when it was issued (by name
    also when the gift was anonymous to the public: the receipt is theirs and the
    treasurer's), the gift."""
    donation = session.get(Donation, receipt.donation_id)
    organisation = session.get(Organisation, receipt.organisation_id)
    assert donation is not None and organisation is not None
    campaign = session.get(Campaign, donation.campaign_id)
    assert campaign is not None
    reference = donation.reference or donation.stripe_payment_intent_id
    return ReceiptData(
        recipient_name=organisation.name,
        recipient_tax_code=organisation.tax_code,
        recipient_qualification=organisation.qualification,
        runts_number=organisation.runts_number,
        recipient_address=organisation.address,
        number=format_receipt_number(receipt.year, receipt.number),
        issued_on=receipt.issued_on,
        donor_name=receipt.donor_name,
        donor_codice_fiscale=receipt.donor_codice_fiscale if receipt.donor_name else None,
        amount_minor=receipt.amount_minor,
        currency=receipt.currency,
        donated_on=min(donation.donated_on or receipt.issued_on, receipt.issued_on),
        method=cast(PaymentMethod, donation.method),
        payment_reference=reference or None,
        campaign_title=campaign.title,
        voided_on=receipt.voided_on,
        void_reason=receipt.void_reason,
    )


# ------------------------------------------------------------------ the treasurer's day
def pending_refund_count(session: Session) -> int:
    """Refunds asked of Stripe and not yet confirmed or failed."""
    return int(
        session.scalar(select(func.count()).select_from(Refund).where(Refund.status == "pending"))
        or 0
    )


def flagged_gift_count(session: Session) -> int:
    """Donations flagged for a treasurer (an amount or currency that did not match, a
    dispute beyond what the gift still counted)."""
    return int(
        session.scalar(
            select(func.count()).select_from(Donation).where(Donation.flagged_reason.is_not(None))
        )
        or 0
    )


def campaigns_closing_between(session: Session, start: datetime, end: datetime) -> int:
    """Live campaigns whose deadline falls in [start, end)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Campaign)
            .where(
                Campaign.status == "live",
                Campaign.deadline_at >= start,
                Campaign.deadline_at < end,
            )
        )
        or 0
    )


def organisations(session: Session) -> list[Organisation]:
    """Every organisation registered as a recipient of gifts, oldest first."""
    return list(session.scalars(select(Organisation).order_by(Organisation.id)))
