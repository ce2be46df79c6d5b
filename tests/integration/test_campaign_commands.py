"""The use cases of campaigns, gifts and refunds (`ledger.campaigns.commands`).

Each is run twice with one key (one effect, the second answers the first) and,
where a request defines it, once with another request under the key (a
conflict that writes nothing). Acts without a key (publish, close, Stripe's
answers) are shown to be safe to repeat in their own way.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ledger.audit.models import AuditEvent
from ledger.campaigns import accounts, queries
from ledger.campaigns import commands as campaign_commands
from ledger.campaigns.commands import Donor, Recipient
from ledger.campaigns.donations import Limits, attach_checkout
from ledger.campaigns.errors import InvalidDonationError, InvalidDonorError, NothingToCorrectError
from ledger.campaigns.models import Campaign, Donation, Organisation, Receipt, Refund
from ledger.campaigns.stripe_events import ChargeFacts
from ledger.commands import Origin
from ledger.core.clock import FixedClock
from ledger.core.errors import IdempotencyConflictError
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.people import commands as people_commands
from ledger.people import service as people_service
from ledger.people.errors import InvalidPersonError
from ledger.people.models import Person
from tests.integration.campaign_helpers import cash_gift_in, live_campaign
from tests.integration.commands_helpers import assert_once, footprint

TREASURER = Origin(channel="api", user_id=None, source="127.0.0.1")
STRIPE = Origin(channel="web", source="203.0.113.9")
RECIPIENT = Recipient(
    name="Associazione Quartiere Vivo ODV", tax_code="97123450153", qualification="ODV"
)


def eur(text: str) -> Money:
    return Money.parse(text, "EUR")


def fetch(ledger: Ledger, model: type[Any], row_id: int) -> Any:
    """A row read in its own snapshot, usable after it (a read-only unit rolls back)."""

    def read(s: Session) -> Any:
        row = s.get(model, row_id)
        s.expunge_all()
        return row

    return ledger.read(read)


def actions(ledger: Ledger) -> list[str]:
    return ledger.read(lambda s: list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id))))


def new_campaign(
    ledger: Ledger, *, goal: str = "1000.00", model: str = "keep_what_you_raise"
) -> int:
    """A live campaign of the settings' organisation, made and published by the use cases."""
    return live_campaign(ledger, RECIPIENT, goal=goal, model=model, origin=TREASURER)


def cash_gift(ledger: Ledger, campaign_id: int, amount: str, key: str) -> int:
    return ledger.run(
        lambda s: cash_gift_in(s, ledger, campaign_id, eur(amount), key, origin=TREASURER)
    ).id


def card_gift(ledger: Ledger, campaign_id: int, amount: str, key: str) -> int:
    """A card gift started by the use case and settled by Stripe's event, as the app does."""

    def start(s: Session) -> int:
        donation = campaign_commands.start_card_donation(
            s,
            campaign_id,
            eur(amount),
            person_id=None,
            anonymous=True,
            limits=Limits(),
            origin=TREASURER,
            clock=ledger.clock,
            key=key,
        ).value
        attach_checkout(s, donation.id, f"cs_{key}", f"https://checkout.example/{key}")
        return donation.id

    donation_id = ledger.run(start)
    minor = eur(amount).minor
    ledger.run(
        lambda s: campaign_commands.apply_stripe_event(
            s,
            completed_event(donation_id, minor, f"evt_{key}"),
            facts(donation_id, minor),
            origin=STRIPE,
            clock=ledger.clock,
        )
    )
    return donation_id


def completed_event(donation_id: int, amount_minor: int, event_id: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "object": "checkout.session",
                "id": f"cs_for_{donation_id}",
                "payment_status": "paid",
                "payment_intent": f"pi_{donation_id}",
                "amount_total": amount_minor,
                "currency": "eur",
                "metadata": {"donation_id": str(donation_id)},
            }
        },
    }


