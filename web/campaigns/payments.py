"""Card payments seen from the web: the Stripe gateway of this app and the checkout.

`begin_checkout` is the one way a request starts a card gift, shared by the
donation form and the API. It is the documented exception to "one unit of
work per request", because Stripe must be called between two writes: the
donation is written `pending` and committed first (the use case
`ledger.campaigns.commands.start_card_donation`), then the Checkout Session is
created (outside any transaction) with the key `donation-{id}-checkout`, then
its id and URL are stored. A retry of the same request (same request key) is
answered the same donation and asks Stripe for the same session, so a double
submit makes one donation and one Checkout Session.

Every idempotency key the gateway sends starts with `LEDGER_STRIPE_KEY_PREFIX`:
two databases on one Stripe account (demo and staging, or a database reset or
restored from a backup) would otherwise reuse `donation-7-checkout` within
Stripe's 24 hours and be answered with the other's session or refund.
`check_stripe_settings` refuses to start with a live key and no prefix, and
warns outside tests when a test key has none. Checkout's return URLs start
with LEDGER_BASE_URL (`web.views.external_url`), never with the Host header.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from ledger.campaigns import commands
from ledger.campaigns.donations import Limits, attach_checkout
from ledger.campaigns.getters import get_campaign
from ledger.campaigns.models import Donation
from ledger.commands import Origin
from ledger.core.errors import LedgerError
from ledger.core.money import Money
from ledger.payments.stripe_gateway import StripeGateway, check_key_prefix, is_live_key
from web import views
from web.config import ConfigError
from web.db import current_ledger


class PaymentsNotConfiguredError(LedgerError):
    """Card payments are off: LEDGER_STRIPE_SECRET_KEY is not set (503)."""

    code = "payments_not_configured"
    http_status = 503


def key_prefix(config: Mapping[str, Any]) -> str:
    """The prefix of this instance's Stripe idempotency keys ("" when unset)."""
    return str(config.get("STRIPE_KEY_PREFIX") or "")


def check_stripe_settings(app: Flask) -> None:
    """Refuse settings that would let two databases replay each other's Stripe keys.

    A prefix Stripe would not accept is an error; so is a live key without a
    prefix (a restored production database would reuse its last day's keys),
    and a live key without LEDGER_BASE_URL (where Stripe sends donors back).
    A test key without a prefix is allowed, with a warning outside tests.
    """
    prefix = key_prefix(app.config)
    try:
        check_key_prefix(prefix)
    except ValueError as exc:
        raise ConfigError(f"LEDGER_STRIPE_KEY_PREFIX: {exc}") from None
    secret_key = str(app.config.get("STRIPE_SECRET_KEY") or "")
    if is_live_key(secret_key) and prefix and not app.config.get("BASE_URL"):
        raise ConfigError(
            "LEDGER_BASE_URL is not set: with a live Stripe key, Stripe sends donors back to "
            "this site's address (e.g. https://registro.example.org), never to the Host "
            "header of the request that started the payment"
        )
    if prefix or not secret_key:
        return
    if is_live_key(secret_key):
        raise ConfigError(
            "LEDGER_STRIPE_KEY_PREFIX is not set: with a live Stripe key every idempotency "
            "key needs this instance's prefix (e.g. `prod-2026a-`), or a database restored "
            "from a backup would replay the last day's refunds and checkouts at Stripe"
        )
    if not app.config.get("TESTING"):
        app.logger.warning(
            "LEDGER_STRIPE_KEY_PREFIX is not set: Stripe idempotency keys (donation-7-checkout, "
            "refund-7) carry no instance prefix, so another database on the same Stripe "
            "account (demo, staging, a reset) would replay them for 24 hours"
        )


def webhook_secrets() -> list[str]:
    """The endpoint secrets to try, current first (two during a rotation)."""
    raw = str(current_app.config.get("STRIPE_WEBHOOK_SECRET") or "")
    return [s.strip() for s in raw.split(",") if s.strip()]


def gateway() -> StripeGateway:
    """The app's Stripe gateway (one per request)."""
    existing: StripeGateway | None = g.get("stripe_gateway")
    if existing is not None:
        return existing
    key = current_app.config.get("STRIPE_SECRET_KEY")
    if not key:
        raise PaymentsNotConfiguredError(
            "I pagamenti con carta non sono configurati (LEDGER_STRIPE_SECRET_KEY)."
        )
    made = StripeGateway(
        str(key),
        api_base=current_app.config.get("STRIPE_API_BASE") or None,
        webhook_secrets=webhook_secrets(),
        key_prefix=key_prefix(current_app.config),
    )
    g.stripe_gateway = made
    return made


def donation_limits() -> Limits:
    return Limits(
        minimum_minor=int(current_app.config["DONATION_MIN_MINOR"]),
        maximum_minor=int(current_app.config["DONATION_MAX_MINOR"]),
    )


def offline_maximum() -> int:
    """The largest gift received offline (LEDGER_OFFLINE_DONATION_MAX_MINOR), in cents."""
    return int(current_app.config["OFFLINE_DONATION_MAX_MINOR"])


@dataclass(frozen=True, slots=True)
class Checkout:
    donation_id: int
    checkout_url: str
    created: bool


def begin_checkout(
    campaign_id: int,
    amount: Money,
    *,
    person_id: int | None,
    anonymous: bool,
    request_key: str,
    success_url: str,
    cancel_url: str,
    origin: Origin | None = None,
) -> Checkout:
    """Write the pending donation, create (or find) its Checkout Session, store it.

    `request_key` is the caller's key (a form's, an Idempotency-Key) and
    `origin` the caller (this request's, by default): a repeat answers the same
    donation, and its Checkout URL once one was stored. `created` is false for
    a repeat.
    """
    stripe = gateway()  # refuse before writing anything when card payments are off
    ledger = current_ledger()
    caller = origin if origin is not None else views.origin()

    def start(session: Session) -> tuple[Donation, bool, str]:
        outcome = commands.start_card_donation(
            session,
            campaign_id,
            amount,
            person_id=person_id,
            anonymous=anonymous,
            limits=donation_limits(),
            origin=caller,
            clock=ledger.clock,
            key=request_key,
        )
        title = get_campaign(session, outcome.value.campaign_id).title
        return outcome.value, outcome.created, title

    donation, created, title = ledger.run(start)
    if donation.checkout_url:
        return Checkout(donation.id, donation.checkout_url, created)
    session = stripe.create_checkout_session(
        donation_id=donation.id,
        amount_minor=donation.amount_minor,
        currency=donation.currency,
        description=f"Donazione: {title}"[:200],
        success_url=success_url.replace("DONATION_ID", str(donation.id)),
        cancel_url=cancel_url.replace("DONATION_ID", str(donation.id)),
    )
    ledger.run(lambda s: attach_checkout(s, donation.id, session.id, session.url))
    return Checkout(donation.id, session.url, created)
