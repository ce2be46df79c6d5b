"""A small typed adapter over the Stripe API: Checkout, payment details, refunds, webhooks.

The rest of the ledger never sees a `stripe` object: every call returns a frozen
record of plain values, amounts are integer minor units (Stripe's own unit),
currencies are upper-case ISO codes, and every Stripe failure becomes a
`PaymentProviderError`. Outbound POSTs carry deterministic idempotency keys
derived from local ids, so an application-level retry (a job restart, a double
submit) replays Stripe's first answer instead of creating a second object. Fees
and net amounts are read from Stripe's balance transaction, never computed.
Every key this gateway sends starts with its `key_prefix`, which names the
ledger instance: Stripe keeps a key for 24 hours per account, so two databases
sharing one Stripe account (a demo and a staging instance, or a database reset
or restored from a backup) would otherwise replay each other's `refund-7` and
create nothing, or refuse it as a different request. A refund also carries our
refund id in its metadata, so a refund whose answer was lost can be found at
Stripe after its key has expired instead of being asked for again.
Webhook bodies are verified as the raw bytes received against every configured
endpoint secret (two while a secret is being rotated).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import stripe
from stripe.params import RefundCreateParams

from ledger.core.errors import InvalidAmountError, LedgerError
from ledger.core.money import Money

__all__ = [
    "BalanceTransaction",
    "CheckoutSession",
    "InvalidWebhookError",
    "PaymentDetails",
    "PaymentNotSettledError",
    "PaymentProviderError",
    "PayoutState",
    "RefundState",
    "SessionState",
    "StripeGateway",
    "check_key_prefix",
    "checkout_idempotency_key",
    "is_live_key",
    "verify_webhook",
]

MAX_IDEMPOTENCY_KEY_LENGTH = 255
# Letters, digits and `.`, `_`, `:`, `-`; short enough to leave room for the key.
MAX_KEY_PREFIX_LENGTH = 64
_KEY_PREFIX = re.compile(r"[A-Za-z0-9._:-]*\Z")
# The metadata key of a refund that names our refund row.
REFUND_METADATA_KEY = "refund_id"
DEFAULT_WEBHOOK_TOLERANCE = 300


class PaymentProviderError(LedgerError):
    """Stripe refused a request or could not be reached.

    `details` names the operation, Stripe's error code and type, the HTTP status
    and Stripe's request id: never a key, a secret or a request body.
    """

    code = "payment_provider_error"
    http_status = 502


class PaymentNotSettledError(LedgerError):
    """The payment has no settled charge yet (still processing, failed or cancelled)."""

    code = "payment_not_settled"
    http_status = 409


class InvalidWebhookError(LedgerError):
    """A webhook delivery failed verification; `details["reason"]` says which check."""

    code = "invalid_webhook_signature"
    http_status = 400


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    """A created Checkout Session: its id and the hosted page to send the donor to."""

    id: str
    url: str


@dataclass(frozen=True, slots=True)
class SessionState:
    """What Stripe currently says about a Checkout Session."""

    id: str
    status: str | None
    payment_status: str
    payment_intent_id: str | None
    amount_total: int | None
    currency: str | None
    donation_id: int | None


@dataclass(frozen=True, slots=True)
class PaymentDetails:
    """A settled payment as Stripe's balance transaction records it.

    `amount_minor`, `fee_minor`, `net_minor` and `currency` all come from the
    balance transaction, so they are in the settlement currency and
    `net_minor == amount_minor - fee_minor` holds by Stripe's own accounting.
    """

    payment_intent_id: str
    charge_id: str
    amount_minor: int
    fee_minor: int
    net_minor: int
    currency: str
    balance_transaction_id: str
    # From the PaymentIntent's metadata (set at checkout): finds the gift when a
    # refund or a dispute arrives before the payment's own event.
    donation_id: int | None = None


@dataclass(frozen=True, slots=True)
class RefundState:
    """A refund: `status` is Stripe's (pending, requires_action, succeeded, failed, canceled).

    `refund_id` is the ledger's refund id from the refund's metadata, when the
    ledger asked for it (None for a refund made in the dashboard).
    """

    id: str
    status: str | None
    amount_minor: int
    currency: str
    payment_intent_id: str | None = None
    refund_id: int | None = None


@dataclass(frozen=True, slots=True)
class BalanceTransaction:
    """One movement of the Stripe balance, as Stripe records it (amounts in minor units).

    `type` is Stripe's (charge, refund, adjustment, payout, stripe_fee, ...);
    `source` the id of what moved the money (ch_, re_, dp_, po_), if any;
    `net_minor == amount_minor - fee_minor` by Stripe's accounting.
    """

    id: str
    type: str
    reporting_category: str | None
    source: str | None
    amount_minor: int
    fee_minor: int
    net_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class PayoutState:
    """A payout from the Stripe balance to the bank: `amount_minor` (negative when
    refunds and disputes exceeded the balance), `status` (pending, in_transit,
    paid, failed, canceled), `arrival_date` (a Unix time: the expected day at the
    bank), and what the bank line may carry (`statement_descriptor`, `trace_id`)."""

    id: str
    amount_minor: int
    currency: str
    status: str
    arrival_date: int | None
    automatic: bool
    statement_descriptor: str | None = None
    trace_id: str | None = None
    failure_code: str | None = None


def checkout_idempotency_key(donation_id: int) -> str:
    """The idempotency key of the one Checkout Session a donation may have."""
    return f"donation-{donation_id}-checkout"


def check_key_prefix(prefix: str) -> str:
    """The prefix itself if it may start an idempotency key; ValueError otherwise."""
    if not isinstance(prefix, str):
        raise TypeError("the key prefix is a string")
    if len(prefix) > MAX_KEY_PREFIX_LENGTH or not _KEY_PREFIX.match(prefix):
        raise ValueError(
            f"the key prefix has at most {MAX_KEY_PREFIX_LENGTH} letters, digits, "
            "'.', '_', ':' or '-'"
        )
    return prefix


def is_live_key(secret_key: str) -> bool:
    """Whether a secret (or restricted) key belongs to live mode rather than test mode."""
    return secret_key.startswith(("sk_live_", "rk_live_"))


class StripeGateway:
    """The ledger's only door to Stripe.

    `api_base` points the real client at another server (the offline fake in
    tests); `webhook_secrets` are the endpoint secrets accepted by
    `verify_event`, usually one, two while rotating; `key_prefix` starts every
    idempotency key sent (`<prefix>donation-7-checkout`), unique per database
    that shares the Stripe account.
    """

    def __init__(
        self,
        secret_key: str,
        api_base: str | None = None,
        webhook_secrets: Sequence[str] = (),
        *,
        key_prefix: str = "",
    ) -> None:
        if not secret_key or not secret_key.strip():
            raise ValueError("a Stripe secret key is required")
        self.key_prefix = check_key_prefix(key_prefix)
        if isinstance(webhook_secrets, str):
            # A lone string would otherwise be iterated as one-character secrets.
            raise TypeError("webhook_secrets is a sequence of secrets, not one string")
        secrets = tuple(webhook_secrets)
        if any(not secret or not secret.strip() for secret in secrets):
            raise ValueError("webhook secrets must not be blank")
        self._webhook_secrets = secrets
        self.livemode = is_live_key(secret_key)
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base} if api_base else None,
            # A StripeClient made without this retries nothing; two retries reuse
            # the same Idempotency-Key, so they can never duplicate a charge.
            max_network_retries=2,
        )

    def __repr__(self) -> str:
        return f"<StripeGateway webhook_secrets={len(self._webhook_secrets)}>"

    def idempotency_key(self, key: str) -> str:
        """The key as sent to Stripe: this instance's prefix, then `key`."""
        if not key:
            raise ValueError("an idempotency key is required")
        full = self.key_prefix + key
        if len(full) > MAX_IDEMPOTENCY_KEY_LENGTH:
            raise ValueError(
                f"an idempotency key (with its prefix) has at most "
                f"{MAX_IDEMPOTENCY_KEY_LENGTH} characters"
            )
        return full

    # -- Checkout ------------------------------------------------------------
    def create_checkout_session(
        self,
        *,
        donation_id: int,
        amount_minor: int,
        currency: str,
        description: str,
        success_url: str,
        cancel_url: str,
    ) -> CheckoutSession:
        """Create (or, for a donation already sent to Stripe, replay) its Checkout Session.

        The idempotency key depends on the donation id only, so calling this
        twice for one donation yields one session; calling it with different
        parameters for the same donation is refused by Stripe (PaymentProviderError).
        """
        _check_positive(amount_minor)
        money = Money(amount_minor, currency.upper())
        if isinstance(donation_id, bool) or not isinstance(donation_id, int):
            raise TypeError("donation_id is an integer")
        reference = str(donation_id)
        metadata = {"donation_id": reference}
        with _provider_errors("create_checkout_session"):
            session = self._client.v1.checkout.sessions.create(
                {
                    "mode": "payment",
                    "line_items": [
                        {
                            "price_data": {
                                "currency": money.currency.lower(),
                                "unit_amount": money.minor,
                                "product_data": {"name": description},
                            },
                            "quantity": 1,
                        }
                    ],
                    "client_reference_id": reference,
                    "metadata": metadata,
                    "payment_intent_data": {"metadata": metadata},
                    "success_url": success_url,
                    "cancel_url": cancel_url,
                },
                options={
                    "idempotency_key": self.idempotency_key(checkout_idempotency_key(donation_id))
                },
            )
        if not session.url:
            raise PaymentProviderError(
                "Stripe returned a Checkout Session without a URL",
                operation="create_checkout_session",
                session_id=session.id,
            )
        return CheckoutSession(id=session.id, url=session.url)

    def retrieve_checkout_session(self, session_id: str) -> SessionState:
        """Fetch a Checkout Session's current state (webhooks are nudges; this is the truth)."""
        with _provider_errors("retrieve_checkout_session"):
            session = self._client.v1.checkout.sessions.retrieve(session_id)
        metadata = session.metadata.to_dict() if session.metadata is not None else {}
        reference = metadata.get("donation_id") or session.client_reference_id
        return SessionState(
            id=session.id,
            status=session.status,
            payment_status=session.payment_status,
            payment_intent_id=_expandable_id(session.payment_intent),
            amount_total=session.amount_total,
            currency=session.currency.upper() if session.currency else None,
            donation_id=_parse_donation_id(reference),
        )

    # -- Payments ------------------------------------------------------------
    def payment_details(self, payment_intent_id: str) -> PaymentDetails:
        """Read a settled payment's gross, fee and net from its balance transaction.

        Raises PaymentNotSettledError while the charge is processing (SEPA Direct
        Debit) or when the payment failed: there is no balance transaction yet.
        """
        with _provider_errors("payment_details"):
            intent = self._client.v1.payment_intents.retrieve(
                payment_intent_id, {"expand": ["latest_charge.balance_transaction"]}
            )
        charge = intent.latest_charge
        if charge is None or isinstance(charge, str):
            raise PaymentNotSettledError(
                "the payment has no charge yet",
                payment_intent_id=intent.id,
                status=intent.status,
            )
        txn = charge.balance_transaction
        if charge.status != "succeeded" or txn is None:
            raise PaymentNotSettledError(
                "the charge has not settled",
                payment_intent_id=intent.id,
                charge_id=charge.id,
                status=charge.status,
            )
        if isinstance(txn, str):
            raise PaymentProviderError(
                "Stripe did not expand the balance transaction",
                operation="payment_details",
                payment_intent_id=intent.id,
            )
        return PaymentDetails(
            payment_intent_id=intent.id,
            charge_id=charge.id,
            amount_minor=txn.amount,
            fee_minor=txn.fee,
            net_minor=txn.net,
            currency=txn.currency.upper(),
            balance_transaction_id=txn.id,
            donation_id=_parse_donation_id(
                (intent.metadata.to_dict() if intent.metadata is not None else {}).get(
                    "donation_id"
                )
            ),
        )

    # -- Refunds -------------------------------------------------------------
    def create_refund(
        self,
        *,
        payment_intent_id: str,
        amount_minor: int,
        idempotency_key: str,
        refund_id: int | None = None,
    ) -> RefundState:
        """Refund part or all of a payment; the caller's key makes a retry replay, not repeat.

        Derive the key from the local refund record (e.g. `refund-<id>`; the
        gateway's prefix is put in front): the same key with a different amount
        is refused by Stripe. `refund_id`, the ledger's refund, goes into the
        refund's metadata, where `list_refunds` finds it again (Stripe forgets a
        key after 24 hours, never a refund's metadata).
        """
        _check_positive(amount_minor)
        key = self.idempotency_key(idempotency_key)
        params: RefundCreateParams = {"payment_intent": payment_intent_id, "amount": amount_minor}
        if refund_id is not None:
            if isinstance(refund_id, bool) or not isinstance(refund_id, int):
                raise TypeError("refund_id is an integer")
            params["metadata"] = {REFUND_METADATA_KEY: str(refund_id)}
        with _provider_errors("create_refund"):
            refund = self._client.v1.refunds.create(params, options={"idempotency_key": key})
        return _refund_state(refund)

    def retrieve_refund(self, refund_id: str) -> RefundState:
        """Fetch a refund's current state (a pending refund may later succeed or fail)."""
        with _provider_errors("retrieve_refund"):
            refund = self._client.v1.refunds.retrieve(refund_id)
        return _refund_state(refund)

    def list_refunds(self, payment_intent_id: str) -> list[RefundState]:
        """Every refund of a payment, oldest first, whatever its status.

        Current API versions no longer embed `refunds` in a charge, so a
        `charge.refunded` event is a nudge and this is the truth.
        """
        with _provider_errors("list_refunds"):
            page = self._client.v1.refunds.list({"payment_intent": payment_intent_id, "limit": 100})
            refunds = [_refund_state(refund) for refund in page.auto_paging_iter()]
        return refunds[::-1]  # Stripe lists newest first

    def find_refund(self, payment_intent_id: str, refund_id: int) -> RefundState | None:
        """The refund of this payment that the ledger's refund `refund_id` made, if any.

        Found by the refund id in its metadata, so it is found after Stripe has
        forgotten the request's idempotency key. One key makes one refund;
        should there be two, the one that moved money is returned.
        """
        ours = [r for r in self.list_refunds(payment_intent_id) if r.refund_id == refund_id]
        return next((r for r in ours if r.status not in ("failed", "canceled")), None) or (
            ours[0] if ours else None
        )

    # -- Payouts -------------------------------------------------------------
    def retrieve_payout(self, payout_id: str) -> PayoutState:
        """A payout as Stripe knows it now (events are nudges; this is the truth)."""
        with _provider_errors("retrieve_payout"):
            payout = self._client.v1.payouts.retrieve(payout_id)
        return _payout_state(payout)

    def list_payouts(self, *, limit: int = 100) -> list[PayoutState]:
        """The most recent payouts, newest first, at most `limit` of them."""
        found: list[PayoutState] = []
        with _provider_errors("list_payouts"):
            page = self._client.v1.payouts.list({"limit": min(max(limit, 1), 100)})
            for payout in page.auto_paging_iter():
                found.append(_payout_state(payout))
                if len(found) >= limit:
                    break
        return found

    def payout_transactions(self, payout_id: str) -> list[BalanceTransaction]:
        """Every balance transaction a payout paid out (its own included), all pages read.

        Only automatic payouts are itemised by Stripe.
        """
        with _provider_errors("payout_transactions"):
            page = self._client.v1.balance_transactions.list({"payout": payout_id, "limit": 100})
            return [
                BalanceTransaction(
                    id=txn.id,
                    type=txn.type,
                    reporting_category=txn.reporting_category,
                    source=_object_id(txn.source),
                    amount_minor=txn.amount,
                    fee_minor=txn.fee,
                    net_minor=txn.net,
                    currency=txn.currency.upper(),
                )
                for txn in page.auto_paging_iter()
            ]

    # -- Webhooks ------------------------------------------------------------
    def verify_event(
        self,
        payload: bytes,
        signature_header: str | None,
        *,
        tolerance: int = DEFAULT_WEBHOOK_TOLERANCE,
    ) -> dict[str, Any]:
        """Verify a webhook delivery and return the event as a dict.

        `payload` must be the raw request body exactly as received: the signature
        covers those bytes, and a parsed-then-re-serialised body will not verify.
        A delivery is accepted if its signature matches any configured secret and
        its timestamp is no older than `tolerance` seconds, and its `livemode`
        matches this gateway's key (a test event never reaches live books).
        """
        return verify_webhook(
            payload,
            signature_header,
            self._webhook_secrets,
            tolerance=tolerance,
            livemode=self.livemode,
        )