def facts(donation_id: int, amount_minor: int) -> ChargeFacts:
    return ChargeFacts(
        f"pi_{donation_id}", f"ch_{donation_id}", amount_minor, 40, "EUR", donation_id=donation_id
    )


# ------------------------------------------------------------------ campaigns
def test_the_settings_organisation_registered_twice_is_registered_once(ledger: Ledger) -> None:
    def act(s: Session, _key: str) -> Any:
        return campaign_commands.register_organisation(
            s, RECIPIENT, origin=TREASURER, clock=ledger.clock
        )

    assert_once(ledger, act, None)
    assert actions(ledger) == ["organisation.create"]


def test_creating_a_campaign_twice_with_one_key_creates_one_draft(ledger: Ledger) -> None:
    def act(s: Session, key: str, title: str = "Biblioteca di condominio") -> Any:
        return campaign_commands.create_campaign(
            s,
            title=title,
            description_md="Scaffali e **libri**.",
            goal=eur("2500.00"),
            deadline_at=ledger.clock.now() + timedelta(days=40),
            funding_model="all_or_nothing",
            organisation=RECIPIENT,
            origin=TREASURER,
            clock=ledger.clock,
            key=key,
        )

    first = assert_once(ledger, act, lambda s, key: act(s, key, "Un altro titolo"))
    campaign = fetch(ledger, Campaign, first.value.id)
    assert (campaign.status, campaign.goal_minor) == ("draft", 250000)
    assert actions(ledger) == ["organisation.create", "campaign.create"]


def test_publishing_a_campaign_twice_publishes_it_once(ledger: Ledger) -> None:
    draft = ledger.run(
        lambda s: campaign_commands.create_campaign(
            s,
            title="Un orto in cortile",
            description_md="",
            goal=eur("100.00"),
            deadline_at=ledger.clock.now() + timedelta(days=5),
            funding_model="keep_what_you_raise",
            organisation=RECIPIENT,
            origin=TREASURER,
            clock=ledger.clock,
        )
    ).value

    def act(s: Session, _key: str) -> Any:
        return campaign_commands.publish_campaign(s, draft.id, origin=TREASURER, clock=ledger.clock)

    first = assert_once(ledger, act, None)
    assert first.value.status == "live"
    assert actions(ledger).count("campaign.publish") == 1


def test_closing_a_failed_campaign_twice_asks_each_refund_once(
    ledger: Ledger, clock: FixedClock
) -> None:
    campaign_id = new_campaign(ledger, goal="500.00", model="all_or_nothing")
    cash_gift(ledger, campaign_id, "30.00", "g1")
    cash_gift(ledger, campaign_id, "20.00", "g2")
    clock.instant += timedelta(days=31)

    def close() -> Any:
        return ledger.run(
            lambda s: campaign_commands.close_campaign(
                s, campaign_id, origin=TREASURER, clock=ledger.clock
            )
        )

    first = close()
    assert first.created is True
    assert (first.value.status, first.value.refunds_created) == ("failed", 2)
    after_first = footprint(ledger)
    again = close()
    assert again.created is False
    assert (again.value.status, again.value.refunds_created, again.value.refunds_pending) == (
        "failed",
        0,
        2,
    )
    assert footprint(ledger) == after_first
    assert actions(ledger).count("campaign.close") == 1
    details = ledger.read(
        lambda s: s.scalars(
            select(AuditEvent.details).where(AuditEvent.action == "campaign.close")
        ).one()
    )
    assert details == {
        "from": "live",
        "status": "failed",
        "refunds_created": 2,
        "refunds_pending": 2,
    }


# ------------------------------------------------------------------ gifts
def test_a_donor_named_twice_is_registered_once_and_then_found(ledger: Ledger) -> None:
    donor = Donor(email="Dario.Bruni@Example.org", full_name="  Dario   Bruni ")

    def act(s: Session, _key: str) -> Any:
        return campaign_commands.donor_person(s, donor, origin=TREASURER, clock=ledger.clock)

    first = assert_once(ledger, act, None)
    person = fetch(ledger, Person, first.value.id)
    assert (person.email, person.full_name) == ("dario.bruni@example.org", "Dario Bruni")
    assert actions(ledger) == ["person.create"]


