"""`ledger campaigns list` and `ledger campaigns close-due`, the closing job for cron."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from ledger.campaigns import accounts
from ledger.campaigns.donations import record_offline_donation
from ledger.campaigns.models import Campaign, Refund
from ledger.campaigns.service import (
    NewCampaign,
    create_campaign,
    create_organisation,
    publish_campaign,
)
from ledger.core.clock import FixedClock
from ledger.core.money import Money
from ledger.core.service import Ledger
from tests.integration.conftest import audit_log


def past_campaign(db_url: str, model: str, gifts: list[str]) -> int:
    """A campaign that opened 40 days ago and ended 10 days ago, with cash gifts."""
    then = FixedClock(datetime.now(UTC) - timedelta(days=40))
    ledger = Ledger.from_url(db_url, clock=then)

    def work(session):  # type: ignore[no-untyped-def]
        org = create_organisation(
            session,
            name="Ente Prova ETS",
            tax_code="97123450153",
            qualification="ETS",
            now=then.now(),
        )
        campaign = create_campaign(
            session,
            NewCampaign(
                org.id,
                "Biblioteca di strada",
                "",
                100000,
                "EUR",
                then.now() + timedelta(days=30),
                model,
            ),
            clock=then,
        )
        publish_campaign(session, campaign.id, clock=then)
        for n, amount in enumerate(gifts):
            record_offline_donation(
                session,
                campaign.id,
                Money.parse(amount, "EUR"),
                method="cash",
                person_id=None,
                anonymous=False,
                reference=None,
                request_key=f"g{n}",
                donated_on=None,
                actor="test",
                clock=then,
            )
        return campaign.id

    campaign_id = ledger.run(work)
    ledger.engine.dispose()
    return campaign_id


def test_close_due_fails_an_all_or_nothing_campaign_short_of_its_goal_and_refunds_once(
    run, book, db_url
):
    cid = past_campaign(db_url, "all_or_nothing", ["100.00", "50.00"])
    first = run("campaigns", "close-due")
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == f"campaign {cid}: failed, 2 refunds requested, 2 refunds pending"
    second = run("campaigns", "close-due")
    assert second.stdout.strip() == f"campaign {cid}: failed, 2 refunds pending"
    assert len(book.read(lambda s: s.execute(select(Refund.id)).all())) == 2
    # Nothing is booked until the cash is handed back; the escrow still holds it.
    assert book.balance(accounts.escrow(cid)).posted == 15000
    assert [e["action"] for e in audit_log(book)] == ["campaign.close"]


def test_close_due_closes_a_keep_what_you_raise_campaign_and_then_has_nothing_to_do(
    run, book, db_url
):
    cid = past_campaign(db_url, "keep_what_you_raise", ["30.00"])
    assert run("campaigns", "close-due").stdout.strip() == f"campaign {cid}: closed"
    assert book.read(lambda s: s.get(Campaign, cid).status) == "closed"
    assert run("campaigns", "close-due").stdout.strip() == "no campaign is due"


def test_campaigns_list_shows_settled_money_raised_and_donors(run, db_url):
    cid = past_campaign(db_url, "keep_what_you_raise", ["30.00", "12.50"])
    [row] = json.loads(run("campaigns", "list", "--format", "json").stdout)
    assert (row["id"], row["raised"], row["goal"], row["donors"]) == (cid, "42.50", "1000.00", 2)
