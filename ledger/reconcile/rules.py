"""The treasurer's rules of a bank account: conditions checked when a rule is made, and the
first active rule (in the treasurer's order) that a bank line matches.

A rule's conditions, all of which must hold (those not given hold always):

- `counterparty_iban`: the line's counterparty IBAN, compact, equals it;
- `text_contains`: the line's normalised text (lowercase, whitespace collapsed)
  contains it, normalised the same way;
- `text_regex`: a Python regular expression found in the normalised text
  (case-insensitive). It is checked when the rule is made: at most
  `MAX_REGEX` characters, it compiles, no back-references, and no quantified
  group that holds a quantifier or an alternation (`(a+)+`, `(a|ab)*`), nor
  more than `MAX_UNBOUNDED` open or wide repeats: the patterns whose matching time
  can run away. It runs on the first `MAX_TEXT` characters of the text only;
- `amount_min_minor` / `amount_max_minor`: bounds of the line's absolute amount;
- `direction`: `in` (money received), `out` (money paid) or `any`.

A rule needs at least one condition besides its direction: a rule that
matches every line is refused.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum import iban as stdnum_iban
from stdnum.exceptions import ValidationError as StdnumValidationError

from ledger.reconcile.errors import InvalidRuleError
from ledger.reconcile.models import RULE_DIRECTIONS, BankLine, BankRule

MAX_REGEX = 200
MAX_CONTAINS = 200
MAX_TEXT = 300  # a regular expression looks at this much of a line's text, no more
MAX_UNBOUNDED = 2  # `*`, `+`, `{n,}` and `{n,m}` (m > n + 10) repeats in one expression
_BRACES = re.compile(r"\{(\d*)(,(\d*))?\}")


@dataclass(frozen=True, slots=True)
class Conditions:
    counterparty_iban: str | None = None
    text_contains: str | None = None
    text_regex: str | None = None
    amount_min_minor: int | None = None
    amount_max_minor: int | None = None
    direction: str = "any"


def normalise(text: str) -> str:
    """As a line's normalised text: lowercase, whitespace collapsed."""
    return " ".join(text.lower().split())


def compact_iban(text: str | None) -> str:
    return (text or "").replace(" ", "").upper()


def _runaway(pattern: str) -> str | None:
    """Why the pattern could take a time that grows out of bounds with the text, or None."""
    groups: list[bool] = []  # per open group: whether it holds a repeat or an alternation
    unbounded = 0
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        nxt = pattern[i + 1] if i + 1 < len(pattern) else ""
        if ch == "\\":
            if nxt.isdigit() and nxt != "0":
                return "back-references are not allowed"
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
            i += 1
            continue
        if ch == "[":
            in_class = True
            i += 1
            if i < len(pattern) and pattern[i] == "^":
                i += 1
            if i < len(pattern) and pattern[i] == "]":
                i += 1  # a "]" first in a class is itself
            continue
        if ch == "(":
            groups.append(False)
            if nxt == "?":
                if pattern[i + 2 : i + 3] == "P" and pattern[i + 3 : i + 4] == "=":
                    return "back-references are not allowed"
                i += 2  # (?:, (?=, (?i): not a repeat
                continue
        elif ch == ")":
            holds = groups.pop() if groups else False
            if holds and nxt in ("*", "+", "{"):
                return "a repeated group may not hold a repeat or an alternation"
            if groups and (holds or nxt in ("*", "+", "?", "{")):
                groups[-1] = True
        elif ch in ("*", "+", "{", "?", "|"):
            if ch in ("*", "+") or (ch == "{" and _wide(pattern[i:])):
                unbounded += 1
            if groups:
                groups[-1] = True
        i += 1
    if unbounded > MAX_UNBOUNDED:
        return f"at most {MAX_UNBOUNDED} open or wide repeats (*, +, {{n,}}, {{n,m}})"
    return None


def _wide(text: str) -> bool:
    """Whether the `{...}` repeat at the start of `text` is open or wide."""
    found = _BRACES.match(text)
    if found is None or found.group(2) is None:
        return False
    low = int(found.group(1) or 0)
    return not found.group(3) or int(found.group(3)) > low + 10


