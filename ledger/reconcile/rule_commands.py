"""Use cases of the treasurer's rules and of the review queue: create a rule, move it in
the order, disable it; turn an unreferenced incoming bank line into an offline gift for a
campaign or a loan repayment.

Rules are data the treasurer changes through these acts (each audited in the command
shape); they are never deleted, only disabled. `apply_references`
(`ledger.reconcile.commands`) applies them. A line becomes a gift through campaigns'
`record_offline_gift` (a gift by bank transfer, booked to the bank with its receipt,
the matching grants following) and a repayment through funds' `record_repayment`, then
gets its allocation; both under a row lock on the line, one effect per request key, and
nothing written when refused.
"""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.campaigns import accounts as campaign_accounts
from ledger.campaigns.commands import Donor, record_offline_gift
from ledger.campaigns.getters import get_campaign, get_donation
from ledger.campaigns.models import Donation
from ledger.commands import Origin, Outcome, begin, command
from ledger.core.accounts import get_account
from ledger.core.clock import Clock
from ledger.core.money import Money, format_minor
from ledger.funds.lending import get_loan
from ledger.funds.loan_commands import record_repayment
from ledger.funds.models import LoanRepayment
from ledger.people.models import Person
from ledger.reconcile import matching
from ledger.reconcile import rules as rule_book
from ledger.reconcile.commands import get_bank_account, takes_transfer_gifts
from ledger.reconcile.errors import (
    InvalidAllocationError,
    InvalidRuleError,
    LineRefusedError,
    OverAllocationError,
    RuleNotFoundError,
)
from ledger.reconcile.models import (
    RULE_ACTIONS,
    RULE_PROPOSALS,
    BankAccount,
    BankLine,
    BankRule,
)

CREATE_RULE = command("bank_rule.create", "bank_rule")
MOVE_RULE = command("bank_rule.move", "bank_rule")
DISABLE_RULE = command("bank_rule.disable", "bank_rule")
LINE_TO_GIFT = command("bank_line.to_gift", "bank_line")
LINE_TO_REPAYMENT = command("bank_line.to_repayment", "bank_line")

MAX_NAME = 200
MAX_NARRATION = 500


# ------------------------------------------------------------------ rules
def _rule(session: Session, rule_id: int) -> BankRule:
    rule = session.get(BankRule, rule_id)
    if rule is None:
        raise RuleNotFoundError(f"no bank rule {rule_id}", rule_id=rule_id)
    return rule


def _lock_account(session: Session, bank_account_id: int) -> BankAccount:
    """The bank account's row locked: its rules are renumbered one act at a time."""
    account = session.scalars(
        select(BankAccount).where(BankAccount.id == bank_account_id).with_for_update()
    ).one()
    return account


def _renumber(rules: list[BankRule]) -> None:
    for position, rule in enumerate(rules, start=1):
        rule.position = position


