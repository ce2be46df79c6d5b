"""Record and read audit events; `record` joins the caller's transaction."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, Unpack, cast

from sqlalchemy import Table, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from ledger.audit.models import AuditEvent
from ledger.core.privacy import refuse_personal_metadata

CHANNELS = ("web", "api", "cli")

# Action names that changed when every act got one name, declared once with its
# use case (`ledger.commands.command`). Rows already written keep their old
# name (the log is append-only); a filter by the new name finds them too.
RENAMED_ACTIONS = {
    "grant.commitment_created": "commitment.create",
    "grant.commitment_cancelled": "commitment.cancel",
    "grant.disbursement": "commitment.disbursement",
}


def _action_filter(prefix: str) -> Any:
    """Events whose action starts with `prefix`, under its current or its old name."""
    old = [name for name, new in RENAMED_ACTIONS.items() if new.startswith(prefix)]
    condition = AuditEvent.action.startswith(prefix)
    return or_(condition, AuditEvent.action.in_(old)) if old else condition


@dataclass(frozen=True, slots=True)
class Origin:
    """Who acts and from where: the user (if known), the channel, address and agent."""

    channel: str
    user_id: int | None = None
    source: str | None = None
    user_agent: str | None = None

    @property
    def actor(self) -> str:
        """The journal's actor: ``user:<id>``, or the channel for an act with no user."""
        return f"user:{self.user_id}" if self.user_id is not None else self.channel

    @property
    def scope(self) -> str:
        """Whose request keys these are: ``web:5``, ``api:5``; ``web:anon`` for a visitor
        who is not signed in (never mistaken for a user's: ``web:5:k`` is user 5's key
        ``k``, a visitor's key ``5:k`` is ``web:anon:5:k``); the channel alone for an
        operator (``cli``)."""
        if self.user_id is not None:
            return f"{self.channel}:{self.user_id}"
        return f"{self.channel}:anon" if self.channel in ("web", "api") else self.channel

    def scoped(self, key: str) -> str:
        """A caller's key made unique across callers (``api:5:<key>``), for engine keys."""
        return f"{self.scope}:{key}"

    @classmethod
    def command_line(cls) -> Origin:
        """An operator at the console (`ledger ...`): no signed-in user, the host as the source."""
        return cls(channel="cli", source=socket.gethostname()[:64])


_EVENTS = cast(Table, AuditEvent.__table__)
# Built once and run on the session's connection: an event is written at its call,
# in the caller's transaction, without an ORM object to flush at COMMIT (every use
# case writes one; issue 14 measured the ORM's flush of it on every gift).
INSERT_EVENT = insert(_EVENTS)


class EventFacts(TypedDict, total=False):
    """What an event says beyond who, how and when: its subject, details and user
    (`user_id` overrides the origin's user: a user made by the act is flushed
    already, and the act knows its id)."""

    subject_type: str | None
    subject_id: str | int | None
    details: Mapping[str, Any] | None
    user_id: int | None


def event_params(
    origin: Origin, action: str, *, now: datetime, **facts: Unpack[EventFacts]
) -> dict[str, Any]:
    """The row of one event, checked (a known channel, no personal data in its details)."""
    if origin.channel not in CHANNELS:
        raise ValueError(f"unknown audit channel {origin.channel!r}")
    payload = dict(facts.get("details") or {})
    refuse_personal_metadata(payload)
    user_id = facts.get("user_id")
    subject_id = facts.get("subject_id")
    return {
        "occurred_at": now,
        "actor_user_id": user_id if user_id is not None else origin.user_id,
        "channel": origin.channel,
        "action": action,
        "subject_type": facts.get("subject_type"),
        "subject_id": None if subject_id is None else str(subject_id),
        "source": (origin.source or None) and origin.source[:64],
        "user_agent": (origin.user_agent or None) and origin.user_agent[:200],
        "details": payload,
    }


_EVENT_COLUMNS = [c for c in _EVENTS.columns if c.name != "id"]
# PostgreSQL: the event as a data-modifying CTE, for a statement that writes it
# together with another row of the same act (`commands.keys`: the request key's
# outcome), one round trip instead of two. Its parameters are `event_<column>`.
EVENT_CTE = (
    insert(_EVENTS)
    .values({c.name: bindparam(f"event_{c.name}", type_=c.type) for c in _EVENT_COLUMNS})
    .cte("new_audit_event")
)


def event_cte_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """`event_params` named for `EVENT_CTE`."""
    return {f"event_{name}": value for name, value in params.items()}


def record(
    session: Session, origin: Origin, action: str, *, now: datetime, **facts: Unpack[EventFacts]
) -> None:
    """Write one event in the caller's transaction."""
    session.connection().execute(INSERT_EVENT, event_params(origin, action, now=now, **facts))


@dataclass(frozen=True, slots=True)
class AuditPage:
    events: list[AuditEvent]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def list_events(
    session: Session,
    *,
    page: int = 1,
    per_page: int = 50,
    action: str | None = None,
    actor_user_id: int | None = None,
) -> AuditPage:
    """Events newest first, optionally filtered by action prefix or actor."""
    query = select(AuditEvent)
    count = select(func.count()).select_from(AuditEvent)
    if action:
        query = query.where(_action_filter(action))
        count = count.where(_action_filter(action))
    if actor_user_id is not None:
        query = query.where(AuditEvent.actor_user_id == actor_user_id)
        count = count.where(AuditEvent.actor_user_id == actor_user_id)
    total = int(session.scalar(count) or 0)
    page = max(1, page)
    events = list(
        session.scalars(
            query.order_by(AuditEvent.id.desc()).limit(per_page).offset((page - 1) * per_page)
        )
    )
    return AuditPage(events=events, total=total, page=page, per_page=per_page)


def blank_addresses(
    session: Session, *, before: datetime | None = None, actor_user_id: int | None = None
) -> int:
    """Set the client address (`source`) and user agent of events to NULL: those that
    occurred before `before`, or those of one actor (an erased person); returns how many
    events had one. The one change the append-only log allows (migration 0023_privacy:
    its triggers refuse any other UPDATE, and any value but NULL in these two)."""
    if before is None and actor_user_id is None:
        raise ValueError("blank_addresses needs `before` or `actor_user_id`")
    query = update(AuditEvent).where(
        or_(AuditEvent.source.is_not(None), AuditEvent.user_agent.is_not(None))
    )
    if before is not None:
        query = query.where(AuditEvent.occurred_at < before)
    if actor_user_id is not None:
        query = query.where(AuditEvent.actor_user_id == actor_user_id)
    result = session.execute(
        query.values(source=None, user_agent=None).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
