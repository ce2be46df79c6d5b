"""Campaigns and donations in the JSON API (routes on the `api_v1` blueprint).

The same use cases as the pages (`ledger.campaigns.commands`), so a gift, a
refund or a campaign made through the API is the same as one made through a
form, audit event included. Amounts are decimal strings in the campaign's
currency.

Money-moving POSTs need an `Idempotency-Key`, the use case's request key
(scoped by caller: the donation's own key is `api:<user id>:<key>`, as for
journal entries). A gift by bank transfer answers its RF reference, the IBAN
and the EPC QR payload; a retry answers the same gift. Checkout: a retry
returns the same donation and Checkout URL and Stripe is asked for one
session only. A key reused with a different
request is a 409 `idempotency_conflict` that writes nothing.
"""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from ledger.campaigns import commands, queries
from ledger.campaigns.commands import Donor
from ledger.campaigns.getters import get_campaign, get_donation
from ledger.campaigns.models import Campaign, Donation, Refund
from ledger.campaigns.service import figures
from ledger.commands import Origin, Outcome
from ledger.core.errors import LedgerError
from ledger.core.money import Money, format_minor
from ledger.people.models import MONEY, READ
from web import views
from web.access import allow, current_principal, needs_scope, public, signed_in
from web.api.common import TREASURER, bp, command_answer, command_post, json_answer
from web.api.docs import documented
from web.api.errors import invalid_input
from web.api.inputs import idempotency_key, json_body, load, parse_money
from web.campaigns import reads
from web.campaigns.payments import begin_checkout, donation_limits, offline_maximum
from web.campaigns.schemas import (
    CampaignCreateSchema,
    CampaignSchema,
    CheckoutCreateSchema,
    CheckoutSchema,
    CloseResultSchema,
    DonationListSchema,
    DonationSchema,
    OfflineDonationCreateSchema,
    RefundCreateSchema,
    RefundSchema,
    TransferCreateSchema,
    TransferSchema,
)
from web.campaigns.settings import default_recipient
from web.campaigns.transfers import configured_account, instructions
from web.db import in_transaction
from web.mail import flush_outbox

# The donor's refusals (the use case names the form's fields), as the API body names them.
_DONOR_FIELDS = {
    "donor_email": ("donor.email", "a valid e-mail address is needed to link a donor"),
    "donor_name": (
        "donor.full_name",
        "this e-mail is not registered: give the donor's full_name to register them",
    ),
    "donor_codice_fiscale": ("donor.codice_fiscale", "not a valid codice fiscale"),
    "donated_on": ("donated_on", "the day of a gift cannot be in the future"),
}
_TRANSFER_FIELDS = {
    "donor_name": "donor.full_name",
    "donor_codice_fiscale": "donor.codice_fiscale",
}
_DONOR_CODES = frozenset({"invalid_donor", "invalid_person", "invalid_donation"})


def _campaign_body(session: Session, campaign: Campaign) -> dict[str, Any]:
    found = figures(session, campaign.id)
    return {
        "id": campaign.id,
        "title": campaign.title,
        "organisation_id": campaign.organisation_id,
        "status": campaign.status,
        "funding_model": campaign.funding_model,
        "currency": campaign.currency,
        "goal": format_minor(found.goal_minor, campaign.currency),
        "raised": format_minor(found.raised_minor, campaign.currency),
        "donor_count": found.donor_count,
        "deadline": campaign.deadline_at,
    }


def _donation_body(row: queries.DonationRow) -> dict[str, Any]:
    fields = reads.export_fields(row)
    fields["created_at"] = row.donation.created_at
    fields["donated_on"] = row.donation.donated_on
    return fields


def _refund_body(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "donation_id": refund.donation_id,
        "amount": format_minor(refund.amount_minor, refund.currency),
        "currency": refund.currency,
        "status": refund.status,
    }