@pytest.mark.parametrize(
    ("donor", "error", "field"),
    [
        (Donor(full_name="Solo Nome"), InvalidDonorError, "donor_email"),
        (Donor(email="nuovo@example.org"), InvalidDonorError, "donor_name"),
        (Donor(email="non-un-indirizzo"), InvalidPersonError, "donor_email"),
        (
            Donor(email="nuovo@example.org", full_name="Nuovo", codice_fiscale="XYZ"),
            InvalidPersonError,
            "donor_codice_fiscale",
        ),
    ],
)
def test_a_donor_who_cannot_be_linked_is_refused_naming_the_field(
    ledger: Ledger, donor: Donor, error: type[Exception], field: str
) -> None:
    before = footprint(ledger)
    with pytest.raises(error) as refused:
        ledger.run(
            lambda s: campaign_commands.donor_person(s, donor, origin=TREASURER, clock=ledger.clock)
        )
    assert refused.value.details["field"] == field  # type: ignore[attr-defined]
    assert footprint(ledger) == before


MARIA_CF = "BNCMRA80A41H501E"


def registered(ledger: Ledger, email: str, name: str, *, verified: bool = True) -> int:
    """A person with an account, made by the service (no event); their person's id."""

    def work(s: Session) -> int:
        user = people_service.create_user(
            s,
            people_service.NewPerson(email, name),
            roles=["donor"],
            password="una password lunga",
            now=ledger.clock.now(),
            email_verified_at=ledger.clock.now() if verified else None,
        )
        return user.person_id

    return ledger.run(work)


def transfer(ledger: Ledger, campaign_id: int, donor: Donor, key: str) -> Donation:
    return ledger.run(
        lambda s: campaign_commands.record_offline_gift(
            s,
            campaign_id,
            eur("500.00"),
            method="bank_transfer",
            donated_on=None,
            reference="CRO 0000123456",
            anonymous=True,
            donor=donor,
            origin=TREASURER,
            clock=ledger.clock,
            key=key,
        )
    ).value


def receipt_rows(
    ledger: Ledger, donation_id: int
) -> list[tuple[int, str | None, str | None, bool]]:
    """(number, donor name, codice fiscale, voided) of a gift's receipts, oldest first."""
    return ledger.read(
        lambda s: [
            (r.number, r.donor_name, r.donor_codice_fiscale, r.voided_on is not None)
            for r in s.scalars(
                select(Receipt).where(Receipt.donation_id == donation_id).order_by(Receipt.id)
            )
        ]
    )


def test_an_offline_gift_prints_the_donor_as_typed_and_leaves_the_registered_person_alone(
    ledger: Ledger,
) -> None:
    campaign_id = new_campaign(ledger)
    person_id = registered(ledger, "maria@example.org", "Ivo Impostore")
    gift = transfer(
        ledger,
        campaign_id,
        Donor(email="Maria@Example.org", full_name="Maria  Bianchi", codice_fiscale=MARIA_CF),
        "transfer-1",
    )
    person = fetch(ledger, Person, person_id)
    assert (person.full_name, person.codice_fiscale) == ("Ivo Impostore", None)
    assert (gift.person_id, gift.donor_name, gift.donor_codice_fiscale) == (
        person_id,
        "Maria Bianchi",
        MARIA_CF,
    )
    assert receipt_rows(ledger, gift.id) == [(1, "Maria Bianchi", MARIA_CF, False)]
    printed = ledger.read(lambda s: queries.receipt_data(s, queries.printable_receipt(s, gift.id)))
    assert (printed.donor_name, printed.donor_codice_fiscale) == ("Maria Bianchi", MARIA_CF)