@functools.lru_cache(maxsize=256)
def compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def check_regex(pattern: str) -> str:
    """The pattern, checked (InvalidRuleError, field `text_regex`, when refused)."""
    if not pattern or len(pattern) > MAX_REGEX:
        raise InvalidRuleError(
            f"a regular expression has 1 to {MAX_REGEX} characters", field="text_regex"
        )
    try:
        re.compile(pattern)
    except re.error as exc:
        raise InvalidRuleError(
            f"the regular expression does not compile: {exc}", field="text_regex"
        ) from None
    why = _runaway(pattern)
    if why is not None:
        raise InvalidRuleError(f"the regular expression is refused: {why}", field="text_regex")
    return pattern


def check_conditions(conditions: Conditions) -> Conditions:
    """The conditions checked and normalised (IBAN compact, text normalised)."""
    if conditions.direction not in RULE_DIRECTIONS:
        raise InvalidRuleError(
            f"the direction is one of {', '.join(RULE_DIRECTIONS)}", field="direction"
        )
    iban = None
    if conditions.counterparty_iban is not None and conditions.counterparty_iban.strip():
        try:
            iban = str(stdnum_iban.validate(conditions.counterparty_iban))
        except StdnumValidationError:
            raise InvalidRuleError(
                f"{conditions.counterparty_iban!r} is not a valid IBAN", field="counterparty_iban"
            ) from None
    contains = normalise(conditions.text_contains or "") or None
    if contains is not None and len(contains) > MAX_CONTAINS:
        raise InvalidRuleError(
            f"the text has at most {MAX_CONTAINS} characters", field="text_contains"
        )
    regex = None
    if conditions.text_regex is not None and conditions.text_regex.strip():
        regex = check_regex(conditions.text_regex.strip())
    low, high = conditions.amount_min_minor, conditions.amount_max_minor
    for value, field in ((low, "amount_min"), (high, "amount_max")):
        if value is not None and value < 0:
            raise InvalidRuleError("the amounts of a rule are absolute: not negative", field=field)
    if low is not None and high is not None and high < low:
        raise InvalidRuleError("the maximum amount is below the minimum", field="amount_max")
    checked = Conditions(iban, contains, regex, low, high, conditions.direction)
    if all(v is None for v in (iban, contains, regex, low, high)):
        raise InvalidRuleError(
            "a rule needs a condition besides its direction: IBAN, text or amount",
            field="conditions",
        )
    return checked


def conditions_of(rule: BankRule) -> Conditions:
    return Conditions(
        rule.counterparty_iban,
        rule.text_contains,
        rule.text_regex,
        rule.amount_min_minor,
        rule.amount_max_minor,
        rule.direction,
    )


def matches(conditions: Conditions, line: BankLine) -> bool:
    """Whether the line meets every condition given."""
    amount = line.amount_minor
    if conditions.direction == "in" and amount <= 0:
        return False
    if conditions.direction == "out" and amount >= 0:
        return False
    size = abs(amount)
    if conditions.amount_min_minor is not None and size < conditions.amount_min_minor:
        return False
    if conditions.amount_max_minor is not None and size > conditions.amount_max_minor:
        return False
    if (
        conditions.counterparty_iban is not None
        and compact_iban(line.counterparty_iban) != conditions.counterparty_iban
    ):
        return False
    text = line.normalized_text or ""
    if conditions.text_contains is not None and conditions.text_contains not in text:
        return False
    return not (
        conditions.text_regex is not None
        and compiled(conditions.text_regex).search(text[:MAX_TEXT]) is None
    )


def rules_of(session: Session, bank_account_id: int, *, active: bool = True) -> list[BankRule]:
    """The account's rules in the treasurer's order (only the active ones by default)."""
    query = select(BankRule).where(BankRule.bank_account_id == bank_account_id)
    if active:
        query = query.where(BankRule.active.is_(True))
    return list(session.scalars(query.order_by(BankRule.position, BankRule.id)))


def first_match(rules: list[BankRule], line: BankLine) -> BankRule | None:
    """The first of `rules` (in order) that the line matches."""
    for rule in rules:
        if rule.active and matches(conditions_of(rule), line):
            return rule
    return None
