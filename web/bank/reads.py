"""What the bank pages and the bank API read: accounts with their lines to explain,
the review queue, one line with its allocations and suggestions, the campaigns and
loans a line may become, the account's rules and its own preset, and the JSON bodies.

Only reads: every act is a use case of `ledger.reconcile.commands`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.campaigns.models import Campaign
from ledger.core.accounts import list_accounts
from ledger.core.models import Account
from ledger.core.money import format_minor
from ledger.funds.models import Loan
from ledger.people.models import Person
from ledger.reconcile import commands, matching, suggestions
from ledger.reconcile import rules as rule_book
from ledger.reconcile.errors import (
    BankAccountNotFoundError,
    BankLineNotFoundError,
    RuleNotFoundError,
)
from ledger.reconcile.formats.tabular import preset_settings
from ledger.reconcile.models import BankAccount, BankAllocation, BankLine, BankRule
from ledger.reconcile.statements import ImportReport, LineView
from ledger.reconcile.suggestions import Suggestion

TREASURER = "treasurer"
BOOKS = ("admin", "treasurer")
PAGE_SIZE = 50


def iban_groups(iban: str) -> str:
    """An IBAN as printed for a person: groups of four."""
    compact = iban.replace(" ", "")
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: int
    iban: str
    name: str
    currency: str
    account_code: str
    unexplained: int


def get_account_by_id(session: Session, bank_account_id: int) -> BankAccount:
    account = session.get(BankAccount, bank_account_id)
    if account is None:
        raise BankAccountNotFoundError(
            f"no bank account {bank_account_id}", bank_account_id=bank_account_id
        )
    return account


def account_rows(session: Session) -> list[AccountRow]:
    """Every bank account, with the ledger account it mirrors and its lines to explain."""
    rows = []
    for account in session.scalars(select(BankAccount).order_by(BankAccount.id)):
        mirrored = session.get(Account, account.account_id)
        rows.append(
            AccountRow(
                id=account.id,
                iban=account.iban,
                name=account.name,
                currency=account.currency,
                account_code=mirrored.code if mirrored is not None else "",
                unexplained=len(matching.line_views(session, account, "unexplained")),
            )
        )
    return rows


def account_row(session: Session, bank_account_id: int) -> AccountRow:
    account = get_account_by_id(session, bank_account_id)
    mirrored = session.get(Account, account.account_id)
    return AccountRow(
        id=account.id,
        iban=account.iban,
        name=account.name,
        currency=account.currency,
        account_code=mirrored.code if mirrored is not None else "",
        unexplained=len(matching.line_views(session, account, "unexplained")),
    )


def asset_account_codes(session: Session) -> list[tuple[str, str]]:
    """The asset accounts a bank account may mirror: (code, label)."""
    return [
        (a.code, f"{a.code} ({a.name})" if a.name else a.code)
        for a in list_accounts(session)
        if a.type == "asset"
    ]


def bookable_accounts(session: Session, currency: str) -> list[tuple[str, str]]:
    """The accounts a line is most likely booked to: expenses and income first, then the
    other accounts of the currency (not the bank's own is checked by the use case)."""
    accounts = [a for a in list_accounts(session) if a.currency == currency]
    likely = [a for a in accounts if a.type in ("expense", "income")]
    others = [a for a in accounts if a.type not in ("expense", "income")]
    return [(a.code, f"{a.code} ({a.name})" if a.name else a.code) for a in likely + others]


@dataclass(frozen=True, slots=True)
class QueueLine:
    view: LineView
    counterparty_name: str | None
    counterparty_iban: str | None


@dataclass(frozen=True, slots=True)
class Queue:
    lines: list[QueueLine]
    total: int
    page: int
    pages: int


def queue(session: Session, account: BankAccount, status: str | None, page: int = 1) -> Queue:
    """One page of the account's lines of `status` (all when None), oldest first."""
    views = matching.line_views(session, account, status)
    pages = max(1, -(-len(views) // PAGE_SIZE))
    page = min(max(1, page), pages)
    chosen = views[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return Queue(lines=with_counterparty(session, chosen), total=len(views), page=page, pages=pages)


def with_counterparty(session: Session, views: list[LineView]) -> list[QueueLine]:
    """The lines with the counterparty the bank named."""
    rows: dict[int, BankLine] = {}
    ids = [v.id for v in views]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows.update(
            (r.id, r) for r in session.scalars(select(BankLine).where(BankLine.id.in_(chunk)))
        )
    return [QueueLine(v, rows[v.id].counterparty_name, rows[v.id].counterparty_iban) for v in views]


@dataclass(frozen=True, slots=True)
class LineDetail:
    line: BankLine
    account: BankAccount
    status: str
    left_minor: int
    allocations: list[BankAllocation]
    is_split: bool
    children: list[BankLine]
    records: dict[int, str]  # allocation id -> what it names, as read (a booked entry's number)


def line_detail(session: Session, line_id: int) -> LineDetail:
    """One line: its raw data, what explains it, and what is left."""
    line = session.get(BankLine, line_id)
    if line is None:
        raise BankLineNotFoundError(f"no bank line {line_id}", line_id=line_id)
    account = get_account_by_id(session, line.bank_account_id)
    children = list(
        session.scalars(
            select(BankLine).where(BankLine.parent_line_id == line.id).order_by(BankLine.id)
        )
    )
    if children:
        states = matching.explained(session, children)
        left = sum(states[c.id].left_minor for c in children)
        done = all(states[c.id].status != "unexplained" for c in children)
        status = "matched" if done else "unexplained"
    else:
        state = matching.state_of(session, line)
        status, left = state.status, state.left_minor
    allocations = list(
        session.scalars(
            select(BankAllocation)
            .where(BankAllocation.line_id == line.id)
            .order_by(BankAllocation.id)
        )
    )
    records = matching.records_shown(session, allocations)
    return LineDetail(line, account, status, left, allocations, bool(children), children, records)


# ------------------------------------------------------------------ JSON bodies
def money(minor: int | None, currency: str) -> str | None:
    return None if minor is None else format_minor(minor, currency)


def account_body(row: AccountRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "iban": row.iban,
        "name": row.name,
        "currency": row.currency,
        "account": row.account_code,
        "unexplained": row.unexplained,
    }


def report_body(report: ImportReport) -> dict[str, Any]:
    """An import's report, as `ledger bank import` prints it (amounts as decimal strings)."""
    currency = report.currency
    return {
        "import_id": report.import_id,
        "iban": report.iban,
        "currency": currency,
        "format": report.format,
        "sha256": report.sha256,
        "statements": [
            {
                "statement_id": s.statement_id,
                "balance_kind": s.balance_kind,
                "opening": money(s.opening_minor, currency),
                "closing": money(s.closing_minor, currency),
                "computed_closing": money(s.computed_closing_minor, currency),
                "balanced": s.balanced,
                "difference": money(s.difference_minor, currency),
                "continuity_difference": money(s.continuity_minor, currency),
                "accepted": s.accepted,
                "lines": s.lines,
            }
            for s in report.statements
        ],
        "lines": report.lines,
        "new": report.new,
        "new_line_ids": list(report.new_line_ids),
        "already_imported": [
            {
                "id": k.line_id,
                "booked_on": k.booked_on,
                "amount": money(k.amount_minor, currency),
                "bank_ref": k.bank_ref,
                "text": k.text,
            }
            for k in report.already_imported
        ],
        "details_added": report.details_added,
        "kept_whole": list(report.kept_whole),
        "skipped_statements": report.skipped_statements,
        "accepted_unbalanced": report.accepted_unbalanced,
    }


def line_body(
    view: LineView, counterparty_name: str | None, counterparty_iban: str | None
) -> dict[str, Any]:
    return {
        "id": view.id,
        "booked_on": view.booked_on,
        "value_on": view.value_on,
        "amount": format_minor(view.amount_minor, view.currency),
        "currency": view.currency,
        "text": view.text,
        "counterparty_name": counterparty_name,
        "counterparty_iban": counterparty_iban,
        "bank_ref": view.bank_ref,
        "reference": view.reference,
        "reason_code": view.reason_code,
        "reversal": view.reversal,
        "parent_id": view.parent_line_id,
        "status": view.status,
    }


def allocation_body(row: BankAllocation, currency: str, record: str | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "record": record,
        "amount": format_minor(row.amount_minor, currency),
        "reason": row.reason,
        "actor": row.actor,
        "created_at": row.created_at,
    }


def line_detail_body(detail: LineDetail) -> dict[str, Any]:
    line, currency = detail.line, detail.account.currency
    return {
        "id": line.id,
        "bank_account_id": detail.account.id,
        "iban": detail.account.iban,
        "booked_on": line.booked_on,
        "value_on": line.value_on,
        "amount": format_minor(line.amount_minor, currency),
        "currency": currency,
        "text": line.text,
        "counterparty_name": line.counterparty_name,
        "counterparty_iban": line.counterparty_iban,
        "bank_ref": line.bank_ref,
        "end_to_end_id": line.end_to_end_id,
        "reference": line.reference,
        "bank_code": line.bank_code,
        "reason_code": line.reason_code,
        "reversal": line.reversal,
        "parent_id": line.parent_line_id,
        "children": [c.id for c in detail.children],
        "raw": line.raw,
        "status": detail.status,
        "left": format_minor(detail.left_minor, currency),
        "allocations": [
            allocation_body(a, currency, detail.records.get(a.id)) for a in detail.allocations
        ],
    }


# ------------------------------------------------------------------ suggestions, records
def line_suggestions(session: Session, line_id: int) -> list[Suggestion]:
    """What may explain what is left of the line, best first (`suggestions.suggestions`)."""
    return suggestions.suggestions(session, line_id)


def suggestion_body(found: Suggestion, currency: str) -> dict[str, Any]:
    return found.as_dict(currency)


def live_campaigns(session: Session, currency: str) -> list[tuple[int, str]]:
    """The campaigns a bank line may become a gift to: live, in the bank's currency."""
    rows = session.scalars(
        select(Campaign)
        .where(Campaign.status == "live", Campaign.currency == currency)
        .order_by(Campaign.id)
    )
    return [(c.id, f"{c.title} (n. {c.id})") for c in rows]


def active_loans(session: Session, currency: str) -> list[tuple[int, str]]:
    """The loans a bank line may repay: paid out and not closed, in the bank's currency."""
    rows = session.execute(
        select(Loan.id, Person.full_name)
        .join(Person, Person.id == Loan.borrower_person_id)
        .where(Loan.status == "disbursed", Loan.currency == currency)
        .order_by(Loan.id)
    )
    return [(loan_id, f"n. {loan_id} · {name}") for loan_id, name in rows]


# ------------------------------------------------------------------ rules
@dataclass(frozen=True, slots=True)
class RuleRow:
    rule: BankRule
    book_to: str | None
    target: str | None  # the campaign's title or the loan's borrower, when proposing


def rule_rows(session: Session, bank_account_id: int) -> list[RuleRow]:
    """The account's rules in the treasurer's order, the disabled ones too."""
    out = []
    for rule in rule_book.rules_of(session, bank_account_id, active=False):
        account = session.get(Account, rule.account_id) if rule.account_id is not None else None
        target = None
        if rule.propose_kind == "campaign" and rule.propose_id is not None:
            campaign = session.get(Campaign, rule.propose_id)
            target = campaign.title if campaign is not None else None
        out.append(RuleRow(rule, account.code if account is not None else None, target))
    return out


def rule_account_id(session: Session, rule_id: int) -> int:
    """The bank account a rule belongs to (RuleNotFoundError when there is no such rule)."""
    rule = session.get(BankRule, rule_id)
    if rule is None:
        raise RuleNotFoundError(f"no bank rule {rule_id}", rule_id=rule_id)
    return rule.bank_account_id


def rule_body(session: Session, rule: BankRule) -> dict[str, Any]:
    """A rule as `ledger bank rules list` prints it (amounts as decimal strings)."""
    account = get_account_by_id(session, rule.bank_account_id)
    target = session.get(Account, rule.account_id) if rule.account_id is not None else None
    return {
        "id": rule.id,
        "bank_account_id": account.id,
        "iban": account.iban,
        "position": rule.position,
        "name": rule.name,
        "active": rule.active,
        "counterparty_iban": rule.counterparty_iban,
        "text_contains": rule.text_contains,
        "text_regex": rule.text_regex,
        "min": money(rule.amount_min_minor, account.currency),
        "max": money(rule.amount_max_minor, account.currency),
        "direction": rule.direction,
        "action": rule.action,
        "book_to": target.code if target is not None else None,
        "narration": rule.narration,
        "propose": (
            {"kind": rule.propose_kind, "id": rule.propose_id} if rule.action == "propose" else None
        ),
    }


# ------------------------------------------------------------------ the account's preset
def preset_of(session: Session, bank_account_id: int) -> dict[str, Any] | None:
    """The account's own CSV/XLSX preset as its settings, or None when none is set."""
    preset = commands.account_preset(get_account_by_id(session, bank_account_id))
    return None if preset is None else dict(preset_settings(preset))
