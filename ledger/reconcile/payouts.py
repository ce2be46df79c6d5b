"""Stripe payouts: checked against the books, booked once as money in transit.

A payout moves money from the Stripe balance (`assets:stripe:clearing`) to the
bank. Gifts, refunds, fees and disputes were booked from their own balance
transactions when they happened; the payout is a transfer between two assets:

    payout paid      Dr assets:bank:transit:stripe   Cr assets:stripe:clearing   (amount)
    payout failed    the exact reversal of that entry (the money is back at Stripe)

The transit account is opened on first use; the bank line that arrives later
moves the money from transit to the bank account (matched by amount, a window
of arrival dates and the descriptor, both stored on the payout's row).

Before booking, the payout's balance transactions (fetched from Stripe by the
caller, outside the transaction) are checked against what the ledger booked,
and every difference is stored on the payout's row: a charge whose gross, fee
or net differ from the gift's booking, a refund or dispute whose amount or fee
differ, a balance transaction the ledger knows nothing of, a net sum that is
not the payout's amount, and a booked record that no payout has covered
although a later-booked one was paid out. A payout is booked even when
differences are found: the money did leave Stripe; the differences are for a
treasurer to explain.

One entry per payout: the row's primary key is the payout id and the entry's
idempotency key is derived from it, so a webhook delivered twice, the sync, or
both at once book it once (on PostgreSQL the loser of the race on the row's
key is replayed by the unit of work and finds the row).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.campaigns import accounts as campaign_accounts
from ledger.campaigns.models import Dispute, Donation, Refund
from ledger.core.clock import Clock, rome_today
from ledger.core.intents import defer_entry
from ledger.core.journal import EntrySpec, PostingSpec, reverse_entry
from ledger.core.money import Money
from ledger.payments.stripe_gateway import BalanceTransaction, PayoutState
from ledger.reconcile.models import StripePayout, StripePayoutItem

TRANSIT = "assets:bank:transit:stripe"
TRANSIT_NAME = "Denaro in viaggio: versamenti Stripe verso la banca"
# What a payout did: booked (the transfer), reversed (a failure after it was
# booked), failed (failed before anything was booked: nothing to reverse),
# already (nothing new), left (not paid nor failed yet: nothing to do).
OUTCOMES = ("booked", "reversed", "failed", "already", "left")


@dataclass(frozen=True, slots=True)
class Difference:
    """One disagreement between a payout's balance transactions and the books."""

    kind: str  # amount, fee, net, unknown, not_booked, currency, total, missing, repeated
    message: str
    balance_transaction: str | None = None
    source: str | None = None
    stripe_minor: int | None = None
    ledger_minor: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "balance_transaction": self.balance_transaction,
            "source": self.source,
            "stripe": self.stripe_minor,
            "ledger": self.ledger_minor,
        }


@dataclass(frozen=True, slots=True)
class PayoutRecorded:
    """What recording one payout did, and the differences stored on its row."""

    payout_id: str
    outcome: str
    amount_minor: int
    currency: str
    status: str
    entry_id: str | None = None  # the payout's entry (its number exists at COMMIT)
    reversal_sequence: int | None = None
    differences: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def arrival_day(payout: PayoutState) -> date | None:
    """Stripe's arrival date (midnight UTC of the expected day) as a date."""
    if payout.arrival_date is None:
        return None
    return datetime.fromtimestamp(payout.arrival_date, UTC).date()


# ------------------------------------------------------------------ the check
def check_payout(
    session: Session, payout: PayoutState, transactions: Sequence[BalanceTransaction]
) -> list[Difference]:
    """Every difference between the payout's balance transactions and the books."""
    differences: list[Difference] = []
    covered_times: list[datetime] = []
    total = 0
    for txn in transactions:
        if txn.type == "payout" and txn.source == payout.id:
            continue  # the payout's own withdrawal from the balance
        total += txn.net_minor
        if txn.currency != payout.currency:
            differences.append(
                Difference(
                    "currency",
                    f"{txn.id} is in {txn.currency}, the payout in {payout.currency}",
                    txn.id,
                    txn.source,
                )
            )
            continue
        found, booked_at = _check_one(session, txn)
        differences.extend(found)
        if booked_at is not None:
            covered_times.append(booked_at)
    if total != payout.amount_minor:
        differences.append(
            Difference(
                "total",
                f"the balance transactions add up to {total}, the payout is {payout.amount_minor}",
                stripe_minor=payout.amount_minor,
                ledger_minor=total,
            )
        )
    differences.extend(_missing(session, payout, transactions, covered_times))
    return differences


