"""Stripe's webhook endpoint: verify the raw delivery, fetch the facts, apply once.

`POST /webhooks/stripe` is public (Stripe signs, nobody signs in) and exempt
from CSRF (the signature is the proof of origin). A delivery goes through
three steps, and only the last writes:

1. The raw body, exactly as received, is verified against every endpoint
   secret (`LEDGER_STRIPE_WEBHOOK_SECRET`, comma-separated while rotating) with
   Stripe's 300-second tolerance. A delivery that fails is answered 400 with
   the reason and leaves nothing behind but a log line without secrets.
2. Outside any transaction, what the domain needs is fetched from Stripe: the
   payment's facts (gross, fee, net from its balance transaction) and its
   refunds. A Stripe failure here answers 502 and writes nothing, so Stripe
   delivers again later.
3. One unit of work applies the event (the use case
   `ledger.campaigns.commands.apply_stripe_event`; for `payout.paid` and
   `payout.failed`, `ledger.reconcile.commands.apply_payout_event`, after the
   payout and its balance transactions were read from Stripe in step 2), which
   writes its audit event. The event id is its request key and is stored with the effect, so a
   redelivery, or two deliveries at once, end as one effect; every outcome
   (applied, duplicate, ignored, flagged) is answered 200 so Stripe stops.

Outside tests the application refuses to start without a webhook secret: an
endpoint that cannot verify would otherwise refuse every real delivery.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from sqlalchemy.orm import Session

from ledger.campaigns import commands
from ledger.campaigns.models import StripeEvent
from ledger.campaigns.stripe_events import (
    ChargeFacts,
    ProviderRefund,
    needs_charge_facts,
    needs_refund_list,
)
from ledger.core.errors import LedgerError
from ledger.payments.stripe_gateway import (
    BalanceTransaction,
    InvalidWebhookError,
    PayoutState,
    StripeGateway,
    verify_webhook,
)
from ledger.reconcile import commands as reconcile_commands
from web import views
from web.access import public
from web.campaigns.payments import (
    PaymentsNotConfiguredError,
    check_stripe_settings,
    gateway,
    webhook_secrets,
)
from web.campaigns.settings import check_transfer_settings
from web.config import ConfigError
from web.db import current_ledger, in_transaction
from web.extensions import csrf

bp = Blueprint("webhooks", __name__)


def _error(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response:
    """The JSON error envelope, whatever the caller's Accept header (Stripe is a program)."""
    response = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    response.status_code = status
    return response


def _configured_gateway() -> StripeGateway | None:
    try:
        return gateway()
    except PaymentsNotConfiguredError:
        return None


@bp.post("/webhooks/stripe")
@public
@csrf.exempt
def stripe() -> Response:
    """Receive one Stripe event."""
    body = request.get_data(cache=False)
    header = request.headers.get("Stripe-Signature")
    stripe_gateway = _configured_gateway()
    try:
        if stripe_gateway is not None:
            event = stripe_gateway.verify_event(body, header)
        else:
            event = verify_webhook(body, header, webhook_secrets())
    except InvalidWebhookError as exc:
        # The reason only: never the header, the body or a secret.
        current_app.logger.warning(
            "stripe webhook refused (%s) from %s", exc.details.get("reason"), request.remote_addr
        )
        return _error(400, exc.code, exc.message, {"reason": exc.details.get("reason")})
    event_id, kind = str(event["id"]), str(event["type"])

    if current_ledger().read(lambda s: s.get(StripeEvent, event_id) is not None):
        # A redelivery of an event already applied: nothing to fetch.
        return _apply(event, None, None)
    if stripe_gateway is None:
        current_app.logger.error("stripe webhook %s: LEDGER_STRIPE_SECRET_KEY is not set", kind)
        return _error(
            503,
            PaymentsNotConfiguredError.code,
            "card payments are not configured (LEDGER_STRIPE_SECRET_KEY)",
        )
    try:
        if kind in reconcile_commands.PAYOUT_EVENTS:
            payout, transactions = _fetch_payout(stripe_gateway, event)
            return _apply_payout(event, payout, transactions)
        facts, refunds = _fetch(stripe_gateway, event)
    except LedgerError as exc:
        # Stripe is down or not ready: answer an error so Stripe delivers again.
        current_app.logger.warning(
            "stripe webhook %s (%s): fetching from Stripe failed: %s",
            event_id,
            kind,
            exc.code,
        )
        status = 502 if exc.http_status >= 500 else exc.http_status
        return _error(status, exc.code, exc.message, dict(exc.details))
    return _apply(event, facts, refunds)