# --------------------------------------------------------------------------- campaigns
@bp.post("/campaigns")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Create a campaign (a draft)",
    tag="campaigns",
    body=CampaignCreateSchema,
    responses={201: ("The draft campaign.", CampaignSchema)},
    errors={
        404: "`organisation_not_found`.",
        422: "`invalid_input` or `invalid_campaign` (e.g. a deadline in the past).",
        503: "`organisation_not_configured`: no organisation_id and no valid "
        "LEDGER_ORGANISATION_TAX_CODE.",
    },
)
def create_campaign_view() -> ResponseReturnValue:
    """A draft campaign with its escrow account; publish it to accept gifts."""
    data = load(CampaignCreateSchema(), json_body())
    goal = Money.parse(data["goal"], data["currency"])
    organisation = data.get("organisation_id") or default_recipient()
    origin, clock = views.origin(), views.clock()

    def work(session: Session) -> dict[str, Any]:
        campaign = commands.create_campaign(
            session,
            title=data["title"],
            description_md=data["description"],
            goal=goal,
            deadline_at=data["deadline"],
            funding_model=data["funding_model"],
            organisation=organisation,
            origin=origin,
            clock=clock,
        ).value
        return _campaign_body(session, campaign)

    body = in_transaction(work)
    location = url_for("api_v1.get_campaign_view", campaign_id=body["id"])
    return json_answer(CampaignSchema(), body, 201, Location=location)


@bp.get("/campaigns/<int:campaign_id>")
@public
@documented(
    "A campaign's figures",
    tag="campaigns",
    responses={200: ("Goal, settled money raised and donors.", CampaignSchema)},
    errors={404: "`campaign_not_found` (drafts are visible to treasurers only)."},
)
def get_campaign_view(campaign_id: int) -> ResponseReturnValue:
    """Public: the goal, the money raised (settled gifts only), donors and the deadline."""
    principal = current_principal()

    def read(session: Session) -> dict[str, Any]:
        return _campaign_body(session, reads.visible_campaign(session, campaign_id, principal))

    return json_answer(CampaignSchema(), views.read_once(read))


@bp.post("/campaigns/<int:campaign_id>/publish")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Publish a draft campaign",
    tag="campaigns",
    responses={200: ("The live campaign (publishing twice changes nothing).", CampaignSchema)},
    errors={404: "`campaign_not_found`.", 409: "`campaign_state`: not a draft, or past due."},
)
def publish_campaign_view(campaign_id: int) -> ResponseReturnValue:
    """draft -> live: the campaign appears on the public list and accepts gifts."""
    origin, clock = views.origin(), views.clock()

    def work(session: Session) -> dict[str, Any]:
        published = commands.publish_campaign(session, campaign_id, origin=origin, clock=clock)
        return _campaign_body(session, published.value)

    return json_answer(CampaignSchema(), in_transaction(work))


@bp.post("/campaigns/<int:campaign_id>/close")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Close a campaign after its deadline",
    tag="campaigns",
    responses={200: ("The decision and the refunds it started.", CloseResultSchema)},
    errors={404: "`campaign_not_found`.", 409: "`campaign_state`: a draft, or not yet due."},
)
def close_campaign_view(campaign_id: int) -> ResponseReturnValue:
    """Decide the campaign (an all-or-nothing one short of its goal refunds every gift),
    then close it when no refund is pending. Safe to repeat."""
    origin, clock = views.origin(), views.clock()
    result = in_transaction(
        lambda session: (
            commands.close_campaign(session, campaign_id, origin=origin, clock=clock).value
        )
    )
    if result.refunds_created:
        flush_outbox()
    return json_answer(
        CloseResultSchema(),
        {
            "campaign_id": campaign_id,
            "status": result.status,
            "refunds_created": result.refunds_created,
            "refunds_pending": result.refunds_pending,
        },
    )


