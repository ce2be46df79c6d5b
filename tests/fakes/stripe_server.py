"""A stateful local fake of the few Stripe endpoints the ledger uses.

The real `stripe` library talks to it over HTTP (`StripeClient(...,
base_addresses={"api": fake.url})`): it parses Stripe's form encoding
(`line_items[0][price_data][currency]=eur`), answers JSON shaped like Stripe's
objects, requires `Authorization: Bearer sk_test_...`, and honours
`Idempotency-Key` the way Stripe documents it: the same key with the same
parameters replays the first response (header `Idempotent-Replayed: true`), the
same key with other parameters is a 400 `idempotency_error`, and a request that
failed validation saves nothing. Stripe forgets a key after 24 hours;
`forget_idempotency_keys` makes that day pass.

Endpoints: POST /v1/checkout/sessions, GET /v1/checkout/sessions/{id},
GET /v1/payment_intents/{id}, GET /v1/charges/{id},
GET /v1/balance_transactions/{id}, POST /v1/refunds, GET /v1/refunds/{id},
GET /v1/refunds?payment_intent=...|charge=... (newest first, `limit` and
`starting_after` paginate), GET /v1/disputes/{id}, GET /v1/payouts/{id},
GET /v1/payouts and GET /v1/balance_transactions?payout=... (newest first,
`limit`, `starting_after` and `has_more` paginate); every GET and POST honours
`expand[]`. The hosted page
`session.url` points at the fake and shows the session (GET /c/pay/{id}).

Tests move money with helpers instead of a browser: `pay` (card: paid at once;
`sepa_debit`: processing until `settle` or `fail`), `fail`, `refund_succeeds`,
`refund_fails`; `payout` pays chosen balance transactions out to the bank
(`transaction_of` finds a charge's or refund's, `balance_transaction` adds one
the ledger never saw), `fail_payout` sends one back; and build the webhook
events Stripe would send from the fake's current state
(`checkout_completed_event`, `async_succeeded_event`, `dispute_created_event`,
`payout_event`, ...), then sign them with `sign` or `delivery`.

    with FakeStripe() as fake:
        gateway = StripeGateway("sk_test_x", api_base=fake.url, webhook_secrets=[SECRET])
        session = gateway.create_checkout_session(donation_id=7, ...)
        fake.pay(session.id, fee_minor=40)
        body, headers = delivery(fake.checkout_completed_event(session.id), SECRET)
        client.post("/webhooks/stripe", data=body, headers=headers)
"""

from __future__ import annotations

import copy
import html
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import stripe
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

__all__ = [
    "DELAYED_METHODS",
    "FakeStripe",
    "Payment",
    "RecordedRequest",
    "decode_form",
    "delivery",
    "encode_event",
    "sign",
    "sign_with",
]

Obj = dict[str, Any]

# Payment methods whose outcome is only known days later (checkout completes unpaid).
DELAYED_METHODS = frozenset({"sepa_debit", "bacs_debit", "us_bank_account", "sofort"})
DOC_URL = "https://stripe.com/docs/error-codes/"
_INTEGER = re.compile(r"^-?\d+$", re.ASCII)
_KEY_PART = re.compile(r"\[([^\]]*)\]")


# -- webhook signing ---------------------------------------------------------
def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe would send for `payload` signed with `secret`."""
    header: str = stripe.WebhookSignature.generate_signature_header(
        payload.decode("utf-8"), secret, timestamp
    )
    return header


def sign_with(payload: bytes, secrets: Sequence[str], timestamp: int | None = None) -> str:
    """A header with one `v1=` signature per secret, as Stripe sends while a secret rotates."""
    t = int(time.time()) if timestamp is None else timestamp
    signatures = [sign(payload, secret, t).split(",", 1)[1] for secret in secrets]
    return ",".join([f"t={t}", *signatures])


def encode_event(event: Obj) -> bytes:
    """The body Stripe would post: pretty-printed JSON, as Stripe sends it."""
    return json.dumps(event, indent=2).encode("utf-8")


def delivery(
    event: Obj, secret: str, *, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """Raw body and headers of one signed webhook delivery of `event`."""
    body = encode_event(event)
    return body, {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": sign(body, secret, timestamp),
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    }


# -- records -------------------------------------------------------------------
@dataclass(frozen=True)
class Payment:
    """The objects `pay` created for a session (no balance transaction while processing)."""

    session_id: str
    payment_intent_id: str
    charge_id: str
    balance_transaction_id: str | None


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received, after parsing (for assertions on what was sent)."""

    method: str
    path: str
    params: Obj
    idempotency_key: str | None
    status: int
    replayed: bool


@dataclass
class _Saved:
    fingerprint: tuple[str, str, str]
    status: int
    body: bytes