def _fetch(
    stripe_gateway: StripeGateway, event: dict[str, Any]
) -> tuple[ChargeFacts | None, list[ProviderRefund] | None]:
    """What the event needs from Stripe's API, fetched before any transaction opens."""
    facts: ChargeFacts | None = None
    refunds: list[ProviderRefund] | None = None
    intent = needs_charge_facts(event)
    if intent is not None:
        details = stripe_gateway.payment_details(intent)
        facts = ChargeFacts(
            payment_intent_id=details.payment_intent_id,
            charge_id=details.charge_id,
            amount_minor=details.amount_minor,
            fee_minor=details.fee_minor,
            currency=details.currency,
            donation_id=details.donation_id,
        )
    refunded = needs_refund_list(event)
    if refunded is not None:
        refunds = [
            (r.id, r.amount_minor, r.status or "", r.refund_id)
            for r in stripe_gateway.list_refunds(refunded)
        ]
    return facts, refunds


def _fetch_payout(
    stripe_gateway: StripeGateway, event: dict[str, Any]
) -> tuple[PayoutState | None, list[BalanceTransaction]]:
    """The payout as Stripe knows it now and, when paid, every balance transaction it paid
    out (all pages), fetched before any transaction opens."""
    obj = event.get("data", {}).get("object", {}) or {}
    payout_id = obj.get("id")
    if not isinstance(payout_id, str) or not payout_id:
        return None, []
    payout = stripe_gateway.retrieve_payout(payout_id)
    if payout.status != "paid":
        return payout, []
    return payout, stripe_gateway.payout_transactions(payout_id)


def _apply_payout(
    event: dict[str, Any], payout: PayoutState | None, transactions: list[BalanceTransaction]
) -> Response:
    """The one unit of work of a payout event: check, book or reverse, audit."""
    origin = views.origin()

    def work(session: Session) -> str:
        outcome = reconcile_commands.apply_payout_event(
            session, event, payout, transactions, origin=origin, clock=views.clock()
        )
        return outcome.value.outcome

    try:
        outcome = in_transaction(work)
    except LedgerError as exc:
        current_app.logger.error(
            "stripe webhook %s (%s) not applied: %s", event["id"], event["type"], exc.code
        )
        return _error(exc.http_status, exc.code, exc.message, dict(exc.details))
    return jsonify({"outcome": outcome})


def _apply(
    event: dict[str, Any], facts: ChargeFacts | None, refunds: list[ProviderRefund] | None
) -> Response:
    """The one unit of work of a delivery: the event's effect and its audit event."""
    origin = views.origin()

    def work(session: Session) -> str:
        outcome = commands.apply_stripe_event(
            session, event, facts, refunds=refunds, origin=origin, clock=views.clock()
        )
        return outcome.value.outcome

    try:
        outcome = in_transaction(work)
    except LedgerError as exc:
        # The event cannot be applied as it stands (say, a refund of a gift that
        # failed): nothing is written, and Stripe's redelivery will try again.
        current_app.logger.error(
            "stripe webhook %s (%s) not applied: %s", event["id"], event["type"], exc.code
        )
        return _error(exc.http_status, exc.code, exc.message, dict(exc.details))
    if outcome == "flagged":
        current_app.logger.warning(
            "stripe webhook %s (%s) flagged a donation for a treasurer", event["id"], event["type"]
        )
    return jsonify({"outcome": outcome})


def init_webhooks(app: Flask) -> None:
    """Register the endpoint; outside tests, refuse to start without a webhook secret.

    The Stripe settings are checked here too (`web.campaigns.payments.check_stripe_settings`),
    and the organisation's bank account (`web.campaigns.settings.check_transfer_settings`).
    """
    check_stripe_settings(app)
    check_transfer_settings(app)
    if not app.config.get("TESTING") and not _secrets_of(app):
        raise ConfigError(
            "LEDGER_STRIPE_WEBHOOK_SECRET is not set: Stripe's webhook deliveries could "
            "not be verified. Set it to the endpoint secret (whsec_...; two, comma-separated, "
            "while rotating); `make run` sets a local development one"
        )
    app.register_blueprint(bp)


def _secrets_of(app: Flask) -> list[str]:
    raw = str(app.config.get("STRIPE_WEBHOOK_SECRET") or "")
    return [s.strip() for s in raw.split(",") if s.strip()]
