"""Matching-grant benchmarks: what matching costs a gift, alone and on a hot campaign."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.campaigns.donations import record_offline_donation
from ledger.campaigns.service import (
    NewCampaign,
    create_campaign,
    create_organisation,
    publish_campaign,
)
from ledger.core.clock import FixedClock
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.core.storage import make_engine
from ledger.grants.service import CommitmentSpec, create_commitment, create_foundation
from ledger.wiring import wire


def _organisation(ledger: Ledger) -> int:
    return ledger.run(
        lambda session: (
            create_organisation(
                session,
                name=f"ODV {time.perf_counter_ns()}",
                tax_code="97123450153",
                qualification="ODV",
                now=ledger.clock.now(),
            ).id
        )
    )


def _campaign(ledger: Ledger, *, matched: bool, organisation_id: int | None = None) -> int:
    """A published campaign (of its own new organisation unless `organisation_id`),
    covered, if `matched`, by a 1:1 ratio and a 40 %/60 % threshold commitment."""
    clock = ledger.clock
    organisation = organisation_id if organisation_id is not None else _organisation(ledger)

    def work(session: Any) -> int:
        campaign = create_campaign(
            session,
            NewCampaign(
                organisation_id=organisation,
                title="Bench",
                description_md="",
                goal_minor=100_000_000,
                currency="EUR",
                deadline_at=clock.now() + timedelta(days=30),
                funding_model="keep_what_you_raise",
            ),
            clock=clock,
        )
        publish_campaign(session, campaign.id, clock=clock)
        if matched:
            foundation = create_foundation(
                session, name=f"Fondazione {time.perf_counter_ns()}", now=clock.now()
            )
            window = (clock.now() - timedelta(days=1), clock.now() + timedelta(days=30))
            for spec in (
                dict(kind="ratio", ratio="1", pool_minor=50_000_000),
                dict(
                    kind="threshold",
                    threshold_share="0.4",
                    topup_share="0.6",
                    topup_policy="fixed",
                    pool_minor=60_000_000,
                ),
            ):
                create_commitment(
                    session,
                    CommitmentSpec(
                        foundation_id=foundation.id,
                        title="Bench",
                        campaign_id=campaign.id,
                        window_start=window[0],
                        window_end=window[1],
                        **spec,  # type: ignore[arg-type]
                    ),
                    clock=clock,
                )
        return int(campaign.id)

    return ledger.run(work)


def _gift(ledger: Ledger, campaign_id: int, key: str) -> None:
    ledger.run(
        lambda s: record_offline_donation(
            s,
            campaign_id,
            Money(1000, "EUR"),
            method="cash",
            person_id=None,
            anonymous=True,
            reference=None,
            request_key=key,
            donated_on=None,
            actor="bench",
            clock=ledger.clock,
        )
    )


def bench_matching(url: str, out: Callable[[str], None], *, gifts: int, workers: int = 8) -> None:
    """Gifts per second on one hot campaign, `workers` writers, with and without two
    commitments (one writer, and writers on different campaigns: bench/gifts.py)."""
    wire()
    clock = FixedClock(datetime(2026, 6, 15, 12, 0, tzinfo=UTC))
    ledger = Ledger(make_engine(url, pool_size=workers, max_overflow=0), clock=clock)
    try:
        for matched in (False, True):
            label = "with a ratio and a threshold commitment" if matched else "no commitment"
            campaign = _campaign(ledger, matched=matched)

            def one(n: int, campaign: int = campaign, matched: bool = matched) -> None:
                _gift(ledger, campaign, f"c-{matched}-{n}")

            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(one, range(gifts)))
            seconds = time.perf_counter() - started
            out(
                f"  {workers} writers on one campaign, {gifts} gifts, {label}: "
                f"{gifts / seconds:,.0f} gifts/s"
            )
        out(f"  verify ok after the runs: {ledger.verify().ok}")
    finally:
        ledger.engine.dispose()