def _check_one(
    session: Session, txn: BalanceTransaction
) -> tuple[list[Difference], datetime | None]:
    """The differences of one balance transaction, and when the ledger booked its record."""
    source = txn.source or ""
    if txn.type in ("charge", "payment") and source:
        donation = session.scalars(
            select(Donation).where(Donation.stripe_charge_id == source)
        ).first()
        if donation is None or donation.status != "settled":
            kind = "unknown" if donation is None else "not_booked"
            what = "no gift" if donation is None else f"gift {donation.id} is {donation.status}"
            return [Difference(kind, f"charge {source}: {what} in the books", txn.id, source)], None
        found = _compare(
            txn, "gross", txn.amount_minor, donation.amount_minor, f"gift {donation.id}"
        )
        found += _compare(txn, "fee", txn.fee_minor, donation.fee_minor, f"gift {donation.id}")
        booked_net = donation.amount_minor - donation.fee_minor
        found += _compare(txn, "net", txn.net_minor, booked_net, f"gift {donation.id}")
        return found, donation.settled_at
    if txn.type in ("refund", "payment_refund") and source:
        refund = session.scalars(select(Refund).where(Refund.stripe_refund_id == source)).first()
        if refund is None or refund.status != "succeeded":
            kind = "unknown" if refund is None else "not_booked"
            what = "no refund" if refund is None else f"refund {refund.id} is {refund.status}"
            return [Difference(kind, f"refund {source}: {what} in the books", txn.id, source)], None
        found = _compare(
            txn, "amount", -txn.amount_minor, refund.amount_minor, f"refund {refund.id}"
        )
        found += _compare(txn, "fee", txn.fee_minor, 0, f"refund {refund.id}")
        return found, refund.confirmed_at
    if txn.type == "adjustment" and source.startswith("dp_"):
        dispute = session.get(Dispute, source)
        if dispute is None:
            return [
                Difference("unknown", f"dispute {source}: not in the books", txn.id, source)
            ], None
        if txn.amount_minor < 0:
            found = _compare(
                txn, "amount", -txn.amount_minor, dispute.amount_minor, f"dispute {source}"
            )
            found += _compare(txn, "fee", txn.fee_minor, dispute.fee_minor, f"dispute {source}")
            return found, dispute.opened_at
        if dispute.status != "won":
            message = f"dispute {source}: money reinstated, the books say {dispute.status}"
            return [Difference("not_booked", message, txn.id, source)], None
        found = _compare(txn, "amount", txn.amount_minor, dispute.amount_minor, f"dispute {source}")
        return found, dispute.closed_at
    message = f"{txn.type} {txn.id} ({txn.net_minor} net): nothing in the books explains it"
    return [Difference("unknown", message, txn.id, txn.source, stripe_minor=txn.net_minor)], None


def _compare(
    txn: BalanceTransaction, what: str, stripe_minor: int, ledger_minor: int, record: str
) -> list[Difference]:
    if stripe_minor == ledger_minor:
        return []
    kind = "amount" if what == "gross" else what
    return [
        Difference(
            kind,
            f"{txn.source}: Stripe's {what} is {stripe_minor}, {record} booked {ledger_minor}",
            txn.id,
            txn.source,
            stripe_minor,
            ledger_minor,
        )
    ]


def _missing(
    session: Session,
    payout: PayoutState,
    transactions: Sequence[BalanceTransaction],
    covered_times: list[datetime],
) -> list[Difference]:
    """Booked Stripe records that no payout covered although a later-booked one was
    paid out by this payout (Stripe pays out its balance in order)."""
    if not covered_times:
        return []
    latest = max(covered_times)
    here = {t.source for t in transactions if t.source}
    elsewhere = set(
        session.scalars(select(StripePayoutItem.source).where(StripePayoutItem.source.is_not(None)))
    )
    paid_out = here | elsewhere
    found: list[Difference] = []
    gifts = session.scalars(
        select(Donation).where(
            Donation.method == "card",
            Donation.status == "settled",
            Donation.currency == payout.currency,
            Donation.stripe_charge_id.is_not(None),
            Donation.settled_at < latest,
        )
    )
    for gift in gifts:
        if gift.stripe_charge_id not in paid_out:
            found.append(
                Difference(
                    "missing",
                    f"gift {gift.id} (charge {gift.stripe_charge_id}) is booked but in no payout",
                    source=gift.stripe_charge_id,
                    ledger_minor=gift.amount_minor - gift.fee_minor,
                )
            )
    refunds = session.scalars(
        select(Refund).where(
            Refund.status == "succeeded",
            Refund.currency == payout.currency,
            Refund.stripe_refund_id.is_not(None),
            Refund.confirmed_at < latest,
        )
    )
    for refund in refunds:
        if refund.stripe_refund_id not in paid_out:
            found.append(
                Difference(
                    "missing",
                    f"refund {refund.id} ({refund.stripe_refund_id}) is booked but in no payout",
                    source=refund.stripe_refund_id,
                    ledger_minor=-refund.amount_minor,
                )
            )
    disputes = session.scalars(
        select(Dispute).where(Dispute.currency == payout.currency, Dispute.opened_at < latest)
    )
    for dispute in disputes:
        if dispute.id not in paid_out:
            found.append(
                Difference(
                    "missing",
                    f"dispute {dispute.id} is booked but in no payout",
                    source=dispute.id,
                    ledger_minor=-(dispute.amount_minor + dispute.fee_minor),
                )
            )
    return found


