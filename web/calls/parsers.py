"""Parsers of what staff type in the forms of calls: questions, criteria, tranches, amounts.

Each turns text into the domain's values or raises `InvalidInputError` naming
the field (the page shows it there); the rules about those values (how many
questions, weights, sums) are the domain's.
"""

from __future__ import annotations

from flask_babel import gettext as _

from ledger.core.errors import LedgerError
from ledger.funds.awards import TrancheSpec
from web.amounts import parse_amount_text
from web.calls.texts import error_message
from web.errors import InvalidInputError


def _yes(text: str) -> bool | None:
    value = text.strip().lower()
    if value in ("sì", "si", "yes", "y", "s"):
        return True
    if value in ("no", "n"):
        return False
    return None


def parse_questions(text: str) -> list[tuple[str, bool]]:
    """Lines «question | sì/no» -> (question, required answer)."""
    result = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        question, bar, answer = line.rpartition("|")
        required = _yes(answer) if bar else None
        if not bar or required is None or not question.strip():
            raise InvalidInputError(
                _("Ogni domanda finisce con «| sì» o «| no»: «%(line)s».", line=line.strip()[:80]),
                field="questions",
            )
        result.append((question.strip(), required))
    return result


def parse_criteria(text: str) -> list[tuple[str, int]]:
    """Lines «criterion | weight» -> (criterion, weight)."""
    result = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        name, bar, weight = line.rpartition("|")
        if not bar or not weight.strip().isdigit() or not name.strip():
            raise InvalidInputError(
                _("Ogni criterio finisce con «| peso» (un intero): «%(line)s».", line=line[:80]),
                field="criteria",
            )
        result.append((name.strip(), int(weight.strip())))
    return result


def parse_tranches(text: str, currency: str) -> list[TrancheSpec]:
    """Lines «amount | milestone» -> tranche specs."""
    result = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        amount, bar, milestone = line.partition("|")
        if not bar:
            raise InvalidInputError(
                _("Ogni tranche è «importo | tappa»: «%(line)s».", line=line.strip()[:80]),
                field="tranches",
            )
        try:
            money = parse_amount_text(amount, currency)
        except LedgerError:
            raise InvalidInputError(
                _("Importo della tranche non valido: «%(line)s».", line=line.strip()[:80]),
                field="tranches",
            ) from None
        result.append(TrancheSpec(money.minor, milestone.strip()))
    return result


def amount_field(text: str | None, currency: str, name: str) -> int:
    """An amount typed in the form's field `name`, in minor units of `currency`."""
    try:
        return parse_amount_text(text or "", currency).minor
    except LedgerError as exc:
        raise InvalidInputError(error_message(exc), field=name) from None
