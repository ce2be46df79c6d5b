"""The composition root of the domain: who reacts to whose events.

Campaigns and funds never import grants; grants subscribe to their events
here. Every entry point (the web app factory, the `ledger` CLI, the tests,
the benchmarks) calls `wire()` once; calling it again changes nothing.
"""

from __future__ import annotations

from ledger import events


def wire() -> None:
    """Subscribe every domain's handlers (idempotent)."""
    from ledger.grants.handlers import subscribe_all

    subscribe_all()
    events.mark_wired()
