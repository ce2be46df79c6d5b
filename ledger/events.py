"""Domain events, dispatched synchronously inside the caller's transaction.

A domain that must not know another (campaigns must not import grants) still
lets it react: campaigns `publish` a fact ("gift 12 settled"), and the
handlers the composition root subscribed run at once, in the same session and
transaction, so the gift and its match commit or fail together (DESIGN.md
section 2). Handlers may write through the engine; they must not commit.

Publishing before `ledger.wiring.wire()` ran is an error, not a no-op: a
process that forgot to wire the grants would otherwise settle gifts without
matching them, silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from ledger.core.clock import Clock
from ledger.core.errors import LedgerError


class EventsNotWiredError(LedgerError):
    """An event was published before the handlers were wired (a programming error)."""

    code = "events_not_wired"
    http_status = 500


@dataclass(frozen=True, slots=True)
class GiftSettled:
    """A donation's money was booked (once)."""

    donation_id: int
    campaign_id: int
    actor: str | None


@dataclass(frozen=True, slots=True)
class GiftReduced:
    """Money of a settled donation went back: a refund booked or a dispute lost."""

    donation_id: int
    campaign_id: int
    amount_minor: int
    cause: str  # refund:<id> or dispute:<id>
    actor: str | None


@dataclass(frozen=True, slots=True)
class GiftReinstated:
    """A dispute was won: money a dispute took is the campaign's again."""

    donation_id: int
    campaign_id: int
    amount_minor: int
    cause: str
    actor: str | None


@dataclass(frozen=True, slots=True)
class CampaignDecided:
    """A campaign's outcome (succeeded or failed) was decided (once)."""

    campaign_id: int
    outcome: str
    actor: str | None


@dataclass(frozen=True, slots=True)
class IdentityCorrected:
    """A person's name or codice fiscale was corrected; `old_*` is what it was, so
    receipts that printed it can be voided and issued again (never altered)."""

    person_id: int
    old_name: str
    old_codice_fiscale: str | None
    actor: str | None


@dataclass(frozen=True, slots=True)
class PeriodClosing:
    """A question the books ask before closing a month: what should the person closing
    it know? (Reconcile answers with its unexplained bank lines dated on or before it.)"""

    ends_on: date


E = TypeVar("E")
Handler = Callable[[Session, Any, Clock], None]
Answerer = Callable[[Session, Any], list[dict[str, Any]]]

_handlers: dict[type, list[Handler]] = {}
_answerers: dict[type, list[Answerer]] = {}
_state = {"wired": False}


def subscribe(event_type: type[E], handler: Callable[[Session, E, Clock], None]) -> None:
    """Run `handler(session, event, clock)` for every published `event_type` (once per handler)."""
    handlers = _handlers.setdefault(event_type, [])
    if handler not in handlers:
        handlers.append(handler)


def answer_with(
    question_type: type[E], answerer: Callable[[Session, E], list[dict[str, Any]]]
) -> None:
    """Let `answerer(session, question)` answer every `question_type` asked (once each)."""
    answerers = _answerers.setdefault(question_type, [])
    if answerer not in answerers:
        answerers.append(answerer)


def ask(session: Session, question: object) -> list[dict[str, Any]]:
    """Every subscribed answer to `question`, read in the caller's transaction.

    The inverse of `publish` for a read: a domain asks what another, which it
    must not import, has to say (the books ask for warnings before closing a
    month). Answerers read; they must not write.
    """
    if not _state["wired"]:
        raise EventsNotWiredError(
            "a question asked before ledger.wiring.wire(): its answers would be missing"
        )
    answers: list[dict[str, Any]] = []
    for answerer in _answerers.get(type(question), ()):
        answers.extend(answerer(session, question))
    return answers


def mark_wired() -> None:
    _state["wired"] = True


def publish(session: Session, event: object, *, clock: Clock) -> None:
    """Run the subscribed handlers of `event` now, in the caller's transaction."""
    if not _state["wired"]:
        raise EventsNotWiredError(
            "domain events published before ledger.wiring.wire(): matching would be skipped"
        )
    for handler in _handlers.get(type(event), ()):
        handler(session, event, clock)