def create_rule(
    session: Session,
    iban: str,
    name: str,
    conditions: rule_book.Conditions,
    *,
    action: str,
    account_code: str | None = None,
    narration: str | None = None,
    propose_kind: str | None = None,
    propose_id: int | None = None,
    position: int | None = None,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[BankRule]:
    """A rule of the bank account `iban` at `position` (default: last; the rules from
    there move down one).

    `action` "book": a matching line is booked to `account_code` (same currency as
    the bank, not the bank's own account) with `narration`. `action` "propose": a
    matching line is proposed as a gift to the campaign (`propose_kind` "campaign")
    or a repayment of the loan ("loan") `propose_id`, never applied by itself.
    Conditions are checked by `rules.check_conditions` (InvalidRuleError).
    """
    clean_name = " ".join((name or "").split())
    clean_narration = " ".join((narration or "").split()) or None
    claim = begin(
        session,
        CREATE_RULE,
        origin,
        clock=clock,
        key=key,
        request={
            "iban": iban.replace(" ", "").upper(),
            "name": clean_name,
            "conditions": asdict(conditions),
            "action": action,
            "account": account_code,
            "narration": clean_narration,
            "propose": [propose_kind, propose_id],
            "position": position,
        },
    )
    if claim.earlier is not None:
        return claim.replay(_rule(session, claim.earlier.id))
    account = get_bank_account(session, iban, lock=True)
    if not clean_name or len(clean_name) > MAX_NAME:
        raise InvalidRuleError(f"a rule has a name of 1 to {MAX_NAME} characters", field="name")
    checked = rule_book.check_conditions(conditions)
    if action not in RULE_ACTIONS:
        raise InvalidRuleError(
            f"a rule's action is one of {', '.join(RULE_ACTIONS)}", field="action"
        )
    target_id: int | None = None
    if action == "book":
        if propose_kind is not None or propose_id is not None:
            raise InvalidRuleError("a booking rule proposes no record", field="propose")
        if not account_code:
            raise InvalidRuleError("a booking rule names the account to book to", field="account")
        if not clean_narration or len(clean_narration) > MAX_NARRATION:
            raise InvalidRuleError(
                f"a booking rule has a narration of 1 to {MAX_NARRATION} characters",
                field="narration",
            )
        target = get_account(session, account_code)
        if target.id == account.account_id:
            raise InvalidRuleError(
                "a rule books to another account than the bank's own", field="account"
            )
        if target.currency != account.currency:
            raise InvalidRuleError(
                f"{account_code} is in {target.currency}, the bank account in {account.currency}",
                field="account",
            )
        target_id = target.id
    else:
        if account_code is not None or clean_narration is not None:
            raise InvalidRuleError("a proposing rule books nothing", field="account")
        if propose_kind not in RULE_PROPOSALS or propose_id is None:
            raise InvalidRuleError(
                f"a proposing rule names a {' or a '.join(RULE_PROPOSALS)}", field="propose"
            )
        currency = (
            get_campaign(session, propose_id).currency
            if propose_kind == "campaign"
            else get_loan(session, propose_id).currency
        )
        if currency != account.currency:
            raise InvalidRuleError(
                f"the {propose_kind} is in {currency}, the bank account in {account.currency}",
                field="propose",
            )
    existing = rule_book.rules_of(session, account.id, active=False)
    at = len(existing) + 1 if position is None else position
    if not 1 <= at <= len(existing) + 1:
        raise InvalidRuleError(
            f"the position is between 1 and {len(existing) + 1}", field="position"
        )
    rule = BankRule(
        bank_account_id=account.id,
        position=at,
        name=clean_name,
        counterparty_iban=checked.counterparty_iban,
        text_contains=checked.text_contains,
        text_regex=checked.text_regex,
        amount_min_minor=checked.amount_min_minor,
        amount_max_minor=checked.amount_max_minor,
        direction=checked.direction,
        action=action,
        account_id=target_id,
        narration=clean_narration if action == "book" else None,
        propose_kind=propose_kind if action == "propose" else None,
        propose_id=propose_id if action == "propose" else None,
        active=True,
        created_by=origin.actor[:64],
        created_at=clock.now(),
    )
    existing.insert(at - 1, rule)
    _renumber(existing)
    session.add(rule)
    session.flush()
    return claim.done(
        rule,
        subject_id=rule.id,
        details={
            "bank_account": account.id,
            "position": at,
            "action": action,
            "account": account_code,
            "propose": [propose_kind, propose_id] if action == "propose" else None,
        },
    )


def move_rule(
    session: Session,
    rule_id: int,
    position: int,
    *,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[BankRule]:
    """Put the rule at `position` (1 is tried first) among its account's rules; the
    others keep their order, renumbered from 1."""
    claim = begin(
        session,
        MOVE_RULE,
        origin,
        clock=clock,
        key=key,
        request={"rule": rule_id, "position": position},
    )
    if claim.earlier is not None:
        return claim.replay(_rule(session, rule_id))
    rule = _rule(session, rule_id)
    _lock_account(session, rule.bank_account_id)
    ordered = rule_book.rules_of(session, rule.bank_account_id, active=False)
    if not 1 <= position <= len(ordered):
        raise InvalidRuleError(f"the position is between 1 and {len(ordered)}", field="position")
    before = ordered.index(rule) + 1
    ordered.remove(rule)
    ordered.insert(position - 1, rule)
    _renumber(ordered)
    session.flush()
    return claim.done(rule, subject_id=rule.id, details={"from": before, "to": position})


def disable_rule(
    session: Session,
    rule_id: int,
    *,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[BankRule]:
    """Disable the rule: it applies no more and proposes nothing (it is kept, with who
    and when). A rule disabled already answers `created` false and writes nothing."""
    claim = begin(session, DISABLE_RULE, origin, clock=clock, key=key, request={"rule": rule_id})
    if claim.earlier is not None:
        return claim.replay(_rule(session, rule_id))
    rule = _rule(session, rule_id)
    _lock_account(session, rule.bank_account_id)
    session.refresh(rule)
    if not rule.active:
        return claim.known(rule, subject_id=rule.id)
    rule.active = False
    rule.disabled_by = origin.actor[:64]
    rule.disabled_at = clock.now()
    session.flush()
    return claim.done(rule, subject_id=rule.id, details={"position": rule.position})


# ------------------------------------------------------------------ review queue
def _line_account(session: Session, line: BankLine) -> BankAccount:
    account = session.get(BankAccount, line.bank_account_id)
    assert account is not None
    return account


def _incoming_amount(line: BankLine, left: int, amount_minor: int | None, currency: str) -> int:
    """The part of a locked incoming line to turn into a record: what is left by default."""
    if line.amount_minor <= 0:
        raise LineRefusedError(
            f"bank line {line.id} is outgoing: it pays no gift and no repayment", field="line"
        )
    if left == 0:
        raise OverAllocationError(
            f"bank line {line.id} is explained already: nothing is left", line_id=line.id, left="0"
        )
    amount = left if amount_minor is None else amount_minor
    if amount <= 0:
        raise InvalidAllocationError("the amount is more than zero", field="amount")
    if amount > left:
        raise OverAllocationError(
            f"{format_minor(amount, currency)} is more than what is left of bank line "
            f"{line.id} ({format_minor(left, currency)})",
            line_id=line.id,
            left=format_minor(left, currency),
            asked=format_minor(amount, currency),
        )
    return amount


def _line_reference(line: BankLine) -> str:
    """What the gift records as its transfer's reference: the bank's ids, else the line's."""
    for text in (line.end_to_end_id, line.bank_ref, line.reference):
        if text and text.strip() and text.strip().upper() != "NOTPROVIDED":
            return text.strip()[:100]
    return f"riga {line.id}"


def line_to_gift(
    session: Session,
    line_id: int,
    campaign_id: int,
    *,
    donor_id: int | None = None,
    anonymous: bool = True,
    amount_minor: int | None = None,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[Donation]:
    """Turn (part of) an unreferenced incoming line into an offline gift by bank transfer
    for the campaign: `record_offline_gift` books it to the bank on the line's date with
    its receipt (and the matching grants follow), then the line is allocated to it.

    `amount_minor` defaults to what is left of the line. Refused, with nothing written:
    an outgoing line, a campaign in another currency, a bank account that is not the
    one gifts by transfer are booked to, more than what is left, and whatever the
    campaign refuses (a campaign not live, a date in the future).
    """
    claim = begin(
        session,
        LINE_TO_GIFT,
        origin,
        clock=clock,
        key=key,
        request={
            "line": line_id,
            "campaign": campaign_id,
            "donor": donor_id,
            "anonymous": anonymous,
            "amount": amount_minor,
        },
    )
    if claim.earlier is not None:
        return claim.replay(get_donation(session, int(claim.earlier.result["donation_id"])))
    line = matching.lock_line(session, line_id)
    account = _line_account(session, line)
    left = matching.state_of(session, line).left_minor
    amount = _incoming_amount(line, left, amount_minor, account.currency)
    campaign = get_campaign(session, campaign_id)
    if campaign.currency != account.currency:
        raise LineRefusedError(
            f"the campaign is in {campaign.currency}, the bank line in {account.currency}",
            field="campaign",
        )
    if not takes_transfer_gifts(session, account):
        raise LineRefusedError(
            f"gifts by transfer are booked to {campaign_accounts.METHOD_ACCOUNT['bank_transfer']}, "
            "which this bank account does not hold",
            field="line",
        )
    donor = Donor()
    if donor_id is not None:
        person = session.get(Person, donor_id)
        if person is None:
            raise InvalidAllocationError(f"no person {donor_id}", field="donor")
        donor = Donor(email=person.email)
    gift = record_offline_gift(
        session,
        campaign_id,
        Money(amount, account.currency),
        method="bank_transfer",
        donated_on=line.booked_on,
        reference=_line_reference(line),
        anonymous=anonymous,
        donor=donor,
        origin=origin,
        clock=clock,
        # What is left strictly shrinks, so (line, left) names this one effect.
        key=f"bank-line-gift:{line.id}:{left}",
    ).value
    matching.allocate(
        session,
        line,
        [("gift", str(gift.id), amount, None)],
        currency=account.currency,
        actor=origin.actor,
        now=clock.now(),
    )
    return claim.done(
        gift,
        subject_id=line.id,
        details={"donation": gift.id, "campaign": campaign_id, "amount": amount},
        result={"donation_id": gift.id},
    )


def line_to_repayment(
    session: Session,
    line_id: int,
    loan_id: int,
    *,
    amount_minor: int | None = None,
    origin: Origin,
    clock: Clock,
    key: str | None = None,
) -> Outcome[LoanRepayment]:
    """Turn (part of) an incoming line into a repayment of the loan: `record_repayment`
    on the line's date (one line may cover two instalments: the loan allocates it),
    then the line is allocated to the repayment.

    `amount_minor` defaults to what is left of the line. Refused, with nothing written:
    an outgoing line, a loan in another currency, more than what is left, and whatever
    the loan refuses (not paid out, closed).
    """
    claim = begin(
        session,
        LINE_TO_REPAYMENT,
        origin,
        clock=clock,
        key=key,
        request={"line": line_id, "loan": loan_id, "amount": amount_minor},
    )
    if claim.earlier is not None:
        found = session.get(LoanRepayment, int(claim.earlier.result["repayment_id"]))
        assert found is not None
        return claim.replay(found)
    line = matching.lock_line(session, line_id)
    account = _line_account(session, line)
    left = matching.state_of(session, line).left_minor
    amount = _incoming_amount(line, left, amount_minor, account.currency)
    loan = get_loan(session, loan_id)
    if loan.currency != account.currency:
        raise LineRefusedError(
            f"the loan is in {loan.currency}, the bank line in {account.currency}", field="loan"
        )
    repayment = record_repayment(
        session,
        loan_id,
        amount,
        received_on=line.booked_on,
        origin=origin,
        clock=clock,
        key=f"bank-line-repayment:{line.id}:{left}",
    ).value
    matching.allocate(
        session,
        line,
        [("repayment", str(repayment.id), amount, None)],
        currency=account.currency,
        actor=origin.actor,
        now=clock.now(),
    )
    return claim.done(
        repayment,
        subject_id=line.id,
        details={"repayment": repayment.id, "loan": loan_id, "amount": amount},
        result={"repayment_id": repayment.id},
    )