def verify_webhook(
    payload: bytes,
    signature_header: str | None,
    secrets: Sequence[str],
    *,
    tolerance: int = DEFAULT_WEBHOOK_TOLERANCE,
    livemode: bool | None = None,
) -> dict[str, Any]:
    """Verify a webhook delivery against `secrets` and return the event as a dict.

    The checks of `StripeGateway.verify_event`, for a caller that has the
    endpoint secrets but no API key; `livemode` None skips the mode check.
    """
    if isinstance(secrets, str):
        raise TypeError("secrets is a sequence of secrets, not one string")
    if not signature_header:
        raise InvalidWebhookError("missing Stripe-Signature header", reason="missing_header")
    if not secrets:
        raise InvalidWebhookError("no webhook secret is configured", reason="no_webhook_secret")
    try:
        text = bytes(payload).decode("utf-8")
    except (UnicodeDecodeError, TypeError):
        raise InvalidWebhookError(
            "webhook body is not UTF-8", reason="undecodable_payload"
        ) from None
    # Signature first, with no tolerance, so a stale but genuine delivery is
    # reported as stale rather than as forged.
    matching = next(
        (s for s in secrets if _signature_matches(text, signature_header, s)),
        None,
    )
    if matching is None:
        raise InvalidWebhookError(
            "webhook signature does not match any configured secret", reason="bad_signature"
        )
    try:
        stripe.WebhookSignature.verify_header(text, signature_header, matching, tolerance)
    except stripe.SignatureVerificationError:
        raise InvalidWebhookError(
            "webhook timestamp is outside the tolerance",
            reason="timestamp_outside_tolerance",
            tolerance=tolerance,
        ) from None
    try:
        event = json.loads(text)
    except ValueError:
        raise InvalidWebhookError(
            "webhook body is not JSON", reason="undecodable_payload"
        ) from None
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("id"), str)
        or not isinstance(event.get("type"), str)
    ):
        raise InvalidWebhookError("webhook body is not an event", reason="undecodable_payload")
    if livemode is not None and "livemode" in event and bool(event["livemode"]) != livemode:
        # A test-mode event posted to a live endpoint (or the reverse) is a wrong
        # configuration, never money: refuse it rather than book it.
        raise InvalidWebhookError(
            "webhook event is from the other Stripe mode (test/live) than this key",
            reason="livemode_mismatch",
        )
    return event