# ------------------------------------------------------------------ booking
def record_payout(
    session: Session,
    payout: PayoutState,
    transactions: Sequence[BalanceTransaction],
    *,
    clock: Clock,
    actor: str,
) -> PayoutRecorded:
    """Record what Stripe says of a payout: book it when paid, reverse it when it failed.

    `transactions` are the payout's balance transactions (needed when it is
    paid and not yet recorded). Monotonic: a payout already failed stays failed,
    a payout booked is never booked again.
    """
    row = session.scalars(
        select(StripePayout).where(StripePayout.id == payout.id).with_for_update()
    ).first()
    if payout.status == "paid":
        if row is not None:
            return _recorded(row, "already")
        return _recorded(_book(session, payout, transactions, clock=clock, actor=actor), "booked")
    if payout.status == "failed":
        if row is None:
            row = _new_row(payout, status="failed", clock=clock)
            row.failed_at = clock.now()
            session.add(row)
            session.flush()
            return _recorded(row, "failed")
        if row.status == "failed":
            return _recorded(row, "already")
        if row.entry_id is not None:
            reversed_entry = reverse_entry(
                session,
                idempotency_key=f"stripe-payout:{payout.id}:failed",
                entry_id=row.entry_id,
                clock=clock,
                narration=f"Versamento Stripe {payout.id} non riuscito: torna nel saldo Stripe",
                actor=actor,
            )
            row.reversal_sequence = reversed_entry.entry.sequence
        row.status = "failed"
        row.failed_at = clock.now()
        session.flush()
        return _recorded(row, "reversed")
    if row is not None:
        return _recorded(row, "already")
    return PayoutRecorded(payout.id, "left", payout.amount_minor, payout.currency, payout.status)


def _new_row(payout: PayoutState, *, status: str, clock: Clock) -> StripePayout:
    return StripePayout(
        id=payout.id,
        amount_minor=payout.amount_minor,
        currency=payout.currency,
        status=status,
        arrival_date=arrival_day(payout),
        statement_descriptor=(payout.statement_descriptor or None),
        trace_id=payout.trace_id,
        transactions=0,
        differences="[]",
        recorded_at=clock.now(),
    )


def _book(
    session: Session,
    payout: PayoutState,
    transactions: Sequence[BalanceTransaction],
    *,
    clock: Clock,
    actor: str,
) -> StripePayout:
    differences = check_payout(session, payout, transactions)
    row = _new_row(payout, status="paid", clock=clock)
    session.add(row)
    session.flush()  # the row's key first: a concurrent recording waits here
    items = [t for t in transactions if not (t.type == "payout" and t.source == payout.id)]
    known = set(
        session.scalars(
            select(StripePayoutItem.balance_transaction_id).where(
                StripePayoutItem.balance_transaction_id.in_([t.id for t in items])
            )
        )
    )
    for txn in items:
        if txn.id in known:
            differences.append(
                Difference(
                    "repeated",
                    f"{txn.id} was already paid out by another payout",
                    txn.id,
                    txn.source,
                )
            )
            continue
        session.add(
            StripePayoutItem(
                balance_transaction_id=txn.id,
                payout_id=payout.id,
                type=txn.type[:32],
                source=txn.source,
                amount_minor=txn.amount_minor,
                fee_minor=txn.fee_minor,
                net_minor=txn.net_minor,
                currency=txn.currency,
            )
        )
    row.transactions = len(items)
    row.differences = json.dumps([d.as_dict() for d in differences], sort_keys=True)
    if payout.amount_minor != 0:
        campaign_accounts.ensure_accounts(
            session,
            clock,
            [
                (campaign_accounts.STRIPE, "asset", "Stripe: incassi con carta (saldo Stripe)"),
                (TRANSIT, "asset", TRANSIT_NAME),
            ],
        )
        amount = Money(payout.amount_minor, payout.currency)
        # Written when the unit commits (`defer_entry`): the event's unit takes the
        # journal head there, not here.
        booked = defer_entry(
            session,
            EntrySpec(
                idempotency_key=f"stripe-payout:{payout.id}",
                kind="stripe_payout",
                postings=[
                    PostingSpec(TRANSIT, amount),
                    PostingSpec(campaign_accounts.STRIPE, -amount),
                ],
                effective_on=rome_today(clock),
                narration=f"Versamento Stripe {payout.id} verso la banca",
                metadata={"stripe_payout": payout.id, "differences": len(differences)},
                actor=actor,
            ),
            clock=clock,
        )
        row.entry_id = booked.id
    session.flush()
    return row


def _recorded(row: StripePayout, outcome: str) -> PayoutRecorded:
    return PayoutRecorded(
        payout_id=row.id,
        outcome=outcome,
        amount_minor=row.amount_minor,
        currency=row.currency,
        status=row.status,
        entry_id=row.entry_id,
        reversal_sequence=row.reversal_sequence,
        differences=tuple(json.loads(row.differences or "[]")),
    )


def stored_payout(session: Session, payout_id: str) -> StripePayout | None:
    """The payout's row, if it was recorded."""
    return session.get(StripePayout, payout_id)