# --------------------------------------------------------------------------- gifts
@bp.post("/campaigns/<int:campaign_id>/checkout")
@signed_in
@needs_scope(MONEY)
@documented(
    "Start a card gift (Stripe Checkout)",
    tag="donations",
    body=CheckoutCreateSchema,
    idempotent=True,
    responses={201: ("The pending donation and the page to pay it on.", CheckoutSchema)},
    errors={
        404: "`campaign_not_found`.",
        409: "`campaign_state` (not open to gifts) or `idempotency_conflict`.",
        422: "`invalid_input` or `invalid_donation` (outside the donation limits).",
        502: "`payment_provider_error`: Stripe could not be reached; retry with the same key.",
        503: "`payments_not_configured`: card payments are off.",
    },
)
def checkout_view(campaign_id: int) -> ResponseReturnValue:
    """A pending card donation by the caller and its Stripe Checkout URL. The gift
    counts once Stripe confirms the payment."""
    key = idempotency_key()
    data = load(CheckoutCreateSchema(), json_body())
    principal = views.principal()

    def read(session: Session) -> tuple[str, int | None]:
        currency = get_campaign(session, campaign_id).currency
        return currency, reads.person_id_of(session, principal)

    currency, person_id = views.snapshot(read)
    amount = parse_money(data["amount"], currency, "amount")
    checkout = begin_checkout(
        campaign_id,
        amount,
        person_id=person_id,
        anonymous=data["anonymous"],
        request_key=key,
        success_url=views.external_url(
            "campaigns.thank_you", campaign_id=campaign_id, donazione="DONATION_ID"
        ),
        cancel_url=views.external_url(
            "campaigns.campaign", campaign_id=campaign_id, annullata="DONATION_ID"
        ),
    )
    gift = views.snapshot(lambda session: session.get(Donation, checkout.donation_id))
    assert gift is not None
    body = {
        "donation_id": checkout.donation_id,
        "checkout_url": checkout.checkout_url,
        "status": gift.status,
        "amount": format_minor(gift.amount_minor, gift.currency),
        "currency": gift.currency,
    }
    return command_answer(CheckoutSchema(), body, created=checkout.created)


@bp.post("/campaigns/<int:campaign_id>/bank-transfers")
@signed_in
@needs_scope(MONEY)
@documented(
    "Start a gift by bank transfer",
    tag="donations",
    body=TransferCreateSchema,
    idempotent=True,
    responses={
        201: (
            "The pending donation, its RF reference and how to pay it (IBAN, beneficiary, "
            "EPC QR payload).",
            TransferSchema,
        )
    },
    errors={
        404: "`campaign_not_found`.",
        409: "`campaign_state` (not open to gifts) or `idempotency_conflict`.",
        422: "`invalid_input` or `invalid_donation` (outside the donation limits).",
        503: "`transfers_not_configured`: LEDGER_ORGANISATION_IBAN is not set.",
    },
)
def bank_transfer_view(campaign_id: int) -> ResponseReturnValue:
    """A pending gift by the caller, to be paid by bank transfer with its ISO 11649
    reference. It counts once the bank shows the money (reconciliation settles it)."""
    idempotency_key()  # a request without its key is refused first, as for every booking
    account = configured_account()
    principal = views.principal()
    limits = donation_limits()

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[Donation]:
        currency = get_campaign(session, campaign_id).currency
        donor = data["donor"] or {}
        return commands.start_transfer_gift(
            session,
            campaign_id,
            parse_money(data["amount"], currency, "amount"),
            person_id=reads.person_id_of(session, principal),
            anonymous=data["anonymous"],
            donor_name=donor.get("full_name"),
            donor_codice_fiscale=donor.get("codice_fiscale"),
            limits=limits,
            origin=origin,
            clock=views.clock(),
            key=key,
        )

    def answer(_session: Session, donation: Donation) -> dict[str, Any]:
        pay = instructions(donation, account)
        return {
            "donation_id": donation.id,
            "status": donation.status,
            "amount": pay.amount,
            "currency": pay.currency,
            "reference": pay.reference,
            "iban": pay.iban,
            "bic": pay.bic,
            "beneficiary": pay.beneficiary,
            "epc_payload": pay.epc_payload,
        }

    try:
        return command_post(TransferCreateSchema(), act, answer, TransferSchema())
    except LedgerError as exc:
        if exc.code in _DONOR_CODES and exc.details.get("field") in _TRANSFER_FIELDS:
            name = str(exc.details["field"])
            raise invalid_input({_TRANSFER_FIELDS[name]: [exc.message]}) from None
        raise