def test_reissuing_a_receipt_with_the_donor_corrected_voids_it_and_numbers_a_new_one_once(
    ledger: Ledger,
) -> None:
    campaign_id = new_campaign(ledger)
    gift = transfer(
        ledger, campaign_id, Donor(email="m@example.org", full_name="Maria Biachi"), "t"
    )

    def act(s: Session, key: str, name: str = "Maria Bianchi") -> Any:
        return campaign_commands.reissue_receipt(
            s,
            gift.id,
            donor_name=name,
            donor_codice_fiscale=MARIA_CF,
            origin=TREASURER,
            clock=ledger.clock,
            key=key,
        )

    first = assert_once(ledger, act, lambda s, key: act(s, key, "Maria Rossi"))
    assert receipt_rows(ledger, gift.id) == [
        (1, "Maria Biachi", None, True),
        (2, "Maria Bianchi", MARIA_CF, False),
    ]
    assert first.value.number == 2
    voided = ledger.read(
        lambda s: s.scalars(select(Receipt.void_reason).where(Receipt.number == 1)).one()
    )
    assert voided == "Dati del donatore corretti"
    # The gift keeps the corrected donor: a later receipt prints them too.
    assert fetch(ledger, Donation, gift.id).donor_name == "Maria Bianchi"
    # The same data the receipt already prints is nothing to correct, and writes nothing.
    before = footprint(ledger)
    with pytest.raises(NothingToCorrectError):
        ledger.run(lambda s: act(s, "another-key"))
    with pytest.raises(InvalidPersonError):
        ledger.run(lambda s: act(s, "a-third-key", "   "))
    assert footprint(ledger) == before


def test_a_corrected_person_gets_new_receipts_where_the_old_name_was_printed_only(
    ledger: Ledger,
) -> None:
    campaign_id = new_campaign(ledger)
    person_id = registered(ledger, "anna@example.org", "Anna Rosi")
    named_by_address = transfer(ledger, campaign_id, Donor(email="anna@example.org"), "a")
    named_otherwise = transfer(
        ledger, campaign_id, Donor(email="anna@example.org", full_name="Famiglia Rossi"), "b"
    )
    ledger.run(
        lambda s: people_commands.correct_identity(
            s, person_id, "Anna Rossi", MARIA_CF, origin=Origin.command_line(), clock=ledger.clock
        )
    )
    assert receipt_rows(ledger, named_by_address.id) == [
        (1, "Anna Rosi", None, True),
        (3, "Anna Rossi", MARIA_CF, False),
    ]
    assert receipt_rows(ledger, named_otherwise.id) == [(2, "Famiglia Rossi", None, False)]


def test_a_receipt_row_never_changes_its_donor_once_issued(ledger: Ledger) -> None:
    campaign_id = new_campaign(ledger)
    gift = transfer(
        ledger, campaign_id, Donor(email="m@example.org", full_name="Maria Bianchi"), "t"
    )
    with pytest.raises(DBAPIError):
        ledger.run(
            lambda s: s.execute(
                text("UPDATE receipts SET donor_name = 'Ivo Impostore' WHERE donation_id = :id"),
                {"id": gift.id},
            )
        )
    assert receipt_rows(ledger, gift.id) == [(1, "Maria Bianchi", None, False)]


def test_starting_a_card_gift_twice_with_one_key_writes_one_pending_donation(
    ledger: Ledger,
) -> None:
    campaign_id = new_campaign(ledger)

    def act(s: Session, key: str, amount: str = "25.00") -> Any:
        return campaign_commands.start_card_donation(
            s,
            campaign_id,
            eur(amount),
            person_id=None,
            anonymous=False,
            limits=Limits(),
            origin=TREASURER,
            clock=ledger.clock,
            key=key,
        )

    first = assert_once(ledger, act, lambda s, key: act(s, key, "26.00"))
    gift = fetch(ledger, Donation, first.value.id)
    assert (gift.status, gift.amount_minor, gift.request_key) == (
        "pending",
        2500,
        "api:anon:request-1",
    )
    assert actions(ledger).count("donation.start") == 1


