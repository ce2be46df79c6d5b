"""Ranked suggestions of what may explain an unexplained bank line. Nothing here writes:
the treasurer picks one and acts (`match_line`, `line_to_gift`, `line_to_repayment`,
`book_line`).

Candidates, each with a score (0..100, the sum of its reasons' weights, capped)
and short reason codes:

- `gift`: a pending bank-transfer gift in the line's currency whose amount is
  what is left of the line (`amount_equal`), or whose reference the line carries
  with one wrong character or check digit (`reference_partial`);
- `loan`: a paid-out loan in the line's currency with an instalment due around
  the line's date of the line's amount, or two consecutive instalments adding
  up to it (`amount_equal`, `two_instalments`), or its reference with a typo;
- `repayment`: a loan repayment recorded by hand, of the line's amount, within a
  few days, not yet allocated;
- `payout`: a paid Stripe payout of the line's amount arriving within a few
  days of the line (`amount_equal`, `date_close`, `descriptor` when the text
  carries its statement descriptor), not yet allocated;
- `entry`: a journal entry on the bank's mirrored account of the line's amount,
  within a few days, not yet allocated to a line (nor its gift or repayment);
- `campaign` / `loan`: what lines from the same counterparty IBAN were matched
  to before (`same_counterparty_before`), and what the first `propose` rule the
  line matches names (`rule:<id>`);
- `rule`: the first active rule, when it is a `book` rule (`rule:<id>`): the
  line will be booked by the next `ledger bank match`.

Ranked by score, then by how close the record's date is to the line's. Every
query is bounded by a date window, the amount or a limit: nothing scans history.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum import iso11649
from stdnum.exceptions import ValidationError

from ledger.campaigns.models import Campaign, Donation
from ledger.core.models import Account, JournalEntry, Posting
from ledger.core.money import format_minor
from ledger.funds.models import Loan, LoanInstalment, LoanRepayment
from ledger.payments.references import KINDS, creditor_reference
from ledger.reconcile import matching
from ledger.reconcile import rules as rule_book
from ledger.reconcile.errors import BankLineNotFoundError
from ledger.reconcile.models import BankAccount, BankAllocation, BankLine, StripePayout

WEIGHTS = {
    "amount_equal": 50,
    "reference_partial": 35,
    "same_counterparty_before": 25,
    "date_close": 10,
    "two_instalments": 0,
    "descriptor": 15,
    "rule": 60,
}
GIFT_WINDOW = timedelta(days=180)  # a pending gift started this long before the line
INSTALMENT_BEFORE = timedelta(days=45)
INSTALMENT_AFTER = timedelta(days=20)
PAYOUT_WINDOW = timedelta(days=5)
ENTRY_WINDOW = timedelta(days=10)
COUNTERPARTY_WINDOW = timedelta(days=400)
LIMIT = 20


@dataclass(frozen=True, slots=True)
class Suggestion:
    kind: str  # gift | repayment | loan | campaign | entry | payout | rule
    record_id: str
    amount_minor: int
    label: str
    score: int
    reasons: tuple[str, ...]
    on: date | None = None  # the record's date, to rank by closeness to the line's

    def as_dict(self, currency: str) -> dict[str, object]:
        return {
            "kind": self.kind,
            "record_id": self.record_id,
            "amount": format_minor(self.amount_minor, currency),
            "label": self.label,
            "score": self.score,
            "reasons": list(self.reasons),
        }


@dataclass(slots=True)
class _Found:
    kind: str
    record_id: str
    amount_minor: int
    label: str
    on: date | None
    reasons: list[str] = field(default_factory=list)

    def add(self, *reasons: str) -> None:
        for reason in reasons:
            if reason not in self.reasons:
                self.reasons.append(reason)


class _Board:
    """Candidates by (kind, record id), their reasons merged."""

    def __init__(self) -> None:
        self.found: dict[tuple[str, str], _Found] = {}

    def put(
        self,
        kind: str,
        record_id: object,
        amount_minor: int,
        label: str,
        on: date | None,
        *reasons: str,
    ) -> None:
        item = self.found.setdefault(
            (kind, str(record_id)), _Found(kind, str(record_id), amount_minor, label, on)
        )
        item.add(*reasons)

    def ranked(self, line_on: date) -> list[Suggestion]:
        out = []
        for item in self.found.values():
            score = sum(WEIGHTS[r.split(":")[0]] for r in item.reasons)
            out.append(
                Suggestion(
                    item.kind,
                    item.record_id,
                    item.amount_minor,
                    item.label,
                    min(100, score),
                    tuple(item.reasons),
                    item.on,
                )
            )

        def distance(s: Suggestion) -> int:
            return abs((s.on - line_on).days) if s.on is not None else 10_000

        return sorted(out, key=lambda s: (-s.score, distance(s), s.kind, s.record_id))


def near_references(line: BankLine) -> list[tuple[str, int]]:
    """Our (kind, id) pairs the line's references name with one character wrong: the
    check digits (the body names the record) or one character of the body (one change
    makes the check digits right). Exact references are `matching.our_reference`'s."""
    out: list[tuple[str, int]] = []
    for text in matching.references_in(line):
        compact = iso11649.compact(text)
        if not compact.startswith("RF") or len(compact) < 6 or len(compact) > 25:
            continue
        try:
            iso11649.validate(compact)
            continue  # valid: an exact reference (ours or not), not a near one
        except ValidationError:
            pass
        check, body = compact[2:4], compact[4:]
        if body[:1] in KINDS and body[1:].isdigit() and int(body[1:]) > 0:
            out.append((body[0], int(body[1:])))  # a wrong check digit
        for i, char in enumerate(body):
            for other in KINDS if i == 0 else "0123456789":
                if other == char:
                    continue
                changed = body[:i] + other + body[i + 1 :]
                kind, digits = changed[0], changed[1:]
                if kind not in KINDS or not digits.isdigit() or digits.startswith("0"):
                    continue
                if creditor_reference(kind, int(digits))[2:4] == check:
                    out.append((kind, int(digits)))
    return list(dict.fromkeys(out))[:LIMIT]


