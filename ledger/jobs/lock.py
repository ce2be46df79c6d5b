"""One run of a job at a time, across every worker process.

On PostgreSQL a session-level advisory lock (`pg_try_advisory_lock`) on a
connection of its own, held for the whole run and released at its end, or by
the server when the worker's connection dies. On SQLite every write
transaction takes the database's write lock (`BEGIN IMMEDIATE`, see
`ledger.core.storage`), so the claim (`runner`) is serialised there: a job's
`running` row younger than the lease is the lock, and a row older than the
lease belongs to a worker that died.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

LOCK_NAMESPACE = "ledger.jobs:"


def lock_key(job: str) -> int:
    """The advisory lock's 64-bit key of a job (stable across processes and releases)."""
    digest = hashlib.sha256((LOCK_NAMESPACE + job).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def advisory_lock(engine: Engine, job: str) -> Iterator[bool]:
    """Yield whether this process holds the job's lock (always True on SQLite, whose
    claim is serialised by the write lock instead)."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        key = lock_key(job)
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        try:
            yield held
        finally:
            if held:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
