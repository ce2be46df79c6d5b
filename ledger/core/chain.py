"""Canonical forms and the hash chain (I9).

hash_n = SHA-256(hash_{n-1} || canonical(entry_n)), hex encoded, with a genesis
hash of 64 zeros. canonical() is compact JSON with sorted keys over every field
that carries meaning, so changing an amount, a date, an account, the order of
entries or dropping one changes every hash after it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8 kept, no floats allowed."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_refuse
    )


def _refuse(value: Any) -> Any:
    raise TypeError(f"not canonical JSON: {type(value).__name__}")


def request_hash(request: dict[str, Any]) -> str:
    """SHA-256 of a request's canonical form (what idempotency compares)."""
    return hashlib.sha256(canonical_json(request).encode()).hexdigest()


def entry_canonical(
    *,
    sequence: int,
    entry_id: str,
    idempotency_key: str,
    request_hash: str,
    kind: str,
    effective_on: date,
    recorded_at: datetime,
    actor: str | None,
    narration: str,
    metadata_json: str,
    reverses_entry_id: str | None,
    hold_id: str | None,
    postings: Sequence[tuple[int, int, str, int]],
) -> str:
    """Canonical text of an entry; postings are (leg, account_id, currency, amount_minor)."""
    return canonical_json(
        {
            "sequence": sequence,
            "id": entry_id,
            "idempotency_key": idempotency_key,
            "request_hash": request_hash,
            "kind": kind,
            "effective_on": effective_on.isoformat(),
            "recorded_at": recorded_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "actor": actor,
            "narration": narration,
            "metadata": metadata_json,
            "reverses": reverses_entry_id,
            "hold": hold_id,
            "postings": [list(p) for p in sorted(postings)],
        }
    )


def chain_hash(previous: str, canonical: str) -> str:
    return hashlib.sha256((previous + canonical).encode()).hexdigest()