# -- helpers ----------------------------------------------------------------
def _signature_matches(text: str, header: str, secret: str) -> bool:
    try:
        stripe.WebhookSignature.verify_header(text, header, secret, None)
    except stripe.SignatureVerificationError:
        return False
    return True


@contextmanager
def _provider_errors(operation: str) -> Iterator[None]:
    """Turn any Stripe failure into a PaymentProviderError without leaking secrets."""
    try:
        yield
    except stripe.StripeError as exc:
        error = exc.error
        raise PaymentProviderError(
            f"Stripe {operation} failed ({type(exc).__name__}"
            + (f": {exc.code})" if exc.code else ")"),
            operation=operation,
            stripe_code=exc.code,
            stripe_error_type=error.type if error is not None else None,
            stripe_param=error.param if error is not None else None,
            http_status=exc.http_status,
            request_id=exc.request_id,
            error_class=type(exc).__name__,
        ) from exc


def _check_positive(amount_minor: int) -> None:
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise InvalidAmountError(
            f"amounts are integer minor units, not {type(amount_minor).__name__}"
        )
    if amount_minor <= 0:
        raise InvalidAmountError("a Stripe amount must be positive", amount_minor=amount_minor)


def _expandable_id(value: str | stripe.PaymentIntent | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.id


def _object_id(value: object) -> str | None:
    """The id of an expandable field, expanded or not."""
    if value is None or isinstance(value, str):
        return value
    object_id = getattr(value, "id", None)
    return object_id if isinstance(object_id, str) else None


def _payout_state(payout: stripe.Payout) -> PayoutState:
    trace = getattr(payout, "trace_id", None)
    trace_value = getattr(trace, "value", None) if trace is not None else None
    return PayoutState(
        id=payout.id,
        amount_minor=payout.amount,
        currency=payout.currency.upper(),
        status=payout.status,
        arrival_date=payout.arrival_date,
        automatic=bool(payout.automatic),
        statement_descriptor=payout.statement_descriptor,
        trace_id=trace_value if isinstance(trace_value, str) else None,
        failure_code=payout.failure_code,
    )


def _parse_donation_id(reference: object) -> int | None:
    """A local id from Stripe metadata (a string of ASCII digits), or None."""
    if not isinstance(reference, str) or not reference.isascii() or not reference.isdigit():
        return None
    return int(reference)


def _refund_state(refund: stripe.Refund) -> RefundState:
    metadata: Mapping[str, Any] = refund.metadata.to_dict() if refund.metadata is not None else {}
    return RefundState(
        id=refund.id,
        status=refund.status,
        amount_minor=refund.amount,
        currency=refund.currency.upper(),
        payment_intent_id=_expandable_id(refund.payment_intent),
        refund_id=_parse_donation_id(metadata.get(REFUND_METADATA_KEY)),
    )
