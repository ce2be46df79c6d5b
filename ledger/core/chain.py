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
from json.encoder import encode_basestring as _string
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8 kept, no floats allowed."""
    return _ENCODER.encode(value)


def _refuse(value: Any) -> Any:
    raise TypeError(f"not canonical JSON: {type(value).__name__}")


# One encoder for every call (json.dumps builds a new one each time it is given
# `default`): the same text, half the time.
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_refuse
)


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
    """Canonical text of an entry; postings are (leg, account_id, currency, amount_minor).

    It is exactly `canonical_json(entry_canonical_object(...))`, the definition,
    written out field by field because the engine seals and `verify` re-seals every
    entry (three times faster): the keys are already in sorted order and strings go
    through the JSON encoder's own escaping. A value of any other type than the
    expected str, None or int takes the definition's path, so the text cannot
    differ; a property test compares both.
    """
    try:
        if type(sequence) is not int:
            raise TypeError
        legs = []
        for leg, account_id, currency, amount in sorted(postings):
            if type(leg) is not int or type(account_id) is not int or type(amount) is not int:
                raise TypeError
            legs.append(f"[{leg},{account_id},{_string(currency)},{amount}]")
        return (
            f'{{"actor":{_optional(actor)},"effective_on":{_string(effective_on.isoformat())},'
            f'"hold":{_optional(hold_id)},"id":{_string(entry_id)},'
            f'"idempotency_key":{_string(idempotency_key)},"kind":{_string(kind)},'
            f'"metadata":{_string(metadata_json)},"narration":{_string(narration)},'
            f'"postings":[{",".join(legs)}],"recorded_at":{_string(utc_stamp(recorded_at))},'
            f'"request_hash":{_string(request_hash)},"reverses":{_optional(reverses_entry_id)},'
            f'"sequence":{sequence}}}'
        )
    except (TypeError, ValueError):
        return canonical_json(
            entry_canonical_object(
                sequence=sequence, entry_id=entry_id, idempotency_key=idempotency_key,
                request_hash=request_hash, kind=kind, effective_on=effective_on,
                recorded_at=recorded_at, actor=actor, narration=narration,
                metadata_json=metadata_json, reverses_entry_id=reverses_entry_id,
                hold_id=hold_id, postings=postings,
            )
        )  # fmt: skip


def entry_canonical_object(
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
) -> dict[str, Any]:
    """The object whose `canonical_json` is an entry's canonical text (the definition)."""
    return {
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


def utc_stamp(moment: datetime) -> str:
    """`moment` in UTC as 2026-12-07T10:00:00.000000Z (what the canonical form holds)."""
    if moment.tzinfo is UTC and moment.year >= 1000:
        return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _optional(value: str | None) -> str:
    return "null" if value is None else _string(value)


def chain_hash(previous: str, canonical: str) -> str:
    return hashlib.sha256((previous + canonical).encode()).hexdigest()
