"""Campaigns and donations in the JSON API (routes on the `api_v1` blueprint).

The same services as the pages (`web.campaigns`), so a gift, a refund or a
campaign made through the API is the same as one made through a form, audit
event included. Amounts are decimal strings in the campaign's currency.

Money-moving POSTs need an `Idempotency-Key`; the request key is
`api:<user id>:<key>`, as for journal entries. Checkout: the key names the
pending donation, so a retry returns the same donation and Checkout URL and
Stripe is asked for one session only. Offline gifts: the key is the donation's
request key. Refunds: the key's hash is kept in the refund's audit event. A
key reused with a different request is a 409 `idempotency_conflict` that
writes nothing.
"""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.campaigns import queries
from ledger.campaigns.donations import get_donation
from ledger.campaigns.errors import CampaignNotFoundError
from ledger.campaigns.models import Campaign, Donation
from ledger.campaigns.service import CloseResult, figures, get_campaign
from ledger.core.errors import IdempotencyConflictError, LedgerError
from ledger.core.money import Money, format_minor
from web.access import allow, current_principal, public, signed_in
from web.api.docs import documented
from web.api.errors import invalid_input
from web.api.inputs import idempotency_key, json_body, load
from web.api.schemas import (
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
)
from web.api.v1 import TREASURER, _answer, _caller, _json, bp
from web.campaigns.pages import TREASURER as TREASURER_ROLE
from web.campaigns.pages import (
    CampaignSpec,
    OfflineGift,
    RefundOutcome,
    close,
    create_campaign_once,
    export_fields,
    person_id_of,
    publish,
    read_once,
    record_offline_gift,
    refund_donation,
    snapshot,
)
from web.campaigns.payments import begin_checkout
from web.db import in_transaction
from web.errors import InvalidInputError
from web.mail import flush_outbox

# Field names of the pages' person errors, as the API body names them.
_DONOR_FIELDS = {
    "donor_email": ("donor.email", "a valid e-mail address is needed to link a donor"),
    "donor_name": (
        "donor.full_name",
        "this e-mail is not registered: give the donor's full_name to register them",
    ),
    "donor_codice_fiscale": ("donor.codice_fiscale", "not a valid codice fiscale"),
    "donated_on": ("donated_on", "the day of a gift cannot be in the future"),
}


def _money(text: str, currency: str, field: str) -> Money:
    try:
        money = Money.parse(text, currency)
    except LedgerError as exc:
        raise invalid_input({field: [exc.message]}) from None
    if money.minor <= 0:
        raise invalid_input({field: ["must be greater than zero"]})
    return money


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
    fields = export_fields(row)
    fields["created_at"] = row.donation.created_at
    fields["donated_on"] = row.donation.donated_on
    return fields


def _refund_body(outcome: RefundOutcome) -> dict[str, Any]:
    return {
        "id": outcome.refund_id,
        "donation_id": outcome.donation_id,
        "amount": format_minor(outcome.amount_minor, outcome.currency),
        "currency": outcome.currency,
        "status": outcome.status,
    }


# --------------------------------------------------------------------------- campaigns
@bp.post("/campaigns")
@allow(*TREASURER)
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
    spec = CampaignSpec(
        title=data["title"],
        description_md=data["description"],
        goal=Money.parse(data["goal"], data["currency"]),
        deadline_at=data["deadline"],
        funding_model=data["funding_model"],
        organisation_id=data.get("organisation_id"),
    )

    def work(session: Session) -> dict[str, Any]:
        campaign, _created = create_campaign_once(session, spec, request_key=None)
        return _campaign_body(session, campaign)

    body = in_transaction(work)
    location = url_for("api_v1.get_campaign_view", campaign_id=body["id"])
    return _json(CampaignSchema(), body, 201, Location=location)


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
        campaign = get_campaign(session, campaign_id)
        if campaign.status == "draft" and not (principal and TREASURER_ROLE in principal.roles):
            raise CampaignNotFoundError(
                f"nessuna campagna con id {campaign_id}", campaign_id=campaign_id
            )
        return _campaign_body(session, campaign)

    return _json(CampaignSchema(), read_once(read))


@bp.post("/campaigns/<int:campaign_id>/publish")
@allow(*TREASURER)
@documented(
    "Publish a draft campaign",
    tag="campaigns",
    responses={200: ("The live campaign (publishing twice changes nothing).", CampaignSchema)},
    errors={404: "`campaign_not_found`.", 409: "`campaign_state`: not a draft, or past due."},
)
def publish_campaign_view(campaign_id: int) -> ResponseReturnValue:
    """draft -> live: the campaign appears on the public list and accepts gifts."""

    def work(session: Session) -> dict[str, Any]:
        return _campaign_body(session, publish(session, campaign_id))

    return _json(CampaignSchema(), in_transaction(work))