def test_recording_a_cash_gift_twice_with_one_key_books_it_once(ledger: Ledger) -> None:
    campaign_id = new_campaign(ledger)

    def act(s: Session, key: str, amount: str = "50.00") -> Any:
        return campaign_commands.record_offline_gift(
            s,
            campaign_id,
            eur(amount),
            method="bank_transfer",
            donated_on=date(2026, 6, 12),
            reference="RF18 1234",
            anonymous=True,
            donor=Donor(email="carla@example.org", full_name="Carla Neri"),
            origin=TREASURER,
            clock=ledger.clock,
            key=key,
        )

    first = assert_once(ledger, act, lambda s, key: act(s, key, "60.00"))
    gift = fetch(ledger, Donation, first.value.id)
    assert (gift.status, str(gift.donated_on), gift.request_key) == (
        "settled",
        "2026-06-12",
        "api:anon:request-1",
    )
    assert ledger.balance(accounts.escrow(campaign_id)).posted == 5000
    assert actions(ledger)[-2:] == ["person.create", "donation.record"]


def test_a_gift_dated_in_the_future_is_refused_with_nothing_written(ledger: Ledger) -> None:
    campaign_id = new_campaign(ledger)
    before = footprint(ledger)
    with pytest.raises(InvalidDonationError) as refused:
        ledger.run(
            lambda s: campaign_commands.record_offline_gift(
                s,
                campaign_id,
                eur("10.00"),
                method="cash",
                donated_on=date(2026, 6, 16),
                reference=None,
                anonymous=True,
                donor=Donor(),
                origin=TREASURER,
                clock=ledger.clock,
                key="k",
            )
        )
    assert refused.value.details["field"] == "donated_on"
    assert footprint(ledger) == before


def test_refunding_a_cash_gift_twice_with_one_key_books_one_refund(ledger: Ledger) -> None:
    campaign_id = new_campaign(ledger)
    gift = cash_gift(ledger, campaign_id, "40.00", "g")

    def act(s: Session, key: str, amount: str = "15.00") -> Any:
        return campaign_commands.refund_donation(
            s, gift, eur(amount), origin=TREASURER, clock=ledger.clock, key=key
        )

    first = assert_once(ledger, act, lambda s, key: act(s, key, "16.00"))
    assert (first.value.status, first.value.amount_minor) == ("succeeded", 1500)
    assert ledger.balance(accounts.escrow(campaign_id)).posted == 2500
    assert actions(ledger).count("donation.refund") == 1


def test_a_refund_key_used_again_for_another_gift_is_a_conflict(ledger: Ledger) -> None:
    campaign_id = new_campaign(ledger)
    first, second = (cash_gift(ledger, campaign_id, "10.00", k) for k in ("a", "b"))
    ledger.run(
        lambda s: campaign_commands.refund_donation(
            s, first, None, origin=TREASURER, clock=ledger.clock, key="r"
        )
    )
    before = footprint(ledger)
    with pytest.raises(IdempotencyConflictError):
        ledger.run(
            lambda s: campaign_commands.refund_donation(
                s, second, None, origin=TREASURER, clock=ledger.clock, key="r"
            )
        )
    assert footprint(ledger) == before


# ------------------------------------------------------------------ Stripe
def test_a_stripe_event_applied_twice_settles_the_gift_once(ledger: Ledger) -> None:
    campaign_id = new_campaign(ledger)
    donation_id = ledger.run(
        lambda s: campaign_commands.start_card_donation(
            s,
            campaign_id,
            eur("100.00"),
            person_id=None,
            anonymous=True,
            limits=Limits(),
            origin=TREASURER,
            clock=ledger.clock,
            key="k",
        )
    ).value.id
    event = completed_event(donation_id, 10000, "evt_1")

    def act(s: Session, _key: str, kind: str = "checkout.session.completed") -> Any:
        return campaign_commands.apply_stripe_event(
            s,
            {**event, "type": kind},
            facts(donation_id, 10000),
            origin=STRIPE,
            clock=ledger.clock,
        )

    first = assert_once(
        ledger, act, lambda s, key: act(s, key, "checkout.session.async_payment_succeeded")
    )
    assert (first.value.id, first.value.outcome) == ("evt_1", "applied")
    assert ledger.run(lambda s: act(s, "")).value.outcome == "duplicate"
    assert fetch(ledger, Donation, donation_id).status == "settled"
    assert ledger.balance(accounts.escrow(campaign_id)).posted == 10000
    assert actions(ledger).count("stripe.event") == 1


