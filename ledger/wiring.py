"""The composition root of the domain: who reacts to whose events.

Campaigns and funds never import grants; grants subscribe to their events
here. The books never import reconcile; reconcile answers the books'
`PeriodClosing` question (unexplained bank lines) here. People never import
campaigns; campaigns subscribe to a corrected identity here (its receipts are
voided and issued again). Every entry point (the web app factory, the `ledger`
CLI, the tests, the benchmarks) calls `wire()` once; calling it again changes
nothing.
"""

from __future__ import annotations

from ledger import events


def wire() -> None:
    """Subscribe every domain's handlers (idempotent)."""
    from ledger.campaigns.handlers import subscribe_all as subscribe_campaigns
    from ledger.grants.handlers import subscribe_all as subscribe_grants
    from ledger.reconcile.report import answer_period_closing

    subscribe_grants()
    subscribe_campaigns()
    # The books ask before closing a month; reconcile answers with its unexplained lines.
    events.answer_with(events.PeriodClosing, answer_period_closing)
    events.mark_wired()