def suggestions(session: Session, line_id: int) -> list[Suggestion]:
    """What may explain what is left of the line, best first (empty when nothing is left)."""
    line = session.get(BankLine, line_id)
    if line is None:
        raise BankLineNotFoundError(f"no bank line {line_id}", line_id=line_id)
    account = session.get(BankAccount, line.bank_account_id)
    assert account is not None
    left = matching.state_of(session, line).left_minor
    if left == 0:
        return []
    board = _Board()
    on = line.booked_on
    near = near_references(line)
    if left > 0:
        _gifts(session, board, account, on, left, [i for k, i in near if k == "D"])
        _loans(session, board, account, on, left, [i for k, i in near if k == "L"])
        _repayments(session, board, account, on, left)
    _payouts(session, board, account, line, left)
    _entries(session, board, account, on, left)
    if left > 0:
        _counterparty(session, board, account, line, left)
    _rules(session, board, account, line, left)
    return board.ranked(on)


def _gifts(
    session: Session, board: _Board, account: BankAccount, on: date, left: int, near: list[int]
) -> None:
    pending = (
        select(Donation)
        .where(
            Donation.status == "pending",
            Donation.method == "bank_transfer",
            Donation.transfer_reference.is_not(None),
            Donation.currency == account.currency,
        )
        .limit(LIMIT)
    )
    by_amount = session.scalars(
        pending.where(Donation.amount_minor == left).order_by(Donation.created_at.desc())
    ).all()
    by_reference = session.scalars(pending.where(Donation.id.in_(near))).all() if near else []
    for gift in [*by_amount, *by_reference]:
        created_on = gift.created_at.date()
        if gift.id not in near and created_on < on - GIFT_WINDOW:
            continue
        reasons = []
        if gift.amount_minor == left:
            reasons.append("amount_equal")
        if gift.id in near:
            reasons.append("reference_partial")
        if timedelta(0) <= on - created_on <= timedelta(days=30):
            reasons.append("date_close")
        board.put(
            "gift",
            gift.id,
            min(gift.amount_minor, left),
            f"Donazione n. {gift.id} alla campagna {gift.campaign_id}",
            created_on,
            *reasons,
        )