def test_stripes_answer_to_a_refund_recorded_twice_books_it_once(ledger: Ledger) -> None:
    campaign_id = new_campaign(ledger)
    donation_id = card_gift(ledger, campaign_id, "30.00", "c")
    refund = ledger.run(
        lambda s: campaign_commands.refund_donation(
            s, donation_id, None, origin=TREASURER, clock=ledger.clock, key="r"
        )
    ).value
    assert refund.status == "pending"

    def answer(s: Session) -> str:
        return campaign_commands.record_stripe_refund(
            s,
            refund.id,
            stripe_refund_id="re_1",
            status="succeeded",
            origin=STRIPE,
            clock=ledger.clock,
        ).value

    assert [ledger.run(answer), ledger.run(answer)] == ["booked", "already"]
    assert ledger.balance(accounts.escrow(campaign_id)).posted == 0
    assert fetch(ledger, Refund, refund.id).status == "succeeded"
    # Every answer Stripe gave is on the log; only the first booked money.
    assert actions(ledger).count("stripe.refund") == 2


def test_a_refund_stripe_refuses_for_good_fails_and_books_nothing(ledger: Ledger) -> None:
    campaign_id = new_campaign(ledger)
    donation_id = card_gift(ledger, campaign_id, "30.00", "c")
    refund = ledger.run(
        lambda s: campaign_commands.refund_donation(
            s, donation_id, None, origin=TREASURER, clock=ledger.clock, key="r"
        )
    ).value
    for _ in range(2):
        ledger.run(
            lambda s: campaign_commands.refuse_stripe_refund(
                s, refund.id, stripe_code="charge_disputed", origin=STRIPE, clock=ledger.clock
            )
        )
    assert fetch(ledger, Refund, refund.id).status == "failed"
    assert ledger.balance(accounts.escrow(campaign_id)).posted == 3000
    details = ledger.read(
        lambda s: list(
            s.scalars(select(AuditEvent.details).where(AuditEvent.action == "stripe.refund"))
        )
    )
    assert details == [{"status": "refused", "stripe_code": "charge_disputed"}] * 2


# ------------------------------------------------------------------ concurrency
@pytest.mark.postgres_only
def test_concurrent_offline_gifts_with_one_key_book_one_gift(pg_ledger: Ledger) -> None:
    ledger = pg_ledger
    campaign_id = new_campaign(ledger)
    start = threading.Barrier(6)

    def one(_: int) -> bool:
        start.wait()
        return ledger.run(
            lambda s: campaign_commands.record_offline_gift(
                s,
                campaign_id,
                eur("12.50"),
                method="cash",
                donated_on=None,
                reference=None,
                anonymous=True,
                donor=Donor(email="carla@example.org", full_name="Carla Neri"),
                origin=TREASURER,
                clock=ledger.clock,
                key="once",
            )
        ).created

    with ThreadPoolExecutor(6) as pool:
        created = list(pool.map(one, range(6)))
    assert sorted(created) == [False] * 5 + [True]
    assert ledger.balance(accounts.escrow(campaign_id)).posted == 1250
    assert ledger.read(lambda s: len(s.scalars(select(Donation.id)).all())) == 1
    assert ledger.read(lambda s: len(s.scalars(select(Person.id)).all())) == 1
    assert actions(ledger).count("donation.record") == 1
    assert ledger.read(lambda s: len(s.scalars(select(Organisation.id)).all())) == 1
