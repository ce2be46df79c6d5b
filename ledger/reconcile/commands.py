"""Use cases of reconciliation: create a bank account, import a statement file,
record a Stripe payout (from its webhook event or from the periodic sync), and
explain the bank lines: apply the creditor references they carry and then the
treasurer's rules, ignore a line, book a line against an account, match a line to
existing records by hand. (Rules themselves, and turning a line into a gift or a
repayment, are in `ledger.reconcile.rule_commands`.)

Each is one act in the command shape (`ledger.commands.begin` ... `claim.done`,
which writes the audit event in the same transaction). The import checks and
stores through `ledger.reconcile.statements`; a refusal raises before the
transaction commits, so a refused file leaves nothing, not even its audit event.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum import iban as stdnum_iban
from stdnum.exceptions import ValidationError as StdnumValidationError

from ledger.campaigns import accounts as campaign_accounts
from ledger.campaigns.commands import APPLY_STRIPE_EVENT, EventApplied, settle_transfer_gift
from ledger.campaigns.models import Donation, StripeEvent
from ledger.commands import Origin, Outcome, begin, command
from ledger.core.accounts import get_account
from ledger.core.clock import Clock, rome_today
from ledger.core.errors import LedgerError
from ledger.core.intents import defer_entry
from ledger.core.journal import EntrySpec, PostingSpec, get_entry
from ledger.core.models import Account
from ledger.core.money import Money
from ledger.core.periods import locked_through
from ledger.funds.accounts import FundAccounts
from ledger.funds.loan_commands import record_repayment
from ledger.funds.models import Loan, LoanRepayment
from ledger.payments.stripe_gateway import BalanceTransaction, PayoutState
from ledger.reconcile import matching, payout_matching
from ledger.reconcile import rules as rule_book
from ledger.reconcile.errors import (
    AccountHeldError,
    BankAccountExistsError,
    BankAccountNotFoundError,
    InvalidAllocationError,
    InvalidBankAccountError,
    InvalidImportError,
    LineRefusedError,
    OverAllocationError,
)
from ledger.reconcile.formats import FORMATS, PARSERS, detect_format
from ledger.reconcile.formats.tabular import Preset, preset_from_settings, preset_settings
from ledger.reconcile.holdings import held_accounts, holder_of
from ledger.reconcile.models import (
    BankAccount,
    BankAccountHolding,
    BankAllocation,
    BankLine,
    BankRule,
    StripePayout,
)
from ledger.reconcile.parsed import StatementFormatError
from ledger.reconcile.payouts import PayoutRecorded, record_payout
from ledger.reconcile.statements import ImportReport, import_parsed, report_of

CREATE_BANK_ACCOUNT = command("bank_account.create", "bank_account")
SET_PRESET = command("bank_account.preset", "bank_account")
HOLD_ACCOUNT = command("bank_account.hold", "bank_account")
IMPORT_STATEMENT = command("bank.import", "statement_import")
# A payout found paid or failed by the periodic sync (the webhook's act is
# campaigns' `stripe.event`, under the event's id).
SYNC_PAYOUT = command("stripe.payout", "stripe_payout")
APPLY_REFERENCES = command("bank.match", "bank_account")
IGNORE_LINE = command("bank_line.ignore", "bank_line")
BOOK_LINE = command("bank_line.book", "bank_line")
MATCH_LINE = command("bank_line.match", "bank_line")
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
    _check_not_held(session, ledger_account.id, account_code)
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


def _check_not_held(session: Session, account_id: int, account_code: str) -> None:
    holder = holder_of(session, account_id)
    if holder is not None:
        raise AccountHeldError(
            f"{account_code} is held by the bank account {holder.iban} already",
            account=account_code,
            iban=holder.iban,
        )


def hold_account(
    session: Session,
    iban: str,
    account_code: str,
    *,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[list[Account]]:
    """List the asset account `account_code` among those the bank account `iban` holds
    (its money sits in that bank account: a fund's cash, say). The value is every
    account the bank account holds, the mirrored one first.

    The account is an asset in the bank account's currency, held by no other bank
    account (`account_held`, 409); holding an account it holds already changes nothing.
    """
    compact = compact_iban(iban)
    claim = begin(
        session,
        HOLD_ACCOUNT,
        origin,
        clock=clock,
        key=key,
        request={"iban": compact, "account": account_code},
    )
    bank_account = get_bank_account(session, compact, lock=True)
    if claim.earlier is not None:
        return claim.replay(held_accounts(session, bank_account))
    ledger_account = get_account(session, account_code)
    if ledger_account.type != "asset":
        raise InvalidBankAccountError(
            f"{account_code} is an {ledger_account.type} account; a bank account holds assets",
            field="account",
        )
    if ledger_account.currency != bank_account.currency:
        raise InvalidBankAccountError(
            f"{account_code} is in {ledger_account.currency}, the bank account "
            f"{bank_account.iban} in {bank_account.currency}",
            field="account",
        )
    held = held_accounts(session, bank_account)
    if any(a.id == ledger_account.id for a in held):
        return claim.known(held, subject_id=bank_account.id)
    _check_not_held(session, ledger_account.id, account_code)
    session.add(
        BankAccountHolding(
            bank_account_id=bank_account.id,
            account_id=ledger_account.id,
            added_by=origin.actor[:64],
            added_at=clock.now(),
        )
    )
    session.flush()
    return claim.done(
        held_accounts(session, bank_account),
        subject_id=bank_account.id,
        details={"account": account_code},
    )


def account_preset(account: BankAccount) -> Preset | None:
    """The account's own CSV/XLSX preset, if the treasurer set one."""
    if not account.csv_preset:
        return None
    return preset_from_settings(json.loads(account.csv_preset), currency=account.currency)


def set_account_preset(
    session: Session,
    iban: str,
    settings: Mapping[str, Any],
    *,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[Preset]:
    """Set the columns of the account's bank export once (`preset_from_settings`):
    imports of a CSV or XLSX file without a named preset read it with these.
    Bad settings are refused (`invalid_import`, field `preset`) and nothing changes."""
    compact = compact_iban(iban)
    wanted = dict(settings)
    claim = begin(
        session,
        SET_PRESET,
        origin,
        clock=clock,
        key=key,
        request={"iban": compact, "settings": wanted},
    )
    account = get_bank_account(session, compact, lock=True)
    if claim.earlier is not None:
        found = account_preset(account)
        assert found is not None
        return claim.replay(found)
    try:
        preset = preset_from_settings(wanted, currency=account.currency)
    except ValueError as exc:
        raise InvalidImportError(f"the preset is not valid: {exc}", field="preset") from None
    stored = preset_settings(preset)
    account.csv_preset = json.dumps(stored, ensure_ascii=False, sort_keys=True)
    session.flush()
    return claim.done(preset, subject_id=account.id, details={"settings": stored})


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

    `format` "auto" tells the format from the content. A CSV or XLSX file is read
    with the named `preset`, or without one with the account's own
    (`set_account_preset`). A statement that does
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
    columns: str | Preset | None = preset
    if takes_preset and preset is None:
        columns = account_preset(account)
    statements = parser(data, preset=columns) if takes_preset else parser(data)  # type: ignore[call-arg]
    if not statements:
        raise StatementFormatError("the file holds no statement")
    report = import_parsed(
        session,
        account,
        statements,
        sha256=sha256,
        fmt=fmt,
        preset=columns.name if isinstance(columns, Preset) else columns,
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
            "kept_whole": list(report.kept_whole),
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


# ------------------------------------------------------------------ explaining lines
@dataclass(frozen=True, slots=True)
class MatchCounts:
    examined: int
    settled_gifts: int
    repayments: int
    left: int
    payouts: int = 0  # lines matched to a Stripe payout arriving
    booked_by_rules: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "examined": self.examined,
            "settled_gifts": self.settled_gifts,
            "repayments": self.repayments,
            "payouts": self.payouts,
            "booked_by_rules": self.booked_by_rules,
            "left": self.left,
        }


def line_key(line_id: int) -> str:
    """The request key of what a line's reference settles: one effect per line."""
    return f"bank-line:{line_id}"


def apply_references(
    session: Session, iban: str, *, origin: Origin, clock: Clock
) -> Outcome[MatchCounts]:
    """Explain the unexplained incoming lines of `iban` that carry one of our creditor
    references (structured reference, end-to-end id or text).

    `D<id>`: the pending transfer gift is settled (`settle_transfer_gift`) when the
    line's amount is the gift's; another amount is left unexplained (the
    treasurer's decision). `L<id>`: a repayment of that loan is recorded
    (`record_repayment`) with the line's amount and booking date; one line may
    cover two instalments. Each effect runs under a request key derived from the
    line id and the line gets its allocation, so running this twice has one
    effect. A line whose loan refuses the repayment is left unexplained.

    Then the Stripe payouts (`_match_payouts`): a wholly unexplained incoming
    line with exactly one candidate payout, whose descriptor or trace id the
    line carries, is matched to it and its arrival booked (transit -> bank).

    Then the account's active rules, in the treasurer's order, for the lines
    (in or out) still wholly unexplained: the first rule a line matches decides;
    a `book` rule books the line (`booked_by_rules`, the allocation's reason
    `rule:<id>`, one entry per line under `rule_key`), a `propose` rule leaves it
    to the treasurer. `examined` = settled + repayments + payouts + booked by
    rules + left.

    A line dated in a closed month is left to the treasurer by every pass (its
    entry could not be written there; a month may close with lines unexplained).
    """
    claim = begin(session, APPLY_REFERENCES, origin, clock=clock)
    account = get_bank_account(session, iban)
    today = rome_today(clock)
    # A line of a closed month is the treasurer's: its entry could not be written, and
    # the refusal would stop the whole run (a month may close with lines unexplained).
    closed = locked_through(session)
    settled = repaid = left = examined = 0
    unexplained = matching.line_views(session, account, "unexplained")
    incoming = [v for v in unexplained if v.amount_minor > 0]
    # Read once for the run, not once per line: the lines (kept here, so the session
    # does not read each again) and the ledger accounts this bank account holds.
    rows = matching.lines_by_id(session, [v.id for v in incoming])
    held = {a.code for a in held_accounts(session, account)}
    for view in incoming:
        examined += 1
        if view.booked_on > today or _closed(view.booked_on, closed):
            left += 1
            continue
        # A line without one of our references is left as it is, without a lock.
        found = matching.our_reference(rows[view.id])
        if found is None:
            left += 1
            continue
        line = matching.lock_line(session, view.id)
        state = matching.state_of(session, line)
        if state.status != "unexplained" or state.left_minor != line.amount_minor:
            left += 1  # partly explained by hand: the rest is the treasurer's
            continue
        kind, record_id = found
        if kind == "D" and _settle_gift(session, account, held, line, record_id, origin, clock):
            settled += 1
        elif kind == "L" and _repay_loan(session, account, held, line, record_id, origin, clock):
            repaid += 1
        else:
            left += 1
    payouts = _match_payouts(session, account, origin, clock, closed)
    left -= payouts
    # Then the treasurer's rules, in order, on the lines still wholly unexplained
    # (outgoing ones too): a `book` rule books the line; a `propose` rule only
    # proposes (see `suggestions`), and stops the search: first match wins.
    booked = 0
    rules = rule_book.rules_of(session, account.id)
    for view in matching.line_views(session, account, "unexplained") if rules else ():
        if _closed(view.booked_on, closed):
            continue
        if _book_by_rule(session, account, view.id, rules, origin, clock, today):
            booked += 1
            if view.amount_minor > 0:
                left -= 1  # counted as left by the references
            else:
                examined += 1
    counts = MatchCounts(examined, settled, repaid, left, payouts=payouts, booked_by_rules=booked)
    return claim.done(counts, subject_id=account.id, details=counts.as_dict())


def _closed(day: date, closed_through: date | None) -> bool:
    return closed_through is not None and day <= closed_through


def _match_payouts(
    session: Session, account: BankAccount, origin: Origin, clock: Clock, closed: date | None
) -> int:
    """The payout pass of `apply_references` (see `payout_matching.match_payouts`)."""
    return payout_matching.match_payouts(
        session,
        account,
        today=rome_today(clock),
        clock=clock,
        actor=origin.actor,
        closed_through=closed,
    )


def rule_key(line_id: int) -> str:
    """The engine key of the entry a rule books for a line: one entry per line."""
    return f"bank-line-rule:{line_id}"


def _book_by_rule(
    session: Session,
    account: BankAccount,
    line_id: int,
    rules: list[BankRule],
    origin: Origin,
    clock: Clock,
    today: date,
) -> bool:
    line = matching.lock_line(session, line_id)
    state = matching.state_of(session, line)
    if state.status != "unexplained" or state.left_minor != line.amount_minor:
        return False  # partly explained by hand: the rest is the treasurer's
    if line.booked_on > today:
        return False
    rule = rule_book.first_match(rules, line)
    if rule is None or rule.action != "book" or rule.account_id is None:
        return False
    target = session.get(Account, rule.account_id)
    assert target is not None
    _book_left(
        session,
        account,
        line,
        target.code,
        rule.narration or rule.name,
        actor=origin.actor,
        clock=clock,
        entry_key=rule_key(line.id),
        rule_id=rule.id,
    )
    return True


_TRANSFER_GIFTS = campaign_accounts.METHOD_ACCOUNT["bank_transfer"]


def takes_transfer_gifts(session: Session, account: BankAccount) -> bool:
    """Whether gifts by transfer land on this bank account: campaigns book them to one
    ledger account (`METHOD_ACCOUNT["bank_transfer"]`), which it must hold."""
    return _TRANSFER_GIFTS in {held.code for held in held_accounts(session, account)}


def _settle_gift(
    session: Session,
    account: BankAccount,
    held: set[str],
    line: BankLine,
    donation_id: int,
    origin: Origin,
    clock: Clock,
) -> bool:
    gift = session.get(Donation, donation_id)
    if (
        gift is None
        or gift.status != "pending"
        or gift.method != "bank_transfer"
        or gift.transfer_reference is None
        or gift.currency != account.currency
        or gift.amount_minor != line.amount_minor
        or _TRANSFER_GIFTS not in held  # gifts by transfer do not land on this account
    ):
        return False
    settle_transfer_gift(
        session,
        donation_id,
        line.amount_minor,
        received_on=line.booked_on,
        bank_line_id=line.id,
        origin=origin,
        clock=clock,
        key=line_key(line.id),
    )
    matching.allocate(
        session,
        line,
        [("gift", str(donation_id), line.amount_minor, None)],
        currency=account.currency,
        actor=origin.actor,
        now=clock.now(),
    )
    return True


def _repay_loan(
    session: Session,
    account: BankAccount,
    held: set[str],
    line: BankLine,
    loan_id: int,
    origin: Origin,
    clock: Clock,
) -> bool:
    loan = session.get(Loan, loan_id)
    if loan is None or loan.currency != account.currency:
        return False
    cash = FundAccounts(loan.fund_id).cash
    if cash not in held:
        return False  # the loan's money is not in this bank account: the treasurer's
    line_id, amount = line.id, line.amount_minor
    try:
        with session.begin_nested():
            repayment = record_repayment(
                session,
                loan_id,
                amount,
                received_on=line.booked_on,
                origin=origin,
                clock=clock,
                key=line_key(line_id),
            ).value
    except LedgerError:
        return False  # the loan refuses it (not paid out, closed): the treasurer's
    line = matching.lock_line(session, line_id)
    matching.allocate(
        session,
        line,
        [("repayment", str(repayment.id), amount, None)],
        currency=account.currency,
        actor=origin.actor,
        now=clock.now(),
    )
    return True


def _line_account(session: Session, line: BankLine) -> BankAccount:
    account = session.get(BankAccount, line.bank_account_id)
    assert account is not None
    return account


def ignore_line(
    session: Session,
    line_id: int,
    reason: str,
    *,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[list[BankAllocation]]:
    """Explain what is left of a line as ignored, with the reason (an internal
    transfer already booked elsewhere, a line of no concern to the books)."""
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise InvalidAllocationError(
            f"ignoring a line needs a reason of at most {MAX_REASON} characters", field="reason"
        )
    claim = begin(
        session,
        IGNORE_LINE,
        origin,
        clock=clock,
        key=key,
        request={"line": line_id, "reason": reason},
    )
    if claim.earlier is not None:
        return claim.replay(_allocations_of(session, line_id))
    line = matching.lock_line(session, line_id)
    account = _line_account(session, line)
    left = matching.state_of(session, line).left_minor
    rows = matching.allocate(
        session,
        line,
        [("ignored", None, left, reason)],
        currency=account.currency,
        actor=origin.actor,
        now=clock.now(),
    )
    return claim.done(rows, subject_id=line.id, details={"amount": left, "reason": reason})


def book_line(
    session: Session,
    line_id: int,
    account_code: str,
    narration: str,
    *,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[list[BankAllocation]]:
    """Book what is left of a line between the bank's mirrored ledger account and
    `account_code` (a bank fee to an expense, interest to an income) on the line's
    booking date, and explain the line by that entry."""
    claim = begin(
        session,
        BOOK_LINE,
        origin,
        clock=clock,
        key=key,
        request={"line": line_id, "account": account_code, "narration": narration},
    )
    if claim.earlier is not None:
        return claim.replay(_allocations_of(session, line_id))
    line = matching.lock_line(session, line_id)
    account = _line_account(session, line)
    rows, entry_id, left = _book_left(
        session,
        account,
        line,
        account_code,
        narration,
        actor=origin.actor,
        clock=clock,
        entry_key=f"bank-line-book:{line.id}",
    )
    return claim.done(
        rows,
        subject_id=line.id,
        details={"amount": left, "account": account_code, "entry_id": entry_id},
    )


def _book_left(
    session: Session,
    account: BankAccount,
    line: BankLine,
    account_code: str,
    narration: str,
    *,
    actor: str,
    clock: Clock,
    entry_key: str,
    rule_id: int | None = None,
) -> tuple[list[BankAllocation], str, int]:
    """Book what is left of a locked line against `account_code` and allocate the line to
    the entry (its reason `rule:<id>` when a rule booked it): the rows, the entry's id
    and the amount booked.

    The entry is written when the unit commits (`defer_entry`): a checked row (a
    fund's cash) is locked and checked here as before, the other rows and the
    journal head only at COMMIT, so a run that books many lines by rule takes the
    head once, at its end. The allocation names the entry by id (`record_id` of a "booked"
    allocation; its number is read from the journal)."""
    mirrored = session.get(Account, account.account_id)
    assert mirrored is not None
    other = get_account(session, account_code)
    if other.id == mirrored.id:
        raise InvalidAllocationError(
            "a line is booked against another account than the bank's own", field="account"
        )
    left = matching.state_of(session, line).left_minor
    if left == 0:
        raise OverAllocationError(
            f"bank line {line.id} is explained already: nothing is left to book",
            line_id=line.id,
            left="0",
        )
    amount = Money(left, account.currency)
    metadata: dict[str, Any] = {"bank_line": line.id}
    if rule_id is not None:
        metadata["bank_rule"] = rule_id
    booked = defer_entry(
        session,
        EntrySpec(
            idempotency_key=entry_key,
            kind="bank_line",
            postings=[PostingSpec(mirrored.code, amount), PostingSpec(account_code, -amount)],
            effective_on=line.booked_on,
            narration=narration.strip()[:500],
            metadata=metadata,
            actor=actor,
        ),
        clock=clock,
    )
    rows = matching.allocate(
        session,
        line,
        [
            (
                "booked",
                booked.id,
                left,
                None if rule_id is None else f"rule:{rule_id}",
            )
        ],
        currency=account.currency,
        actor=actor,
        now=clock.now(),
    )
    return rows, booked.id, left


def match_line(
    session: Session,
    line_id: int,
    parts: Sequence[tuple[str, int | str, int]],
    *,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[list[BankAllocation]]:
    """Explain a line by existing records: (kind, record id, amount) with kind `gift`
    (donation id), `repayment` (loan repayment id), `entry` (journal entry
    sequence) or `payout` (Stripe payout id); the amounts, signed like the line,
    add up to at most what is left of it (OverAllocationError, nothing written).

    A `payout` part is the payout's money arriving: it is booked from money in
    transit to the bank's mirrored account on the line's booking date
    (`payout_matching`); more than is left of the payout is OverAllocationError,
    nothing written. A `gift` part naming a pending transfer gift is that gift's
    transfer arriving: it is settled (`settle_transfer_gift`, booked to the bank on
    the line's booking date with its receipt) for its whole amount; another amount
    is refused (`transfer_amount_differs`, nothing written)."""
    wanted = [(str(k), str(r), int(a)) for k, r, a in parts]
    claim = begin(
        session,
        MATCH_LINE,
        origin,
        clock=clock,
        key=key,
        request={"line": line_id, "parts": wanted},
    )
    if claim.earlier is not None:
        return claim.replay(_allocations_of(session, line_id))
    line = matching.lock_line(session, line_id)
    account = _line_account(session, line)
    for kind, record_id, _amount in wanted:
        _check_record(session, kind, record_id)
    payout_parts = [(r, a) for k, r, a in wanted if k == "payout"]
    if payout_parts:
        payout_matching.check_payout_parts(session, account, payout_parts)
    for kind, record_id, amount in wanted:
        if kind == "gift":
            _settle_pending_gift(session, line, int(record_id), amount, origin, clock)
    rows = matching.allocate(
        session,
        line,
        [(k, r, a, None) for k, r, a in wanted],
        currency=account.currency,
        actor=origin.actor,
        now=clock.now(),
    )
    payout_matching.book_allocated(session, line, account, rows, clock=clock, actor=origin.actor)
    return claim.done(
        rows,
        subject_id=line.id,
        details={"parts": [{"kind": k, "record": r, "amount": a} for k, r, a in wanted]},
    )


def _settle_pending_gift(
    session: Session, line: BankLine, donation_id: int, amount: int, origin: Origin, clock: Clock
) -> None:
    """A pending transfer gift matched by hand: its transfer arrived with this line."""
    gift = session.get(Donation, donation_id)
    if gift is None or gift.status != "pending" or gift.method != "bank_transfer":
        return
    if not takes_transfer_gifts(session, _line_account(session, line)):
        raise LineRefusedError(
            f"gifts by transfer are booked to {campaign_accounts.METHOD_ACCOUNT['bank_transfer']}, "
            "which this bank account does not hold: the gift cannot arrive on it",
            field="record",
            record=str(donation_id),
        )
    settle_transfer_gift(
        session,
        donation_id,
        amount,
        received_on=line.booked_on,
        bank_line_id=line.id,
        origin=origin,
        clock=clock,
        key=f"bank-line-match:{line.id}:gift:{donation_id}",
    )


def _check_record(session: Session, kind: str, record_id: str) -> None:
    if kind not in matching.RECORD_KINDS:
        raise InvalidAllocationError(
            f"a line is matched to a {', '.join(matching.RECORD_KINDS)}, not {kind!r}",
            field="kind",
        )
    exists: object = None
    if kind == "payout":
        exists = session.get(StripePayout, record_id)
    elif record_id.isdigit():
        number = int(record_id)
        if kind == "gift":
            exists = session.get(Donation, number)
        elif kind == "repayment":
            exists = session.get(LoanRepayment, number)
        else:
            try:
                exists = get_entry(session, sequence=number)
            except LedgerError:
                exists = None
    if exists is None:
        raise InvalidAllocationError(
            f"no {kind} {record_id}", field="record", kind=kind, record=record_id
        )


def _allocations_of(session: Session, line_id: int) -> list[BankAllocation]:
    return list(
        session.scalars(
            select(BankAllocation)
            .where(BankAllocation.line_id == line_id)
            .order_by(BankAllocation.id)
        )
    )