def _loans(
    session: Session, board: _Board, account: BankAccount, on: date, left: int, near: list[int]
) -> None:
    rows = session.execute(
        select(LoanInstalment.loan_id, LoanInstalment.number, LoanInstalment.due_on)
        .join(Loan, Loan.id == LoanInstalment.loan_id)
        .where(
            Loan.status == "disbursed",
            Loan.currency == account.currency,
            LoanInstalment.due_on >= on - INSTALMENT_BEFORE,
            LoanInstalment.due_on <= on + INSTALMENT_AFTER,
        )
        .order_by(LoanInstalment.loan_id, LoanInstalment.number)
        .limit(200)
    ).all()
    due = {(loan_id, number): due_on for loan_id, number, due_on in rows}
    totals = {}
    if due:
        wanted = {loan_id for loan_id, _n, _d in rows}
        for loan_id, number, total in session.execute(
            select(LoanInstalment.loan_id, LoanInstalment.number, LoanInstalment.total_minor).where(
                LoanInstalment.loan_id.in_(wanted),
                LoanInstalment.due_on >= on - INSTALMENT_BEFORE - timedelta(days=62),
                LoanInstalment.due_on <= on + INSTALMENT_AFTER + timedelta(days=62),
            )
        ):
            totals[(loan_id, number)] = total
    for (loan_id, number), due_on in due.items():
        one = totals.get((loan_id, number))
        nxt = totals.get((loan_id, number + 1))
        prev = totals.get((loan_id, number - 1))
        reasons: list[str] = []
        if one == left:
            reasons = ["amount_equal", "date_close"]
        elif (nxt is not None and one is not None and one + nxt == left) or (
            prev is not None and one is not None and prev + one == left
        ):
            reasons = ["amount_equal", "two_instalments", "date_close"]
        if reasons:
            board.put("loan", loan_id, left, f"Prestito n. {loan_id}: rata", due_on, *reasons)
    for loan in session.scalars(
        select(Loan).where(
            Loan.id.in_(near), Loan.status == "disbursed", Loan.currency == account.currency
        )
    ):
        board.put("loan", loan.id, left, f"Prestito n. {loan.id}", None, "reference_partial")


def _repayments(session: Session, board: _Board, account: BankAccount, on: date, left: int) -> None:
    found = session.scalars(
        select(LoanRepayment)
        .where(
            LoanRepayment.currency == account.currency,
            LoanRepayment.amount_minor == left,
            LoanRepayment.received_on >= on - ENTRY_WINDOW,
            LoanRepayment.received_on <= on + ENTRY_WINDOW,
        )
        .limit(LIMIT)
    ).all()
    taken = _allocated(session, "repayment", [str(r.id) for r in found])
    for repayment in found:
        if str(repayment.id) in taken:
            continue
        reasons = ["amount_equal"]
        if abs((repayment.received_on - on).days) <= 3:
            reasons.append("date_close")
        board.put(
            "repayment",
            repayment.id,
            left,
            f"Rimborso n. {repayment.id} del prestito {repayment.loan_id}",
            repayment.received_on,
            *reasons,
        )


def _payouts(
    session: Session, board: _Board, account: BankAccount, line: BankLine, left: int
) -> None:
    found = session.scalars(
        select(StripePayout)
        .where(
            StripePayout.status == "paid",
            StripePayout.currency == account.currency,
            StripePayout.amount_minor == left,
            StripePayout.arrival_date >= line.booked_on - PAYOUT_WINDOW,
            StripePayout.arrival_date <= line.booked_on + PAYOUT_WINDOW,
        )
        .limit(LIMIT)
    ).all()
    taken = _allocated(session, "payout", [p.id for p in found])
    text = (line.text or "").upper()
    for payout in found:
        if payout.id in taken:
            continue
        reasons = ["amount_equal", "date_close"]
        descriptor = (payout.statement_descriptor or "").strip().upper()
        if descriptor and descriptor in text:
            reasons.append("descriptor")
        board.put(
            "payout",
            payout.id,
            left,
            f"Versamento Stripe {payout.id}",
            payout.arrival_date,
            *reasons,
        )


def _allocated(session: Session, kind: str, record_ids: Iterable[str]) -> set[str]:
    ids = list(record_ids)
    if not ids:
        return set()
    return {
        r
        for r in session.scalars(
            select(BankAllocation.record_id).where(
                BankAllocation.kind == kind, BankAllocation.record_id.in_(ids)
            )
        )
        if r is not None
    }