@bp.post("/campaigns/<int:campaign_id>/donations")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Record a gift received in cash or by bank transfer",
    tag="donations",
    body=OfflineDonationCreateSchema,
    idempotent=True,
    responses={201: ("The settled donation, with its receipt.", DonationSchema)},
    errors={
        404: "`campaign_not_found`.",
        409: "`campaign_state` (not open to gifts) or `idempotency_conflict`.",
        422: "`invalid_input` or `invalid_donation` (above LEDGER_OFFLINE_DONATION_MAX_MINOR: "
        "`details.maximum`).",
    },
)
def offline_donation_view(campaign_id: int) -> ResponseReturnValue:
    """The money has arrived: the gift is booked at once and gets its receipt. A donor,
    when given, is found by e-mail or registered; the receipt prints the donor as given
    here, and the person found is not changed."""

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[Donation]:
        currency = get_campaign(session, campaign_id).currency
        donor = data["donor"] or {}
        return commands.record_offline_gift(
            session,
            campaign_id,
            parse_money(data["amount"], currency, "amount"),
            method=data["method"],
            donated_on=data["donated_on"],
            reference=data["reference"],
            anonymous=data["anonymous"],
            donor=Donor(
                email=donor.get("email"),
                full_name=donor.get("full_name"),
                codice_fiscale=donor.get("codice_fiscale"),
            ),
            origin=origin,
            clock=views.clock(),
            key=key,
            maximum_minor=offline_maximum(),
        )

    def answer(session: Session, donation: Donation) -> dict[str, Any]:
        row = queries.donation_row(session, donation.id)
        assert row is not None
        return _donation_body(row)

    try:
        return command_post(OfflineDonationCreateSchema(), act, answer, DonationSchema())
    except LedgerError as exc:
        name = str(exc.details.get("field", ""))
        if exc.code not in _DONOR_CODES or name not in _DONOR_FIELDS:
            raise
        path, message = _DONOR_FIELDS[name]
        raise invalid_input({path: [message]}) from None


@bp.post("/donations/<int:donation_id>/refund")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Refund a gift",
    tag="donations",
    body=RefundCreateSchema,
    body_required=False,
    idempotent=True,
    responses={202: ("The refund: pending until Stripe confirms a card refund.", RefundSchema)},
    errors={
        404: "`donation_not_found`.",
        409: "`refund_pending`, `nothing_to_refund` or `idempotency_conflict`.",
        422: "`invalid_input` or `invalid_donation` (more than the gift still counts).",
    },
)
def refund_view(donation_id: int) -> ResponseReturnValue:
    """Refund `amount` (omitted: all that remains). Card gifts: sent to Stripe after the
    commit and booked when Stripe confirms. Cash and bank: booked now, as paid back."""
    # Whether this request queued a card refund, for the outbox to send after the commit.
    queued = {"card": False}

    def act(session: Session, body: Any, origin: Origin, key: str) -> Outcome[Refund]:
        data = load(RefundCreateSchema(), body)
        currency = get_donation(session, donation_id).currency
        amount = parse_money(data["amount"], currency, "amount") if "amount" in data else None
        outcome = commands.refund_donation(
            session, donation_id, amount, origin=origin, clock=views.clock(), key=key
        )
        method = get_donation(session, donation_id).method
        queued["card"] = outcome.created and method == "card"
        return outcome

    response = command_post(
        None, act, lambda _session, refund: _refund_body(refund), RefundSchema(), status=202
    )
    if queued["card"]:
        flush_outbox()
    return response


@bp.get("/me/donations")
@signed_in
@needs_scope(READ)
@documented(
    "The caller's own donations",
    tag="donations",
    responses={200: ("The caller's gifts, newest first.", DonationListSchema)},
)
def my_donations_view() -> ResponseReturnValue:
    """The caller's own gifts (also those anonymous to the public), never anyone else's."""
    principal = views.principal()

    def read(session: Session) -> list[dict[str, Any]]:
        return [_donation_body(row) for row in reads.own_donations(session, principal)]

    return json_answer(DonationListSchema(), {"donations": views.read_once(read)})
