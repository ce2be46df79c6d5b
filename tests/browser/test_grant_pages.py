"""The matching-grant pages in chromium, in Italian and English: accessible (axe),
within their CSP, and usable at 360 px.

A foundation with a ratio and a threshold commitment on a live campaign (one
gift, so the ratio commitment has matched something) is seeded through the
services into the live server's database; its officer and a treasurer (both with TOTP)
sign in as the pages expect.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.campaigns.donations import record_offline_donation
from ledger.campaigns.models import Organisation
from ledger.campaigns.service import (
    NewCampaign,
    create_campaign,
    create_organisation,
    publish_campaign,
)
from ledger.core.money import Money
from ledger.grants.service import CommitmentSpec, add_officer, create_commitment, create_foundation
from ledger.people.models import Person, User
from tests.browser.conftest import PHONE, LiveServer
from tests.browser.conftest import User as BrowserUser
from tests.browser.flows import at, sign_in, switch_language
from tests.browser.helpers import (
    assert_accessible,
    assert_fits_width,
    assert_no_csp_violations,
    watch_console,
)


@dataclass(frozen=True)
class Visit:
    name: str
    who: str | None  # None: anonymous; "officer" or "treasurer"
    path: Callable[[dict[str, int]], str]


VISITS = [
    Visit("dashboard", "officer", lambda ids: "/fondazioni"),
    Visit("commitment", "officer", lambda ids: f"/fondazioni/impegni/{ids['threshold']}"),
    Visit(
        "new-commitment", "officer", lambda ids: f"/fondazioni/{ids['foundation']}/impegni/nuovo"
    ),
    Visit("statement", "officer", lambda ids: f"/fondazioni/{ids['foundation']}/rendiconto"),
    Visit("cancel", "officer", lambda ids: f"/fondazioni/impegni/{ids['ratio']}/annulla"),
    Visit("treasury", "treasurer", lambda ids: "/tesoreria/cofinanziamenti"),
    Visit(
        "disbursement",
        "treasurer",
        lambda ids: f"/tesoreria/cofinanziamenti/{ids['ratio']}/{ids['campaign']}/erogazione",
    ),
    Visit("campaign-with-match", None, lambda ids: f"/campagne/{ids['campaign']}"),
]


@dataclass
class Seeded:
    ids: dict[str, int]
    users: dict[str, BrowserUser]


@pytest.fixture(scope="module")
def seeded(live_server: LiveServer) -> Seeded:
    books = live_server.books
    officer = live_server.create_user(
        ["foundation_officer"], name="Caterina Fondazione", with_totp=True
    )
    treasurer = live_server.create_user(["treasurer"], with_totp=True)
    tag = uuid.uuid4().hex[:6]

    def work(session: Session) -> dict[str, int]:
        now = books.clock.now()
        organisation = session.scalars(
            select(Organisation).where(Organisation.tax_code == "97123450153")
        ).first() or create_organisation(
            session,
            name="Associazione Cortili Aperti",
            tax_code="97123450153",
            qualification="ODV",
            now=now,
        )
        campaign = create_campaign(
            session,
            NewCampaign(
                organisation_id=organisation.id,
                title="Biblioteca di condominio con scaffali per tutte le famiglie",
                description_md="Libri per tutti.",
                goal_minor=Money.parse("50000.00", "EUR").minor,
                currency="EUR",
                deadline_at=now + timedelta(days=20),
                funding_model="keep_what_you_raise",
            ),
            clock=books.clock,
        )
        publish_campaign(session, campaign.id, clock=books.clock)
        foundation = create_foundation(
            session, name=f"Fondazione Comunitaria del Nord-Ovest {tag}", now=now
        )
        window = (now - timedelta(days=1), datetime(now.year + 1, 12, 31, tzinfo=UTC))
        common = dict(
            foundation_id=foundation.id,
            pool_minor=Money.parse("48000.00", "EUR").minor,
            window_start=window[0],
            window_end=window[1],
            campaign_id=campaign.id,
        )
        ratio = create_commitment(
            session,
            CommitmentSpec(title="2 EUR per ogni 1 EUR", kind="ratio", ratio="2", **common),  # type: ignore[arg-type]
            clock=books.clock,
        )
        threshold = create_commitment(
            session,
            CommitmentSpec(
                title="Raccogliete il 40%, aggiungiamo il 60%",
                kind="threshold",
                threshold_share="0.4",
                topup_share="0.6",
                topup_cap_minor=Money.parse("48000.00", "EUR").minor,
                topup_policy="fixed",
                **common,  # type: ignore[arg-type]
            ),
            clock=books.clock,
        )
        record_offline_donation(
            session,
            campaign.id,
            Money.parse("1234.56", "EUR"),
            method="cash",
            person_id=None,
            anonymous=True,
            reference=None,
            request_key=f"seed:{uuid.uuid4().hex}",
            donated_on=None,
            actor="user:0",
            clock=books.clock,
        )
        user_id = session.scalars(
            select(User.id)
            .join(Person, Person.id == User.person_id)
            .where(Person.email == officer.email)
        ).one()
        add_officer(session, foundation.id, user_id, now=now)
        return {
            "campaign": campaign.id,
            "foundation": foundation.id,
            "ratio": ratio.id,
            "threshold": threshold.id,
        }

    return Seeded(books.run(work), {"officer": officer, "treasurer": treasurer})


@pytest.fixture(scope="module")
def states(browser: Browser, live_server: LiveServer, seeded: Seeded) -> dict[str, object]:
    made: dict[str, object] = {}
    for who, user in seeded.users.items():
        context = browser.new_context(base_url=live_server.url, locale="it-IT")
        sign_in(context.new_page(), user)
        made[who] = context.storage_state()
        context.close()
    return made


@pytest.mark.parametrize("language", ["it", "en"])
@pytest.mark.parametrize("visit", VISITS, ids=lambda v: v.name)
def test_the_grant_pages_are_accessible_within_their_csp_and_fit_a_phone(
    browser: Browser,
    live_server: LiveServer,
    seeded: Seeded,
    states: dict[str, object],
    axe_source: str,
    visit: Visit,
    language: str,
) -> None:
    path = visit.path(seeded.ids)
    for viewport in (None, PHONE):
        options: dict[str, object] = {"base_url": live_server.url, "locale": "it-IT"}
        if visit.who is not None:
            options["storage_state"] = states[visit.who]
        if viewport is not None:
            options |= {"viewport": viewport, "is_mobile": True, "has_touch": True}
        context = browser.new_context(**options)  # type: ignore[arg-type]
        try:
            page: Page = watch_console(context.new_page())
            page.goto(path)
            expect(page).to_have_url(at(path))
            if language != "it":
                switch_language(page, language)
            page.wait_for_load_state("load")
            assert_no_csp_violations(page)
            if viewport is None:
                assert_accessible(page, axe_source)
            else:
                assert_fits_width(page, PHONE["width"])
        finally:
            context.close()
