"""Gifts by bank transfer with their RF reference, settled when the money arrives; the
loan's reference (`start_transfer_gift`, `settle_transfer_gift`, `lending.open_loan`)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from stdnum import iso11649

from ledger.audit.models import AuditEvent
from ledger.campaigns import commands as campaign_commands
from ledger.campaigns.donations import Limits
from ledger.campaigns.errors import InvalidDonationError, TransferAmountError
from ledger.campaigns.models import Donation, Receipt
from ledger.campaigns.service import figures
from ledger.core.models import JournalEntry
from ledger.core.service import Ledger
from ledger.funds.models import Loan
from ledger.payments.references import creditor_reference, parse_reference
from tests.integration.commands_helpers import assert_once, footprint
from tests.integration.test_campaign_commands import (
    TREASURER,
    actions,
    eur,
    fetch,
    new_campaign,
)
from tests.integration.test_fund_commands import fund_with_product, granted


def start(ledger: Ledger, campaign_id: int, amount: str, key: str, **extra: object) -> int:
    return ledger.run(
        lambda s: campaign_commands.start_transfer_gift(
            s,
            campaign_id,
            eur(amount),
            person_id=None,
            anonymous=True,
            limits=Limits(),
            origin=TREASURER,
            clock=ledger.clock,
            key=key,
            **extra,  # type: ignore[arg-type]
        )
    ).value.id


def test_a_transfer_gift_starts_pending_with_its_reference_once_per_key(ledger: Ledger) -> None:
    campaign_id = new_campaign(ledger)

    def act(s: Session, key: str, amount: str = "25.00") -> object:
        return campaign_commands.start_transfer_gift(
            s,
            campaign_id,
            eur(amount),
            person_id=None,
            anonymous=False,
            donor_name="  Anna   Verdi ",
            donor_codice_fiscale="RSSMRA85T10A562S",
            limits=Limits(),
            origin=TREASURER,
            clock=ledger.clock,
            key=key,
        )

    first = assert_once(ledger, act, lambda s, key: act(s, key, "30.00"))
    gift = fetch(ledger, Donation, first.value.id)
    assert (gift.status, gift.method, gift.amount_minor) == ("pending", "bank_transfer", 2500)
    assert gift.transfer_reference == creditor_reference("D", gift.id)
    assert iso11649.is_valid(gift.transfer_reference)
    assert parse_reference(gift.transfer_reference) == ("D", gift.id)
    assert (gift.donor_name, gift.donor_codice_fiscale) == ("Anna Verdi", "RSSMRA85T10A562S")
    assert actions(ledger).count("donation.transfer_start") == 1
    # Pending: nothing booked, nothing counted.
    assert ledger.read(lambda s: figures(s, campaign_id).raised_minor) == 0


def test_two_transfer_gifts_have_two_references(ledger: Ledger) -> None:
    campaign_id = new_campaign(ledger)
    ids = [start(ledger, campaign_id, "10.00", f"k{i}") for i in range(3)]
    refs = {fetch(ledger, Donation, i).transfer_reference for i in ids}
    assert len(refs) == 3


def test_a_transfer_gift_outside_the_limits_is_refused_with_nothing_written(
    ledger: Ledger,
) -> None:
    campaign_id = new_campaign(ledger)
    before = footprint(ledger)
    with pytest.raises(InvalidDonationError):
        start(ledger, campaign_id, "0.50", "small")
    assert footprint(ledger) == before


def test_settling_a_transfer_gift_books_it_once_with_its_receipt(ledger: Ledger) -> None:
    campaign_id = new_campaign(ledger)
    gift_id = start(ledger, campaign_id, "25.00", "pledge")
    received = ledger.clock.now().date() - timedelta(days=1)

    def act(s: Session, key: str, on: date = received) -> object:
        return campaign_commands.settle_transfer_gift(
            s,
            gift_id,
            2500,
            received_on=on,
            bank_line_id=41,
            origin=TREASURER,
            clock=ledger.clock,
            key=key,
        )

    assert_once(ledger, act, lambda s, key: act(s, key, received - timedelta(days=1)))
    gift = fetch(ledger, Donation, gift_id)
    assert (gift.status, gift.donated_on) == ("settled", received)
    assert ledger.read(lambda s: figures(s, campaign_id).raised_minor) == 2500
    receipts = ledger.read(
        lambda s: s.scalar(select(func.count(Receipt.id)).where(Receipt.donation_id == gift_id))
    )
    assert receipts == 1
    # Booked as a gift received by bank transfer: to the bank, from the campaign's escrow.
    effective = ledger.read(
        lambda s: s.scalars(
            select(JournalEntry.effective_on).where(JournalEntry.kind == "donation")
        ).one()
    )
    assert effective == received
    assert ledger.balance("assets:bank:main").posted == 2500
    details = ledger.read(
        lambda s: s.scalars(
            select(AuditEvent.details).where(AuditEvent.action == "donation.transfer_settle")
        ).one()
    )
    assert details["bank_line_id"] == 41 and details["reference"] == gift.transfer_reference


def test_a_transfer_of_another_amount_is_refused_and_books_nothing(ledger: Ledger) -> None:
    campaign_id = new_campaign(ledger)
    gift_id = start(ledger, campaign_id, "25.00", "pledge")
    before = footprint(ledger)
    with pytest.raises(TransferAmountError) as refused:
        ledger.run(
            lambda s: campaign_commands.settle_transfer_gift(
                s,
                gift_id,
                2000,
                received_on=ledger.clock.now().date(),
                origin=TREASURER,
                clock=ledger.clock,
                key="short",
            )
        )
    assert refused.value.details == {"expected": 2500, "received": 2000}
    assert refused.value.http_status == 409
    assert footprint(ledger) == before
    assert fetch(ledger, Donation, gift_id).status == "pending"


def test_only_a_pending_transfer_gift_is_settled_by_a_transfer(ledger: Ledger) -> None:
    campaign_id = new_campaign(ledger)
    cash = ledger.run(
        lambda s: campaign_commands.record_offline_gift(
            s,
            campaign_id,
            eur("5.00"),
            method="cash",
            donated_on=None,
            reference=None,
            anonymous=True,
            donor=campaign_commands.Donor(),
            origin=TREASURER,
            clock=ledger.clock,
            key="cash",
        )
    ).value.id
    with pytest.raises(InvalidDonationError):
        ledger.run(
            lambda s: campaign_commands.settle_transfer_gift(
                s,
                cash,
                500,
                received_on=ledger.clock.now().date(),
                origin=TREASURER,
                clock=ledger.clock,
                key="not-a-transfer",
            )
        )


def test_a_loan_gets_its_reference_when_it_is_opened(ledger: Ledger) -> None:
    fund_id, product_id = fund_with_product(ledger)
    loan_id = granted(ledger, fund_id, product_id)
    reference = ledger.read(lambda s: s.get(Loan, loan_id).transfer_reference)
    assert reference == creditor_reference("L", loan_id)
    assert iso11649.is_valid(reference)