@bp.post("/campaigns/<int:campaign_id>/close")
@allow(*TREASURER)
@documented(
    "Close a campaign after its deadline",
    tag="campaigns",
    responses={200: ("The decision and the refunds it started.", CloseResultSchema)},
    errors={404: "`campaign_not_found`.", 409: "`campaign_state`: a draft, or not yet due."},
)
def close_campaign_view(campaign_id: int) -> ResponseReturnValue:
    """Decide the campaign (an all-or-nothing one short of its goal refunds every gift),
    then close it when no refund is pending. Safe to repeat."""
    result: CloseResult = in_transaction(lambda session: close(session, campaign_id))
    if result.refunds_created:
        flush_outbox()
    return _json(
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
    principal = _caller()
    request_key = f"api:{principal.user_id}:{key}"

    def read(session: Session) -> tuple[str, int | None, tuple[int, int, bool] | None]:
        campaign = get_campaign(session, campaign_id)
        earlier = session.scalars(
            select(Donation).where(Donation.request_key == request_key)
        ).first()
        facts = (
            None
            if earlier is None
            else (earlier.campaign_id, earlier.amount_minor, bool(earlier.anonymous))
        )
        return campaign.currency, person_id_of(session, principal), facts

    currency, person_id, earlier = snapshot(read)
    amount = _money(data["amount"], currency, "amount")
    if earlier is not None and earlier != (campaign_id, amount.minor, data["anonymous"]):
        raise IdempotencyConflictError(
            "this Idempotency-Key was used for another checkout", key=key
        )
    checkout = begin_checkout(
        campaign_id,
        amount,
        person_id=person_id,
        anonymous=data["anonymous"],
        request_key=request_key,
        success_url=url_for(
            "campaigns.thank_you", campaign_id=campaign_id, donazione="DONATION_ID", _external=True
        ),
        cancel_url=url_for(
            "campaigns.campaign", campaign_id=campaign_id, annullata="DONATION_ID", _external=True
        ),
    )
    gift = snapshot(lambda session: session.get(Donation, checkout.donation_id))
    assert gift is not None
    body = {
        "donation_id": checkout.donation_id,
        "checkout_url": checkout.checkout_url,
        "status": gift.status,
        "amount": format_minor(gift.amount_minor, gift.currency),
        "currency": gift.currency,
    }
    return _answer(CheckoutSchema(), body, created=checkout.created and earlier is None)


@bp.post("/campaigns/<int:campaign_id>/donations")
@allow(*TREASURER)
@documented(
    "Record a gift received in cash or by bank transfer",
    tag="donations",
    body=OfflineDonationCreateSchema,
    idempotent=True,
    responses={201: ("The settled donation, with its receipt.", DonationSchema)},
    errors={
        404: "`campaign_not_found`.",
        409: "`campaign_state` (not open to gifts) or `idempotency_conflict`.",
    },
)
def offline_donation_view(campaign_id: int) -> ResponseReturnValue:
    """The money has arrived: the gift is booked at once and gets its receipt. A donor,
    when given, is found by e-mail or registered; their data stays in the registry."""
    key = idempotency_key()
    data = load(OfflineDonationCreateSchema(), json_body())
    principal = _caller()
    currency = snapshot(lambda session: get_campaign(session, campaign_id).currency)
    donor = data["donor"] or {}
    gift = OfflineGift(
        campaign_id=campaign_id,
        amount=_money(data["amount"], currency, "amount"),
        method=data["method"],
        donated_on=data["donated_on"],
        reference=data["reference"],
        anonymous=data["anonymous"],
        donor_email=donor.get("email"),
        donor_name=donor.get("full_name"),
        donor_codice_fiscale=donor.get("codice_fiscale"),
    )

    def work(session: Session) -> tuple[bool, dict[str, Any]]:
        donation, created = record_offline_gift(
            session, gift, request_key=f"api:{principal.user_id}:{key}", principal=principal
        )
        row = queries.donation_row(session, donation.id)
        assert row is not None
        return created, _donation_body(row)

    try:
        created, body = in_transaction(work)
    except InvalidInputError as exc:
        name = str(exc.details.get("field", ""))
        if name not in _DONOR_FIELDS:
            raise
        path, message = _DONOR_FIELDS[name]
        raise invalid_input({path: [message]}) from None
    return _answer(DonationSchema(), body, created=created)


@bp.post("/donations/<int:donation_id>/refund")
@allow(*TREASURER)
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
    key = idempotency_key()
    data = load(RefundCreateSchema(), json_body(required=False))
    principal = _caller()
    currency = snapshot(
        lambda session: _donation_currency(session, donation_id),
    )
    amount = _money(data["amount"], currency, "amount") if "amount" in data else None

    def work(session: Session) -> tuple[RefundOutcome, str]:
        outcome = refund_donation(
            session,
            donation_id,
            amount,
            request_key=f"api:{principal.user_id}:{key}",
            principal=principal,
        )
        gift = session.get(Donation, donation_id)
        assert gift is not None
        return outcome, gift.method

    outcome, method = in_transaction(work)
    if outcome.created and method == "card":
        flush_outbox()
    return _answer(RefundSchema(), _refund_body(outcome), created=outcome.created, status=202)


def _donation_currency(session: Session, donation_id: int) -> str:
    return get_donation(session, donation_id).currency


@bp.get("/me/donations")
@signed_in
@documented(
    "The caller's own donations",
    tag="donations",
    responses={200: ("The caller's gifts, newest first.", DonationListSchema)},
)
def my_donations_view() -> ResponseReturnValue:
    """The caller's own gifts (also those anonymous to the public), never anyone else's."""
    principal = _caller()

    def read(session: Session) -> list[dict[str, Any]]:
        person_id = person_id_of(session, principal)
        if person_id is None:
            return []
        return [_donation_body(row) for row in queries.donations_of_person(session, person_id)]

    return _json(DonationListSchema(), {"donations": read_once(read)})