def _entries(session: Session, board: _Board, account: BankAccount, on: date, left: int) -> None:
    rows = session.execute(
        select(JournalEntry.sequence, JournalEntry.effective_on, JournalEntry.narration)
        .add_columns(JournalEntry.kind, JournalEntry.metadata_json, JournalEntry.id)
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .where(
            Posting.account_id == account.account_id,
            Posting.amount_minor == left,
            JournalEntry.effective_on >= on - ENTRY_WINDOW,
            JournalEntry.effective_on <= on + ENTRY_WINDOW,
            JournalEntry.kind != "bank_line",
        )
        .order_by(JournalEntry.sequence.desc())
        .limit(LIMIT)
    ).all()
    if not rows:
        return
    sequences = [str(r.sequence) for r in rows]
    numbers = {r.id: str(r.sequence) for r in rows}
    # Entries booked from a line ("booked") are not candidates (kind bank_line).
    taken = _allocated(session, "entry", sequences)
    # An entry that settled a gift or a repayment a line was allocated to is explained too.
    gifts = {}
    for r in rows:
        if r.kind == "donation":
            gift = json.loads(r.metadata_json or "{}").get("donation_id")
            if gift is not None:
                gifts[str(gift)] = str(r.sequence)
    taken |= {gifts[g] for g in _allocated(session, "gift", gifts)}
    repaid = {
        str(rid): numbers[entry_id]
        for rid, entry_id in session.execute(
            select(LoanRepayment.id, LoanRepayment.entry_id).where(
                LoanRepayment.entry_id.in_(list(numbers))
            )
        )
        if entry_id is not None
    }
    taken |= {repaid[r] for r in _allocated(session, "repayment", repaid)}
    for r in rows:
        if str(r.sequence) in taken:
            continue
        reasons = ["amount_equal"]
        if abs((r.effective_on - on).days) <= 3:
            reasons.append("date_close")
        label = f"Scrittura n. {r.sequence}: {(r.narration or '')[:60]}".rstrip(": ")
        board.put("entry", r.sequence, left, label, r.effective_on, *reasons)


def _counterparty(
    session: Session, board: _Board, account: BankAccount, line: BankLine, left: int
) -> None:
    iban = rule_book.compact_iban(line.counterparty_iban)
    if not iban:
        return
    before = session.execute(
        select(BankAllocation.kind, BankAllocation.record_id, BankLine.booked_on)
        .join(BankLine, BankLine.id == BankAllocation.line_id)
        .where(
            BankLine.bank_account_id == account.id,
            BankLine.id != line.id,
            BankLine.counterparty_iban.in_({iban, line.counterparty_iban or iban}),
            BankLine.booked_on >= line.booked_on - COUNTERPARTY_WINDOW,
            BankAllocation.kind.in_(("gift", "repayment")),
        )
        .order_by(BankLine.booked_on.desc())
        .limit(LIMIT)
    ).all()
    for kind, record_id, booked_on in before:
        if record_id is None or not record_id.isdigit():
            continue
        if kind == "gift":
            gift = session.get(Donation, int(record_id))
            campaign = session.get(Campaign, gift.campaign_id) if gift is not None else None
            if campaign is not None and campaign.status == "live":
                board.put(
                    "campaign",
                    campaign.id,
                    left,
                    f"Campagna «{campaign.title[:60]}»",
                    booked_on,
                    "same_counterparty_before",
                )
        else:
            repayment = session.get(LoanRepayment, int(record_id))
            loan = session.get(Loan, repayment.loan_id) if repayment is not None else None
            if loan is not None and loan.status == "disbursed":
                board.put(
                    "loan",
                    loan.id,
                    left,
                    f"Prestito n. {loan.id}",
                    booked_on,
                    "same_counterparty_before",
                )


def _rules(
    session: Session, board: _Board, account: BankAccount, line: BankLine, left: int
) -> None:
    rule = rule_book.first_match(rule_book.rules_of(session, account.id), line)
    if rule is None:
        return
    reason = f"rule:{rule.id}"
    if rule.action == "book":
        target = session.get(Account, rule.account_id)
        code = target.code if target is not None else "?"
        board.put("rule", rule.id, left, f"Regola «{rule.name}»: registra su {code}", None, reason)
    elif rule.propose_kind == "campaign" and left > 0 and rule.propose_id is not None:
        campaign = session.get(Campaign, rule.propose_id)
        if campaign is not None and campaign.currency == account.currency:
            board.put(
                "campaign",
                campaign.id,
                left,
                f"Campagna «{campaign.title[:60]}» (regola «{rule.name}»)",
                None,
                reason,
            )
    elif rule.propose_kind == "loan" and left > 0 and rule.propose_id is not None:
        board.put(
            "loan",
            rule.propose_id,
            left,
            f"Prestito n. {rule.propose_id} (regola «{rule.name}»)",
            None,
            reason,
        )
