"""Use cases of reconciliation: create a bank account, import a statement file,
record a Stripe payout (from its webhook event or from the periodic sync).

Each is one act in the command shape (`ledger.commands.begin` ... `claim.done`,
which writes the audit event in the same transaction). The import checks and
stores through `ledger.reconcile.statements`; a refusal raises before the
transaction commits, so a refused file leaves nothing, not even its audit event.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum import iban as stdnum_iban
from stdnum.exceptions import ValidationError as StdnumValidationError

from ledger.campaigns.commands import APPLY_STRIPE_EVENT, EventApplied
from ledger.campaigns.models import StripeEvent
from ledger.commands import Origin, Outcome, begin, command
from ledger.core.accounts import get_account
from ledger.core.clock import Clock
from ledger.payments.stripe_gateway import BalanceTransaction, PayoutState
from ledger.reconcile.errors import (
    BankAccountExistsError,
    BankAccountNotFoundError,
    InvalidBankAccountError,
    InvalidImportError,
)
from ledger.reconcile.formats import FORMATS, PARSERS, detect_format
from ledger.reconcile.models import BankAccount
from ledger.reconcile.parsed import StatementFormatError
from ledger.reconcile.payouts import PayoutRecorded, record_payout
from ledger.reconcile.statements import ImportReport, import_parsed, report_of

CREATE_BANK_ACCOUNT = command("bank_account.create", "bank_account")
IMPORT_STATEMENT = command("bank.import", "statement_import")
# A payout found paid or failed by the periodic sync (the webhook's act is
# campaigns' `stripe.event`, under the event's id).
SYNC_PAYOUT = command("stripe.payout", "stripe_payout")
# The journal's actors of what a payout books.
WEBHOOK_ACTOR = "stripe-webhook"
SYNC_ACTOR = "stripe-sync"
PAYOUT_EVENTS = ("payout.paid", "payout.failed")

MAX_REASON = 500


def compact_iban(iban: str) -> str:
    """The IBAN validated (country format and check digits) and compact, upper case."""
    try:
        return str(stdnum_iban.validate(iban))
    except StdnumValidationError:
        raise InvalidBankAccountError(f"{iban!r} is not a valid IBAN", field="iban") from None


def get_bank_account(session: Session, iban: str, *, lock: bool = False) -> BankAccount:
    query = select(BankAccount).where(BankAccount.iban == compact_iban(iban))
    if lock:
        query = query.with_for_update()
    account = session.scalars(query).first()
    if account is None:
        raise BankAccountNotFoundError(f"no bank account {iban}", iban=iban)
    return account


def create_bank_account(
    session: Session,
    *,
    iban: str,
    account_code: str,
    name: str | None = None,
    currency: str | None = None,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[BankAccount]:
    """A bank account mirroring the asset account `account_code` (its currency)."""
    compact = compact_iban(iban)
    claim = begin(
        session,
        CREATE_BANK_ACCOUNT,
        origin,
        clock=clock,
        key=key,
        request={"iban": compact, "account": account_code, "name": name, "currency": currency},
    )
    if claim.earlier is not None:
        found = session.get(BankAccount, claim.earlier.id)
        assert found is not None
        return claim.replay(found)
    ledger_account = get_account(session, account_code)
    if ledger_account.type != "asset":
        raise InvalidBankAccountError(
            f"{account_code} is an {ledger_account.type} account; a bank account mirrors an asset",
            field="account",
        )
    if currency is not None and currency != ledger_account.currency:
        raise InvalidBankAccountError(
            f"{account_code} is in {ledger_account.currency}, not {currency}", field="currency"
        )
    if session.scalars(select(BankAccount.id).where(BankAccount.iban == compact)).first():
        raise BankAccountExistsError(f"the bank account {compact} exists already", iban=compact)
    label = (name or "").strip() or ledger_account.name or account_code
    account = BankAccount(
        iban=compact,
        name=label[:200],
        currency=ledger_account.currency,
        account_id=ledger_account.id,
        created_at=clock.now(),
        created_by=origin.actor,
    )
    session.add(account)
    session.flush()
    return claim.done(
        account,
        subject_id=account.id,
        details={"account": account_code, "currency": account.currency},
    )


def import_statement(
    session: Session,
    iban: str,
    data: bytes,
    *,
    format: str = "auto",
    preset: str | None = None,
    accept_unbalanced: bool = False,
    reason: str | None = None,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[ImportReport]:
    """Import a statement file into the bank account `iban`: all of it, or nothing.

    `format` "auto" tells the format from the content. A statement that does
    not add up, or does not continue the previous one, is refused
    (`statement_unbalanced`, `statement_discontinuous`, with the exact figures)
    unless `accept_unbalanced` is given with a `reason`, which are recorded.
    """
    sha256 = hashlib.sha256(data).hexdigest()
    reason = (reason or "").strip() or None
    if accept_unbalanced and reason is None:
        raise InvalidImportError(
            "accepting a statement that does not add up needs a reason", field="reason"
        )
    if reason is not None and len(reason) > MAX_REASON:
        raise InvalidImportError(f"the reason has at most {MAX_REASON} characters", field="reason")
    claim = begin(
        session,
        IMPORT_STATEMENT,
        origin,
        clock=clock,
        key=key,
        request={
            "iban": compact_iban(iban),
            "sha256": sha256,
            "format": format,
            "preset": preset,
            "accept_unbalanced": accept_unbalanced,
            "reason": reason,
        },
    )
    if claim.earlier is not None:
        return claim.replay(report_of(session, claim.earlier.id))
    account = get_bank_account(session, iban, lock=True)  # one import per account at a time
    fmt = detect_format(data) if format == "auto" else format
    if fmt not in FORMATS:
        raise InvalidImportError(f"unknown format {format!r}", field="format")
    parser = PARSERS.get(fmt)
    if parser is None:
        raise StatementFormatError(f"the {fmt} format cannot be imported yet", format=fmt)
    takes_preset = "preset" in inspect.signature(parser).parameters
    if preset is not None and not takes_preset:
        raise InvalidImportError(f"the {fmt} format takes no preset", field="preset")
    statements = parser(data, preset=preset) if takes_preset else parser(data)  # type: ignore[call-arg]
    if not statements:
        raise StatementFormatError("the file holds no statement")
    report = import_parsed(
        session,
        account,
        statements,
        sha256=sha256,
        fmt=fmt,
        preset=preset,
        accept_unbalanced=accept_unbalanced,
        reason=reason,
        actor=origin.actor,
        now=clock.now(),
    )
    return claim.done(
        report,
        subject_id=report.import_id,
        details={
            "bank_account": account.id,
            "sha256": sha256,
            "format": fmt,
            "statements": len(report.statements),
            "lines": report.lines,
            "new": report.new,
            "already_imported": len(report.already_imported),
            "accepted_unbalanced": report.accepted_unbalanced,
        },
    )


# ------------------------------------------------------------------ Stripe payouts
def apply_payout_event(
    session: Session,
    event: Mapping[str, Any],
    payout: PayoutState | None,
    transactions: Sequence[BalanceTransaction] = (),
    *,
    origin: Origin,
    clock: Clock,
) -> Outcome[EventApplied]:
    """Apply one verified `payout.*` event once, as campaigns' Stripe events are applied.

    The event's id is its request key under the same audit action as every
    other Stripe event, and its id is stored (`stripe_events`) with its effect:
    a redelivery answers "duplicate" and writes nothing. `payout` is the payout
    as Stripe knows it now and `transactions` its balance transactions, both
    fetched by the caller outside any transaction (the event is a nudge: a
    `payout.paid` for a payout that has since failed books nothing and records
    the failure). Differences with the books are stored on the payout's row;
    the payout is booked all the same.
    """
    event_id = str(event.get("id") or "")
    kind = str(event.get("type") or "")
    if not event_id:
        raise ValueError("an event without an id")
    claim = begin(
        session,
        APPLY_STRIPE_EVENT,
        origin,
        clock=clock,
        key=event_id,
        request={"type": kind},
    )
    if claim.earlier is not None:
        return claim.replay(EventApplied(event_id, "duplicate"))
    if session.get(StripeEvent, event_id) is not None:
        return claim.known(EventApplied(event_id, "duplicate"), subject_id=event_id)
    record = StripeEvent(id=event_id, type=kind[:64], received_at=clock.now(), outcome="applied")
    recorded: PayoutRecorded | None = None
    if kind not in PAYOUT_EVENTS or payout is None:
        record.outcome = "ignored"
        record.detail = "not a payout event" if kind not in PAYOUT_EVENTS else "no payout"
    else:
        recorded = record_payout(session, payout, transactions, clock=clock, actor=WEBHOOK_ACTOR)
        if recorded.outcome in ("already", "left"):
            record.outcome = "ignored"
        record.detail = _payout_detail(recorded)
    session.add(record)
    session.flush()
    details: dict[str, Any] = {"type": kind[:64], "outcome": record.outcome}
    if recorded is not None:
        details.update(
            payout=recorded.payout_id,
            payout_outcome=recorded.outcome,
            differences=len(recorded.differences),
        )
    return claim.done(EventApplied(event_id, record.outcome), subject_id=event_id, details=details)


def sync_payout(
    session: Session,
    payout: PayoutState,
    transactions: Sequence[BalanceTransaction] = (),
    *,
    origin: Origin,
    clock: Clock,
) -> Outcome[PayoutRecorded]:
    """Record a payout the periodic sync found paid or failed (its webhook may never come).

    Idempotent on the payout id: a payout the webhook recorded answers
    `already` and writes nothing but this act's audit event.
    """
    claim = begin(session, SYNC_PAYOUT, origin, clock=clock)
    recorded = record_payout(session, payout, transactions, clock=clock, actor=SYNC_ACTOR)
    return claim.done(
        recorded,
        subject_id=payout.id,
        details={
            "outcome": recorded.outcome,
            "status": payout.status,
            "amount": recorded.amount_minor,
            "differences": len(recorded.differences),
        },
    )


def _payout_detail(recorded: PayoutRecorded) -> str:
    text = f"payout {recorded.payout_id} {recorded.outcome}"
    if recorded.differences:
        text += f"; {len(recorded.differences)} differences with the books"
    return text[:255]