class _ApiError(Exception):
    """An error answer in Stripe's shape; `saved` if Stripe would store it for the key."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        saved: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.saved = saved
        self.body: Obj = {"message": message, "type": type}
        if code is not None:
            self.body["code"] = code
            self.body["doc_url"] = DOC_URL + code
        if param is not None:
            self.body["param"] = param


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


# -- form decoding -------------------------------------------------------------
def decode_form(pairs: Iterable[tuple[str, str]]) -> Obj:
    """Rebuild nested params from Stripe's `a[b][0][c]=v` encoding; numbered dicts become lists."""
    root: Obj = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        parts = [head, *_KEY_PART.findall("[" + rest)] if rest else [head]
        node = root
        for i, raw_part in enumerate(parts):
            # `expand[]=x` appends: give it the next index.
            part = raw_part or str(sum(1 for k in node if k.isdigit()))
            if i == len(parts) - 1:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    decoded: Obj = _listify(root)
    return decoded


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


# -- the fake --------------------------------------------------------------------
class FakeStripe:
    """A local Stripe: start it, point a client at `.url`, drive payments with its helpers.

    `refund_status` is the status a new refund gets ("succeeded", or "pending"
    to exercise `refund_succeeds`/`refund_fails`). `api_key`, when given, is the
    only secret key accepted; otherwise any `sk_test_` key is.
    """

    def __init__(self, *, refund_status: str = "succeeded", api_key: str | None = None) -> None:
        if refund_status not in ("succeeded", "pending"):
            raise ValueError("refund_status is 'succeeded' or 'pending'")
        self.refund_status = refund_status
        self.api_key = api_key
        self.sessions: dict[str, Obj] = {}
        self.payment_intents: dict[str, Obj] = {}
        self.charges: dict[str, Obj] = {}
        self.balance_transactions: dict[str, Obj] = {}
        self.refunds: dict[str, Obj] = {}
        self.disputes: dict[str, Obj] = {}
        self.payouts: dict[str, Obj] = {}
        # The balance transactions each payout paid out (its own last).
        self.payout_members: dict[str, list[str]] = {}
        self.events: list[Obj] = []
        self.requests: list[RecordedRequest] = []
        self.sessions_created = 0
        self.refunds_created = 0
        self._session_extra: dict[str, Obj] = {}
        self._pending_fee: dict[str, int] = {}
        self._idempotency: dict[str, _Saved] = {}
        self._failures: list[int] = []
        self._lock = threading.RLock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._url_map = Map(
            [
                Rule("/v1/checkout/sessions", methods=["POST"], endpoint="create_session"),
                Rule("/v1/checkout/sessions/<id>", methods=["GET"], endpoint="get_session"),
                Rule("/v1/payment_intents/<id>", methods=["GET"], endpoint="get_payment_intent"),
                Rule("/v1/charges/<id>", methods=["GET"], endpoint="get_charge"),
                Rule("/v1/balance_transactions/<id>", methods=["GET"], endpoint="get_txn"),
                Rule("/v1/balance_transactions", methods=["GET"], endpoint="list_txns"),
                Rule("/v1/payouts/<id>", methods=["GET"], endpoint="get_payout"),
                Rule("/v1/payouts", methods=["GET"], endpoint="list_payouts"),
                Rule("/v1/refunds", methods=["POST"], endpoint="create_refund"),
                Rule("/v1/refunds", methods=["GET"], endpoint="list_refunds"),
                Rule("/v1/refunds/<id>", methods=["GET"], endpoint="get_refund"),
                Rule("/v1/disputes/<id>", methods=["GET"], endpoint="get_dispute"),
                Rule("/c/pay/<id>", methods=["GET"], endpoint="checkout_page"),
            ]
        )

    # -- lifecycle ---------------------------------------------------------
    @property
    def url(self) -> str:
        """Base address to give the client (`http://127.0.0.1:<port>`)."""
        if self._server is None:
            raise RuntimeError("FakeStripe is not started")
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> FakeStripe:
        """Serve on a free local port in a background thread."""
        if self._server is None:
            self._server = make_server(
                "127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler
            )
            # A short poll keeps stop() quick: shutdown waits for the next poll.
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.02},
                name="fake-stripe",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = None
            self._thread = None

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_next(self, count: int = 1, *, status: int = 500) -> None:
        """Answer the next `count` API requests with `status` before executing them.

        Nothing is executed or saved, as when Stripe has a transient failure: the
        library retries 409 and 5xx answers with the same idempotency key.
        """
        with self._lock:
            self._failures.extend([status] * count)

    def forget_idempotency_keys(self) -> None:
        """24 hours pass: Stripe prunes its saved keys, and a key seen before is new again."""
        with self._lock:
            self._idempotency.clear()

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        """The recorded requests with this method and path."""
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    # -- money movements driven by tests --------------------------------
    def pay(self, session_id: str, *, fee_minor: int, method: str = "card") -> Payment:
        """The donor pays the session: creates its PaymentIntent, Charge and (if settled)
        BalanceTransaction with `amount`, `fee` and `net = amount - fee`.

        A card pays at once (`complete`/`paid`); a delayed method such as
        `sepa_debit` completes the session `unpaid` with the charge pending until
        `settle` or `fail` (or `async_succeeded_event`/`async_failed_event`).
        """
        with self._lock:
            session = self._get(self.sessions, session_id, "checkout.session")
            if session["status"] != "open":
                raise ValueError(f"session {session_id} is {session['status']}, not open")
            amount = session["amount_total"]
            _check_fee(fee_minor, amount)
            now = _now()
            delayed = method in DELAYED_METHODS
            pi_id, ch_id = _id("pi"), _id("ch")
            metadata = dict(self._session_extra[session_id].get("pi_metadata", {}))
            currency = session["currency"]
            self.payment_intents[pi_id] = {
                "id": pi_id,
                "object": "payment_intent",
                "amount": amount,
                "amount_capturable": 0,
                "amount_received": 0 if delayed else amount,
                "capture_method": "automatic_async",
                "client_secret": f"{pi_id}_secret_{uuid.uuid4().hex[:24]}",
                "confirmation_method": "automatic",
                "created": now,
                "currency": currency,
                "customer": None,
                "description": None,
                "last_payment_error": None,
                "latest_charge": ch_id,
                "livemode": False,
                "metadata": metadata,
                "payment_method": _id("pm"),
                "payment_method_types": [method],
                "status": "processing" if delayed else "succeeded",
            }
            self.charges[ch_id] = {
                "id": ch_id,
                "object": "charge",
                "amount": amount,
                "amount_captured": amount,
                "amount_refunded": 0,
                "balance_transaction": None,
                "captured": True,
                "created": now,
                "currency": currency,
                "disputed": False,
                "failure_code": None,
                "failure_message": None,
                "livemode": False,
                "metadata": metadata,
                "paid": not delayed,
                "payment_intent": pi_id,
                "payment_method_details": {"type": method},
                "refunded": False,
                "status": "pending" if delayed else "succeeded",
            }
            session.update(status="complete", payment_intent=pi_id)
            session["payment_method_types"] = [method]
            if delayed:
                self._pending_fee[pi_id] = fee_minor
                return Payment(session_id, pi_id, ch_id, None)
            txn_id = self._settle_charge(ch_id, fee_minor)
            session["payment_status"] = "paid"
            return Payment(session_id, pi_id, ch_id, txn_id)

    def settle(self, session_id: str) -> Payment:
        """A delayed payment (SEPA) succeeds: the charge settles with the fee given to `pay`."""
        with self._lock:
            session, intent, charge = self._paid_objects(session_id)
            if intent["status"] == "processing":
                intent.update(status="succeeded", amount_received=intent["amount"])
                charge.update(paid=True)
                self._settle_charge(charge["id"], self._pending_fee.pop(intent["id"]))
                session["payment_status"] = "paid"
            elif intent["status"] != "succeeded":
                raise ValueError(f"payment {intent['id']} is {intent['status']}")
            return Payment(session_id, intent["id"], charge["id"], charge["balance_transaction"])

    def fail(self, session_id: str) -> None:
        """The payment fails: a processing (SEPA) payment fails; an open session expires unpaid."""
        with self._lock:
            session = self._get(self.sessions, session_id, "checkout.session")
            if session["status"] == "open":
                session.update(status="expired", url=None)
                return
            _, intent, charge = self._paid_objects(session_id)
            if intent["status"] != "processing":
                raise ValueError(f"payment {intent['id']} is {intent['status']}, not processing")
            error = {
                "code": "insufficient_funds",
                "message": "The customer's account has insufficient funds to cover this payment.",
                "type": "card_error" if intent["payment_method_types"] == ["card"] else "api_error",
            }
            intent.update(status="requires_payment_method", last_payment_error=error)
            charge.update(
                status="failed",
                paid=False,
                failure_code="insufficient_funds",
                failure_message=error["message"],
            )
            self._pending_fee.pop(intent["id"], None)

    def refund_succeeds(self, refund_id: str) -> None:
        """A pending refund succeeds."""
        with self._lock:
            refund = self._get(self.refunds, refund_id, "refund")
            if refund["status"] != "pending":
                raise ValueError(f"refund {refund_id} is {refund['status']}, not pending")
            refund["status"] = "succeeded"

    def refund_fails(self, refund_id: str) -> None:
        """A pending refund fails: the money comes back to the balance and the charge."""
        with self._lock:
            refund = self._get(self.refunds, refund_id, "refund")
            if refund["status"] != "pending":
                raise ValueError(f"refund {refund_id} is {refund['status']}, not pending")
            charge = self.charges[refund["charge"]]
            charge["amount_refunded"] -= refund["amount"]
            charge["refunded"] = False
            txn = self._new_txn(
                amount=refund["amount"],
                fee=0,
                currency=refund["currency"],
                source=refund_id,
                type="refund_failure",
                category="refund_failure",
            )
            refund.update(
                status="failed",
                failure_reason="lost_or_stolen_card",
                failure_balance_transaction=txn["id"],
            )

    # -- payouts ------------------------------------------------------------------
    def transaction_of(self, source_id: str) -> str:
        """The balance transaction of a charge, refund or dispute (its first one)."""
        with self._lock:
            for txn in self.balance_transactions.values():
                if txn["source"] == source_id:
                    return str(txn["id"])
        raise KeyError(f"no balance transaction for {source_id}")

    def balance_transaction(
        self,
        *,
        amount_minor: int,
        fee_minor: int = 0,
        currency: str = "eur",
        type: str = "adjustment",
        category: str = "other_adjustment",
        source: str | None = None,
    ) -> str:
        """A movement of the balance made at Stripe alone (one the ledger never saw)."""
        with self._lock:
            txn = self._new_txn(
                amount=amount_minor,
                fee=fee_minor,
                currency=currency,
                source=source or _id("adj"),
                type=type,
                category=category,
                fee_description="Stripe fee" if fee_minor else "",
            )
            if source is None:
                txn["source"] = None
            return str(txn["id"])

    def payout(
        self,
        transaction_ids: Sequence[str],
        *,
        arrival_date: int | None = None,
        statement_descriptor: str | None = "STRIPE",
        trace_id: str | None = None,
        status: str = "paid",
    ) -> str:
        """An automatic payout of these balance transactions: its amount is their net sum.

        Stripe adds the payout's own balance transaction (`type` payout, the
        amount withdrawn from the balance) to the ones it lists for the payout.
        """
        with self._lock:
            members = [
                self._get(self.balance_transactions, t, "balance_transaction")
                for t in transaction_ids
            ]
            if not members:
                raise ValueError("a payout pays out at least one balance transaction")
            currency = members[0]["currency"]
            amount = sum(int(t["net"]) for t in members)
            po_id = _id("po")
            own = self._new_txn(
                amount=-amount,
                fee=0,
                currency=currency,
                source=po_id,
                type="payout",
                category="payout",
            )
            now = _now()
            self.payouts[po_id] = {
                "id": po_id,
                "object": "payout",
                "amount": amount,
                "arrival_date": arrival_date if arrival_date is not None else now + 2 * 86400,
                "automatic": True,
                "balance_transaction": own["id"],
                "created": now,
                "currency": currency,
                "description": "STRIPE PAYOUT",
                "destination": "ba_" + uuid.uuid4().hex[:24],
                "failure_balance_transaction": None,
                "failure_code": None,
                "failure_message": None,
                "livemode": False,
                "metadata": {},
                "method": "standard",
                "reconciliation_status": "completed",
                "source_type": "card",
                "statement_descriptor": statement_descriptor,
                "status": status,
                "trace_id": {"status": "supported", "value": trace_id} if trace_id else None,
                "type": "bank_account",
            }
            self.payout_members[po_id] = [str(t["id"]) for t in members] + [str(own["id"])]
            return po_id

    def fail_payout(self, payout_id: str, *, code: str = "account_closed") -> None:
        """The bank returns a payout: the money comes back to the Stripe balance."""
        with self._lock:
            payout = self._get(self.payouts, payout_id, "payout")
            txn = self._new_txn(
                amount=payout["amount"],
                fee=0,
                currency=payout["currency"],
                source=payout_id,
                type="payout_failure",
                category="payout_reversal",
            )
            payout.update(
                status="failed",
                failure_code=code,
                failure_message="The bank account has been closed.",
                failure_balance_transaction=txn["id"],
            )

    def payout_event(self, payout_id: str, *, created: int | None = None) -> Obj:
        """`payout.paid` or `payout.failed` (the payout's status now)."""
        with self._lock:
            payout = self._get(self.payouts, payout_id, "payout")
            return self.event(f"payout.{payout['status']}", payout, created=created)

    # -- events Stripe would send ---------------------------------------------
    def event(self, type: str, obj: Obj, *, created: int | None = None) -> Obj:
        """A Stripe Event wrapping a snapshot of `obj`, with a fresh `evt_` id."""
        event = {
            "id": _id("evt"),
            "object": "event",
            "api_version": stripe.api_version,
            "created": _now() if created is None else created,
            "data": {"object": copy.deepcopy(obj)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type,
        }
        with self._lock:
            self.events.append(event)
        return event

    def checkout_completed_event(self, session_id: str, *, created: int | None = None) -> Obj:
        """`checkout.session.completed` for a session after `pay` (`unpaid` if delayed)."""
        with self._lock:
            session = self._get(self.sessions, session_id, "checkout.session")
            return self.event("checkout.session.completed", session, created=created)

    def async_succeeded_event(self, session_id: str, *, created: int | None = None) -> Obj:
        """`checkout.session.async_payment_succeeded`, settling a processing payment first."""
        with self._lock:
            self.settle(session_id)
            session = self.sessions[session_id]
            return self.event("checkout.session.async_payment_succeeded", session, created=created)

    def async_failed_event(self, session_id: str, *, created: int | None = None) -> Obj:
        """`checkout.session.async_payment_failed`, failing a processing payment first."""
        with self._lock:
            _, intent, _ = self._paid_objects(session_id)
            if intent["status"] == "processing":
                self.fail(session_id)
            session = self.sessions[session_id]
            return self.event("checkout.session.async_payment_failed", session, created=created)

    def session_expired_event(self, session_id: str, *, created: int | None = None) -> Obj:
        """`checkout.session.expired`, expiring an open session first."""
        with self._lock:
            session = self._get(self.sessions, session_id, "checkout.session")
            if session["status"] == "open":
                self.fail(session_id)
            return self.event("checkout.session.expired", session, created=created)

    def payment_intent_event(self, payment_intent_id: str, *, created: int | None = None) -> Obj:
        """`payment_intent.succeeded`/`.processing`/`.payment_failed` for its current status."""
        with self._lock:
            intent = self._get(self.payment_intents, payment_intent_id, "payment_intent")
            kind = {
                "succeeded": "succeeded",
                "processing": "processing",
                "requires_payment_method": "payment_failed",
            }[intent["status"]]
            return self.event(f"payment_intent.{kind}", intent, created=created)

    def charge_refunded_event(self, charge_id: str, *, created: int | None = None) -> Obj:
        """`charge.refunded` with the charge's `amount_refunded` and `refunded` as they are now."""
        with self._lock:
            charge = self._get(self.charges, charge_id, "charge")
            return self.event("charge.refunded", charge, created=created)

    def refund_updated_event(self, refund_id: str, *, created: int | None = None) -> Obj:
        """`refund.updated` with the refund as it is now (after `refund_succeeds` or `_fails`)."""
        with self._lock:
            refund = self._get(self.refunds, refund_id, "refund")
            return self.event("refund.updated", refund, created=created)

    def dispute_created_event(
        self, charge_id: str, amount_minor: int, fee_minor: int, *, created: int | None = None
    ) -> Obj:
        """The donor disputes the charge: `charge.dispute.created`.

        The dispute's balance transaction withdraws the amount plus the dispute
        fee (`amount=-amount`, `fee=fee_minor`, `net=-amount-fee_minor`).
        """
        with self._lock:
            charge = self._get(self.charges, charge_id, "charge")
            if charge["status"] != "succeeded":
                raise ValueError(f"charge {charge_id} is {charge['status']}")
            if any(d["charge"] == charge_id for d in self.disputes.values()):
                raise ValueError(f"charge {charge_id} is already disputed")
            if not 0 < amount_minor <= charge["amount"]:
                raise ValueError("a dispute is for at most the charge amount")
            if fee_minor < 0:
                raise ValueError("a dispute fee is not negative")
            dp_id = _id("dp")
            txn = self._new_txn(
                amount=-amount_minor,
                fee=fee_minor,
                currency=charge["currency"],
                source=dp_id,
                type="adjustment",
                category="dispute",
                fee_description="Dispute fee",
            )
            now = _now()
            self.disputes[dp_id] = {
                "id": dp_id,
                "object": "dispute",
                "amount": amount_minor,
                "balance_transactions": [copy.deepcopy(txn)],
                "charge": charge_id,
                "created": now,
                "currency": charge["currency"],
                "evidence_details": {
                    "due_by": now + 7 * 86400,
                    "has_evidence": False,
                    "past_due": False,
                    "submission_count": 0,
                },
                "is_charge_refundable": False,
                "livemode": False,
                "metadata": {},
                "payment_intent": charge["payment_intent"],
                "reason": "fraudulent",
                "status": "needs_response",
            }
            charge["disputed"] = True
            return self.event("charge.dispute.created", self.disputes[dp_id], created=created)

    def dispute_closed_event(
        self,
        charge_id: str,
        *,
        status: str = "won",
        fee_returned_minor: int = 0,
        created: int | None = None,
    ) -> Obj:
        """The charge's dispute closes: `charge.dispute.closed` with status `won` or `lost`.

        Won: a reversal balance transaction gives the amount back (`amount=+amount`,
        `fee=-fee_returned_minor`; by default the dispute fee is not returned).
        Lost: no new balance transaction, the withdrawal stands.
        """
        if status not in ("won", "lost"):
            raise ValueError("a dispute closes as 'won' or 'lost'")
        with self._lock:
            dispute = next((d for d in self.disputes.values() if d["charge"] == charge_id), None)
            if dispute is None:
                raise KeyError(f"no dispute on charge {charge_id}")
            if dispute["status"] in ("won", "lost"):
                raise ValueError(f"dispute {dispute['id']} is already {dispute['status']}")
            if status == "won":
                txn = self._new_txn(
                    amount=dispute["amount"],
                    fee=-fee_returned_minor,
                    currency=dispute["currency"],
                    source=dispute["id"],
                    type="adjustment",
                    category="dispute_reversal",
                    fee_description="Dispute fee refund",
                )
                dispute["balance_transactions"].append(copy.deepcopy(txn))
            dispute["status"] = status
            return self.event("charge.dispute.closed", dispute, created=created)

    # -- internals ---------------------------------------------------------------
    def _paid_objects(self, session_id: str) -> tuple[Obj, Obj, Obj]:
        session = self._get(self.sessions, session_id, "checkout.session")
        if session["payment_intent"] is None:
            raise ValueError(f"session {session_id} has not been paid")
        intent = self.payment_intents[session["payment_intent"]]
        return session, intent, self.charges[intent["latest_charge"]]

    def _settle_charge(self, charge_id: str, fee_minor: int) -> str:
        charge = self.charges[charge_id]
        txn = self._new_txn(
            amount=charge["amount"],
            fee=fee_minor,
            currency=charge["currency"],
            source=charge_id,
            type="charge",
            category="charge",
            fee_description="Stripe processing fees",
        )
        charge.update(status="succeeded", balance_transaction=txn["id"])
        return str(txn["id"])

    def _new_txn(
        self,
        *,
        amount: int,
        fee: int,
        currency: str,
        source: str,
        type: str,
        category: str,
        fee_description: str = "",
    ) -> Obj:
        now = _now()
        txn_id = _id("txn")
        fee_details = (
            [
                {
                    "amount": fee,
                    "application": None,
                    "currency": currency,
                    "description": fee_description,
                    "type": "stripe_fee",
                }
            ]
            if fee
            else []
        )
        txn = {
            "id": txn_id,
            "object": "balance_transaction",
            "amount": amount,
            "available_on": now + 7 * 86400,
            "created": now,
            "currency": currency,
            "description": None,
            "exchange_rate": None,
            "fee": fee,
            "fee_details": fee_details,
            "net": amount - fee,
            "reporting_category": category,
            "source": source,
            "status": "pending",
            "type": type,
        }
        self.balance_transactions[txn_id] = txn
        return txn

    @staticmethod
    def _get(store: dict[str, Obj], object_id: str, kind: str) -> Obj:
        try:
            return store[object_id]
        except KeyError:
            raise _ApiError(
                404,
                f"No such {kind}: '{object_id}'",
                code="resource_missing",
                param="id",
            ) from None

    def _lookup(self, object_id: str) -> Obj | None:
        for store in (
            self.sessions,
            self.payment_intents,
            self.charges,
            self.balance_transactions,
            self.refunds,
            self.disputes,
            self.payouts,
        ):
            if object_id in store:
                return store[object_id]
        return None

    def _expand(self, obj: Obj, paths: Sequence[str]) -> Obj:
        result = copy.deepcopy(obj)
        for path in paths:
            self._expand_path(result, path.split("."))
        return result

    def _expand_path(self, node: Obj, parts: list[str]) -> None:
        head, rest = parts[0], parts[1:]
        value = node.get(head)
        if isinstance(value, str):
            target = self._lookup(value)
            if target is None:
                return
            value = node[head] = copy.deepcopy(target)
        if rest and isinstance(value, dict):
            self._expand_path(value, rest)

    # -- HTTP ----------------------------------------------------------------------
    def _wsgi(self, environ: Obj, start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self._respond(request)
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        adapter = self._url_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except HTTPException as exc:
            return _json(
                exc.code or 404,
                {
                    "error": {
                        "message": f"Unrecognized request URL ({request.method}: {request.path}).",
                        "type": "invalid_request_error",
                    }
                },
            )
        if endpoint == "checkout_page":
            return self._checkout_page(args["id"])
        body = request.get_data(as_text=False)
        query = request.query_string.decode("ascii", "replace")
        raw = body.decode("utf-8") if request.method == "POST" else query
        params = decode_form(parse_qsl(raw, keep_blank_values=True))
        key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        with self._lock:
            status, payload, replayed = self._handle(request, endpoint, args, params, key)
            self.requests.append(
                RecordedRequest(request.method, request.path, params, key, status, replayed)
            )
        response = Response(payload, status=status, content_type="application/json")
        response.headers["Request-Id"] = _id("req")
        if key is not None:
            response.headers["Idempotency-Key"] = key
        if replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return response

    def _handle(
        self,
        request: Request,
        endpoint: str,
        args: Mapping[str, Any],
        params: Obj,
        key: str | None,
    ) -> tuple[int, bytes, bool]:
        if self._failures:
            status = self._failures.pop(0)
            error = {"message": "An injected transient failure.", "type": "api_error"}
            return status, json.dumps({"error": error}).encode(), False
        auth = request.headers.get("Authorization", "")
        secret = auth.removeprefix("Bearer ")
        if (
            not auth.startswith("Bearer ")
            or not secret.startswith("sk_test_")
            or (self.api_key is not None and secret != self.api_key)
        ):
            masked = secret[:8] + "*" * 4 + secret[-4:] if secret else ""
            error = {
                "message": f"Invalid API Key provided: {masked}",
                "type": "invalid_request_error",
            }
            return 401, json.dumps({"error": error}).encode(), False
        fingerprint = (request.method, request.path, json.dumps(params, sort_keys=True))
        if key is not None and key in self._idempotency:
            saved = self._idempotency[key]
            if saved.fingerprint != fingerprint:
                error = {
                    "message": (
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with. Try using a key other than "
                        f"'{key}' if you meant to execute a different request."
                    ),
                    "type": "idempotency_error",
                }
                return 400, json.dumps({"error": error}).encode(), False
            return saved.status, saved.body, True
        try:
            obj = getattr(self, f"_api_{endpoint}")(args, params)
            expand = params.get("expand", [])
            if isinstance(expand, str):
                expand = [expand]
            status, payload = 200, json.dumps(self._expand(obj, expand)).encode()
            save = True
        except _ApiError as exc:
            status, payload = exc.status, json.dumps({"error": exc.body}).encode()
            save = exc.saved
        if key is not None and save:
            self._idempotency[key] = _Saved(fingerprint, status, payload)
        return status, payload, False

    def _checkout_page(self, session_id: str) -> Response:
        with self._lock:
            session = self.sessions.get(session_id)
            if session is None:
                return Response("No such session", status=404, content_type="text/plain")
            amount = f"{session['amount_total']} {session['currency']} (minor units)"
            page = (
                "<!doctype html><title>Fake Stripe Checkout</title>"
                f"<h1>Fake Stripe Checkout</h1><p id=session>{html.escape(session_id)}</p>"
                f"<p id=amount>{html.escape(amount)}</p>"
                f"<a id=success href='{html.escape(session['success_url'])}'>Pay</a> "
                f"<a id=cancel href='{html.escape(session['cancel_url'] or '')}'>Cancel</a>"
            )
        return Response(page, content_type="text/html; charset=utf-8")

    # -- API handlers (called under the lock) ------------------------------------
    def _api_create_session(self, args: Mapping[str, Any], params: Obj) -> Obj:
        if params.get("mode") != "payment":
            raise _ApiError(400, "The fake supports mode=payment only.", param="mode")
        success_url = _required(params, "success_url")
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            raise _ApiError(
                400,
                "Missing required param: line_items.",
                code="parameter_missing",
                param="line_items",
            )
        total, currencies = 0, set()
        for i, item in enumerate(items):
            price = item.get("price_data") if isinstance(item, dict) else None
            if not isinstance(price, dict):
                raise _ApiError(
                    400,
                    "The fake supports price_data line items only.",
                    code="parameter_missing",
                    param=f"line_items[{i}][price_data]",
                )
            unit = _integer(price, "unit_amount", f"line_items[{i}][price_data][unit_amount]")
            quantity = _integer(item, "quantity", f"line_items[{i}][quantity]")
            if unit < 0 or quantity < 1:
                raise _ApiError(
                    400,
                    "Invalid line item amount or quantity.",
                    code="parameter_invalid_integer",
                    param=f"line_items[{i}]",
                )
            name = price.get("product_data", {}).get("name")
            if not name:
                raise _ApiError(
                    400,
                    "Missing required param: product_data[name].",
                    code="parameter_missing",
                    param=f"line_items[{i}][price_data][product_data][name]",
                )
            currencies.add(_required(price, "currency").lower())
            total += unit * quantity
        if len(currencies) != 1:
            raise _ApiError(400, "All line items must share one currency.", param="line_items")
        if total < 1:
            raise _ApiError(400, "Amount must be positive.", code="amount_too_small")
        currency = currencies.pop()
        session_id = "cs_test_" + uuid.uuid4().hex + uuid.uuid4().hex[:24]
        now = _now()
        metadata = params.get("metadata", {})
        self.sessions[session_id] = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": now,
            "currency": currency,
            "customer": None,
            "customer_details": None,
            "customer_email": params.get("customer_email"),
            "expires_at": now + 24 * 3600,
            "livemode": False,
            "locale": params.get("locale"),
            "metadata": metadata if isinstance(metadata, dict) else {},
            "mode": "payment",
            "payment_intent": None,
            "payment_method_types": ["card"],
            "payment_status": "unpaid",
            "status": "open",
            "submit_type": params.get("submit_type"),
            "success_url": success_url,
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": "hosted",
            "url": f"{self.url}/c/pay/{session_id}",
        }
        pi_data = params.get("payment_intent_data", {})
        pi_metadata = pi_data.get("metadata", {}) if isinstance(pi_data, dict) else {}
        self._session_extra[session_id] = {"pi_metadata": pi_metadata, "line_items": items}
        self.sessions_created += 1
        return self.sessions[session_id]

    def _api_get_session(self, args: Mapping[str, Any], params: Obj) -> Obj:
        return self._get(self.sessions, args["id"], "checkout.session")

    def _api_get_payment_intent(self, args: Mapping[str, Any], params: Obj) -> Obj:
        return self._get(self.payment_intents, args["id"], "payment_intent")

    def _api_get_charge(self, args: Mapping[str, Any], params: Obj) -> Obj:
        return self._get(self.charges, args["id"], "charge")

    def _api_get_txn(self, args: Mapping[str, Any], params: Obj) -> Obj:
        return self._get(self.balance_transactions, args["id"], "balance_transaction")

    def _api_get_payout(self, args: Mapping[str, Any], params: Obj) -> Obj:
        return self._get(self.payouts, args["id"], "payout")

    def _api_list_payouts(self, args: Mapping[str, Any], params: Obj) -> Obj:
        found = list(reversed(self.payouts.values()))
        return self._page(found, params, "/v1/payouts", "payout")

    def _api_list_txns(self, args: Mapping[str, Any], params: Obj) -> Obj:
        found = list(reversed(self.balance_transactions.values()))
        if "payout" in params:
            members = self.payout_members.get(params["payout"])
            if members is None:
                raise _ApiError(
                    404,
                    f"No such payout: '{params['payout']}'",
                    code="resource_missing",
                    param="payout",
                )
            found = [t for t in found if t["id"] in members]
        return self._page(found, params, "/v1/balance_transactions", "balance transaction")

    def _page(self, found: list[Obj], params: Obj, url: str, kind: str) -> Obj:
        """One page of a list, newest first: `limit` (1 to 100) after `starting_after`."""
        after = params.get("starting_after")
        if after:
            ids = [o["id"] for o in found]
            if after not in ids:
                raise _ApiError(
                    400,
                    f"No such {kind}: '{after}'",
                    code="resource_missing",
                    param="starting_after",
                )
            found = found[ids.index(after) + 1 :]
        limit = _integer(params, "limit", "limit") if "limit" in params else 10
        if not 1 <= limit <= 100:
            raise _ApiError(
                400,
                "Invalid limit: must be between 1 and 100",
                code="parameter_invalid_integer",
                param="limit",
            )
        return {"object": "list", "data": found[:limit], "has_more": len(found) > limit, "url": url}

    def _api_get_refund(self, args: Mapping[str, Any], params: Obj) -> Obj:
        return self._get(self.refunds, args["id"], "refund")

    def _api_list_refunds(self, args: Mapping[str, Any], params: Obj) -> Obj:
        # Stripe lists newest first; insertion order stands in for `created`,
        # which has a resolution of one second.
        found = list(reversed(self.refunds.values()))
        for name in ("payment_intent", "charge"):
            if name in params:
                found = [r for r in found if r[name] == params[name]]
        after = params.get("starting_after")
        if after:
            ids = [r["id"] for r in found]
            if after not in ids:
                raise _ApiError(
                    400,
                    f"No such refund: '{after}'",
                    code="resource_missing",
                    param="starting_after",
                )
            found = found[ids.index(after) + 1 :]
        limit = _integer(params, "limit", "limit") if "limit" in params else 10
        if not 1 <= limit <= 100:
            raise _ApiError(
                400,
                "Invalid limit: must be between 1 and 100",
                code="parameter_invalid_integer",
                param="limit",
            )
        return {
            "object": "list",
            "data": found[:limit],
            "has_more": len(found) > limit,
            "url": "/v1/refunds",
        }

    def _api_get_dispute(self, args: Mapping[str, Any], params: Obj) -> Obj:
        return self._get(self.disputes, args["id"], "dispute")

    def _api_create_refund(self, args: Mapping[str, Any], params: Obj) -> Obj:
        if "payment_intent" in params:
            intent = self._get(self.payment_intents, params["payment_intent"], "payment_intent")
            charge = self.charges[intent["latest_charge"]]
        elif "charge" in params:
            charge = self._get(self.charges, params["charge"], "charge")
        else:
            raise _ApiError(
                400,
                "One of `charge` or `payment_intent` is required.",
                code="parameter_missing",
                param="payment_intent",
            )
        if charge["status"] != "succeeded":
            raise _ApiError(
                400,
                f"This charge ({charge['id']}) has not succeeded and cannot be refunded.",
                code="charge_not_refundable",
                saved=True,
            )
        if charge["disputed"]:
            raise _ApiError(
                400,
                f"Charge {charge['id']} has been charged back; cannot issue a refund.",
                code="charge_disputed",
                saved=True,
            )
        remaining = charge["amount"] - charge["amount_refunded"]
        amount = _integer(params, "amount", "amount") if "amount" in params else remaining
        if amount < 1:
            raise _ApiError(
                400,
                "Refund amount must be positive.",
                code="parameter_invalid_integer",
                param="amount",
            )
        if remaining == 0:
            raise _ApiError(
                400,
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
                saved=True,
            )
        if amount > remaining:
            raise _ApiError(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                f"({remaining}).",
                code="amount_too_large",
                param="amount",
                saved=True,
            )
        re_id = _id("re")
        txn = self._new_txn(
            amount=-amount,
            fee=0,
            currency=charge["currency"],
            source=re_id,
            type="refund",
            category="refund",
        )
        metadata = params.get("metadata", {})
        self.refunds[re_id] = {
            "id": re_id,
            "object": "refund",
            "amount": amount,
            "balance_transaction": txn["id"],
            "charge": charge["id"],
            "created": _now(),
            "currency": charge["currency"],
            "destination_details": {"type": charge["payment_method_details"]["type"]},
            "failure_balance_transaction": None,
            "failure_reason": None,
            "metadata": metadata if isinstance(metadata, dict) else {},
            "payment_intent": charge["payment_intent"],
            "reason": params.get("reason"),
            "status": self.refund_status,
        }
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        self.refunds_created += 1
        return self.refunds[re_id]


# -- small helpers -----------------------------------------------------------------
def _now() -> int:
    return int(time.time())


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def _check_fee(fee_minor: int, amount: int) -> None:
    if isinstance(fee_minor, bool) or not isinstance(fee_minor, int):
        raise TypeError("fee_minor is integer minor units")
    if not 0 <= fee_minor <= amount:
        raise ValueError("the fee is between zero and the amount")


def _required(params: Obj, name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise _ApiError(
            400, f"Missing required param: {name}.", code="parameter_missing", param=name
        )
    return value


def _integer(params: Obj, name: str, param: str) -> int:
    value = params.get(name)
    if not isinstance(value, str) or not _INTEGER.match(value):
        raise _ApiError(
            400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=param
        )
    return int(value)


def _json(status: int, body: Obj) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")
