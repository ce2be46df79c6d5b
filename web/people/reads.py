"""What the pages and the API show of a user's own API tokens (never the tokens themselves)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ledger.people import service as people


def own_tokens(db: Session, user_id: int, now: datetime) -> list[dict[str, Any]]:
    """The user's tokens, oldest first: name, prefix, scopes, dates, last use, status."""
    user = people.get_user(db, user_id)
    return [
        {
            "id": row.id,
            "name": row.name,
            "prefix": row.prefix,
            "scopes": sorted(row.scope_set),
            "created_at": row.created_at,
            "expires_at": row.expires_at,
            "revoked_at": row.revoked_at,
            "last_used_at": row.last_used_at,
            "last_used_from": row.last_used_from,
            "status": row.status_at(now),
        }
        for row in people.list_tokens(db, user)
    ]
