"""Use cases of campaigns, gifts and refunds, in the one command shape.

Each public function here is one act of a treasurer (create, publish and
close a campaign, record a gift received in cash or by bank transfer, refund
a gift, reissue a receipt with the donor corrected), of a donor (start a card
gift, start a gift by bank transfer), of the bank (a transfer gift settled by
its reference) or of Stripe (a webhook event, the answer to a refund we asked for). It
takes the act's arguments, an `Origin` and, when the act can be repeated, the
caller's request key; it opens with `ledger.commands.begin` (the same key and
request answer the first outcome, another request under the key is a conflict
that writes nothing), writes through the services of this package, records its
audit event under the action declared below, and returns an `Outcome`. Pages,
the API and the CLI call these and only translate input and output.

Stripe is never called from here: a card gift is written `pending` by
`start_card_donation` and committed before the caller asks Stripe for its
Checkout Session (stored with `donations.attach_checkout`); a card refund is
queued in the outbox and sent after the commit; a webhook's facts are fetched
by the caller before its transaction opens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.campaigns import receipts, service, stripe_events
from ledger.campaigns.donations import (
    OFFLINE_MAXIMUM_MINOR,
    Limits,
    record_offline_donation,
    settle,
    start_online_donation,
)
from ledger.campaigns.errors import (
    InvalidDonationError,
    InvalidDonorError,
    NothingToCorrectError,
    TransferAmountError,
)
from ledger.campaigns.getters import get_campaign, get_donation, pending_refund
from ledger.campaigns.models import Campaign, Donation, Organisation, Receipt, Refund
from ledger.campaigns.refunds import confirm_refund, fail_refund, request_refund
from ledger.campaigns.stripe_events import ChargeFacts, ProviderRefund
from ledger.commands import Origin, Outcome, begin, command
from ledger.core.clock import Clock, rome_today
from ledger.core.money import Money, format_minor
from ledger.people.errors import InvalidPersonError
from ledger.people.models import Person
from ledger.people.service import clean_name, normalise_codice_fiscale, normalise_email

REGISTER_ORGANISATION = command("organisation.create", "organisation")
CREATE_CAMPAIGN = command("campaign.create", "campaign")
PUBLISH_CAMPAIGN = command("campaign.publish", "campaign")
CLOSE_CAMPAIGN = command("campaign.close", "campaign")
REGISTER_DONOR = command("person.create", "person")
START_CARD_DONATION = command("donation.start", "donation")
RECORD_OFFLINE_GIFT = command("donation.record", "donation")
START_TRANSFER_GIFT = command("donation.transfer_start", "donation")
SETTLE_TRANSFER_GIFT = command("donation.transfer_settle", "donation")
REFUND_DONATION = command("donation.refund", "donation")
REISSUE_RECEIPT = command("receipt.reissue", "donation")
APPLY_STRIPE_EVENT = command("stripe.event", "stripe_event")
# Stripe's answer to a refund we sent it: recorded, or refused for good.
STRIPE_REFUND = command("stripe.refund", "refund")

# The journal's actor of what Stripe's answer to a refund books.
REFUND_ACTOR = "stripe-refund"


# ------------------------------------------------------------------ campaigns
@dataclass(frozen=True, slots=True)
class Recipient:
    """The organisation that runs the instance, as its settings name it: found by its
    codice fiscale, registered on first use."""

    name: str
    tax_code: str
    qualification: str


def register_organisation(
    session: Session, recipient: Recipient, *, origin: Origin, clock: Clock
) -> Outcome[Organisation]:
    """The recipient organisation with this codice fiscale, registered if it is new.

    `created` is false when it was found (nothing is written then).
    """
    claim = begin(session, REGISTER_ORGANISATION, origin, clock=clock)
    code = normalise_codice_fiscale(recipient.tax_code)
    found = session.scalars(
        select(Organisation).where(Organisation.tax_code == code).order_by(Organisation.id)
    ).first()
    if found is not None:
        return Outcome(found, created=False)
    organisation = service.create_organisation(
        session,
        name=recipient.name,
        tax_code=recipient.tax_code,
        qualification=recipient.qualification,
        now=clock.now(),
    )
    return claim.done(organisation, subject_id=organisation.id)


def create_campaign(
    session: Session,
    *,
    title: str,
    description_md: str,
    goal: Money,
    deadline_at: datetime,
    funding_model: str,
    organisation: int | Recipient,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[Campaign]:
    """A draft campaign with its escrow account, once per request key.

    Its recipient is `organisation`: an organisation's id, or the one the
    settings name (registered on first use); the fields are checked by
    `service.create_campaign` (InvalidCampaignError naming the field).
    """
    claim = begin(
        session,
        CREATE_CAMPAIGN,
        origin,
        clock=clock,
        key=key,
        request={
            "title": title,
            "description": description_md,
            "goal": goal.minor,
            "currency": goal.currency,
            "deadline_at": deadline_at,
            "funding_model": funding_model,
            # The settings' organisation is "the default", whatever they say today.
            "organisation_id": organisation if isinstance(organisation, int) else None,
        },
    )
    if claim.earlier is not None:
        return claim.replay(get_campaign(session, claim.earlier.id))
    organisation_id = (
        organisation
        if isinstance(organisation, int)
        else register_organisation(session, organisation, origin=origin, clock=clock).value.id
    )
    campaign = service.create_campaign(
        session,
        service.NewCampaign(
            organisation_id=organisation_id,
            title=title,
            description_md=description_md,
            goal_minor=goal.minor,
            currency=goal.currency,
            deadline_at=deadline_at,
            funding_model=funding_model,
        ),
        clock=clock,
    )
    return claim.done(
        campaign,
        subject_id=campaign.id,
        details={
            "organisation_id": organisation_id,
            "goal": format_minor(campaign.goal_minor, campaign.currency),
            "currency": campaign.currency,
            "funding_model": campaign.funding_model,
            "deadline_at": campaign.deadline_at.isoformat(),
        },
    )


def publish_campaign(
    session: Session, campaign_id: int, *, origin: Origin, clock: Clock
) -> Outcome[Campaign]:
    """draft -> live: the campaign is listed and accepts gifts.

    Publishing a live campaign again changes nothing and records nothing
    (`created` is false).
    """
    claim = begin(session, PUBLISH_CAMPAIGN, origin, clock=clock)
    before = get_campaign(session, campaign_id, lock=True).status
    campaign = service.publish_campaign(session, campaign_id, clock=clock)
    if campaign.status == before:
        return Outcome(campaign, created=False)
    return claim.done(campaign, subject_id=campaign_id)


def close_campaign(
    session: Session, campaign_id: int, *, origin: Origin, clock: Clock
) -> Outcome[service.CloseResult]:
    """Decide a campaign after its deadline and close it when nothing is owed.

    Safe to repeat (`service.close_campaign`): a run that neither moves the
    campaign nor asks for a refund records nothing (`created` is false).
    """
    claim = begin(session, CLOSE_CAMPAIGN, origin, clock=clock)
    before = get_campaign(session, campaign_id, lock=True).status
    result = service.close_campaign(session, campaign_id, clock=clock)
    if result.status == before and not result.refunds_created:
        return Outcome(result, created=False)
    return claim.done(
        result,
        subject_id=campaign_id,
        details={
            "from": before,
            "status": result.status,
            "refunds_created": result.refunds_created,
            "refunds_pending": result.refunds_pending,
        },
    )


# ------------------------------------------------------------------ gifts
@dataclass(frozen=True, slots=True)
class Donor:
    """The person a treasurer names as donor: found by e-mail, or registered (no user)."""

    email: str | None = None
    full_name: str | None = None
    codice_fiscale: str | None = None

    @property
    def given(self) -> bool:
        """Whether anything was given at all (nothing: the gift has no person)."""
        return bool(
            (self.email or "").strip()
            or (self.full_name or "").strip()
            or (self.codice_fiscale or "").strip()
        )


def donor_person(
    session: Session, donor: Donor, *, origin: Origin, clock: Clock
) -> Outcome[Person | None]:
    """The donor's person: found by e-mail, else registered with a name (audited).

    A donation refers to its person by id. A person found is never changed:
    the name and codice fiscale typed for a gift go on the gift and its
    receipt (`record_offline_gift`), and whoever registered the address sees
    the gift only once their account is verified. Nothing given: no person.
    A name without an e-mail is refused (an e-mail tells people apart), and
    so is an unknown e-mail without a name. The refusals name the form's
    fields (`donor_email`, `donor_name`, `donor_codice_fiscale`).
    """
    claim = begin(session, REGISTER_DONOR, origin, clock=clock)
    if not donor.given:
        return Outcome(None, created=False)
    email = (donor.email or "").strip()
    name = " ".join((donor.full_name or "").split())
    if not email:
        raise InvalidDonorError(
            "Per collegare un donatore serve la sua e-mail.", field="donor_email"
        )
    try:
        address = normalise_email(email)
        codice_fiscale = normalise_codice_fiscale(donor.codice_fiscale)
    except InvalidPersonError as exc:
        if exc.details.get("field") == "codice_fiscale":
            raise InvalidPersonError(
                "Il codice fiscale non è valido: controlla i 16 caratteri.",
                field="donor_codice_fiscale",
            ) from None
        raise InvalidPersonError(
            "L'indirizzo e-mail non è valido: scrivilo nella forma nome@dominio.it.",
            field="donor_email",
        ) from None
    found = session.scalars(select(Person).where(Person.email == address)).first()
    if found is not None:
        return Outcome(found, created=False)
    if not name or len(name) > 200:
        raise InvalidDonorError(
            "Questa e-mail non è registrata: indica anche nome e cognome del donatore.",
            field="donor_name",
        )
    person = Person(
        full_name=name,
        email=address,
        codice_fiscale=codice_fiscale,
        address=None,
        created_at=clock.now(),
    )
    session.add(person)
    session.flush()
    return claim.done(person, subject_id=person.id)


def _typed_donor(donor: Donor) -> tuple[str | None, str | None]:
    """The donor's name and codice fiscale as typed (checked by `donor_person`); a codice
    fiscale without a name is not an identity of its own."""
    name = " ".join((donor.full_name or "").split()) or None
    if name is None:
        return None, None
    return name, normalise_codice_fiscale(donor.codice_fiscale)


def start_card_donation(
    session: Session,
    campaign_id: int,
    amount: Money,
    *,
    person_id: int | None,
    anonymous: bool,
    limits: Limits,
    origin: Origin,
    clock: Clock,
    key: str,
) -> Outcome[Donation]:
    """A pending card gift, once per request key; Stripe is asked after the commit.

    The caller then creates the Checkout Session (Stripe's key is derived from
    the donation's id, so asking again makes no second session) and stores it
    with `donations.attach_checkout`. A repeat answers the same donation, with
    its Checkout URL if it was stored.
    """
    claim = begin(
        session,
        START_CARD_DONATION,
        origin,
        clock=clock,
        key=key,
        request={
            "campaign": campaign_id,
            "amount": amount.minor,
            "currency": amount.currency,
            "person": person_id,
            "anonymous": anonymous,
        },
    )
    if claim.earlier is not None:
        return claim.replay(get_donation(session, claim.earlier.id))
    donation, created = start_online_donation(
        session,
        campaign_id,
        amount,
        person_id=person_id,
        anonymous=anonymous,
        request_key=origin.scoped(key),
        limits=limits,
        clock=clock,
    )
    if not created:  # started under this key before request keys were kept
        return claim.known(donation, subject_id=donation.id)
    return claim.done(
        donation,
        subject_id=donation.id,
        details={"campaign_id": campaign_id, "method": "card"},
    )


def record_offline_gift(
    session: Session,
    campaign_id: int,
    amount: Money,
    *,
    method: str,
    donated_on: date | None,
    reference: str | None,
    anonymous: bool,
    donor: Donor,
    origin: Origin,
    clock: Clock,
    key: str,
    maximum_minor: int = OFFLINE_MAXIMUM_MINOR,
) -> Outcome[Donation]:
    """A gift received in cash or by bank transfer: booked at once with its receipt,
    once per request key; at most `maximum_minor` (the operator's setting).

    The day of the gift may not be in the future (InvalidDonationError, field
    `donated_on`); the donor, when named, is found or registered by
    `donor_person`; the rest is checked by `donations.record_offline_donation`.
    The receipt prints the donor as typed here (a name given wins over the
    person registered under the address, which is not changed).
    """
    claim = begin(
        session,
        RECORD_OFFLINE_GIFT,
        origin,
        clock=clock,
        key=key,
        request={
            "campaign": campaign_id,
            "amount": amount.minor,
            "currency": amount.currency,
            "method": method,
            "donated_on": donated_on,
            "reference": reference,
            "anonymous": anonymous,
            "donor": [donor.email, donor.full_name, donor.codice_fiscale],
        },
    )
    if claim.earlier is not None:
        return claim.replay(get_donation(session, claim.earlier.id))
    if donated_on is not None and donated_on > rome_today(clock):
        raise InvalidDonationError(
            "La data della donazione non può essere nel futuro.", field="donated_on"
        )
    person = donor_person(session, donor, origin=origin, clock=clock).value
    typed_name, typed_cf = _typed_donor(donor)
    donation, created = record_offline_donation(
        session,
        campaign_id,
        amount,
        method=method,
        person_id=person.id if person is not None else None,
        anonymous=anonymous,
        reference=reference,
        request_key=origin.scoped(key),
        donated_on=donated_on,
        actor=origin.actor,
        clock=clock,
        maximum_minor=maximum_minor,
        donor_name=typed_name,
        donor_codice_fiscale=typed_cf,
    )
    if not created:  # booked under this key before request keys were kept
        return claim.known(donation, subject_id=donation.id)
    return claim.done(
        donation,
        subject_id=donation.id,
        details={
            "campaign_id": donation.campaign_id,
            "method": donation.method,
            "amount": format_minor(donation.amount_minor, donation.currency),
            "currency": donation.currency,
            "person_linked": person is not None,
        },
    )


def start_transfer_gift(
    session: Session,
    campaign_id: int,
    amount: Money,
    *,
    person_id: int | None,
    anonymous: bool,
    donor_name: str | None = None,
    donor_codice_fiscale: str | None = None,
    limits: Limits,
    origin: Origin,
    clock: Clock,
    key: str,
) -> Outcome[Donation]:
    """A pending gift the donor will pay by bank transfer, once per request key.

    Like a card gift's start (the same limits; the donor is the caller's person,
    if any), but nothing is asked of anyone: the gift gets its ISO 11649
    reference (`Donation.transfer_reference`, `RF..D<id>`), which the donor's
    transfer carries, and stays pending until `settle_transfer_gift` books it
    when the money is seen on the bank. `donor_name` and `donor_codice_fiscale`
    are the donor as they gave themselves, printed on the receipt (a codice
    fiscale without a name is dropped; a bad one is InvalidPersonError).
    """
    name = " ".join((donor_name or "").split()) or None
    if name is not None and len(name) > 200:
        raise InvalidDonorError(
            "Il nome è troppo lungo (massimo 200 caratteri).", field="donor_name"
        )
    try:
        codice_fiscale = normalise_codice_fiscale(donor_codice_fiscale) if name else None
    except InvalidPersonError:
        raise InvalidPersonError(
            "Il codice fiscale non è valido: controlla i 16 caratteri.",
            field="donor_codice_fiscale",
        ) from None
    claim = begin(
        session,
        START_TRANSFER_GIFT,
        origin,
        clock=clock,
        key=key,
        request={
            "campaign": campaign_id,
            "amount": amount.minor,
            "currency": amount.currency,
            "person": person_id,
            "anonymous": anonymous,
            "donor": [name, codice_fiscale],
        },
    )
    if claim.earlier is not None:
        return claim.replay(get_donation(session, claim.earlier.id))
    donation, created = start_online_donation(
        session,
        campaign_id,
        amount,
        person_id=person_id,
        anonymous=anonymous,
        request_key=origin.scoped(key),
        limits=limits,
        clock=clock,
        method="bank_transfer",
        donor_name=name,
        donor_codice_fiscale=codice_fiscale,
    )
    if not created:  # pragma: no cover - request keys are kept since this act exists
        return claim.known(donation, subject_id=donation.id)
    return claim.done(
        donation,
        subject_id=donation.id,
        details={
            "campaign_id": campaign_id,
            "method": "bank_transfer",
            "amount": format_minor(donation.amount_minor, donation.currency),
            "currency": donation.currency,
            "reference": donation.transfer_reference,
        },
    )


def settle_transfer_gift(
    session: Session,
    donation_id: int,
    amount_minor: int,
    *,
    received_on: date,
    bank_line_id: int | None = None,
    origin: Origin,
    clock: Clock,
    key: str,
) -> Outcome[Donation]:
    """The transfer of a pending transfer gift arrived: book it, once per request key.

    Booked exactly as a gift received by bank transfer (`donations.settle`: to
    the bank, the campaign's escrow, on `received_on`), with its receipt, and
    the matching grants follow through the GiftSettled event. `bank_line_id` is
    the bank line that carried the reference, recorded on the audit event.
    A gift that is not a pending transfer gift is InvalidDonationError; an
    amount other than the pledged one is TransferAmountError (409), and nothing
    is booked: what to do with it is a treasurer's decision.
    """
    claim = begin(
        session,
        SETTLE_TRANSFER_GIFT,
        origin,
        clock=clock,
        key=key,
        request={
            "donation": donation_id,
            "amount": amount_minor,
            "received_on": received_on,
            "bank_line": bank_line_id,
        },
    )
    if claim.earlier is not None:
        return claim.replay(get_donation(session, claim.earlier.id))
    donation = get_donation(session, donation_id, lock=True)
    if donation.method != "bank_transfer" or donation.transfer_reference is None:
        raise InvalidDonationError(
            "Questa donazione non è un bonifico con riferimento in attesa.", field="donation"
        )
    if donation.status != "pending":
        raise InvalidDonationError(
            f"La donazione è già {donation.status}: non c'è nulla da incassare.",
            field="donation",
            status=donation.status,
        )
    if amount_minor != donation.amount_minor:
        raise TransferAmountError(
            f"Il bonifico è di {format_minor(amount_minor, donation.currency)} "
            f"{donation.currency}, la donazione di "
            f"{format_minor(donation.amount_minor, donation.currency)}: "
            "un importo diverso va deciso dal tesoriere.",
            expected=donation.amount_minor,
            received=amount_minor,
        )
    if received_on > rome_today(clock):
        raise InvalidDonationError(
            "La data dell'accredito non può essere nel futuro.", field="received_on"
        )
    settle(
        session,
        donation,
        gross_minor=amount_minor,
        fee_minor=0,
        clock=clock,
        actor=origin.actor,
        on=received_on,
    )
    return claim.done(
        donation,
        subject_id=donation.id,
        details={
            "campaign_id": donation.campaign_id,
            "amount": format_minor(donation.amount_minor, donation.currency),
            "currency": donation.currency,
            "reference": donation.transfer_reference,
            "received_on": received_on.isoformat(),
            "bank_line_id": bank_line_id,
        },
    )


def refund_donation(
    session: Session,
    donation_id: int,
    amount: Money | None,
    *,
    origin: Origin,
    clock: Clock,
    key: str,
) -> Outcome[Refund]:
    """Refund a gift (`amount` None: all that remains), once per request key.

    Card gifts: the refund is requested and queued for Stripe, which the caller
    sends after the commit (the outbox); it is booked when Stripe confirms.
    Cash and bank gifts: the treasurer has paid the money back, so the refund
    is booked now (a refund a failed campaign already owes the gift is the one
    booked).
    """
    claim = begin(
        session,
        REFUND_DONATION,
        origin,
        clock=clock,
        key=key,
        request={
            "donation": donation_id,
            "amount": None if amount is None else amount.minor,
            "currency": None if amount is None else amount.currency,
        },
    )
    if claim.earlier is not None:
        earlier = session.get(Refund, int(claim.earlier.result["refund_id"]))
        assert earlier is not None
        return claim.replay(earlier)
    donation = get_donation(session, donation_id, lock=True)
    waiting = pending_refund(session, donation_id) if donation.method != "card" else None
    if waiting is not None and (amount is None or amount.minor == waiting.amount_minor):
        # A cash or bank refund already owed (a failed all-or-nothing campaign):
        # the treasurer records that the money was handed back.
        refund = waiting
    else:
        refund = request_refund(session, donation_id, amount, clock=clock, user_id=origin.user_id)
    if donation.method != "card":
        confirm_refund(session, refund.id, clock=clock, actor=origin.actor)
    return claim.done(
        refund,
        subject_id=donation_id,
        details={
            "refund_id": refund.id,
            "amount": format_minor(refund.amount_minor, refund.currency),
            "currency": refund.currency,
            "method": donation.method,
            "status": refund.status,
            "asked": None if amount is None else format_minor(amount.minor, amount.currency),
        },
        result={"refund_id": refund.id},
    )


def reissue_receipt(
    session: Session,
    donation_id: int,
    *,
    donor_name: str,
    donor_codice_fiscale: str | None,
    origin: Origin,
    clock: Clock,
    key: str,
) -> Outcome[Receipt]:
    """Correct the donor of a gift: its valid receipt is voided and a new one, with a new
    number, prints the donor as given now; once per request key.

    The gift keeps the donor as corrected (a later receipt, after a partial
    refund, prints them too). A gift without a valid receipt is
    InvalidDonationError; a blank or too long name or a bad codice fiscale
    InvalidPersonError (`full_name`, `codice_fiscale`); the same data the
    receipt already prints NothingToCorrectError. Each writes nothing.
    """
    claim = begin(
        session,
        REISSUE_RECEIPT,
        origin,
        clock=clock,
        key=key,
        request={
            "donation": donation_id,
            "donor_name": donor_name,
            "donor_codice_fiscale": donor_codice_fiscale,
        },
    )
    if claim.earlier is not None:
        earlier = session.get(Receipt, int(claim.earlier.result["receipt_id"]))
        assert earlier is not None
        return claim.replay(earlier)
    donation = get_donation(session, donation_id, lock=True)
    current = receipts.valid_receipt(session, donation_id)
    if current is None:
        raise InvalidDonationError(
            "Questa donazione non ha una ricevuta valida da correggere.", field="donation"
        )
    name = clean_name(donor_name)
    codice_fiscale = normalise_codice_fiscale(donor_codice_fiscale)
    if (name, codice_fiscale) == (current.donor_name, current.donor_codice_fiscale):
        raise NothingToCorrectError(
            "La ricevuta riporta già questi dati: non c'è nulla da correggere."
        )
    donation.donor_name, donation.donor_codice_fiscale = name, codice_fiscale
    issued = receipts.reissue_after_change(
        session, donation, clock=clock, reason=receipts.CORRECTED
    )
    assert issued is not None  # a valid receipt means the gift still counts
    return claim.done(
        issued,
        subject_id=donation_id,
        details={"voided_receipt_id": current.id, "receipt_id": issued.id},
        result={"receipt_id": issued.id},
    )


# ------------------------------------------------------------------ Stripe
@dataclass(frozen=True, slots=True)
class EventApplied:
    """What one delivery of a Stripe event did: `outcome` is applied, ignored, flagged or
    duplicate (the event was applied before)."""

    id: str
    outcome: str


def apply_stripe_event(
    session: Session,
    event: Mapping[str, Any],
    facts: ChargeFacts | None,
    *,
    refunds: Sequence[ProviderRefund] | None = None,
    origin: Origin,
    clock: Clock,
) -> Outcome[EventApplied]:
    """Apply one verified Stripe event once; its outcome is `stripe_events.apply_event`'s.

    The event's id is its request key: a redelivery answers "duplicate" and
    writes nothing (`created` is false). Underneath, the event's id is also
    stored with its effect (`StripeEvent`), so an event applied before its key
    was kept is answered "duplicate" too.
    `facts` and `refunds` were fetched from Stripe by the caller, outside any
    transaction.
    """
    event_id = str(event.get("id") or "")
    kind = str(event.get("type") or "")
    claim = begin(
        session,
        APPLY_STRIPE_EVENT,
        origin,
        clock=clock,
        key=event_id or None,
        request={"type": kind},
    )
    if claim.earlier is not None:
        return claim.replay(EventApplied(event_id, "duplicate"))
    outcome = stripe_events.apply_event(session, event, facts, refunds=refunds, clock=clock)
    return claim.done(
        EventApplied(event_id, outcome),
        subject_id=event_id,
        details={"type": kind[:64], "outcome": outcome},
    )


def record_stripe_refund(
    session: Session,
    refund_id: int,
    *,
    stripe_refund_id: str,
    status: str | None,
    origin: Origin,
    clock: Clock,
) -> Outcome[str]:
    """Record Stripe's answer to a refund we sent it; books it when Stripe says succeeded.

    Returns what happened (`stripe_events.record_refund_answer`); every answer
    is audited, a repeat of one included (it books nothing more).
    """
    claim = begin(session, STRIPE_REFUND, origin, clock=clock)
    outcome = stripe_events.record_refund_answer(
        session,
        refund_id,
        stripe_refund_id=stripe_refund_id,
        status=status,
        clock=clock,
        actor=REFUND_ACTOR,
    )
    return claim.done(
        outcome,
        subject_id=refund_id,
        details={"stripe_refund_id": stripe_refund_id, "status": status, "outcome": outcome},
    )


def refuse_stripe_refund(
    session: Session, refund_id: int, *, stripe_code: str | None, origin: Origin, clock: Clock
) -> Outcome[Refund]:
    """Stripe refused a refund for good (disputed, already refunded): it fails, nothing
    is booked, and the treasurer may ask again."""
    claim = begin(session, STRIPE_REFUND, origin, clock=clock)
    fail_refund(session, refund_id)
    refund = session.get(Refund, refund_id)
    assert refund is not None
    return claim.done(
        refund,
        subject_id=refund_id,
        details={"status": "refused", "stripe_code": stripe_code},
    )
