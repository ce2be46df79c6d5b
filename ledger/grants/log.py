"""The grant log: one row per money-state transition of a commitment.

Every module of the package that moves a commitment's money appends here
(`log_event`), in the same transaction as the entry it describes; pages and
statements read the log back as the commitment's history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict, Unpack, cast

from sqlalchemy import Table, bindparam, insert
from sqlalchemy.orm import Session

from ledger.grants.models import Commitment, GrantEvent

# Built once and run on the session's connection: an event is written at its call,
# in the caller's transaction, without an ORM object to flush later (a matched gift
# writes one; issue 14 measured the ORM's flush of it on every gift). Every id it
# names is an int the caller already has, so the rows it refers to are written.
_EVENTS = cast(Table, GrantEvent.__table__)
INSERT_EVENT = insert(_EVENTS)
# PostgreSQL: the event as a data-modifying CTE, for a statement that writes it with
# another row of the same transition (`matching._match`: the gift's match), one round
# trip instead of two. Its parameters are `event_<column>`.
EVENT_CTE = (
    insert(_EVENTS)
    .values(
        {
            c.name: bindparam(f"event_{c.name}", type_=c.type)
            for c in _EVENTS.columns
            if c.name != "id"
        }
    )
    .cte("new_grant_event")
)


class EventFacts(TypedDict, total=False):
    """What a grant-log row says beyond its commitment, kind, amount and time."""

    campaign_id: int | None
    donation_id: int | None
    entry_sequence: int | None
    hold_id: str | None
    note: str
    actor: str | None


def event_row(
    row: Commitment,
    kind: str,
    amount_minor: int,
    *,
    now: datetime,
    **facts: Unpack[EventFacts],
) -> dict[str, Any]:
    """The grant log's row for one transition of `row`'s money."""
    assert row.id is not None, "the commitment is written before its log"
    return {
        "commitment_id": row.id,
        "campaign_id": facts.get("campaign_id"),
        "donation_id": facts.get("donation_id"),
        "kind": kind,
        "amount_minor": amount_minor,
        "entry_sequence": facts.get("entry_sequence"),
        "hold_id": facts.get("hold_id"),
        "note": facts.get("note", ""),
        "actor": facts.get("actor"),
        "created_at": now,
    }


def log_event(
    session: Session,
    row: Commitment,
    kind: str,
    amount_minor: int,
    *,
    now: datetime,
    **facts: Unpack[EventFacts],
) -> None:
    """Append one transition of `row`'s money (`kind`, `amount_minor`) to the grant log."""
    session.connection().execute(INSERT_EVENT, event_row(row, kind, amount_minor, now=now, **facts))


def event_cte_params(event: dict[str, Any]) -> dict[str, Any]:
    """`event_row` named for `EVENT_CTE`."""
    return {f"event_{name}": value for name, value in event.items()}
