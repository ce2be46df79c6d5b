"""The grant log: one row per money-state transition of a commitment.

Every module of the package that moves a commitment's money appends here
(`log_event`), in the same transaction as the entry it describes; pages and
statements read the log back as the commitment's history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

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


def event_row(
    row: Commitment,
    kind: str,
    amount_minor: int,
    *,
    now: datetime,
    campaign_id: int | None = None,
    donation_id: int | None = None,
    entry_sequence: int | None = None,
    hold_id: str | None = None,
    note: str = "",
    actor: str | None = None,
) -> dict[str, Any]:
    """The grant log's row for one transition of `row`'s money."""
    assert row.id is not None, "the commitment is written before its log"
    return {
        "commitment_id": row.id,
        "campaign_id": campaign_id,
        "donation_id": donation_id,
        "kind": kind,
        "amount_minor": amount_minor,
        "entry_sequence": entry_sequence,
        "hold_id": hold_id,
        "note": note,
        "actor": actor,
        "created_at": now,
    }


def log_event(
    session: Session,
    row: Commitment,
    kind: str,
    amount_minor: int,
    *,
    now: datetime,
    campaign_id: int | None = None,
    donation_id: int | None = None,
    entry_sequence: int | None = None,
    hold_id: str | None = None,
    note: str = "",
    actor: str | None = None,
) -> None:
    """Append one transition of `row`'s money (`kind`, `amount_minor`) to the grant log."""
    session.connection().execute(
        INSERT_EVENT,
        event_row(
            row,
            kind,
            amount_minor,
            now=now,
            campaign_id=campaign_id,
            donation_id=donation_id,
            entry_sequence=entry_sequence,
            hold_id=hold_id,
            note=note,
            actor=actor,
        ),
    )


def event_cte_params(event: dict[str, Any]) -> dict[str, Any]:
    """`event_row` named for `EVENT_CTE`."""
    return {f"event_{name}": value for name, value in event.items()}
